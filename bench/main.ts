/**
 * Benchmark entry point, with the flags of the Go anchor `raftanchor`
 * (`shared/anchors/etcd-raft-bench/main.go`) so that the same command line
 * measures both. Runs on Deno and Bun:
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/main.ts W2 --n 20000 --batch 1 --window 1 --runs 3
 * bun bench/main.ts W2p --n 200000 --batch 64 --window 1024 --json
 * ```
 *
 * Workloads (`../../shared/BENCH.md`): `W1` = `--mode single`, `W2` =
 * `--mode cluster3`, `W2p` = W2 `--propmsg`, `W3` = W2 `--codec`, `W4` = W1
 * `--fsync` (the log in our SQLite storage, synced before every advance),
 * `M1` = W2 with 1M entries by default and memory sampled every 10% of the
 * run, `disk` = `--mode fsync` (bare write + fdatasync, Go's disk probe).
 * Flags take one or two dashes, `--flag value` or `--flag=value`:
 * `--mode single|cluster3|fsync`, `--n` (200000; M1 1000000; with `--fsync`
 * 2000 at batch 1, else 100000 single / 50000 cluster3; fsync mode 1000),
 * `--batch` (64), `--window` (1024), `--size` (128), `--runs` (3),
 * `--warmup` (1), `--propmsg`, `--codec`, `--fsync`, `--dir` (the database
 * files; a fresh temporary directory by default), `--fsync-size` (4096),
 * `--label`, `--json`; and ours: `--mem-samples` (0; M1 10),
 * `--slab-payloads` (payloads as views into 1 MiB slabs instead of one
 * `new Uint8Array` per entry, which is what the Go anchor does), `--gc`,
 * `--probe-syncs` (with `--fsync`: bare syncs measured around every run,
 * half before and half after, in place and appending; default 1000, 0 for
 * none), `--overwrite` (fsync mode: rewrite the block in place instead of
 * appending), `--sqlite-pragmas "a=1;b=2"` (with `--fsync`: PRAGMAs run on
 * each fresh database before the storage opens it; for experiments),
 * `--writer inline|worker` (with `--fsync` in `single` mode: where
 * `SqliteStorage` writes; `worker`: on its writer thread, each save awaited
 * before `advance`).
 *
 * Prints one line per measured run and a SUMMARY line (min / median / max),
 * or with `--json` one JSON object per run and nothing else.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import process from "node:process";
import {
  type FsyncMode,
  type FsyncProbeResult,
  joinProbes,
  makeTempDir,
  probeFsync,
  removeDir,
  sqliteDriverName,
} from "./_disk.ts";
import { formatRate, round1, spread } from "./stats.ts";
import {
  collectGarbage,
  type Mode,
  type RunResult,
  runWorkload,
  type WorkloadOptions,
} from "./workloads.ts";

/** The workload names of BENCH.md that this driver runs (`disk`: Go's `-mode fsync`). */
export const workloadNames = ["W1", "W2", "W2p", "W3", "W4", "M1", "disk"] as const;
/** A workload name. */
export type WorkloadName = typeof workloadNames[number];

/** `raftanchor`'s modes: the workloads' two plus the bare disk probe. */
export type BenchMode = Mode | "fsync";

/** Parsed command line. */
export interface BenchArgs
  extends Omit<WorkloadOptions, "mode" | "fsync" | "dir" | "sqlitePragmas" | "writer"> {
  /** The workload name (derived from the flags when none is given). */
  workload: WorkloadName;
  /** `single`, `cluster3`, or `fsync` (the bare disk probe). */
  mode: BenchMode;
  /** Keep the log in SQLite, synced before every advance (W4). */
  fsync: boolean;
  /** Where the database files (or the probe's file) go; undefined: a fresh temporary directory. */
  dir: string | undefined;
  /** fsync mode and probes: bytes written before each fdatasync. */
  fsyncSize: number;
  /** fsync mode: rewrite the block in place instead of appending. */
  overwrite: boolean;
  /** With `fsync`: bare syncs measured around each run (half before, half after), per way. */
  probeSyncs: number;
  /** With `fsync`: PRAGMAs run on each fresh database first (`;`-separated; experiments). */
  sqlitePragmas: string[];
  /** With `fsync`: where the storage writes (`worker`: its writer thread). */
  writer: "inline" | "worker";
  /** Measured runs. */
  runs: number;
  /** Unmeasured warm-up runs. */
  warmup: number;
  /** Printed with each run. */
  label: string;
  /** Print JSON objects only. */
  json: boolean;
  /** Force a full GC before each run, as `raftanchor` does (`runtime.GC()`). */
  gc: boolean;
}

/** One JSON line of `--json`: the `raftanchor` result fields plus ours. */
export interface JsonResult {
  workload: WorkloadName;
  runtime: string;
  runtime_version: string;
  label: string;
  mode: BenchMode;
  run: number;
  n: number;
  batch: number;
  window: number;
  size: number;
  propmsg: boolean;
  codec: boolean;
  entries: number;
  seconds: number;
  /** Process CPU time (all threads) during the run, seconds. */
  cpu_seconds: number;
  /** Committed entries per CPU second: steadier than `per_sec` on a busy machine. */
  per_cpu_sec: number;
  per_sec: number;
  mean_us: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
  readies: number;
  msgs: number;
  syncs: number;
  rss_mb: number;
  heap_mb: number;
  /** The most entries a node's MemoryStorage held at the end of the run. */
  stored_entries: number;
  /** Peak RSS of the process so far (includes earlier runs), MB. */
  max_rss_mb: number;
  /** M1: `[entries, rss_mb, heap_mb]` samples. */
  memory?: [number, number, number][];
  /** M1: RSS at the end over RSS at 20% of the run, minus 1 (0.05 = +5%). */
  rss_growth?: number;
  /** The log is in SQLite (W4). */
  fsync: boolean;
  /** With `fsync`: the SQLite driver (`node:sqlite` or `bun:sqlite`). */
  driver?: string;
  /** With `fsync`: wall time spent in `SqliteStorage.save`, seconds. */
  persist_seconds?: number;
  /** With `fsync`: the bare sync rate around this run (4 KiB rewritten in place + fdatasync), /s. */
  fsync_per_sec?: number;
  /** Its median latency, µs. */
  fsync_p50_us?: number;
  /** With `fsync`: the bare sync rate appending (as `raftanchor -mode fsync`), /s. */
  fsync_append_per_sec?: number;
  /** Committed entries per second over `fsync_per_sec` (W4 batch 1: the share of the disk's limit). */
  per_fsync?: number;
  /** Synced writes per second over `fsync_per_sec`. */
  syncs_per_fsync?: number;
}

/** The bare sync rates measured around one W4 run. */
export interface ProbePair {
  /** 4 KiB rewritten in place + fdatasync. */
  overwrite: FsyncProbeResult;
  /** 4 KiB appended + fdatasync (`raftanchor -mode fsync`). */
  append: FsyncProbeResult;
}

/** One measured run. */
export interface MeasuredRun extends RunResult {
  /** With `fsync` and `probeSyncs > 0`: the bare sync rates around the run. */
  probe?: ProbePair;
}

const usage = "usage: main.ts [W1|W2|W2p|W3|W4|M1|disk] [--mode single|cluster3|fsync] [--n N] " +
  "[--batch B] [--window W] [--size S] [--runs R] [--warmup K] [--propmsg] [--codec] [--fsync] " +
  "[--dir D] [--fsync-size B] [--probe-syncs P] [--overwrite] [--sqlite-pragmas P] [--writer W] [--mem-samples M] " +
  "[--slab-payloads] [--gc] [--label L] [--json]";

const booleanFlags = new Set([
  "propmsg",
  "codec",
  "json",
  "slab-payloads",
  "gc",
  "fsync",
  "overwrite",
]);
const numberFlags = new Set([
  "n",
  "batch",
  "window",
  "size",
  "runs",
  "warmup",
  "mem-samples",
  "fsync-size",
  "probe-syncs",
]);
const stringFlags = new Set(["mode", "label", "dir", "sqlite-pragmas", "writer"]);

function parseBool(name: string, v: string): boolean {
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new RangeError(`Cannot parse --${name}: not a boolean: ${v}`);
}

/**
 * Parses the command line.
 *
 * @param argv The arguments after the script name.
 * @returns The parsed arguments, with `raftanchor`'s defaults and clamps
 *   (size >= 8, batch >= 1, window >= batch).
 * @throws {RangeError} On an unknown workload or flag, or a bad value.
 *
 * @example Usage
 * ```ts
 * import { parseArgs } from "./main.ts";
 * const a = parseArgs(["W2p", "--n", "1000", "--batch=16"]);
 * if (a.mode !== "cluster3" || !a.propMsg || a.window !== 1024) throw new Error("unexpected");
 * ```
 */
export function parseArgs(argv: readonly string[]): BenchArgs {
  let workload: WorkloadName | undefined;
  const nums = new Map<string, number>();
  const bools = new Map<string, boolean>();
  const strs = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("-")) {
      if (workload !== undefined || !(workloadNames as readonly string[]).includes(arg)) {
        throw new RangeError(`Cannot parse arguments: unexpected ${JSON.stringify(arg)}\n${usage}`);
      }
      workload = arg as WorkloadName;
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (booleanFlags.has(name)) {
      bools.set(name, value === undefined ? true : parseBool(name, value));
      continue;
    }
    if (!numberFlags.has(name) && !stringFlags.has(name)) {
      throw new RangeError(`Cannot parse arguments: unknown flag --${name}\n${usage}`);
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new RangeError(`Cannot parse --${name}: missing value`);
    }
    if (stringFlags.has(name)) {
      strs.set(name, value);
      continue;
    }
    const v = Number(value);
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`Cannot parse --${name}: not a non-negative integer: ${value}`);
    }
    nums.set(name, v);
  }

  const modeFlag = strs.get("mode");
  if (
    modeFlag !== undefined && modeFlag !== "single" && modeFlag !== "cluster3" &&
    modeFlag !== "fsync"
  ) {
    throw new RangeError(`Cannot use --mode ${modeFlag}: expected single, cluster3 or fsync`);
  }
  const mode: BenchMode = modeFlag ??
    (workload === undefined || workload === "W1" || workload === "W4"
      ? "single"
      : workload === "disk"
      ? "fsync"
      : "cluster3");
  const expected: BenchMode | undefined = workload === undefined
    ? undefined
    : workload === "W1" || workload === "W4"
    ? "single"
    : workload === "disk"
    ? "fsync"
    : "cluster3";
  if (expected !== undefined && expected !== mode) {
    throw new RangeError(`Cannot run ${workload} with --mode ${mode}`);
  }
  let fsync = bools.get("fsync") ?? workload === "W4";
  if (workload === "W4") fsync = true;
  if (mode === "fsync") fsync = false;
  let propMsg = bools.get("propmsg") ?? workload === "W2p";
  let codec = bools.get("codec") ?? workload === "W3";
  if (mode !== "cluster3") codec = false;
  if (workload === undefined) {
    workload = mode === "fsync"
      ? "disk"
      : mode === "single"
      ? (fsync ? "W4" : "W1")
      : propMsg
      ? "W2p"
      : codec
      ? "W3"
      : "W2";
  }
  if (workload === "W1" && fsync) workload = "W4";
  if (workload === "W2p") propMsg = true;
  if (workload === "W3") codec = true;
  const isM1 = workload === "M1";

  const size = Math.max(8, nums.get("size") ?? 128);
  const batch = Math.max(1, nums.get("batch") ?? 64);
  const window = Math.max(batch, nums.get("window") ?? 1024);
  // Durable runs take run.sh's sizes by default: a disk sync costs ~0.2 ms.
  const defaultN = mode === "fsync"
    ? 1000
    : fsync
    ? (batch === 1 ? 2000 : mode === "single" ? 100_000 : 50_000)
    : isM1
    ? 1_000_000
    : 200_000;
  const n = nums.get("n") ?? defaultN;
  if (n < 1) throw new RangeError("Cannot run: --n must be at least 1");
  const fsyncSize = Math.max(1, nums.get("fsync-size") ?? 4096);
  const overwrite = bools.get("overwrite") ?? false;
  const dir = strs.get("dir");
  const memorySamples = nums.get("mem-samples") ?? (isM1 ? 10 : 0);
  const writer = strs.get("writer") ?? "inline";
  if (writer !== "inline" && writer !== "worker") {
    throw new RangeError(`Cannot parse --writer: not inline or worker: ${writer}`);
  }
  if (writer === "worker" && (!fsync || mode !== "single")) {
    throw new RangeError("Cannot run: --writer worker needs --fsync in single mode (W4)");
  }
  const fsyncTag = fsync ? ` fsync=true${writer === "worker" ? " writer=worker" : ""}` : "";
  const label = strs.get("label") ??
    (mode === "fsync"
      ? `disk fsync n=${n} write=${fsyncSize}B+fdatasync ${overwrite ? "overwrite" : "append"}`
      : mode === "single"
      ? `${workload} single n=${n} batch=${batch} size=${size} propmsg=${propMsg}${fsyncTag}`
      : `${workload} cluster3 n=${n} batch=${batch} window=${window} size=${size} codec=${codec} propmsg=${propMsg}${fsyncTag}`);
  return {
    workload,
    mode,
    n,
    batch,
    window,
    size,
    codec,
    propMsg,
    memorySamples,
    freshPayloads: !(bools.get("slab-payloads") ?? false),
    fsync,
    dir,
    fsyncSize,
    overwrite,
    probeSyncs: nums.get("probe-syncs") ?? 1000,
    sqlitePragmas: (strs.get("sqlite-pragmas") ?? "").split(";").map((p) => p.trim()).filter((
      p,
    ) => p !== ""),
    writer,
    runs: nums.get("runs") ?? 3,
    warmup: nums.get("warmup") ?? 1,
    label,
    json: bools.get("json") ?? false,
    gc: bools.get("gc") ?? false,
  };
}

/**
 * The runtime this script runs on and its version.
 *
 * @returns For example `{ name: "deno", version: "2.9.6" }`.
 */
export function runtimeInfo(): { name: string; version: string } {
  const g = globalThis as {
    Deno?: { version: { deno: string; v8: string } };
    Bun?: { version: string };
  };
  if (g.Bun !== undefined) return { name: "bun", version: g.Bun.version };
  if (g.Deno !== undefined) return { name: "deno", version: g.Deno.version.deno };
  return { name: "node", version: process.versions.node ?? "?" };
}

/** M1: RSS at the end over RSS at the first sample at or past 20% of the entries, minus 1. */
function rssGrowth(r: RunResult, n: number): number | undefined {
  const from = r.memory.find((s) => s.entries >= n / 5);
  const to = r.memory[r.memory.length - 1];
  if (from === undefined || to === undefined || from === to) return undefined;
  return to.rssMb / from.rssMb - 1;
}

/**
 * Converts a run to its JSON form.
 *
 * @param a The arguments.
 * @param run The run number (1-based).
 * @param r The figures.
 * @returns The JSON object printed by `--json`.
 */
export function toJson(a: BenchArgs, run: number, r: MeasuredRun): JsonResult {
  const rt = runtimeInfo();
  const j: JsonResult = {
    workload: a.workload,
    runtime: rt.name,
    runtime_version: rt.version,
    label: a.label,
    mode: a.mode,
    run,
    n: a.n,
    batch: a.batch,
    window: a.window,
    size: a.size,
    propmsg: a.propMsg,
    codec: a.codec,
    entries: r.entries,
    seconds: Math.round(r.seconds * 1e4) / 1e4,
    cpu_seconds: Math.round(r.cpuSeconds * 1e4) / 1e4,
    per_cpu_sec: Math.round(r.entries / r.cpuSeconds),
    per_sec: Math.round(r.perSec),
    mean_us: r.meanUs,
    p50_us: r.p50Us,
    p99_us: r.p99Us,
    max_us: r.maxUs,
    readies: r.readies,
    msgs: r.msgs,
    syncs: r.syncs,
    rss_mb: round1(r.rssMb),
    heap_mb: round1(r.heapMb),
    stored_entries: r.storedEntries,
    max_rss_mb: round1((process.resourceUsage().maxRSS * 1024) / 1e6), // maxRSS is in KiB
    fsync: a.fsync,
  };
  if (r.memory.length > 0) {
    j.memory = r.memory.map((s) => [s.entries, round1(s.rssMb), round1(s.heapMb)]);
    const g = rssGrowth(r, a.n);
    if (g !== undefined) j.rss_growth = Math.round(g * 1000) / 1000;
  }
  if (a.fsync) {
    j.driver = sqliteDriverName();
    j.persist_seconds = Math.round(r.persistSeconds * 1e4) / 1e4;
  }
  if (r.probe !== undefined) {
    const bare = r.probe.overwrite.perSec;
    j.fsync_per_sec = Math.round(bare);
    j.fsync_p50_us = r.probe.overwrite.p50Us;
    j.fsync_append_per_sec = Math.round(r.probe.append.perSec);
    j.per_fsync = Math.round((r.perSec / bare) * 1000) / 1000;
    j.syncs_per_fsync = Math.round((r.syncs / r.seconds / bare) * 1000) / 1000;
  }
  return j;
}

function textLine(a: BenchArgs, run: number, r: MeasuredRun): string {
  let line = `run ${run}: ${a.label} | ${r.perSec.toFixed(0)} /s | mean ${r.meanUs.toFixed(1)}us ` +
    `p50 ${r.p50Us.toFixed(1)}us p99 ${r.p99Us.toFixed(1)}us max ${r.maxUs.toFixed(1)}us | ` +
    `readies ${r.readies} msgs ${r.msgs} syncs ${r.syncs} | ${r.seconds.toFixed(3)}s ` +
    `rss ${r.rssMb.toFixed(0)}MB heap ${r.heapMb.toFixed(0)}MB`;
  if (a.fsync) line += ` | ${sqliteDriverName()} save ${r.persistSeconds.toFixed(3)}s`;
  if (r.probe !== undefined) {
    const bare = r.probe.overwrite.perSec;
    line += ` | bare fsync ${bare.toFixed(0)}/s (append ${r.probe.append.perSec.toFixed(0)}/s)` +
      ` | ${(r.perSec / bare).toFixed(3)} entries per bare fsync`;
  }
  return line;
}

function memoryLine(a: BenchArgs, r: RunResult): string {
  const pts = r.memory.map((s) =>
    `${formatRate(s.entries)} ${s.rssMb.toFixed(0)}/${s.heapMb.toFixed(0)}`
  );
  const g = rssGrowth(r, a.n);
  const growth = g === undefined
    ? ""
    : ` | rss ${formatRate(a.n / 5)}->end ${(g * 100).toFixed(1)}%`;
  return `  memory (entries rss/heap MB): ${pts.join(", ")}${growth}`;
}

function summaryLine(label: string, rs: readonly MeasuredRun[]): string {
  const fmt = (f: (r: MeasuredRun) => number, digits: number): string => {
    const s = spread(rs.map(f));
    return `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}`;
  };
  let line = `SUMMARY ${label} | per_sec min/med/max ${fmt((r) => r.perSec, 0)}` +
    ` | mean_us ${fmt((r) => r.meanUs, 1)} | p50_us ${fmt((r) => r.p50Us, 1)}` +
    ` | p99_us ${fmt((r) => r.p99Us, 1)} | rss_mb ${fmt((r) => r.rssMb, 0)}`;
  if (rs.every((r) => r.probe !== undefined)) {
    line += ` | bare_fsync_per_sec ${fmt((r) => r.probe!.overwrite.perSec, 0)}` +
      ` | append_fsync_per_sec ${fmt((r) => r.probe!.append.perSec, 0)}` +
      ` | per_fsync ${fmt((r) => r.perSec / r.probe!.overwrite.perSec, 3)}`;
  }
  return line;
}

/** The bare disk probe (`--mode fsync`) as a run. */
function diskRun(a: BenchArgs, dir: string): MeasuredRun {
  const cpu0 = process.cpuUsage();
  const p = probeFsync(dir, a.n, a.fsyncSize, a.overwrite ? "overwrite" : "append");
  const cpu = process.cpuUsage(cpu0);
  const m = process.memoryUsage();
  return {
    entries: p.syncs,
    seconds: p.seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    perSec: p.perSec,
    meanUs: p.meanUs,
    p50Us: p.p50Us,
    p99Us: p.p99Us,
    maxUs: p.maxUs,
    readies: 0,
    msgs: 0,
    syncs: p.syncs,
    persistSeconds: 0,
    rssMb: m.rss / 1e6,
    heapMb: m.heapUsed / 1e6,
    memory: [],
    storedEntries: 0,
  };
}

/** Measures the bare sync rates: in place and appending, half of the syncs each time. */
function probeHalf(
  a: BenchArgs,
  dir: string,
  order: FsyncMode[],
): Map<FsyncMode, FsyncProbeResult> {
  const m = new Map<FsyncMode, FsyncProbeResult>();
  const half = Math.max(1, Math.floor(a.probeSyncs / 2));
  for (const mode of order) m.set(mode, probeFsync(dir, half, a.fsyncSize, mode));
  return m;
}

/**
 * Runs the benchmark described by the command line and prints its results.
 *
 * @param argv The arguments after the script name.
 * @param print Where lines go (stdout by default).
 * @returns The measured runs.
 */
export async function main(
  argv: readonly string[],
  print: (line: string) => void = (l) => console.log(l),
): Promise<MeasuredRun[]> {
  const a = parseArgs(argv);
  const rt = runtimeInfo();
  const onDisk = a.fsync || a.mode === "fsync";
  const tempDir = onDisk && a.dir === undefined;
  const dir = onDisk ? (a.dir ?? makeTempDir("raft-ts-bench-")) : undefined;
  if (dir !== undefined && !tempDir) mkdirSync(dir, { recursive: true });
  try {
    if (!a.json) {
      print(
        `# ${rt.name} ${rt.version} ${process.platform}/${process.arch}` +
          (a.fsync ? ` ${sqliteDriverName()}` : "") + (dir !== undefined ? ` dir=${dir}` : ""),
      );
    }
    if (a.gc && !collectGarbage()) {
      console.error("warning: --gc has no effect: run Deno with --v8-flags=--expose-gc");
    }
    const wo: WorkloadOptions = {
      mode: a.mode === "cluster3" ? "cluster3" : "single",
      n: a.n,
      batch: a.batch,
      window: a.window,
      size: a.size,
      codec: a.codec,
      propMsg: a.propMsg,
      freshPayloads: a.freshPayloads,
      memorySamples: a.memorySamples,
      sqlitePragmas: a.sqlitePragmas,
      writer: a.writer,
      fsync: a.fsync,
      ...(dir !== undefined ? { dir } : {}),
    };
    const results: MeasuredRun[] = [];
    for (let i = 0; i < a.warmup + a.runs; i++) {
      if (a.gc) collectGarbage();
      const measured = i >= a.warmup;
      const probing = measured && a.fsync && a.probeSyncs > 0;
      // Bracket the run: in place then appending before, the reverse after.
      const before = probing ? probeHalf(a, dir!, ["overwrite", "append"]) : undefined;
      const r: MeasuredRun = a.mode === "fsync" ? diskRun(a, dir!) : await runWorkload(wo);
      const after = probing ? probeHalf(a, dir!, ["append", "overwrite"]) : undefined;
      if (!measured) continue;
      if (before !== undefined && after !== undefined) {
        r.probe = {
          overwrite: joinProbes([before.get("overwrite")!, after.get("overwrite")!]),
          append: joinProbes([before.get("append")!, after.get("append")!]),
        };
      }
      const run = i - a.warmup + 1;
      results.push(r);
      if (a.json) {
        print(JSON.stringify(toJson(a, run, r)));
      } else {
        print(textLine(a, run, r));
        if (r.memory.length > 0) print(memoryLine(a, r));
      }
    }
    if (!a.json && results.length > 0) print(summaryLine(a.label, results));
    return results;
  } finally {
    if (tempDir) removeDir(dir!);
  }
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
}
