/**
 * End to end, a state larger than a node's heap: three `kv_server`
 * processes (`--state sqlite`, run by the runtime running the test) are
 * written `RAFT_KV_LARGE_MB` MB of 64 KiB values through the HTTP API;
 * the leader snapshots often and compacts its log, so a fourth node that
 * joins (`--join`, then `POST /raft/members`) can only catch up by a
 * snapshot streamed over the WebSocket transport. Every key is then read
 * from the new node's own copy and compared byte for byte, and the peak
 * RSS (`VmHWM`, Linux) of the sender (the leader) and the receiver is
 * printed.
 *
 * The default (8 MB) runs in CI. The long variant:
 * `RAFT_KV_LARGE_MB=2048 deno test -A tests/e2e/kv_large_state_test.ts`
 * (or `bun test`); from 256 MB up the test asserts that both peaks stay
 * under {@linkcode rssBoundMb}, a bound that does not grow with the state,
 * with every node's JavaScript heap limited to {@linkcode heapMb} MB
 * (Deno: `DENO_V8_FLAGS=--max-old-space-size`, Node: `NODE_OPTIONS`,
 * Bun: `BUN_JSC_forceRAMSize`, which sizes JavaScriptCore's heap).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  currentRuntime,
  freePorts,
  KvClient,
  LocalCluster,
  projectRoot,
  scriptCommand,
  type ServerRuntime,
} from "../../examples/local_cluster.ts";
import type { RaftStatusJson } from "../../adapters/hono/mod.ts";
import { openSqliteDatabase } from "../../adapters/sqlite/mod.ts";

const sizeMb = Number(process.env.RAFT_KV_LARGE_MB ?? "8");
if (!Number.isInteger(sizeMb) || sizeMb < 1) {
  throw new Error(`RAFT_KV_LARGE_MB: expected a positive integer, got '${sizeMb}'`);
}
/** From this size up, the test asserts the RSS bound. */
const longMb = 256;
const long = sizeMb >= longMb;
const valueBytes = 64 * 1024;
const keys = Math.ceil((sizeMb * 1024 * 1024) / valueBytes);
const writers = 8;
/** Every node's JavaScript heap limit. */
const heapMb = 192;
/** The peak RSS each of sender and receiver stays under (asserted from 256 MB up). */
const rssBoundMb = 600;
/**
 * Entries between snapshots: one halfway through the writes (each copies
 * the whole state into snapshot chunks, and nodes pause meanwhile), then
 * the one taken for the new member; few kept behind a snapshot, so the log
 * is compacted past the start of a new member.
 */
const snapshotEntries = Math.max(32, Math.ceil(keys / 2));
const catchUpEntries = 8;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The environment that limits a runtime's JavaScript heap. */
function heapLimitEnv(rt: ServerRuntime): Record<string, string> {
  switch (rt) {
    case "deno":
      return { DENO_V8_FLAGS: `--max-old-space-size=${heapMb}` };
    case "node":
      return { NODE_OPTIONS: `--max-old-space-size=${heapMb}` };
    case "bun":
      return { BUN_JSC_forceRAMSize: String(heapMb * 1024 * 1024) };
  }
}

/** 64 KiB of pseudo-random characters, the same on every run. */
const base = ((): string => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  let x = 0x9e3779b9;
  let s = "";
  for (let i = 0; i < valueBytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += alphabet[(x >>> 0) & 63];
  }
  return s;
})();

function keyOf(i: number): string {
  return `big-${String(i).padStart(7, "0")}`;
}

/** Key `i`'s value: the key, then the block rotated by an offset derived from `i`. */
function valueOf(i: number): string {
  const r = (i * 7919) % valueBytes;
  return `${keyOf(i)}:${base.slice(r)}${base.slice(0, r)}`.slice(0, valueBytes);
}

/** A process's peak resident set in MB (`VmHWM`), or `undefined` off Linux. */
function peakRssMb(pid: number | undefined): number | undefined {
  if (pid === undefined || process.platform !== "linux") return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** The size in MB of node `id`'s database files (with WAL) in `dir`. */
function dbMb(dir: string, id: number): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (f.startsWith(`node-${id}.db`)) n += statSync(join(dir, f)).size;
  }
  return n / 1024 / 1024;
}

async function statusOf(url: string): Promise<RaftStatusJson | null> {
  try {
    const res = await fetch(`${url}/raft/status`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? (await res.json()) as RaftStatusJson : null;
  } catch {
    return null;
  }
}

/** A counter of `GET /metrics`, summed over its samples whose labels match `labels`. */
async function metric(url: string, name: string, labels: string): Promise<number> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let n = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) n += Number(line.split(" ").pop());
  }
  return n;
}

/** Starts a `kv_server` that joins the cluster; resolves once it answers HTTP. */
async function startJoiner(
  rt: ServerRuntime,
  id: number,
  port: number,
  env: Record<string, string>,
  args: string[],
  logPath: string,
): Promise<ChildProcess> {
  const [command, rtArgs] = scriptCommand(rt, join(projectRoot, "examples", "kv_server.ts"));
  const log = createWriteStream(logPath, { flags: "a" });
  const child = spawn(
    command,
    [...rtArgs, "--id", String(id), "--listen", `127.0.0.1:${port}`, "--join", ...args],
    { cwd: projectRoot, env: { ...process.env, ...env, NO_COLOR: "1" }, stdio: "pipe" },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`node ${id} exited; see ${logPath}`);
    if ((await statusOf(`http://127.0.0.1:${port}`)) !== null) return child;
    await sleep(50);
  }
  child.kill("SIGKILL");
  throw new Error(`node ${id}: no answer within 20 s; see ${logPath}`);
}

test(
  `kv_server (${currentRuntime()}, --state sqlite): a member that joins a ${sizeMb} MB store catches up by a streamed snapshot${
    long ? " (long)" : ""
  }`,
  { timeout: long ? 6 * 3600_000 : 180_000 },
  async () => {
    const rt = currentRuntime();
    const dataDir = mkdtempSync(join(tmpdir(), "raft-ts-large-"));
    const env = heapLimitEnv(rt);
    const serverArgs = [
      "--state",
      "sqlite",
      "--snapshot-entries",
      String(snapshotEntries),
      "--snapshot-catch-up-entries",
      String(catchUpEntries),
      "--max-value-bytes",
      String(2 * valueBytes),
    ];
    const cluster = await LocalCluster.start({
      dataDir,
      runtime: rt,
      tickMs: 50,
      log: "warn",
      env,
      nodeArgs: { 1: serverArgs, 2: serverArgs, 3: serverArgs },
    });
    let joiner: ChildProcess | undefined;
    const stopJoiner = async (): Promise<void> => {
      if (joiner === undefined || joiner.exitCode !== null) return;
      const exited = new Promise((r) => joiner!.once("exit", r));
      joiner.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
      if (joiner.exitCode === null) joiner.kill("SIGKILL");
    };
    const joinerLog = join(dataDir, "node-4.log");
    /** The status of the node that is leader now, if one answers. */
    const leaderStatus = async (): Promise<RaftStatusJson | null> => {
      for (const id of cluster.ids()) {
        const st = await statusOf(cluster.url(id));
        if (st?.role === "leader") return st;
      }
      return null;
    };
    let ok = false;
    try {
      const leader = await cluster.waitForLeader();
      const leaderUrl = cluster.url(leader.id);
      // A request may wait out a snapshot of the whole state.
      const client = new KvClient(() => [leaderUrl], long ? 900_000 : 60_000);

      // Write the state, `writers` requests at a time.
      const t0 = Date.now();
      let next = 0;
      await Promise.all(Array.from({ length: writers }, async () => {
        while (next < keys) {
          const i = next++;
          // Writing the same value again is harmless: an unknown outcome is retried.
          let r = await client.put(keyOf(i), valueOf(i));
          for (let n = 0; n < 5 && !r.acked && r.unknown; n++) {
            r = await client.put(keyOf(i), valueOf(i));
          }
          assert.ok(r.acked, `${keyOf(i)}: ${r.acked ? "" : r.error}`);
        }
      }));
      const writeS = (Date.now() - t0) / 1000;

      // The leader compacted its log past index 1: a new member cannot catch up from the log.
      let before = await leaderStatus();
      for (let i = 0; i < 300 && before === null; i++) {
        await sleep(200);
        before = await leaderStatus();
      }
      assert.ok(before !== null, "a leader answers");
      assert.ok(
        before.snapshotIndex - catchUpEntries > 1,
        `the leader's log is compacted (snapshot at ${before.snapshotIndex})`,
      );

      // A fourth node joins: started with --join and the members' URLs, then added as a learner.
      const [port] = await freePorts(1);
      const url = `http://127.0.0.1:${port}`;
      const peers = [...cluster.ids().map((id) => `${id}=${cluster.url(id)}`), `4=${url}`];
      joiner = await startJoiner(
        rt,
        4,
        port!,
        {
          ...env,
          RAFT_PEERS: peers.join(","),
          RAFT_SECRET: cluster.secret,
          RAFT_DATA_DIR: dataDir,
          RAFT_LOG: "warn",
        },
        serverArgs,
        joinerLog,
      );
      const t1 = Date.now();
      const admin = {
        "content-type": "application/json",
        authorization: `Bearer ${cluster.secret}`,
      };
      const added = await fetch(`${cluster.url(before.id)}/raft/members`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify({
          id: 4,
          role: "learner",
          apiUrl: url,
          peerUrl: `ws://127.0.0.1:${port}/raft`,
        }),
      });
      assert.equal(added.status, 201, await added.text());

      // It catches up: its match index on the leader reaches the leader's last index.
      const deadline = Date.now() + (long ? 3 * 3600_000 : 120_000);
      let caughtUp = false;
      while (!caughtUp && Date.now() < deadline) {
        const ls = await leaderStatus();
        const p = ls?.members.find((m) => m.id === 4)?.progress;
        caughtUp = ls !== null && p !== undefined && p !== null && p.match === ls.lastIndex &&
          p.state === "replicate";
        if (!caughtUp) await sleep(200);
      }
      assert.ok(caughtUp, "the new member caught up");
      const catchUpS = (Date.now() - t1) / 1000;

      // By a snapshot: a leader sent one (leadership may move while nodes
      // copy the whole state into a snapshot) and the new node received one.
      const senders: number[] = [];
      for (const id of cluster.ids()) {
        const sent = await metric(
          cluster.url(id),
          "raft_transport_messages_sent_total",
          'type="MsgSnap"',
        );
        if (sent > 0) senders.push(id);
      }
      assert.ok(senders.length >= 1, "a leader sent a snapshot");
      assert.ok(
        (await metric(url, "raft_transport_messages_received_total", 'type="MsgSnap"')) >= 1,
        "the new member received a snapshot",
      );
      const own = await statusOf(url);
      assert.ok(own !== null && own.applied >= before.snapshotIndex, "it applied the snapshot");

      // Every key, from the new node's own copy, byte for byte.
      const t2 = Date.now();
      next = 0;
      await Promise.all(Array.from({ length: writers }, async () => {
        while (next < keys) {
          const i = next++;
          const item = await client.get(keyOf(i), { via: url, consistency: "stale" });
          assert.ok(item !== null, `${keyOf(i)}: missing on the new member`);
          assert.ok(item.value === valueOf(i), `${keyOf(i)}: another value on the new member`);
        }
      }));
      const readS = (Date.now() - t2) / 1000;

      // It can be promoted now.
      const { id: last } = await cluster.waitForLeader(60_000);
      const promoted = await fetch(`${cluster.url(last)}/raft/members/4/promote`, {
        method: "POST",
        headers: admin,
      });
      assert.equal(promoted.status, 200, await promoted.text());

      const peaks = senders.map((id) => peakRssMb(cluster.pid(id)));
      const sender = peaks.includes(undefined) ? undefined : Math.max(...(peaks as number[]));
      const receiver = peakRssMb(joiner.pid);
      const fmt = (mb: number | undefined): string =>
        mb === undefined ? "n/a" : `${mb.toFixed(0)} MB`;
      console.log(
        `  ${sizeMb} MB (${keys} values of ${
          valueBytes / 1024
        } KiB) on ${rt}, heap limit ${heapMb} MB: ` +
          `written in ${writeS.toFixed(1)} s, caught up in ${catchUpS.toFixed(1)} s, ` +
          `read back in ${readS.toFixed(1)} s; peak RSS sender ${
            fmt(sender)
          } (nodes ${senders}), receiver ${fmt(receiver)}; ` +
          `DB leader ${dbMb(dataDir, leader.id).toFixed(0)} MB, new member ${
            dbMb(dataDir, 4).toFixed(0)
          } MB`,
      );
      if (long && sender !== undefined && receiver !== undefined) {
        assert.ok(sender < rssBoundMb, `sender peak RSS ${fmt(sender)} < ${rssBoundMb} MB`);
        assert.ok(receiver < rssBoundMb, `receiver peak RSS ${fmt(receiver)} < ${rssBoundMb} MB`);
      }

      // Sender and receiver kept the snapshot in chunks, never as one row of the whole state.
      await stopJoiner();
      await cluster.stop();
      for (const id of [senders[senders.length - 1]!, 4]) {
        const db = await openSqliteDatabase(join(dataDir, `node-${id}.db`));
        try {
          const row = db.prepare(
            "SELECT chunks, length FROM raft_snapshot_data WHERE state = 2",
          ).get() as { chunks: number; length: number } | undefined;
          assert.ok(row !== undefined, `node ${id}: its snapshot's data is in chunks`);
          assert.ok(
            row.chunks > 1 && row.length > sizeMb * 1024 * 1024,
            `node ${id}: ${JSON.stringify(row)}`,
          );
        } finally {
          db.close();
        }
      }
      ok = true;
    } finally {
      await stopJoiner();
      await cluster.stop();
      if (!ok) {
        const logs = [...cluster.ids().map((id) => cluster.logPath(id)), joinerLog];
        for (const p of logs.filter((p) => existsSync(p))) {
          const tail = readFileSync(p, "utf8").split("\n").slice(-40).join("\n");
          console.error(`--- ${p} (tail)\n${tail}`);
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
