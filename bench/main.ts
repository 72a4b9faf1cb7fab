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
 * `--mode cluster3`, `W2p` = W2 `--propmsg`, `W3` = W2 `--codec`, `M1` = W2
 * with 1M entries by default and memory sampled every 10% of the run.
 * Flags take one or two dashes, `--flag value` or `--flag=value`:
 * `--mode single|cluster3`, `--n` (200000; M1 1000000), `--batch` (64),
 * `--window` (1024), `--size` (128), `--runs` (3), `--warmup` (1),
 * `--propmsg`, `--codec`, `--label`, `--json`, `--mem-samples` (0; M1 10),
 * `--slab-payloads` (payloads as views into 1 MiB slabs instead of one
 * `new Uint8Array` per entry, which is what the Go anchor does).
 *
 * Prints one line per measured run and a SUMMARY line (min / median / max),
 * or with `--json` one JSON object per run and nothing else.
 *
 * @module
 */

import process from "node:process";
import { formatRate, round1, spread } from "./stats.ts";
import {
  collectGarbage,
  type Mode,
  type RunResult,
  runWorkload,
  type WorkloadOptions,
} from "./workloads.ts";

/** The workload names of BENCH.md that this driver runs. */
export const workloadNames = ["W1", "W2", "W2p", "W3", "M1"] as const;
/** A workload name. */
export type WorkloadName = typeof workloadNames[number];

/** Parsed command line. */
export interface BenchArgs extends WorkloadOptions {
  /** The workload name (derived from the flags when none is given). */
  workload: WorkloadName;
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
  mode: Mode;
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
}

const usage =
  "usage: main.ts [W1|W2|W2p|W3|M1] [--mode single|cluster3] [--n N] [--batch B] [--window W] " +
  "[--size S] [--runs R] [--warmup K] [--propmsg] [--codec] [--mem-samples M] [--slab-payloads] " +
  "[--label L] [--json]";

const booleanFlags = new Set(["propmsg", "codec", "json", "slab-payloads", "gc"]);
const numberFlags = new Set(["n", "batch", "window", "size", "runs", "warmup", "mem-samples"]);
const stringFlags = new Set(["mode", "label"]);
const unsupportedFlags = new Set(["fsync", "dir", "fsync-size"]);

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
    if (unsupportedFlags.has(name)) {
      throw new RangeError(
        `Cannot use --${name}: the durable workload (W4) is not implemented yet`,
      );
    }
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
  if (modeFlag !== undefined && modeFlag !== "single" && modeFlag !== "cluster3") {
    throw new RangeError(`Cannot use --mode ${modeFlag}: expected single or cluster3`);
  }
  const mode: Mode = modeFlag ??
    (workload === undefined || workload === "W1" ? "single" : "cluster3");
  if (workload !== undefined && (workload === "W1") !== (mode === "single")) {
    throw new RangeError(`Cannot run ${workload} with --mode ${mode}`);
  }
  let propMsg = bools.get("propmsg") ?? workload === "W2p";
  let codec = bools.get("codec") ?? workload === "W3";
  if (mode === "single") codec = false;
  if (workload === undefined) {
    workload = mode === "single" ? "W1" : propMsg ? "W2p" : codec ? "W3" : "W2";
  }
  if (workload === "W2p") propMsg = true;
  if (workload === "W3") codec = true;
  const isM1 = workload === "M1";

  const n = nums.get("n") ?? (isM1 ? 1_000_000 : 200_000);
  if (n < 1) throw new RangeError("Cannot run: --n must be at least 1");
  const size = Math.max(8, nums.get("size") ?? 128);
  const batch = Math.max(1, nums.get("batch") ?? 64);
  const window = Math.max(batch, nums.get("window") ?? 1024);
  const memorySamples = nums.get("mem-samples") ?? (isM1 ? 10 : 0);
  const label = strs.get("label") ??
    (mode === "single"
      ? `${workload} single n=${n} batch=${batch} size=${size} propmsg=${propMsg}`
      : `${workload} cluster3 n=${n} batch=${batch} window=${window} size=${size} codec=${codec} propmsg=${propMsg}`);
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
export function toJson(a: BenchArgs, run: number, r: RunResult): JsonResult {
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
  };
  if (r.memory.length > 0) {
    j.memory = r.memory.map((s) => [s.entries, round1(s.rssMb), round1(s.heapMb)]);
    const g = rssGrowth(r, a.n);
    if (g !== undefined) j.rss_growth = Math.round(g * 1000) / 1000;
  }
  return j;
}

function textLine(a: BenchArgs, run: number, r: RunResult): string {
  return `run ${run}: ${a.label} | ${r.perSec.toFixed(0)} /s | mean ${r.meanUs.toFixed(1)}us ` +
    `p50 ${r.p50Us.toFixed(1)}us p99 ${r.p99Us.toFixed(1)}us max ${r.maxUs.toFixed(1)}us | ` +
    `readies ${r.readies} msgs ${r.msgs} syncs ${r.syncs} | ${r.seconds.toFixed(3)}s ` +
    `rss ${r.rssMb.toFixed(0)}MB heap ${r.heapMb.toFixed(0)}MB`;
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

function summaryLine(label: string, rs: readonly RunResult[]): string {
  const fmt = (f: (r: RunResult) => number, digits: number): string => {
    const s = spread(rs.map(f));
    return `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}`;
  };
  return `SUMMARY ${label} | per_sec min/med/max ${fmt((r) => r.perSec, 0)}` +
    ` | mean_us ${fmt((r) => r.meanUs, 1)} | p50_us ${fmt((r) => r.p50Us, 1)}` +
    ` | p99_us ${fmt((r) => r.p99Us, 1)} | rss_mb ${fmt((r) => r.rssMb, 0)}`;
}

/**
 * Runs the benchmark described by the command line and prints its results.
 *
 * @param argv The arguments after the script name.
 * @param print Where lines go (stdout by default).
 * @returns The measured runs.
 */
export function main(
  argv: readonly string[],
  print: (line: string) => void = (l) => console.log(l),
): RunResult[] {
  const a = parseArgs(argv);
  const rt = runtimeInfo();
  if (!a.json) print(`# ${rt.name} ${rt.version} ${process.platform}/${process.arch}`);
  if (a.gc && !collectGarbage()) {
    console.error("warning: --gc has no effect: run Deno with --v8-flags=--expose-gc");
  }
  const results: RunResult[] = [];
  for (let i = 0; i < a.warmup + a.runs; i++) {
    if (a.gc) collectGarbage();
    const r = runWorkload(a);
    if (i < a.warmup) continue;
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
}

if (import.meta.main) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
}
