/**
 * W5 kv-http (`../../shared/BENCH.md`): three `examples/kv_server.ts`
 * processes (SQLite storage, WebSocket peers) on loopback, loaded by this
 * process over keep-alive HTTP connections with `PUT /kv/<key>`
 * `{"value": ...}` at 1 and 100 concurrent requests; 8-byte keys (all
 * distinct), 256-byte values, every request sent to the leader (as the
 * etcd anchor's `leader` rows). Prints puts/s and latency percentiles per
 * run and a SUMMARY per concurrency, as `shared/anchors/etcd-server-bench`
 * does for etcd.
 *
 * ```sh
 * deno run -A bench/kv_http.ts [--runtime bun|deno] [--quick] [--json]
 * bun bench/kv_http.ts --concurrency 1,100 --runs 3
 * ```
 *
 * Flags: `--runtime` (of the servers; `bun` by default), `--concurrency`
 * (`1,100`), `--total` (requests per run at each concurrency: 2000 for 1,
 * 20000 above, a tenth with `--quick`), `--runs` (3; quick 1), `--warmup`
 * (unmeasured requests at each concurrency before its runs, 500; quick
 * 200: the servers' JIT warms up, which Go's etcd does not need),
 * `--seconds` (time bound of one run, 30), `--timeout` (bound of the whole
 * benchmark, 600 s), `--client fetch|http` (global `fetch`, or `node:http`
 * with a keep-alive Agent as the etcd anchor's `httpput.mjs`; `fetch` by
 * default), `--peer-port` (peers on a port of their own, as etcd's 2380,
 * instead of the API port), `--tick-ms` (100), `--server` (another server
 * script with kv_server's flags), `--server-flags "--cpu-prof ..."` (runtime
 * flags for the servers, to profile them), `--server-args "..."` (more
 * kv_server flags, e.g. `--snapshot-entries 100000`), `--data-dir` (parent of the
 * temporary data directory), `--idempotency-key off|on|both` (send every put
 * with a distinct `Idempotency-Key`, so that it applies exactly once; `both`
 * interleaves the runs without and with it, to measure its cost in one
 * run; `off` by default), `--json` (one JSON object per run on stdout, progress
 * on stderr).
 *
 * The server processes are always stopped (SIGTERM, then SIGKILL after
 * 3 s), on errors, timeouts and SIGINT/SIGTERM too, and their data
 * directory is removed. On Linux each run also reports the CPU seconds of
 * every process and how busy the machine was.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import http from "node:http";
import { join, resolve } from "node:path";
import process from "node:process";
import { freePorts } from "../examples/local_cluster.ts";
import { makeTempDir, removeDir } from "./_disk.ts";
import { formatRate, spread } from "./stats.ts";

const root = resolve(import.meta.dirname!, "..");

/** The runtime of the server processes. */
export type ServerRuntime = "bun" | "deno";

/** What to run. */
export interface KvHttpOptions {
  /** The runtime of the servers. */
  runtime: ServerRuntime;
  /** The server script. */
  server: string;
  /** Concurrent requests of each level. */
  concurrency: number[];
  /** Requests per run at a concurrency. */
  total: (concurrency: number) => number;
  /** Measured runs per concurrency. */
  runs: number;
  /** Unmeasured requests before the runs of each concurrency. */
  warmup: number;
  /** Time bound of one run, seconds. */
  seconds: number;
  /** Bound of the whole benchmark, seconds. */
  timeoutSeconds: number;
  /** `fetch` or `node:http` with a keep-alive Agent. */
  client: "fetch" | "http";
  /** Peers on a port of their own instead of the API port. */
  peerPort: boolean;
  /** The servers' Raft tick. */
  tickMs: number;
  /** Key bytes (at least 8). */
  keySize: number;
  /** Value bytes. */
  valueSize: number;
  /** Where the temporary data directory goes. */
  dataParent: string | undefined;
  /** Extra runtime flags for the servers (e.g. `--cpu-prof`). */
  serverFlags: string[];
  /** Extra kv_server flags (e.g. `--snapshot-entries 100000`). */
  serverArgs: string[];
  /** Puts without an `Idempotency-Key`, with one, or runs of both, interleaved. */
  idempotencyKey: "off" | "on" | "both";
  /** Print JSON objects only (progress on stderr). */
  json: boolean;
}

/** The figures of one run (field names as the etcd anchor's putbench / httpput.mjs). */
export interface KvHttpResult {
  label: string;
  /** The servers' runtime. */
  runtime: ServerRuntime;
  /** The load client's runtime and kind. */
  client: string;
  concurrency: number;
  run: number;
  /** Requests attempted. */
  total: number;
  /** Requests that got an error or a status other than 200. */
  errors: number;
  seconds: number;
  /** Acknowledged puts per second. */
  per_sec: number;
  mean_ms: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  key_size: number;
  val_size: number;
  /** The leader's node ID. */
  leader: number;
  /** Whether every put carried an `Idempotency-Key`. */
  idempotency_key: boolean;
  /** CPU seconds during the run: this process, the leader, the followers (Linux). */
  cpu_client_s?: number;
  cpu_leader_s?: number;
  cpu_followers_s?: number[];
  /** Share of the machine's CPU time that was busy during the run (Linux). */
  machine_busy?: number;
}

// ---------------------------------------------------------------------------
// The cluster

function runtimeBinary(rt: ServerRuntime): string {
  const local = join(root, "node_modules", ".bin", rt);
  return existsSync(local) ? local : rt;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface ServerProc {
  id: number;
  url: string;
  log: string;
  child: ChildProcess;
  exited: Promise<void>;
  running: boolean;
}

/** Three kv_server processes on loopback, started and stopped together. */
export class KvCluster {
  /** The data directory (removed by `stop`). */
  readonly dir: string;
  readonly #procs: ServerProc[] = [];
  #stopped: Promise<void> | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Starts the servers and waits until each answers `/healthz`.
   *
   * @param o The runtime, script, tick, peer port and data directory's parent.
   * @param size Servers.
   * @returns The cluster; `stop()` it.
   */
  static async start(
    o: Pick<
      KvHttpOptions,
      "runtime" | "server" | "tickMs" | "peerPort" | "dataParent" | "serverFlags" | "serverArgs"
    >,
    size = 3,
  ): Promise<KvCluster> {
    const c = new KvCluster(makeTempDir("raft-ts-kv-http-", o.dataParent));
    try {
      const ports = await freePorts(o.peerPort ? 2 * size : size);
      const ids = Array.from({ length: size }, (_, i) => i + 1);
      const api = ids.map((id) => `${id}=http://127.0.0.1:${ports[id - 1]}`).join(",");
      const peerUrls = ids.map((id) => `${id}=ws://127.0.0.1:${ports[size + id - 1]}/raft`)
        .join(",");
      const secret = Array.from(
        crypto.getRandomValues(new Uint8Array(16)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      const bin = runtimeBinary(o.runtime);
      for (const id of ids) {
        const args = [
          ...(o.runtime === "deno" ? ["run", "-A"] : []),
          ...o.serverFlags,
          o.server,
          "--id",
          String(id),
          "--listen",
          `127.0.0.1:${ports[id - 1]}`,
          "--tick-ms",
          String(o.tickMs),
          "--log",
          "warn",
          ...o.serverArgs,
          ...(o.peerPort
            ? ["--peer-listen", `127.0.0.1:${ports[size + id - 1]}`, "--peer-urls", peerUrls]
            : []),
        ];
        const log = join(c.dir, `node-${id}.log`);
        const out = createWriteStream(log);
        const child = spawn(bin, args, {
          cwd: root,
          env: {
            ...process.env,
            RAFT_PEERS: api,
            RAFT_SECRET: secret,
            RAFT_DATA_DIR: c.dir,
            NO_COLOR: "1",
          },
          stdio: ["ignore", "pipe", "pipe"],
        });
        child.stdout!.pipe(out, { end: false });
        child.stderr!.pipe(out, { end: false });
        const p: ServerProc = {
          id,
          url: `http://127.0.0.1:${ports[id - 1]}`,
          log,
          child,
          running: true,
          exited: Promise.resolve(),
        };
        p.exited = new Promise<void>((res) => {
          child.once("exit", () => {
            p.running = false;
            out.end();
            res();
          });
          child.once("error", () => {
            p.running = false;
            res();
          });
        });
        c.#procs.push(p);
      }
      await Promise.all(c.#procs.map((p) => c.#waitHealthy(p)));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  async #waitHealthy(p: ServerProc): Promise<void> {
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline) {
      if (!p.running) {
        throw new Error(`Cannot start server ${p.id}: it exited\n${this.logTail(p.id)}`);
      }
      try {
        const res = await fetch(`${p.url}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`Cannot start server ${p.id}: no answer in 30 s\n${this.logTail(p.id)}`);
  }

  /** The node IDs. */
  ids(): number[] {
    return this.#procs.map((p) => p.id);
  }

  /** A node's API URL. */
  url(id: number): string {
    return this.#procs[id - 1]!.url;
  }

  /** A node's process ID. */
  pid(id: number): number | undefined {
    return this.#procs[id - 1]!.child.pid;
  }

  /** The last lines of a node's log. */
  logTail(id: number, lines = 20): string {
    try {
      const text = readFileSync(this.#procs[id - 1]!.log, "utf8").trimEnd().split("\n");
      return text.slice(-lines).map((l) => `  [node ${id}] ${l}`).join("\n");
    } catch {
      return `  [node ${id}] (no log)`;
    }
  }

  /**
   * Waits until every node names the same leader in the same term.
   *
   * @param timeoutMs How long to wait.
   * @returns The leader's ID.
   */
  async waitForLeader(timeoutMs = 20_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const sts = await Promise.all(this.#procs.map(async (p) => {
        try {
          const res = await fetch(`${p.url}/raft/status`, { signal: AbortSignal.timeout(2000) });
          return res.ok
            ? (await res.json()) as { role: string; leaderId: number; term: number; id: number }
            : null;
        } catch {
          return null;
        }
      }));
      const leader = sts.find((s) => s?.role === "leader");
      if (
        leader !== undefined && leader !== null &&
        sts.every((s) => s !== null && s.leaderId === leader.id && s.term === leader.term)
      ) {
        return leader.id;
      }
      await sleep(50);
    }
    throw new Error(`Cannot find a leader within ${timeoutMs} ms`);
  }

  /** Stops every server (SIGTERM, SIGKILL after 3 s) and removes the data directory. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.all(this.#procs.map(async (p) => {
        if (!p.running) return;
        p.child.kill("SIGTERM");
        const t = setTimeout(() => {
          if (p.running) p.child.kill("SIGKILL");
        }, 3000);
        await p.exited;
        clearTimeout(t);
      }));
      removeDir(this.dir);
    })();
    return this.#stopped;
  }
}

// ---------------------------------------------------------------------------
// The load

/** Sends one put; resolves with whether it was acknowledged (200). */
type PutFn = (url: string, key: string) => Promise<boolean>;

/**
 * A client that sends puts with `fetch` or `node:http` (keep-alive).
 *
 * @param kind Which client.
 * @param concurrency Connections at most (`node:http`).
 * @param body Every put's body.
 * @param keyed Whether each put carries an `Idempotency-Key`.
 * @returns The put function and its `close`.
 */
export function makeClient(
  kind: "fetch" | "http",
  concurrency: number,
  body: string,
  keyed: boolean,
): {
  put: PutFn;
  close(): void;
} {
  const plain = { "content-type": "application/json" };
  // Each key is written once, so it names its put.
  const headersOf = (key: string): Record<string, string> =>
    keyed ? { ...plain, "idempotency-key": `"w5-${key}"` } : plain;
  if (kind === "fetch") {
    return {
      async put(url, key) {
        const res = await fetch(`${url}/kv/${key}`, {
          method: "PUT",
          headers: headersOf(key),
          body,
        });
        await res.arrayBuffer();
        return res.status === 200;
      },
      close() {},
    };
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const length = String(new TextEncoder().encode(body).length);
  return {
    put(url, key) {
      const u = new URL(url);
      return new Promise<boolean>((res, rej) => {
        const req = http.request({
          host: u.hostname,
          port: u.port,
          path: `/kv/${key}`,
          method: "PUT",
          agent,
          headers: { ...headersOf(key), "content-length": length },
        }, (r) => {
          r.on("data", () => {});
          r.on("end", () => res(r.statusCode === 200));
          r.on("error", rej);
        });
        req.on("error", rej);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** The key of request `i`: `size` characters, base 36, zero-padded (all distinct). */
export function keyOf(i: number, size: number): string {
  return i.toString(36).padStart(size, "0");
}

/** What one {@linkcode load} measured. */
export interface LoadOutcome {
  samplesMs: Float64Array;
  count: number;
  errors: number;
  seconds: number;
  firstError: string | undefined;
}

/**
 * Sends `total` puts of distinct keys with `concurrency` in flight, each to
 * `url` (or to the URL `url` gives for its key).
 */
export async function load(
  put: PutFn,
  url: string | ((key: string) => string),
  concurrency: number,
  first: number,
  total: number,
  keySize: number,
  deadline: number,
  abort: { aborted: boolean },
): Promise<LoadOutcome> {
  const samplesMs = new Float64Array(total);
  let count = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total && !abort.aborted) {
      const i = next++;
      const s = performance.now();
      if (s > deadline) break;
      const key = keyOf(first + i, keySize);
      try {
        if (await put(typeof url === "string" ? url : url(key), key)) {
          samplesMs[count++] = performance.now() - s;
          continue;
        }
        firstError ??= "HTTP status other than 200";
      } catch (e) {
        firstError ??= e instanceof Error ? e.message : String(e);
      }
      errors++;
    }
  }));
  return { samplesMs, count, errors, seconds: (performance.now() - t0) / 1000, firstError };
}

/** CPU seconds (user + system) of a process, from /proc (Linux), or undefined. */
export function processCpu(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

/** [total, busy] jiffies of the machine (Linux), or undefined. */
function machineCpu(): [number, number] | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return [total, total - v[3]! - v[4]!];
  } catch {
    return undefined;
  }
}

/** The `p` quantile of sorted samples. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

function clientName(kind: "fetch" | "http"): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  const rt = g.Bun !== undefined
    ? `bun ${g.Bun.version}`
    : g.Deno !== undefined
    ? `deno ${g.Deno.version.deno}`
    : `node ${process.versions.node}`;
  return `${rt} ${kind === "fetch" ? "fetch" : "node:http"}`;
}

/**
 * Runs W5: starts the cluster, loads its leader at each concurrency, stops it.
 *
 * @param o What to run.
 * @param print Where result lines go (stdout by default).
 * @param progress Where progress goes (stderr by default).
 * @returns One result per measured run.
 */
export async function runKvHttp(
  o: KvHttpOptions,
  print: (line: string) => void = (l) => console.log(l),
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<KvHttpResult[]> {
  const abort = { aborted: false };
  const t0 = performance.now();
  const hardDeadline = t0 + o.timeoutSeconds * 1000;
  let cluster: KvCluster | undefined;
  const onSignal = (): void => {
    abort.aborted = true;
    void (cluster?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const timer = setTimeout(() => {
    abort.aborted = true;
  }, o.timeoutSeconds * 1000);
  const results: KvHttpResult[] = [];
  try {
    progress(
      `W5: starting 3 ${o.runtime} kv_server processes (${
        o.peerPort ? "peers on their own port" : "peers on the API port"
      }, tick ${o.tickMs} ms)`,
    );
    cluster = await KvCluster.start(o);
    const leader = await cluster.waitForLeader();
    const url = cluster.url(leader);
    const followers = cluster.ids().filter((id) => id !== leader);
    progress(`W5: leader node ${leader} (${url}), up in ${(performance.now() - t0).toFixed(0)} ms`);
    const client = clientName(o.client);
    let first = 0;
    const keyedRuns = o.idempotencyKey === "both" ? [false, true] : [o.idempotencyKey === "on"];
    for (const conc of o.concurrency) {
      const body = JSON.stringify({ value: "v".repeat(o.valueSize) });
      const variants = keyedRuns.map((keyed) => ({
        keyed,
        c: makeClient(o.client, conc, body, keyed),
        label: `W5 kv-http ${o.runtime} c${conc}${keyed ? " idempotency-key" : ""}`,
        runs: [] as KvHttpResult[],
      }));
      try {
        for (const { c } of o.warmup > 0 ? variants : []) {
          const w = await load(
            c.put,
            url,
            conc,
            first,
            o.warmup,
            o.keySize,
            Math.min(hardDeadline, performance.now() + o.seconds * 1000),
            abort,
          );
          first += o.warmup;
          if (w.errors > 0) {
            throw new Error(
              `W5 warm-up at concurrency ${conc}: ${w.errors} errors (${w.firstError})`,
            );
          }
        }
        const schedule = Array.from({ length: o.runs }, (_, i) => i + 1)
          .flatMap((run) => variants.map((v) => ({ run, ...v })));
        for (const { run, keyed, c, label, runs } of schedule) {
          if (abort.aborted) break;
          const total = o.total(conc);
          const pids = [leader, ...followers].map((id) => cluster!.pid(id));
          const cpu0 = pids.map(processCpu);
          const m0 = machineCpu();
          const me0 = process.cpuUsage();
          const l = await load(
            c.put,
            url,
            conc,
            first,
            total,
            o.keySize,
            Math.min(hardDeadline, performance.now() + o.seconds * 1000),
            abort,
          );
          first += total;
          const me = process.cpuUsage(me0);
          const m1 = machineCpu();
          const cpu = pids.map((p, i) => {
            const b = processCpu(p);
            const a = cpu0[i];
            return a === undefined || b === undefined ? undefined : r2(b - a);
          });
          const sorted = l.samplesMs.subarray(0, l.count).sort();
          let sum = 0;
          for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
          const r: KvHttpResult = {
            label,
            runtime: o.runtime,
            client,
            concurrency: conc,
            run,
            total,
            errors: l.errors,
            seconds: Math.round(l.seconds * 1000) / 1000,
            per_sec: Math.round(l.count / l.seconds),
            mean_ms: r2(sorted.length > 0 ? sum / sorted.length : 0),
            p50_ms: r2(percentile(sorted, 0.5)),
            p90_ms: r2(percentile(sorted, 0.9)),
            p99_ms: r2(percentile(sorted, 0.99)),
            p999_ms: r2(percentile(sorted, 0.999)),
            max_ms: r2(sorted.length > 0 ? sorted[sorted.length - 1]! : 0),
            key_size: o.keySize,
            val_size: o.valueSize,
            leader,
            idempotency_key: keyed,
            cpu_client_s: r2((me.user + me.system) / 1e6),
          };
          if (cpu.every((x) => x !== undefined)) {
            r.cpu_leader_s = cpu[0]!;
            r.cpu_followers_s = cpu.slice(1) as number[];
          }
          if (m0 !== undefined && m1 !== undefined && m1[0] > m0[0]) {
            r.machine_busy = r2((m1[1] - m0[1]) / (m1[0] - m0[0]));
          }
          runs.push(r);
          results.push(r);
          print(o.json ? JSON.stringify(r) : runLine(r));
          if (l.count === 0) {
            throw new Error(`W5: no put acknowledged at concurrency ${conc} (${l.firstError})`);
          }
          if (l.errors > 0) progress(`W5: ${l.errors} errors, the first: ${l.firstError}`);
          if (l.count + l.errors < total) {
            progress(`W5: run bounded by time: ${l.count + l.errors} of ${total} requests sent`);
          }
        }
        for (const { label, runs } of variants) {
          if (!o.json && runs.length > 0) print(summaryLine(label, runs));
        }
      } finally {
        for (const { c } of variants) c.close();
      }
      if (abort.aborted) throw new Error(`W5: stopped after ${o.timeoutSeconds} s (--timeout)`);
    }
    return results;
  } catch (e) {
    if (cluster !== undefined) {
      progress(cluster.ids().map((id) => cluster!.logTail(id, 10)).join("\n"));
    }
    throw e;
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cluster?.stop();
  }
}

function runLine(r: KvHttpResult): string {
  const cpu = r.cpu_leader_s === undefined
    ? ""
    : ` | cpu s: client ${r.cpu_client_s} leader ${r.cpu_leader_s} followers ${
      r.cpu_followers_s!.join(" ")
    }` +
      (r.machine_busy === undefined ? "" : ` | machine busy ${(r.machine_busy * 100).toFixed(0)}%`);
  return `run ${r.run}: ${r.label} | ${r.total - r.errors} puts (${r.errors} errors) in ` +
    `${r.seconds.toFixed(2)}s = ${r.per_sec} puts/s | mean ${r.mean_ms}ms p50 ${r.p50_ms}ms ` +
    `p90 ${r.p90_ms}ms p99 ${r.p99_ms}ms p99.9 ${r.p999_ms}ms max ${r.max_ms}ms${cpu}`;
}

function summaryLine(label: string, rs: readonly KvHttpResult[]): string {
  const f = (k: "per_sec" | "mean_ms" | "p50_ms" | "p99_ms", d: number): string => {
    const s = spread(rs.map((r) => r[k]));
    return `${s.min.toFixed(d)} / ${s.median.toFixed(d)} / ${s.max.toFixed(d)}`;
  };
  return `SUMMARY ${label} (${rs.length} runs) | puts/s min/med/max ${f("per_sec", 0)} | ` +
    `mean_ms ${f("mean_ms", 2)} | p50_ms ${f("p50_ms", 2)} | p99_ms ${f("p99_ms", 2)}`;
}

// ---------------------------------------------------------------------------
// Command line

const usage = "usage: kv_http.ts [--runtime bun|deno] [--concurrency 1,100] [--total N] " +
  "[--runs R] [--warmup W] [--seconds S] [--timeout S] [--client fetch|http] [--peer-port] " +
  "[--tick-ms T] [--server FILE] [--server-flags F] [--server-args A] [--data-dir DIR] [--quick] " +
  "[--idempotency-key off|on|both] [--json]";

/**
 * Parses the command line.
 *
 * @param argv The arguments after the script name.
 * @returns The options.
 * @throws {RangeError} On an unknown flag or a bad value.
 */
export function parseKvHttpArgs(argv: readonly string[]): KvHttpOptions {
  const vals = new Map<string, string>();
  const bools = new Set<string>();
  const boolFlags = new Set(["quick", "json", "peer-port"]);
  const valueFlags = new Set([
    "runtime",
    "concurrency",
    "total",
    "runs",
    "warmup",
    "seconds",
    "timeout",
    "client",
    "tick-ms",
    "server",
    "data-dir",
    "server-flags",
    "server-args",
    "key-size",
    "val-size",
    "idempotency-key",
  ]);
  for (let i = 0; i < argv.length; i++) {
    const body = argv[i]!.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (boolFlags.has(name) && eq < 0) {
      bools.add(name);
      continue;
    }
    if (!valueFlags.has(name)) {
      throw new RangeError(`Cannot parse arguments: unknown ${JSON.stringify(argv[i])}\n${usage}`);
    }
    const v = eq >= 0 ? body.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new RangeError(`Cannot parse --${name}: missing value`);
    vals.set(name, v);
  }
  const int = (name: string, def: number, min = 1): number => {
    const s = vals.get(name);
    if (s === undefined) return def;
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < min) {
      throw new RangeError(`Cannot parse --${name}: not an integer >= ${min}: ${s}`);
    }
    return n;
  };
  const quick = bools.has("quick");
  const runtime = vals.get("runtime") ?? "bun";
  if (runtime !== "bun" && runtime !== "deno") {
    throw new RangeError(`Cannot use --runtime ${runtime}: expected bun or deno`);
  }
  const client = vals.get("client") ?? "fetch";
  if (client !== "fetch" && client !== "http") {
    throw new RangeError(`Cannot use --client ${client}: expected fetch or http`);
  }
  const concurrency = (vals.get("concurrency") ?? "1,100").split(",").map((s) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`Cannot parse --concurrency: not a positive integer: ${s}`);
    }
    return n;
  });
  const idempotencyKey = vals.get("idempotency-key") ?? "off";
  if (idempotencyKey !== "off" && idempotencyKey !== "on" && idempotencyKey !== "both") {
    throw new RangeError(
      `Cannot use --idempotency-key ${idempotencyKey}: expected off, on or both`,
    );
  }
  const totalFlag = vals.has("total") ? int("total", 1) : undefined;
  const scale = quick ? 10 : 1;
  return {
    runtime,
    server: resolve(vals.get("server") ?? join(root, "examples", "kv_server.ts")),
    concurrency,
    total: (c) => totalFlag ?? (c === 1 ? 2000 : 20000) / scale,
    runs: int("runs", quick ? 1 : 3),
    warmup: int("warmup", quick ? 200 : 500, 0),
    seconds: int("seconds", 30),
    timeoutSeconds: int("timeout", 600),
    client,
    peerPort: bools.has("peer-port"),
    tickMs: int("tick-ms", 100),
    keySize: Math.max(8, int("key-size", 8)),
    valueSize: int("val-size", 256, 0),
    dataParent: vals.get("data-dir"),
    serverFlags: (vals.get("server-flags") ?? "").split(" ").filter((f) => f !== ""),
    serverArgs: (vals.get("server-args") ?? "").split(" ").filter((f) => f !== ""),
    idempotencyKey,
    json: bools.has("json"),
  };
}

if (import.meta.main) {
  let o: KvHttpOptions;
  try {
    o = parseKvHttpArgs(process.argv.slice(2));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(2);
  }
  try {
    const rs = await runKvHttp(o);
    if (!o.json) {
      const byC = new Map<string, number[]>();
      for (const r of rs) {
        const k = `${r.concurrency}${r.idempotency_key ? " idempotency-key" : ""}`;
        byC.set(k, [...(byC.get(k) ?? []), r.per_sec]);
      }
      console.error(
        `W5 ${o.runtime}: ` +
          [...byC].map(([c, v]) => `c${c} ${formatRate(spread(v).median)} puts/s`).join(", "),
      );
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
