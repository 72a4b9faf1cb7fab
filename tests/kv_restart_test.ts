/**
 * A restart of a node whose keys live in SQLite tables: nothing applied
 * is applied again, and the time to the first linearizable read is
 * printed. `RAFT_RESTART_KEYS` sets the number of keys (default 2000;
 * 1000000 for the figure in the docs).
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { type Command, RaftNode, type StateMachine } from "../mod.ts";
import { MemoryNetwork } from "../adapters/memory/mod.ts";
import { withTempDir } from "../adapters/sqlite/_test_util.ts";
import { SqliteKvStore } from "../examples/_kv_sqlite_store.ts";
import type { KvResult } from "../examples/_kv_store.ts";

const keys = Number(process.env["RAFT_RESTART_KEYS"] ?? "2000");
const utf8 = new TextEncoder();

/** The store behind a state machine that counts the commands it applies. */
function counted(store: SqliteKvStore): { sm: StateMachine<KvResult>; applied: () => number } {
  let n = 0;
  return {
    sm: {
      apply: (c: readonly Command[]) => {
        n += c.length;
        return store.apply(c);
      },
      snapshot: () => store.snapshot(),
      restore: (d, m) => store.restore(d, m),
      restoreStream: (c, m) => store.restoreStream(c, m),
      appliedIndex: () => store.appliedIndex(),
    },
    applied: () => n,
  };
}

async function startNode(path: string, net: MemoryNetwork) {
  const store = await SqliteKvStore.open(path);
  const { sm, applied } = counted(store);
  const node = await RaftNode.start<KvResult>({
    id: 1,
    peers: [1],
    storage: store.storage,
    transport: net.connect(1),
    stateMachine: sm,
    tickMs: 5,
    // As kv_server.
    snapshotEntries: 100_000,
    maxPendingProposals: 100_000,
  });
  return { store, node, applied };
}

test(`A node with ${keys} keys in SQLite restarts applying nothing again`, {
  timeout: 3_600_000,
}, async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("n.db");
    const key = (i: number): string => `key/${String(i).padStart(8, "0")}`;
    let net = new MemoryNetwork();
    let { store, node, applied } = await startNode(path, net);
    const t0 = performance.now();
    try {
      await node.waitForLeader();
      const window = 2000;
      for (let i = 0; i < keys; i += window) {
        const batch: Promise<KvResult>[] = [];
        for (let j = i; j < Math.min(keys, i + window); j++) {
          batch.push(
            node.propose(utf8.encode(JSON.stringify({ op: "put", key: key(j), value: `v${j}` }))),
          );
        }
        for (const r of await Promise.all(batch)) assert.equal(r.ok, true);
      }
      assert.equal(applied(), keys);
    } finally {
      await node.close();
      net.close();
      await store.close();
    }
    const buildMs = performance.now() - t0;

    net = new MemoryNetwork();
    const t1 = performance.now();
    ({ store, node, applied } = await startNode(path, net));
    const startedMs = performance.now() - t1;
    try {
      await node.waitForLeader();
      const leaderMs = performance.now() - t1;
      const item = await node.read(() => store.get(key(keys - 1)));
      const firstReadMs = performance.now() - t1;
      assert.equal(item?.value, `v${keys - 1}`);
      assert.equal(applied(), 0, "commands applied again at restart");
      assert.equal(store.range({ prefix: "key/", limit: 3 }).items[0]?.key, key(0));
      console.log(
        `  ${keys} keys: built in ${
          (buildMs / 1000).toFixed(1)
        } s; restart: opened and started in ${startedMs.toFixed(0)} ms, leader at ${
          leaderMs.toFixed(0)
        } ms, first read at ${firstReadMs.toFixed(0)} ms; ${applied()} commands applied again`,
      );
      // The node goes on from there.
      const r = await node.propose(
        utf8.encode(JSON.stringify({ op: "put", key: "x", value: "y" })),
      );
      assert.equal(r.ok, true);
      assert.equal(applied(), 1);
    } finally {
      await node.close();
      net.close();
      await store.close();
    }
  });
});
