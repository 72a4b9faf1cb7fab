/**
 * W6 (many groups per process), against single-group W5 in the same run:
 *
 * - **load**: 3 `examples/sharded_kv.ts` processes × 64 groups on
 *   loopback (one SQLite file and one fsync per batch of many groups'
 *   writes, one WebSocket connection per peer host), leaders balanced over
 *   the processes; 100 clients put 256-byte values on distinct 8-byte keys,
 *   each sent to its group's leader (a client that knows where each group is
 *   led, as a routing client would). Then the same load on 3
 *   `examples/kv_server.ts` processes (one group: W5). Prints puts/s and
 *   latency of both, their ratio, and the hosts' storage batches (fsyncs)
 *   per second against puts per second.
 * - **idle**: 3 processes hosting `--idle-groups` groups each (1,000 by
 *   default), with quiescence on, then off, then 1 group: once every group
 *   has a leader and the host settled, CPU per process and peer messages
 *   per second over a quiet window.
 *
 * ```sh
 * deno run -A bench/sharded.ts [--mode load|idle|both] [--runtime bun|deno] [--quick]
 * ```
 *
 * Flags: `--mode` (`both`), `--runtime` of the servers (`bun`), `--groups`
 * (64, load), `--idle-groups` (1000), `--concurrency` (100), `--total`
 * (puts per measured run, 20000; quick 4000), `--warmup` (2000; quick 500),
 * `--idle-seconds` (10; quick 5), `--settle-seconds` (30; quick 5: from every
 * group resting to the idle window), `--server-flags "--cpu-prof ..."` (runtime
 * flags for the servers, to profile them), `--server-args "--sqlite-writer worker"`
 * (flags added to every `sharded_kv.ts` server's command line; the W5
 * servers run as they are), `--json`.
 *
 * @module
 */

import process from "node:process";
import { resolve } from "node:path";
import { groupOfKey } from "../examples/_sharded_kv.ts";
import {
  KvCluster,
  type KvHttpOptions,
  load,
  makeClient,
  percentile,
  processCpu,
} from "./kv_http.ts";

const root = resolve(import.meta.dirname!, "..");

interface Args {
  mode: "load" | "idle" | "both";
  runtime: "bun" | "deno";
  groups: number;
  idleGroups: number;
  concurrency: number;
  total: number;
  warmup: number;
  idleSeconds: number;
  /** Seconds between every group resting and the idle window. */
  settleSeconds: number;
  json: boolean;
  /** Runtime flags for the servers (e.g. `--cpu-prof`). */
  serverFlags: string[];
  /** Flags added to every `sharded_kv.ts` server's command line. */
  shardedArgs: string[];
}

function parseArgs(argv: readonly string[]): Args {
  const quick = argv.includes("--quick");
  const a: Args = {
    mode: "both",
    runtime: "bun",
    groups: 64,
    idleGroups: 1000,
    concurrency: 100,
    total: quick ? 4000 : 20000,
    warmup: quick ? 500 : 2000,
    idleSeconds: quick ? 5 : 10,
    settleSeconds: quick ? 5 : 30,
    json: argv.includes("--json"),
    serverFlags: [],
    shardedArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n <= 0) {
        throw new Error(`${argv[i]}: expected a positive integer`);
      }
      i++;
      return n;
    };
    switch (argv[i]) {
      case "--mode":
        if (v !== "load" && v !== "idle" && v !== "both") {
          throw new Error("--mode: load, idle or both");
        }
        a.mode = v;
        i++;
        break;
      case "--runtime":
        if (v !== "bun" && v !== "deno") throw new Error("--runtime: bun or deno");
        a.runtime = v;
        i++;
        break;
      case "--groups":
        a.groups = num();
        break;
      case "--idle-groups":
        a.idleGroups = num();
        break;
      case "--concurrency":
        a.concurrency = num();
        break;
      case "--total":
        a.total = num();
        break;
      case "--warmup":
        a.warmup = num();
        break;
      case "--idle-seconds":
        a.idleSeconds = num();
        break;
      case "--settle-seconds":
        a.settleSeconds = num();
        break;
      case "--server-flags":
        a.serverFlags = (v ?? "").split(" ").filter((f) => f !== "");
        i++;
        break;
      case "--server-args":
        a.shardedArgs = (v ?? "").split(" ").filter((f) => f !== "");
        i++;
        break;
    }
  }
  return a;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const r2 = (x: number): number => Math.round(x * 100) / 100;

interface HostStatus {
  hostId: number;
  groups: number;
  leadersPerHost: Record<string, number>;
  withoutLeader: number;
  quiesced: number | null;
  host: {
    storage: { batches: number; saves: number };
    transport: { messagesSent: number; sendBatches: number };
  };
}

async function hostStatus(url: string): Promise<HostStatus> {
  const res = await fetch(`${url}/raft/status`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}/raft/status: HTTP ${res.status}`);
  return await res.json() as HostStatus;
}

/** The leader of every group, as host 1 sees it (0: none). */
async function leaders(url: string): Promise<Map<number, number>> {
  const res = await fetch(`${url}/raft/groups`, { signal: AbortSignal.timeout(5000) });
  const body = await res.json() as { groups: { groupId: number; leaderId: number }[] };
  return new Map(body.groups.map((g) => [g.groupId, g.leaderId]));
}

/** Waits until every host sees a leader in every group and, with `balanced`, G/3 leaders each. */
async function waitForGroups(
  c: KvCluster,
  groups: number,
  balanced: boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  while (performance.now() < deadline) {
    try {
      const sts = await Promise.all(c.ids().map((id) => hostStatus(c.url(id))));
      const counts = c.ids().map((id) => sts[0]!.leadersPerHost[id] ?? 0);
      last = `without leader ${sts.map((s) => s.withoutLeader).join("/")}, leaders ${counts}`;
      const ok = sts.every((s) => s.groups === groups && s.withoutLeader === 0) &&
        (!balanced || Math.max(...counts) - Math.min(...counts) <= 1);
      if (ok) return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(200);
  }
  throw new Error(`groups not ready within ${timeoutMs} ms: ${last}`);
}

/** Waits until every group rests on every host. */
async function waitForRest(c: KvCluster, groups: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const sts = await Promise.all(c.ids().map((id) => hostStatus(c.url(id))));
    if (sts.every((s) => s.quiesced === groups)) return;
    await sleep(500);
  }
  throw new Error(`groups not all resting within ${timeoutMs} ms`);
}

function options(a: Args, server: string, serverArgs: string[]): KvHttpOptions {
  return {
    runtime: a.runtime,
    server,
    concurrency: [a.concurrency],
    total: () => a.total,
    runs: 1,
    warmup: a.warmup,
    seconds: 60,
    timeoutSeconds: 600,
    client: "fetch",
    peerPort: true,
    tickMs: 100,
    dataParent: undefined,
    serverFlags: a.serverFlags,
    serverArgs,
    keySize: 8,
    valueSize: 256,
    idempotencyKey: "off",
    json: a.json,
  };
}

interface LoadFigures {
  perSec: number;
  meanMs: number;
  p99Ms: number;
  errors: number;
  /** CPU of each server process while loaded (warm-up included), in % of one core. */
  cpuPct?: number[];
  /** Storage batches (one fsync each) per second, summed over the hosts (W6 only). */
  batchesPerSec?: number;
}

async function measureLoad(
  a: Args,
  urlOf: (key: string) => string,
  first: number,
): Promise<LoadFigures> {
  const body = JSON.stringify({ value: "v".repeat(256) });
  const client = makeClient("fetch", a.concurrency, body, false);
  try {
    const abort = { aborted: false };
    const w = await load(client.put, urlOf, a.concurrency, first, a.warmup, 8, Infinity, abort);
    if (w.errors > 0) throw new Error(`warm-up: ${w.errors} errors (${w.firstError})`);
    const l = await load(
      client.put,
      urlOf,
      a.concurrency,
      first + a.warmup,
      a.total,
      8,
      performance.now() + 120_000,
      abort,
    );
    const sorted = l.samplesMs.subarray(0, l.count).sort();
    let sum = 0;
    for (const x of sorted) sum += x;
    return {
      perSec: Math.round(l.count / l.seconds),
      meanMs: r2(sum / Math.max(1, sorted.length)),
      p99Ms: r2(percentile(sorted, 0.99)),
      errors: l.errors,
    };
  } finally {
    client.close();
  }
}

async function runLoad(a: Args, print: (s: string) => void): Promise<void> {
  const sharded = await KvCluster.start(
    options(a, "examples/sharded_kv.ts", [
      "--groups",
      String(a.groups),
      "--balance-ms",
      "200",
      ...a.shardedArgs,
    ]),
  );
  let w6: LoadFigures;
  try {
    await waitForGroups(sharded, a.groups, true, 120_000);
    const map = await leaders(sharded.url(1));
    const urlOf = (key: string): string => sharded.url(map.get(groupOfKey(key, a.groups))!);
    const before = await Promise.all(sharded.ids().map((id) => hostStatus(sharded.url(id))));
    const cpu0 = sharded.ids().map((id) => processCpu(sharded.pid(id)) ?? 0);
    const t0 = performance.now();
    w6 = await measureLoad(a, urlOf, 0);
    const seconds = (performance.now() - t0) / 1000;
    w6.cpuPct = sharded.ids().map((id, i) =>
      Math.round((((processCpu(sharded.pid(id)) ?? 0) - cpu0[i]!) / seconds) * 100)
    );
    const after = await Promise.all(sharded.ids().map((id) => hostStatus(sharded.url(id))));
    const batches = after.reduce(
      (n, s, i) => n + s.host.storage.batches - before[i]!.host.storage.batches,
      0,
    );
    w6.batchesPerSec = Math.round(batches / seconds);
  } finally {
    await sharded.stop();
  }
  const single = await KvCluster.start(options(a, "examples/kv_server.ts", []));
  let w5: LoadFigures;
  try {
    const leader = await single.waitForLeader();
    const cpu0 = single.ids().map((id) => processCpu(single.pid(id)) ?? 0);
    const t0 = performance.now();
    w5 = await measureLoad(a, () => single.url(leader), 0);
    const seconds = (performance.now() - t0) / 1000;
    w5.cpuPct = single.ids().map((id, i) =>
      Math.round((((processCpu(single.pid(id)) ?? 0) - cpu0[i]!) / seconds) * 100)
    );
  } finally {
    await single.stop();
  }
  if (a.json) {
    const serverArgs = a.shardedArgs;
    print(
      JSON.stringify({
        workload: "W6 load",
        runtime: a.runtime,
        groups: a.groups,
        serverArgs,
        w6,
        w5,
      }),
    );
    return;
  }
  print(
    `W6 load ${a.runtime} 3 hosts × ${a.groups} groups c${a.concurrency}${
      a.shardedArgs.length > 0 ? ` (${a.shardedArgs.join(" ")})` : ""
    }: ${w6.perSec} puts/s, mean ${w6.meanMs} ms, p99 ${w6.p99Ms} ms (${w6.errors} errors); storage batches (fsyncs) ${w6.batchesPerSec}/s over 3 hosts; CPU ${
      w6.cpuPct?.join(" / ")
    } %`,
  );
  print(
    `W5 kv-http ${a.runtime} 1 group c${a.concurrency}: ${w5.perSec} puts/s, mean ${w5.meanMs} ms, p99 ${w5.p99Ms} ms (${w5.errors} errors); CPU ${
      w5.cpuPct?.join(" / ")
    } %`,
  );
  print(
    `W6 / W5: ${(w6.perSec / w5.perSec).toFixed(2)}× puts/s; p99 ${
      (w6.p99Ms / w5.p99Ms).toFixed(2)
    }×; puts per fsync ${(w6.perSec / Math.max(1, w6.batchesPerSec ?? 1)).toFixed(1)}`,
  );
}

interface IdleFigures {
  label: string;
  cpuPerProcessPct: number[];
  messagesPerSec: number;
  quiesced: (number | null)[];
}

async function measureIdle(a: Args, groups: number, quiesce: boolean): Promise<IdleFigures> {
  const c = await KvCluster.start(
    options(a, "examples/sharded_kv.ts", [
      "--groups",
      String(groups),
      "--quiesce",
      quiesce ? "on" : "off",
      ...a.shardedArgs,
    ]),
  );
  try {
    await waitForGroups(c, groups, true, 300_000);
    // Let the last transfers and quiescence settle.
    if (quiesce) await waitForRest(c, groups, 120_000);
    // The tail of the start (the last transfers, WAL checkpoints, the
    // garbage of creating the groups) is not idle cost: wait it out.
    await sleep(a.settleSeconds * 1000);
    const ids = c.ids();
    const s0 = await Promise.all(ids.map((id) => hostStatus(c.url(id))));
    const cpu0 = ids.map((id) => processCpu(c.pid(id)) ?? 0);
    const t0 = performance.now();
    await sleep(a.idleSeconds * 1000);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = ids.map((id) => processCpu(c.pid(id)) ?? 0);
    const s1 = await Promise.all(ids.map((id) => hostStatus(c.url(id))));
    const sent = s1.reduce(
      (n, s, i) => n + s.host.transport.messagesSent - s0[i]!.host.transport.messagesSent,
      0,
    );
    return {
      label: `${groups} groups, quiescence ${quiesce ? "on" : "off"}`,
      cpuPerProcessPct: cpu1.map((x, i) => r2(((x - cpu0[i]!) / seconds) * 100)),
      messagesPerSec: Math.round(sent / seconds),
      quiesced: s1.map((s) => s.quiesced),
    };
  } finally {
    await c.stop();
  }
}

async function runIdle(a: Args, print: (s: string) => void): Promise<void> {
  const rows = [
    await measureIdle(a, a.idleGroups, true),
    await measureIdle(a, a.idleGroups, false),
    await measureIdle(a, 1, true),
  ];
  for (const r of rows) {
    print(
      a.json
        ? JSON.stringify({ workload: "W6 idle", runtime: a.runtime, ...r })
        : `W6 idle ${a.runtime} ${r.label}: CPU per process ${
          r.cpuPerProcessPct.join(" / ")
        } %, peer messages ${r.messagesPerSec}/s, quiesced ${r.quiesced.join(" / ")}`,
    );
  }
  const [on, off, one] = rows;
  if (!a.json) {
    const cpu = (r: IdleFigures): number => r.cpuPerProcessPct.reduce((x, y) => x + y, 0) / 3;
    print(
      `W6 idle: ${a.idleGroups} quiesced groups against quiescence off: CPU ${
        (cpu(on!) / cpu(off!)).toFixed(3)
      }×, messages ${
        (on!.messagesPerSec / Math.max(1, off!.messagesPerSec)).toFixed(3)
      }×; against 1 group: CPU ${(cpu(on!) / cpu(one!)).toFixed(2)}×, messages ${
        (on!.messagesPerSec / Math.max(1, one!.messagesPerSec)).toFixed(2)
      }×`,
    );
  }
}

if (import.meta.main) {
  process.chdir(root);
  const a = parseArgs(process.argv.slice(2));
  const print = (s: string): void => console.log(s);
  if (a.mode !== "idle") await runLoad(a, print);
  if (a.mode !== "load") await runIdle(a, print);
}
