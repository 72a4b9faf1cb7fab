/**
 * Side-by-side comparison (`deno task bench:compare [--quick]`): runs, in
 * one go on this machine,
 *
 * 1. the Go anchor, `shared/anchors/etcd-raft-bench/run.sh` (etcd raft 3.4
 *    driven by `raftanchor`; it apt-installs golang and etcd's sources on
 *    first use, so it needs root or sudo), from its shared location, with
 *    its scratch directory under `/tmp/raftts-bench/anchor`;
 * 2. the TypeScript anchor, `shared/anchors/coaty/bench.js`
 *    (@coaty/consensus.raft), from a scratch copy under
 *    `/tmp/raftts-bench/coaty` where it is `npm install`ed;
 * 3. per workload, back to back: the `raftanchor` binary run.sh built,
 *    `bench/coaty_cluster.cjs` (the same W2/W2p loop on coaty, with Node,
 *    from the same scratch copy) where the row has it, then our
 *    `bench/main.ts` on Deno and on Bun (each in its own process, `--json`),
 *    with the same sizes as run.sh; then M1 on both runtimes;
 *
 * 4. W4 (durable, SQLite) is among the workloads of step 3; its runs also
 *    measure the disk's bare sync rate (`main.ts --probe-syncs`), shown in a
 *    table of their own;
 * 5. with `--w5` or `--with-etcd-server`: W5 (`bench/kv_http.ts`, three
 *    kv_server processes on Bun, then on Deno, loaded over HTTP), and with
 *    `--with-etcd-server` first the etcd server anchor,
 *    `shared/anchors/etcd-server-bench/run.sh` (3-member and 1-member etcd
 *    clusters on loopback; it apt-installs etcd on first use; run with
 *    `CHECK_PERF=0`, about 1 min quick, 4 min full). Both are off by
 *    default because they take minutes;
 *
 * then prints a table: workload, anchor figure, ours on Deno, ours on Bun,
 * and the ratios. Medians throughout. Ratios use the Go runs made right
 * next to ours (the machines are shared and noisy); run.sh's own figure is
 * shown beside them.
 *
 * Flags: `--quick` (run.sh's `quick` sizes: a tenth of the entries),
 * `--runs R` (measured runs per workload, default 5, quick 3), `--no-go`,
 * `--no-coaty` (skip an anchor; its column stays empty), `--go-log FILE`
 * (reuse a captured run.sh log instead of running run.sh; the binary must
 * exist from an earlier run), `--runtimes deno,bun`, `--w5`,
 * `--with-etcd-server`, `--w6` (W6 load, `bench/sharded.ts`, on Bun then
 * Deno, each against W5 in the same script and the etcd row), `--etcd-log FILE` (reuse a captured
 * etcd-server-bench log), `--only W4,W5` (only rows whose name starts with
 * one of these; M1 is skipped unless listed). Env `ANCHORS_DIR` overrides
 * the anchors' location (default `../shared/anchors`).
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { KvHttpResult } from "./kv_http.ts";
import type { JsonResult } from "./main.ts";
import { formatRate, spread } from "./stats.ts";

const root = join(import.meta.dirname!, "..");
const anchors = process.env.ANCHORS_DIR ?? join(root, "..", "shared", "anchors");
const scratch = "/tmp/raftts-bench";
const anchorDir = join(scratch, "anchor");
const raftanchor = join(anchorDir, "bin", "raftanchor");
const raftwal = join(anchorDir, "raftwal");

/** Median figures of one workload on one runtime or anchor. */
interface Figures {
  perSec: number;
  meanUs: number;
  p99Us: number;
  /** W4: median of the runs' bare sync rates (in place) and of the ratios to them. */
  fsyncPerSec?: number;
  perFsync?: number;
  fsyncAppendPerSec?: number;
  perAppendFsync?: number;
}

/** One row of the table. */
interface Row {
  /** Shown in the first column. */
  name: string;
  /** Arguments for bench/main.ts. */
  args: string[];
  /** The same workload's raftanchor flags, when Go runs it. */
  goArgs?: string[];
  /** Its SUMMARY label in run.sh's output. */
  goLabel?: string;
  /** The coaty bench.js batch size of the comparable workload. */
  coatyBatch?: number;
  /** Arguments for bench/coaty_cluster.cjs: the same workload, loop and sizes on coaty. */
  coatyArgs?: string[];
  /** The target ratio against Go, when the issue sets one. */
  target?: number;
  /** W4 batch 1: the target ratio against the bare fsync rate measured in the same run. */
  fsyncTarget?: number;
}

interface CompareArgs {
  quick: boolean;
  runs: number;
  go: boolean;
  coaty: boolean;
  goLog: string | undefined;
  runtimes: string[];
  w5: boolean;
  /** W6 load (many groups per process) against W5 and etcd. */
  w6: boolean;
  etcdServer: boolean;
  etcdLog: string | undefined;
  only: string[] | undefined;
}

function parseCompareArgs(argv: readonly string[]): CompareArgs {
  const a: CompareArgs = {
    quick: false,
    runs: 0,
    go: true,
    coaty: true,
    goLog: undefined,
    runtimes: ["deno", "bun"],
    w5: false,
    w6: false,
    etcdServer: false,
    etcdLog: undefined,
    only: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") a.quick = true;
    else if (arg === "--no-go") a.go = false;
    else if (arg === "--no-coaty") a.coaty = false;
    else if (arg === "--runs") a.runs = Number(argv[++i]);
    else if (arg === "--go-log") a.goLog = argv[++i];
    else if (arg === "--runtimes") a.runtimes = (argv[++i] ?? "").split(",");
    else if (arg === "--w5") a.w5 = true;
    else if (arg === "--w6") a.w6 = true;
    else if (arg === "--with-etcd-server") a.etcdServer = a.w5 = true;
    else if (arg === "--etcd-log") {
      a.etcdLog = argv[++i];
      a.w5 = true;
    } else if (arg === "--only") a.only = (argv[++i] ?? "").split(",");
    else throw new RangeError(`Cannot parse arguments: unknown ${JSON.stringify(arg)}`);
  }
  if (a.runs === 0) a.runs = a.quick ? 3 : 5;
  if (!Number.isSafeInteger(a.runs) || a.runs < 1) {
    throw new RangeError(`Cannot use --runs: not a positive integer: ${a.runs}`);
  }
  return a;
}

/** The rows, with run.sh's sizes (a tenth of them in quick mode). */
function rows(quick: boolean): Row[] {
  const s = quick ? 10 : 1;
  const single = (n: number, b: number): Row => ({
    name: `W1 single b${b}`,
    args: ["W1", "--n", `${n / s}`, "--batch", `${b}`],
    goArgs: ["-mode", "single", "-n", `${n / s}`, "-batch", `${b}`],
    goLabel: `single n=${n / s} batch=${b} size=128 propmsg=false fsync=false`,
    target: 0.7,
  });
  const cluster = (
    name: string,
    n: number,
    b: number,
    w: number,
    flag: "" | "propmsg" | "codec",
  ): Row => ({
    name,
    args: [
      flag === "propmsg" ? "W2p" : flag === "codec" ? "W3" : "W2",
      "--n",
      `${n / s}`,
      "--batch",
      `${b}`,
      "--window",
      `${w}`,
    ],
    goArgs: [
      "-mode",
      "cluster3",
      "-n",
      `${n / s}`,
      "-batch",
      `${b}`,
      "-window",
      `${w}`,
      ...(flag === "" ? [] : [`-${flag}`]),
    ],
    goLabel: `cluster3 n=${n / s} batch=${b} window=${w} size=128 codec=${
      flag === "codec"
    } propmsg=${flag === "propmsg"} fsync=false`,
    target: 1.0,
  });
  // The same with payloads as views into a slab, the way a server's
  // proposals are views into its receive buffers (by default each payload is
  // its own `new Uint8Array`, as raftanchor allocates a Go slice; see README).
  const slab = (r: Row): Row => ({
    ...r,
    name: `${r.name} slab`,
    args: [...r.args, "--slab-payloads"],
  });
  // The same workload on coaty, through bench/coaty_cluster.cjs (W2 and W2p;
  // coaty has no codec, so W3 has no such row).
  const coatyArgs = (r: Row): string[] => [
    ...r.args.slice(1),
    ...(r.args[0] === "W2p" ? ["--propmsg"] : []),
  ];
  const withCoaty = (r: Row): Row => ({ ...r, coatyArgs: coatyArgs(r) });
  const againstCoaty = (r: Row, coatyBatch: number): Row => {
    const { target: _goTarget, ...rest } = r;
    return { ...rest, coatyBatch };
  };
  const w1 = cluster("W2 cluster3 b1 w1", 20000, 1, 1, "");
  // W4: W1 with the log in SQLite; Go's -fsync writes a file per Ready.
  const durable = (n: number, b: number): Row => ({
    name: `W4 durable b${b}`,
    args: ["W4", "--n", `${n / s}`, "--batch", `${b}`],
    goArgs: ["-mode", "single", "-n", `${n / s}`, "-batch", `${b}`, "-fsync", "-dir", raftwal],
    goLabel: `single n=${n / s} batch=${b} size=128 propmsg=false fsync=true`,
    ...(b === 1 ? { fsyncTarget: 1 / 1.2 } : { target: 1.0 }),
  });
  return [
    single(200000, 1),
    slab(single(200000, 1)),
    single(1000000, 64),
    { ...w1, coatyBatch: 1, coatyArgs: coatyArgs(w1) },
    slab(w1),
    withCoaty(cluster("W2 cluster3 b64 w1024", 200000, 64, 1024, "")),
    withCoaty(cluster("W2p propmsg b64 w1024", 200000, 64, 1024, "propmsg")),
    cluster("W3 codec b64 w1024", 200000, 64, 1024, "codec"),
    durable(2000, 1),
    durable(100000, 64),
    // coaty's bench.js proposes `batch` entries, then pumps until quiet:
    // our closest workload is window = batch. N as in bench.js (fixed). Go
    // runs them too, so that the table shows how far Go itself is from coaty.
    againstCoaty(cluster("W2 cluster3 b16 w16", 50000 * s, 16, 16, ""), 16),
    againstCoaty(cluster("W2 cluster3 b256 w256", 50000 * s, 256, 256, ""), 256),
  ];
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function bin(name: string): string {
  const local = join(root, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
}

/** Runs a command, streaming its output to `logFile`; resolves with all of stdout+stderr. */
function runLogged(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  logFile: string,
  onLine: (line: string) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(logFile);
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let all = "";
    let partial = "";
    const take = (chunk: Buffer): void => {
      const text = chunk.toString();
      out.write(text);
      all += text;
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const l of lines) onLine(l);
    };
    child.stdout!.on("data", take);
    child.stderr!.on("data", take);
    child.on("error", reject);
    child.on("close", (code) => {
      out.end();
      if (code === 0) resolve(all);
      else reject(new Error(`${cmd} exited with ${code}; log in ${logFile}`));
    });
  });
}

/** Parses raftanchor SUMMARY lines: label -> median figures. */
function parseGoSummaries(text: string): Map<string, Figures> {
  const m = new Map<string, Figures>();
  const re =
    /^SUMMARY (.+?) \| per_sec min\/med\/max [\d.]+ \/ ([\d.]+) \/ [\d.]+ \| mean_us [\d.]+ \/ ([\d.]+) \/ [\d.]+ \| p50_us [^|]+\| p99_us [\d.]+ \/ ([\d.]+) \/ [\d.]+$/gm;
  for (const x of text.matchAll(re)) {
    m.set(x[1]!, { perSec: Number(x[2]), meanUs: Number(x[3]), p99Us: Number(x[4]) });
  }
  return m;
}

/** Runs run.sh (install, build, all of its anchors); its SUMMARY figures by label. */
async function runGoScript(a: CompareArgs): Promise<Map<string, Figures>> {
  if (a.goLog !== undefined) {
    log(`go: reading ${a.goLog}`);
    return parseGoSummaries(readFileSync(a.goLog, "utf8"));
  }
  const logFile = join(scratch, `etcd-raft-bench${a.quick ? "-quick" : ""}.log`);
  const script = join(anchors, "etcd-raft-bench", "run.sh");
  log(`go: ${script}${a.quick ? " quick" : ""} (log: ${logFile}; first use apt-installs golang)`);
  const t0 = performance.now();
  const text = await runLogged(
    "bash",
    a.quick ? [script, "quick"] : [script],
    scratch,
    { ANCHOR_DIR: anchorDir, RUNS: `${a.runs}` },
    logFile,
    (l) => {
      if (l.startsWith("===") || l.startsWith("SUMMARY")) log(`  [go] ${l}`);
    },
  );
  log(`go: run.sh done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return parseGoSummaries(text);
}

function medians(rs: readonly { per_sec: number; mean_us: number; p99_us: number }[]): Figures {
  return {
    perSec: spread(rs.map((x) => x.per_sec)).median,
    meanUs: spread(rs.map((x) => x.mean_us)).median,
    p99Us: spread(rs.map((x) => x.p99_us)).median,
  };
}

/** Runs the raftanchor binary run.sh built, for one workload. */
function runGoBinary(goArgs: string[], runs: number): Figures {
  if (goArgs.includes("-fsync")) mkdirSync(raftwal, { recursive: true });
  const r = spawnSync(raftanchor, [...goArgs, "-runs", `${runs}`, "-json"], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`raftanchor ${goArgs.join(" ")} failed:\n${r.stderr}`);
  const results = r.stdout.split("\n").filter((l) => l.startsWith("JSON ")).map((l) =>
    JSON.parse(l.slice(5)) as { per_sec: number; mean_us: number; p99_us: number }
  );
  return medians(results);
}

/** Runs coaty's bench.js: batch -> proposals/s. */
async function runCoaty(): Promise<Map<number, number>> {
  const dir = join(scratch, "coaty");
  mkdirSync(dir, { recursive: true });
  // A writable copy of the anchor's files (the shared ones are read-only).
  for (const f of ["bench.js", "package.json"]) {
    writeFileSync(join(dir, f), readFileSync(join(anchors, "coaty", f)));
  }
  writeFileSync(
    join(dir, "coaty_cluster.cjs"),
    readFileSync(join(root, "bench", "coaty_cluster.cjs")),
  );
  if (!existsSync(join(dir, "node_modules", "@coaty", "consensus.raft"))) {
    log(`coaty: npm install in ${dir}`);
    const r = spawnSync("npm", ["install", "--no-audit", "--no-fund"], {
      cwd: dir,
      stdio: ["ignore", "ignore", "inherit"],
    });
    if (r.status !== 0) throw new Error(`npm install failed in ${dir}`);
  }
  log("coaty: node bench.js");
  const text = await runLogged("node", ["bench.js"], dir, {}, join(scratch, "coaty.log"), (l) => {
    if (l.startsWith("batch=")) log(`  [coaty] ${l}`);
  });
  const m = new Map<number, number>();
  for (const x of text.matchAll(/^batch=(\d+) N=\d+ all-applied=\w+ (\d+) proposals\/s/gm)) {
    m.set(Number(x[1]), Number(x[2]));
  }
  return m;
}

/** Runs bench/coaty_cluster.cjs (copied next to coaty's install by runCoaty): the median entries/s. */
function runCoatyCluster(args: string[], runs: number): number {
  const dir = join(scratch, "coaty");
  const r = spawnSync("node", ["coaty_cluster.cjs", ...args, "--runs", `${runs}`], {
    cwd: dir,
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`coaty_cluster.cjs ${args.join(" ")} failed:\n${r.stderr}`);
  const rates = r.stdout.trim().split("\n").map((l) =>
    (JSON.parse(l) as { per_sec: number }).per_sec
  );
  rates.sort((x, y) => x - y);
  return rates[Math.floor(rates.length / 2)]!;
}

/** Runs bench/main.ts for one workload on one runtime; median figures and the JSON lines. */
function runOurs(runtime: string, args: string[], runs: number): {
  figures: Figures;
  results: JsonResult[];
} {
  const main = join(root, "bench", "main.ts");
  // --expose-gc lets M1 collect garbage before each memory sample.
  const cmd = runtime === "deno"
    ? [bin("deno"), "run", "-A", "--v8-flags=--expose-gc", main]
    : [bin("bun"), main];
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), ...args, "--runs", `${runs}`, "--json"], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    throw new Error(`${runtime} bench/main.ts ${args.join(" ")} failed:\n${r.stderr}`);
  }
  const results = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as JsonResult);
  const figures = medians(results);
  const probed = results.filter((x) => x.fsync_per_sec !== undefined);
  if (probed.length > 0) {
    figures.fsyncPerSec = spread(probed.map((x) => x.fsync_per_sec!)).median;
    figures.perFsync = spread(probed.map((x) => x.per_fsync!)).median;
    figures.fsyncAppendPerSec = spread(probed.map((x) => x.fsync_append_per_sec!)).median;
    figures.perAppendFsync = spread(probed.map((x) => x.per_sec / x.fsync_append_per_sec!)).median;
  }
  return { figures, results };
}

function ratio(ours: Figures | undefined, anchor: number | undefined): string {
  if (ours === undefined || anchor === undefined || !(anchor > 0)) return "-";
  return `${(ours.perSec / anchor).toFixed(2)}×`;
}

function lat(f: Figures | undefined): string {
  return f === undefined ? "-" : `${f.meanUs.toFixed(1)} / ${f.p99Us.toFixed(0)}`;
}

function rate(f: Figures | undefined): string {
  return f === undefined ? "-" : formatRate(f.perSec);
}

/** Median figures of an etcd-server-bench SUMMARY line. */
interface EtcdFigures {
  perSec: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** Parses etcd-server-bench SUMMARY lines: label -> median figures. */
function parseEtcdSummaries(text: string): Map<string, EtcdFigures> {
  const m = new Map<string, EtcdFigures>();
  const med = String.raw`[\d.]+ \/ ([\d.]+) \/ [\d.]+`;
  const re = new RegExp(
    String
      .raw`^SUMMARY (.+?) \(\d+ runs\) \| puts\/s min\/med\/max ${med} \| mean_ms ${med} \| p50_ms ${med} \| p99_ms ${med}`,
    "gm",
  );
  for (const x of text.matchAll(re)) {
    m.set(x[1]!, {
      perSec: Number(x[2]),
      meanMs: Number(x[3]),
      p50Ms: Number(x[4]),
      p99Ms: Number(x[5]),
    });
  }
  return m;
}

/** Runs the etcd server anchor (or reads a captured log); its SUMMARY figures by label. */
async function runEtcdServer(a: CompareArgs): Promise<Map<string, EtcdFigures>> {
  if (a.etcdLog !== undefined) {
    log(`etcd: reading ${a.etcdLog}`);
    return parseEtcdSummaries(readFileSync(a.etcdLog, "utf8"));
  }
  const logFile = join(scratch, `etcd-server-bench${a.quick ? "-quick" : ""}.log`);
  const script = join(anchors, "etcd-server-bench", "run.sh");
  log(
    `etcd: ${script}${
      a.quick ? " quick" : ""
    } CHECK_PERF=0 (log: ${logFile}; first use apt-installs etcd)`,
  );
  const t0 = performance.now();
  const text = await runLogged(
    "bash",
    a.quick ? [script, "quick"] : [script],
    scratch,
    { ANCHOR_DIR: anchorDir, CHECK_PERF: "0" },
    logFile,
    (l) => {
      if (l.startsWith("===") || l.startsWith("SUMMARY")) log(`  [etcd] ${l}`);
    },
  );
  log(`etcd: run.sh done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return parseEtcdSummaries(text);
}

/** W5 medians of one server runtime at one concurrency. */
interface KvFigures {
  perSec: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  runs: number;
  errors: number;
}

/**
 * Runs bench/kv_http.ts with servers on `runtime`; figures by concurrency.
 * The load client runs on Bun, whose fetch costs a third of Deno's CPU per
 * request (measured): on two cores the client competes with the servers.
 */
function runKvHttpBench(runtime: string, a: CompareArgs): Map<number, KvFigures> {
  const script = join(root, "bench", "kv_http.ts");
  const r = spawnSync(
    bin("bun"),
    [
      script,
      "--runtime",
      runtime,
      "--json",
      ...(a.quick ? ["--quick"] : []),
    ],
    { cwd: root, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`bench/kv_http.ts --runtime ${runtime} failed:\n${r.stderr}`);
  const rs = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l) as KvHttpResult
  );
  const out = new Map<number, KvFigures>();
  for (const c of new Set(rs.map((x) => x.concurrency))) {
    const x = rs.filter((y) => y.concurrency === c);
    const med = (k: "per_sec" | "mean_ms" | "p50_ms" | "p99_ms"): number =>
      spread(x.map((y) => y[k])).median;
    out.set(c, {
      perSec: med("per_sec"),
      meanMs: med("mean_ms"),
      p50Ms: med("p50_ms"),
      p99Ms: med("p99_ms"),
      runs: x.length,
      errors: x.reduce((s, y) => s + y.errors, 0),
    });
  }
  return out;
}

/** What bench/sharded.ts --mode load --json prints. */
interface W6Figures {
  w6: { perSec: number; meanMs: number; p99Ms: number; batchesPerSec?: number };
  w5: { perSec: number; meanMs: number; p99Ms: number };
}

/** Runs bench/sharded.ts --mode load with servers on `runtime`. */
function runShardedBench(runtime: string, a: CompareArgs): W6Figures {
  const r = spawnSync(
    bin("deno"),
    [
      "run",
      "-A",
      join(root, "bench", "sharded.ts"),
      "--mode",
      "load",
      "--runtime",
      runtime,
      "--json",
      ...(a.quick ? ["--quick"] : []),
    ],
    { cwd: root, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`bench/sharded.ts --runtime ${runtime} failed:\n${r.stderr}`);
  const line = r.stdout.trim().split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`bench/sharded.ts printed no figures:\n${r.stdout}`);
  return JSON.parse(line) as W6Figures;
}

/** The W6 rows: against etcd's 3-member gRPC c100 row, and against W5 run next to it. */
function w6Rows(
  w6: Map<string, W6Figures>,
  e: EtcdFigures | undefined,
  d: string,
  b: string,
): string[] {
  const fd = w6.get(d);
  const fb = w6.get(b);
  const rate6 = (f: W6Figures | undefined): string =>
    f === undefined ? "-" : formatRate(f.w6.perSec);
  const vsEtcd = (f: W6Figures | undefined): string =>
    f === undefined || e === undefined ? "-" : `${(f.w6.perSec / e.perSec).toFixed(2)}×`;
  const vsW5 = (f: W6Figures | undefined): string =>
    f === undefined
      ? "-"
      : `${(f.w6.perSec / f.w5.perSec).toFixed(2)}× W5 (${
        formatRate(f.w5.perSec)
      }), p99 ${f.w6.p99Ms} / ${f.w5.p99Ms} ms, ${f.w6.batchesPerSec ?? "-"} fsyncs/s`;
  return [
    `| W6 load 3 hosts × 64 groups c100 | ${
      e === undefined ? "(no etcd run)" : "etcd 3 members, 100 clients (gRPC)"
    } | ${e === undefined ? "-" : formatRate(e.perSec)} | ${rate6(fd)} | ${rate6(fb)} | ${
      vsEtcd(fd)
    } | ${vsEtcd(fb)} | ≥ 1.5× W5, p99 ≤ W5's |`,
    "",
    `W6 against W5 in the same script: ${d} ${vsW5(fd)}; ${b} ${vsW5(fb)}.`,
  ];
}

function selected(a: CompareArgs, name: string): boolean {
  return a.only === undefined || a.only.some((p) => name.startsWith(p));
}

/**
 * Runs the comparison and prints the table (markdown) on stdout; progress
 * goes to stderr.
 *
 * @param argv The arguments after the script name.
 */
export async function compare(argv: readonly string[]): Promise<void> {
  const a = parseCompareArgs(argv);
  mkdirSync(scratch, { recursive: true });
  const t0 = performance.now();
  const goScript = a.go ? await runGoScript(a) : new Map<string, Figures>();
  const goBinary = a.go && existsSync(raftanchor);
  if (a.go && !goBinary) log(`go: ${raftanchor} missing; using run.sh's figures only`);
  const table = rows(a.quick).filter((r) => selected(a, r.name));
  const coaty =
    a.coaty && table.some((r) => r.coatyBatch !== undefined || r.coatyArgs !== undefined)
      ? await runCoaty()
      : new Map<number, number>();
  const coatySame = new Map<string, number>();

  const goNext = new Map<string, Figures>();
  const ours = new Map<string, Map<string, Figures>>();
  for (const row of table) {
    if (goBinary && row.goArgs !== undefined && !goNext.has(row.goLabel!)) {
      const g = runGoBinary(row.goArgs, a.runs);
      goNext.set(row.goLabel!, g);
      log(`  [go] ${row.name}: ${formatRate(g.perSec)}/s, mean ${g.meanUs.toFixed(1)} µs`);
    }
    if (a.coaty && row.coatyArgs !== undefined) {
      const c = runCoatyCluster(row.coatyArgs, a.runs);
      coatySame.set(row.name, c);
      log(`  [coaty] ${row.name}: ${formatRate(c)}/s`);
    }
    const byRuntime = new Map<string, Figures>();
    for (const rt of a.runtimes) {
      const { figures } = runOurs(rt, row.args, a.runs);
      byRuntime.set(rt, figures);
      log(`  [${rt}] ${row.name}: ${formatRate(figures.perSec)}/s, mean ${figures.meanUs} µs`);
    }
    ours.set(row.name, byRuntime);
  }
  const m1 = new Map<string, JsonResult>();
  const m1n = a.quick ? 200_000 : 1_000_000;
  if (selected(a, "M1")) {
    for (const rt of a.runtimes) {
      const { results } = runOurs(rt, ["M1", "--n", `${m1n}`], 1);
      m1.set(rt, results[0]!);
      log(`  [${rt}] M1: rss growth ${results[0]!.rss_growth}`);
    }
  }
  const etcd = a.etcdServer || a.etcdLog !== undefined
    ? await runEtcdServer(a)
    : new Map<string, EtcdFigures>();
  const kv = new Map<string, Map<number, KvFigures>>();
  if (a.w5) {
    for (const rt of ["bun", "deno"]) {
      log(`W5: bench/kv_http.ts --runtime ${rt}${a.quick ? " --quick" : ""}`);
      const f = runKvHttpBench(rt, a);
      kv.set(rt, f);
      for (const [c, x] of f) {
        log(`  [w5 ${rt}] c${c}: ${formatRate(x.perSec)} puts/s, p99 ${x.p99Ms} ms`);
      }
    }
  }

  const w6 = new Map<string, W6Figures>();
  if (a.w6) {
    for (const rt of ["bun", "deno"]) {
      log(`W6: bench/sharded.ts --mode load --runtime ${rt}${a.quick ? " --quick" : ""}`);
      const f = runShardedBench(rt, a);
      w6.set(rt, f);
      log(`  [w6 ${rt}] ${formatRate(f.w6.perSec)} puts/s (W5 ${formatRate(f.w5.perSec)})`);
    }
  }

  const [d, b] = [a.runtimes[0] ?? "deno", a.runtimes[1] ?? "bun"];
  const out: string[] = [];
  out.push(
    `# raft-ts vs anchors (${a.quick ? "quick" : "full"}; medians of ${a.runs} runs; ` +
      `${new Date().toISOString()})`,
    "",
    `| workload | anchor | anchor /s (run.sh) | ours ${d} /s | ours ${b} /s | ` +
      `ratio ${d} | ratio ${b} | target |`,
    "|---|---|---|---|---|---|---|---|",
  );
  const latRows: string[] = [];
  const diskRows: string[] = [];
  for (const row of table) {
    const o = ours.get(row.name)!;
    const next = row.goLabel === undefined ? undefined : goNext.get(row.goLabel);
    const script = row.goLabel === undefined ? undefined : goScript.get(row.goLabel);
    const go = next ?? script;
    if (row.goLabel !== undefined) {
      const shown = next !== undefined && script !== undefined
        ? `${rate(next)} (${rate(script)})`
        : rate(go);
      out.push(
        `| ${row.name} | etcd raft Go | ${shown} | ${rate(o.get(d))} | ${rate(o.get(b))} | ` +
          `${ratio(o.get(d), go?.perSec)} | ${ratio(o.get(b), go?.perSec)} | ` +
          `${row.target === undefined ? "" : `≥ ${row.target.toFixed(1)}×`} |`,
      );
      latRows.push(`| ${row.name} | ${lat(go)} | ${lat(o.get(d))} | ${lat(o.get(b))} |`);
    }
    const same = coatySame.get(row.name);
    if (same !== undefined) {
      out.push(
        `| ${row.name} | coaty, same loop | ${formatRate(same)} | ${rate(o.get(d))} | ${
          rate(o.get(b))
        } | ${ratio(o.get(d), same)} | ${ratio(o.get(b), same)} | ≥ 10×${
          go === undefined ? "" : ` (Go: ${ratio(go, same)})`
        } |`,
      );
    }
    if (row.coatyBatch !== undefined) {
      const c = coaty.get(row.coatyBatch);
      out.push(
        `| ${row.name} | coaty batch ${row.coatyBatch} | ${
          c === undefined ? "-" : formatRate(c)
        } | ` +
          `${rate(o.get(d))} | ${rate(o.get(b))} | ${ratio(o.get(d), c)} | ${
            ratio(o.get(b), c)
          } | ≥ 10×${go === undefined || c === undefined ? "" : ` (Go: ${ratio(go, c)})`} |`,
      );
    }
    for (const rt of [d, b]) {
      const f = o.get(rt);
      if (f?.fsyncPerSec === undefined) continue;
      diskRows.push(
        `| ${row.name} | ${rt} | ${rate(f)} | ${formatRate(f.fsyncPerSec)} | ` +
          `${f.perFsync!.toFixed(2)}× | ${formatRate(f.fsyncAppendPerSec!)} | ` +
          `${f.perAppendFsync!.toFixed(2)}× | ${
            row.fsyncTarget === undefined ? "" : `≥ ${row.fsyncTarget.toFixed(2)}×`
          } |`,
      );
    }
  }
  if (kv.size > 0) {
    const e3 = (label: string): EtcdFigures | undefined => etcd.get(`3-member ${label}`);
    const w5Rows: [string, number, EtcdFigures | undefined, string, number | undefined][] = [
      ["W5 kv-http c1", 1, e3("seq c1x1 leader"), "etcd 3 members, 1 client (gRPC)", undefined],
      ["W5 kv-http c100", 100, e3("c10x100 leader"), "etcd 3 members, 100 clients (gRPC)", 1.0],
      ["W5 kv-http c1", 1, e3("http c1 leader"), "etcd 3 members, HTTP gateway, 1", undefined],
      [
        "W5 kv-http c100",
        100,
        e3("http c100 leader"),
        "etcd 3 members, HTTP gateway, 100",
        undefined,
      ],
    ];
    for (const [name, c, e, anchor, target] of w5Rows) {
      if (e === undefined && etcd.size > 0) continue;
      const fb = kv.get("bun")?.get(c);
      const fd = kv.get("deno")?.get(c);
      const rr = (f: KvFigures | undefined): string =>
        f === undefined || e === undefined ? "-" : `${(f.perSec / e.perSec).toFixed(2)}×`;
      out.push(
        `| ${name} | ${e === undefined ? "(no etcd run)" : anchor} | ${
          e === undefined ? "-" : formatRate(e.perSec)
        } | ${fd === undefined ? "-" : formatRate(fd.perSec)} | ${
          fb === undefined ? "-" : formatRate(fb.perSec)
        } | ${rr(fd)} | ${rr(fb)} | ${
          target === undefined ? "" : `≥ ${target.toFixed(1)}×, p99 ≤`
        } |`,
      );
      latRows.push(
        `| ${name} vs ${e === undefined ? "-" : anchor} | ${
          e === undefined ? "-" : `${e.meanMs} ms / ${e.p99Ms} ms`
        } | ${fd === undefined ? "-" : `${fd.meanMs} ms / ${fd.p99Ms} ms`} | ${
          fb === undefined ? "-" : `${fb.meanMs} ms / ${fb.p99Ms} ms`
        } |`,
      );
    }
  }
  if (w6.size > 0) out.push(...w6Rows(w6, etcd.get("3-member c10x100 leader"), d, b));
  if (kv.size > 0) {
    out.push(
      "",
      "W5 rows: puts/s of three kv_server processes whose runtime is the column's (the load " +
        "client is Bun's fetch in both), against etcd's 3-member rows of the same kind; " +
        "the target row compares with etcd's gRPC putbench (10 connections, 100 clients).",
    );
  }
  if (diskRows.length > 0) {
    out.push(
      "",
      "W4 against the disk: entries/s over the bare sync rate measured around each run (4 KiB " +
        "rewritten in place + fdatasync, as bench/sqlite_append.ts; and appended, as " +
        "raftanchor -mode fsync); medians of the per-run ratios:",
      "",
      "| workload | runtime | entries/s | bare fsync in place /s | ratio | bare fsync append /s | ratio | target |",
      "|---|---|---|---|---|---|---|---|",
      ...diskRows,
    );
  }
  out.push(
    "",
    `Latency, mean / p99 µs (propose -> leader sees it committed; W5: request -> response):`,
    "",
    `| workload | anchor | ours ${d} | ours ${b} |`,
    "|---|---|---|---|",
    ...latRows,
  );
  if (m1.size > 0) {
    out.push(
      "",
      `M1 (W2 b64 w1024, ${formatRate(m1n)} entries; RSS / heap MB after a full GC, every 10%):`,
      "",
    );
  }
  for (const [rt, r] of m1) {
    const pts = (r.memory ?? []).map(([e, rss, heap]) => `${formatRate(e)} ${rss}/${heap}`);
    const g = r.rss_growth === undefined ? "-" : `${(r.rss_growth * 100).toFixed(1)}%`;
    out.push(
      `- ${rt}: ${formatRate(r.per_sec)}/s; RSS ${formatRate(m1n / 5)}->end ${g}; ${
        pts.join(", ")
      }`,
    );
  }
  out.push("", `(total ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  console.log(out.join("\n"));
}

if (import.meta.main) {
  await compare(process.argv.slice(2));
}
