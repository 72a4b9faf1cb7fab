/**
 * The key-value example's two state machines side by side: the same
 * commands give the same results, items and range listings, in memory
 * and in SQLite, across a restart and a snapshot restore.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Command, RaftNode, type StateMachine } from "../mod.ts";
import { MemoryNetwork } from "../adapters/memory/mod.ts";
import { withTempDir } from "../adapters/sqlite/_test_util.ts";
import { SqliteKvStore } from "../examples/_kv_sqlite_store.ts";
import { type KvCommand, type KvRange, type KvResult, KvStore } from "../examples/_kv_store.ts";
import { newRand, randomIntN } from "../core/rand.ts";

const utf8 = new TextEncoder();

// Keys whose code point order differs from their UTF-16 order
// ("\uffff" sorts after "\u{1F600}" as UTF-16, before it by code point),
// prefixes of one another, empty and non-ASCII.
const keys = [
  "",
  "a",
  "a/",
  "a/b",
  "a/b/c",
  "ab",
  "b",
  "é",
  "\uffff",
  "\u{1F600}",
  "\u{1F600}x",
  "z\u0000",
  "z",
];

function randomCommand(rand: () => number): KvCommand | string {
  const key = keys[randomIntN(rand, keys.length)]!;
  switch (randomIntN(rand, 8)) {
    case 0:
      return { op: "delete", key };
    case 1:
      return { op: "delete", key, ifRevision: randomIntN(rand, 40) };
    case 2:
      return { op: "incr", key, by: randomIntN(rand, 5) - 2 };
    case 3:
      return { op: "put", key, value: `v${randomIntN(rand, 5)}`, ifRevision: randomIntN(rand, 40) };
    case 4:
      return { op: "put", key, value: "w", ifValue: randomIntN(rand, 2) === 0 ? null : "v1" };
    case 5:
      return randomIntN(rand, 2) === 0 ? "not json" : '{"op":"put"}';
    default:
      return { op: "put", key, value: String(randomIntN(rand, 100)) };
  }
}

const ranges: KvRange[] = [
  { limit: 1000 },
  { limit: 3 },
  { prefix: "a", limit: 1000 },
  { prefix: "a/", limit: 2 },
  { prefix: "\u{1F600}", limit: 10 },
  { prefix: "\uffff", limit: 10 },
  { start: "a/b", limit: 1000 },
  { start: "a", end: "b", limit: 1000 },
  { prefix: "a", start: "b", limit: 10 },
  { prefix: "a", end: "a/b", limit: 10 },
  { end: "\uffff", limit: 1000 },
  { start: "\uffff", limit: 1000 },
];

test("SqliteKvStore gives KvStore's results, items and sorted ranges", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("kv.db");
    const mem = new KvStore();
    let disk = await SqliteKvStore.open(path);
    const rand = newRand(7);
    try {
      let index = 0;
      for (let batch = 0; batch < 60; batch++) {
        const cmds: Command[] = [];
        for (let k = 0; k < 1 + randomIntN(rand, 8); k++) {
          const c = randomCommand(rand);
          cmds.push({
            index: ++index,
            term: 1,
            data: utf8.encode(typeof c === "string" ? c : JSON.stringify(c)),
          });
        }
        assert.deepEqual(disk.apply(cmds), mem.apply(cmds), `batch ${batch}`);
        assert.equal(disk.revision, mem.revision);
        if (batch % 20 === 19) {
          // A restart keeps everything.
          await disk.close();
          disk = await SqliteKvStore.open(path, { create: false });
          assert.equal(disk.appliedIndex(), index);
        }
        for (const r of ranges) assert.deepEqual(disk.range(r), mem.range(r), JSON.stringify(r));
        for (const k of keys) assert.deepEqual(disk.get(k), mem.get(k), k);
      }
      assert.ok(mem.size > 3);

      // A snapshot restored into another store lists the same.
      const other = await SqliteKvStore.open(tmp.file("other.db"));
      try {
        await other.restoreStream(disk.snapshot(), {
          index,
          term: 1,
        });
        assert.equal(other.revision, mem.revision);
        assert.equal(other.appliedIndex(), index);
        for (const r of ranges) assert.deepEqual(other.range(r), mem.range(r));
      } finally {
        await other.close();
      }
    } finally {
      await disk.close();
    }
  });
});

test("A member that fell behind catches up by snapshot into its SQLite tables", async () => {
  await withTempDir(async (tmp) => {
    const net = new MemoryNetwork();
    const stores = new Map<number, SqliteKvStore>();
    const nodes = new Map<number, RaftNode<KvResult>>();
    const restores: string[] = [];
    try {
      for (const id of [1, 2, 3]) {
        const store = await SqliteKvStore.open(tmp.file(`n${id}.db`));
        stores.set(id, store);
        const sm: StateMachine<KvResult> = {
          apply: (c) => store.apply(c),
          snapshot: () => store.snapshot(),
          appliedIndex: () => store.appliedIndex(),
          restore: (d, m) => {
            restores.push(`restore ${id}`);
            return store.restore(d, m);
          },
          restoreStream: (c, m) => {
            restores.push(`stream ${id}`);
            return store.restoreStream(c, m);
          },
        };
        if (id === 3) net.isolate(3);
        nodes.set(
          id,
          await RaftNode.start<KvResult>({
            id,
            peers: [1, 2, 3],
            storage: store.storage,
            transport: net.connect(id),
            stateMachine: sm,
            tickMs: 5,
            snapshotEntries: 20,
            snapshotCatchUpEntries: 0,
          }),
        );
      }
      const leader = nodes.get(1)!;
      const lead = await leader.waitForLeader();
      const writer = nodes.get(lead)!;
      for (let i = 0; i < 60; i++) {
        const r = await writer.propose(
          utf8.encode(
            JSON.stringify({ op: "put", key: `k${String(i).padStart(3, "0")}`, value: `v${i}` }),
          ),
        );
        assert.equal(r.ok, true);
      }
      assert.equal(stores.get(3)!.range({ limit: 1000 }).items.length, 0);
      net.heal();
      const three = stores.get(3)!;
      for (let i = 0; i < 400 && three.range({ limit: 1000 }).items.length < 60; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(three.range({ limit: 1000 }), stores.get(lead)!.range({ limit: 1000 }));
      assert.ok(restores.some((r) => r.endsWith(" 3")), `restores: ${restores}`);
      assert.equal(three.get("k059")?.value, "v59");
    } finally {
      for (const n of nodes.values()) await n.close();
      net.close();
      for (const s of stores.values()) await s.close();
    }
  });
});
