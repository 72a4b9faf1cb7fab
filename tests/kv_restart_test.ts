/**
 * A restart of a key-value node: with the keys in SQLite tables nothing
 * applied is applied again; the time to the first linearizable read is
 * printed. `RAFT_RESTART_KEYS` sets the number of keys (default 2000;
 * 1000000 for the figure in the docs); `RAFT_RESTART_STATES=sqlite,memory`
 * also measures the in-memory store, rebuilt from the snapshot and the log.
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { type Command, RaftNode, type StateMachine } from "../mod.ts";
import { MemoryNetwork } from "../adapters/memory/mod.ts";
import { withTempDir } from "../adapters/sqlite/_test_util.ts";
import { openKvState } from "../examples/_kv_sqlite_store.ts";
import type { KvResult, KvState } from "../examples/_kv_store.ts";

const keys = Number(process.env["RAFT_RESTART_KEYS"] ?? "2000");
const states = (process.env["RAFT_RESTART_STATES"] ?? "sqlite").split(",") as (
  | "sqlite"
  | "memory"
)[];
const utf8 = new TextEncoder();

interface Opened {
  node: RaftNode<KvResult>;
  store: KvState;
  /** Commands applied, snapshots taken and the time spent producing their data. */
  counts: { applied: number; snapshots: number; snapshotMs: number };
  /** How long opening the file took. */
  openMs: number;
  close(): Promise<void>;
}

/** Opens the node's file and starts it, counting commands applied and snapshots taken. */
async function startNode(path: string, state: "sqlite" | "memory"): Promise<Opened> {
  const t0 = performance.now();
  const { storage, store: sm, close: closeState } = await openKvState(path, state);
  const openMs = performance.now() - t0;
  const counts = { applied: 0, snapshots: 0, snapshotMs: 0 };
  const counted: StateMachine<KvResult> = {
    apply: (c: readonly Command[]) => {
      counts.applied += c.length;
      return sm.apply(c);
    },
    snapshot: async () => {
      counts.snapshots++;
      const t = performance.now();
      const data = await sm.snapshot();
      if (data instanceof Uint8Array) {
        counts.snapshotMs += performance.now() - t;
        return data;
      }
      return (async function* () {
        let at = performance.now();
        for await (const chunk of data) {
          counts.snapshotMs += performance.now() - at;
          yield chunk;
          at = performance.now();
        }
        counts.snapshotMs += performance.now() - at;
      })();
    },
    restore: (d, m) => sm.restore(d, m),
    ...(sm.restoreStream !== undefined ? { restoreStream: sm.restoreStream.bind(sm) } : {}),
    ...(sm.appliedIndex !== undefined ? { appliedIndex: sm.appliedIndex.bind(sm) } : {}),
  };
  const net = new MemoryNetwork();
  const node = await RaftNode.start<KvResult>({
    id: 1,
    peers: [1],
    storage,
    transport: net.connect(1),
    stateMachine: counted,
    tickMs: 5,
    // As kv_server.
    snapshotEntries: 100_000,
    maxPendingProposals: 100_000,
  });
  return {
    node,
    store: sm,
    counts,
    openMs,
    close: async () => {
      await node.close();
      net.close();
      await closeState();
    },
  };
}

for (const state of states) {
  test(`A node with ${keys} keys (--state ${state}) restarts and serves reads`, {
    timeout: 3_600_000,
  }, async () => {
    await withTempDir(async (tmp) => {
      const path = tmp.file("n.db");
      const key = (i: number): string => `key/${String(i).padStart(8, "0")}`;
      let n = await startNode(path, state);
      const t0 = performance.now();
      try {
        await n.node.waitForLeader();
        const window = 2000;
        for (let i = 0; i < keys; i += window) {
          const batch: Promise<KvResult>[] = [];
          for (let j = i; j < Math.min(keys, i + window); j++) {
            const cmd = { op: "put", key: key(j), value: `v${j}` };
            batch.push(n.node.propose(utf8.encode(JSON.stringify(cmd))));
          }
          for (const r of await Promise.all(batch)) assert.equal(r.ok, true);
        }
        assert.equal(n.counts.applied, keys);
      } finally {
        await n.close();
      }
      const buildMs = performance.now() - t0;

      const t1 = performance.now();
      n = await startNode(path, state);
      const startedMs = performance.now() - t1;
      try {
        await n.node.waitForLeader();
        const leaderMs = performance.now() - t1;
        const store = n.store;
        const item = await n.node.read(() => store.get(key(keys - 1)));
        const firstReadMs = performance.now() - t1;
        assert.equal(item?.value, `v${keys - 1}`);
        if (state === "sqlite") {
          assert.equal(n.counts.applied, 0, "commands applied again at restart");
        }
        assert.equal(store.range({ prefix: "key/", limit: 3 }).items[0]?.key, key(0));
        console.log(
          `  ${keys} keys (${state}): built in ${(buildMs / 1000).toFixed(1)} s; restart: ` +
            `file opened in ${n.openMs.toFixed(0)} ms, node started at ${
              startedMs.toFixed(0)
            } ms, leader at ${leaderMs.toFixed(0)} ms, ` +
            `first read at ${firstReadMs.toFixed(0)} ms; ${n.counts.applied} commands applied ` +
            `again, ${n.counts.snapshots} snapshots taken (their data produced in ` +
            `${n.counts.snapshotMs.toFixed(0)} ms)`,
        );
        // The node goes on from there.
        const applied = n.counts.applied;
        const cmd = { op: "put", key: "x", value: "y" };
        assert.equal((await n.node.propose(utf8.encode(JSON.stringify(cmd)))).ok, true);
        assert.equal(n.counts.applied, applied + 1);
      } finally {
        await n.close();
      }
    });
  });
}
