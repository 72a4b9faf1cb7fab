import assert from "node:assert/strict";
import { test } from "node:test";
import type { StorageUpdate } from "../../core/node.ts";
import { type Entry, newEntry } from "../../core/types.ts";
import type { SqliteDatabaseLike } from "./_database.ts";
import {
  openSqliteDatabase,
  openSqliteHostStorage,
  type SqliteHostStorage,
  SqliteStorageError,
} from "./mod.ts";
import { withTempDir } from "./_test_util.ts";
import { writerThreadOf } from "./_writer_thread.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function ents(from: number, to: number, tag: string): Entry[] {
  return Array.from(
    { length: to - from + 1 },
    (_, k) => newEntry({ index: from + k, term: 1, data: enc.encode(`${tag}${from + k}`) }),
  );
}

function append(from: number, to: number, commit: number, tag: string): StorageUpdate {
  return {
    hardState: { term: 1, vote: 1, commit },
    entries: ents(from, to, tag),
    snapshot: undefined,
    mustSync: true,
  };
}

function code(c: string, re?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof SqliteStorageError, String(e));
    assert.equal(e.code, c, e.message);
    if (re !== undefined) assert.match(e.message, re);
    return true;
  };
}

/** The data of a group's entries, decoded. */
function dataOf(host: SqliteHostStorage, g: number): string[] {
  const s = host.openGroup(g);
  if (s.lastIndex() < s.firstIndex()) return [];
  return s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity).map((e) => dec.decode(e.data));
}

/** Rows of a group's log as another connection sees them. */
function rowsSeen(raw: SqliteDatabaseLike, g: number): number {
  const st = raw.prepare(`SELECT count(*) AS n FROM raft_g${g}_log`);
  try {
    return Number((st.all()[0] as { n: number | bigint }).n);
  } finally {
    st.finalize?.();
  }
}

/** Whether a promise settled after a few real milliseconds. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(() => settled = true, () => settled = true);
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

test("SqliteHostStorage with a writer thread resolves a batch once the thread committed it, keeping each group's entries in memory until then", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("host.db");
    // No cache: entries not yet durable are served from memory only while pinned.
    const host = await openSqliteHostStorage(path, { writer: "worker", cacheEntriesMax: 0 });
    const raw = await openSqliteDatabase(path);
    try {
      for (const g of [1, 2, 3]) host.openGroup(g);
      // Another connection holds the write lock: the thread cannot commit.
      raw.exec("BEGIN IMMEDIATE");
      const first = host.writeBatch([
        { groupId: 1, update: append(1, 3, 0, "a") },
        { groupId: 2, update: append(1, 2, 0, "b") },
      ]);
      const second = host.writeBatch([{ groupId: 1, update: append(4, 5, 2, "a") }]);
      assert.ok(first instanceof Promise && second instanceof Promise);
      // The read side shows both at once.
      assert.deepEqual(dataOf(host, 1), ["a1", "a2", "a3", "a4", "a5"]);
      assert.deepEqual(dataOf(host, 2), ["b1", "b2"]);
      // Each group's entries are pinned from its own first pending index; group 3 has none.
      const thread = writerThreadOf(host);
      assert.ok(thread !== undefined);
      assert.equal(thread.pinFrom(host.openGroup(1)), 1);
      assert.equal(thread.pinFrom(host.openGroup(2)), 1);
      assert.equal(thread.pinFrom(host.openGroup(3)), Infinity);
      assert.equal(await settledWithin(first, 100), false, "resolved before the commit");
      assert.equal(rowsSeen(raw, 1), 0);
      raw.exec("ROLLBACK");
      await first;
      await second;
      // Committed: the other connection sees it, and the pins are gone.
      assert.equal(rowsSeen(raw, 1), 2);
      assert.equal(rowsSeen(raw, 2), 1);
      assert.equal(thread.pinFrom(host.openGroup(1)), Infinity);
      assert.equal(thread.pinFrom(host.openGroup(2)), Infinity);
      // Now read through the host's own connection.
      assert.deepEqual(dataOf(host, 1), ["a1", "a2", "a3", "a4", "a5"]);
      assert.deepEqual(dataOf(host, 2), ["b1", "b2"]);
    } finally {
      raw.close();
      await host.close();
    }
  });
});

test("SqliteHostStorage with a writer thread queues each group's own writes behind the batches", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("host.db");
    const host = await openSqliteHostStorage(path, { writer: "worker" });
    const raw = await openSqliteDatabase(path);
    try {
      for (const g of [1, 2]) host.openGroup(g);
      const cs = {
        voters: [1],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      };
      raw.exec("BEGIN IMMEDIATE");
      // With the write lock held elsewhere, none of these could run on the
      // host's own connection: they all wait in the thread's queue.
      const batch = host.writeBatch([
        { groupId: 1, update: append(1, 6, 6, "a") },
        { groupId: 2, update: append(1, 2, 2, "b") },
      ]);
      assert.ok(batch instanceof Promise);
      const g1 = host.openGroup(1);
      g1.createSnapshot(4, cs, enc.encode("snap"));
      g1.compact(3);
      const staged = g1.snapshotChunks.stage();
      const write = staged.write(enc.encode("chunk"));
      assert.equal(await settledWithin(batch, 50), false);
      raw.exec("ROLLBACK");
      await batch;
      await write;
      await host.flush();
    } finally {
      raw.close();
      await host.close();
    }
    const again = await openSqliteHostStorage(path, { create: false });
    try {
      const g1 = again.openGroup(1);
      assert.equal(g1.snapshot().metadata.index, 4);
      assert.equal(g1.firstIndex(), 4);
      assert.deepEqual(dataOf(again, 1), ["a4", "a5", "a6"]);
      assert.deepEqual(dataOf(again, 2), ["b1", "b2"]);
    } finally {
      again.close();
    }
  });
});

test("SqliteHostStorage with a writer thread: a write that fails there fails the pending and later writes of every group", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("host.db");
    const host = await openSqliteHostStorage(path, { writer: "worker" });
    try {
      for (const g of [1, 2, 3]) host.openGroup(g);
      await host.writeBatch([1, 2, 3].map((g) => ({ groupId: g, update: append(1, 2, 1, "x") })));
      // Another connection removes group 2's HardState record behind the storage's back.
      const raw = await openSqliteDatabase(path);
      raw.exec("DELETE FROM raft_g2_meta WHERE key = 'hard_state'");
      raw.close();
      const failing = host.writeBatch([
        { groupId: 1, update: append(3, 3, 2, "x") },
        { groupId: 2, update: append(3, 3, 2, "x") },
      ]);
      // Sent before the failure is known: it fails with it.
      const queued = host.writeBatch([{ groupId: 3, update: append(3, 3, 2, "x") }]);
      let failure: unknown;
      await assert.rejects(
        async () => await failing,
        (e: unknown): boolean => {
          code("write_failed", /hard_state record is missing/)(e);
          assert.ok(e instanceof SqliteStorageError && e.cause instanceof SqliteStorageError);
          assert.equal(e.cause.code, "missing_record");
          failure = e;
          return true;
        },
      );
      await assert.rejects(async () => await queued, (e: unknown) => e === failure);
      // Every group's later writes are refused, whatever they are.
      const later = /an earlier write failed/;
      assert.throws(
        () => host.writeBatch([{ groupId: 3, update: append(4, 4, 2, "x") }]),
        code("write_failed", later),
      );
      assert.throws(() => host.openGroup(1).compact(1), code("write_failed", later));
      assert.throws(
        () => host.openGroup(3).save(append(4, 4, 2, "x")),
        code("write_failed", later),
      );
      assert.throws(() => host.openGroup(4), code("write_failed", later));
      await assert.rejects(async () => await host.deleteGroup(3), code("write_failed"));
      await assert.rejects(() => host.flush(), code("write_failed"));
      // Reads still answer (the view holds what failed to be written).
      assert.equal(host.openGroup(1).lastIndex(), 3);
    } finally {
      await host.close();
    }
  });
});

test("SqliteHostStorage whose writer thread stopped fails every group's writes", async () => {
  await withTempDir(async (tmp) => {
    const host = await openSqliteHostStorage(tmp.file("host.db"), { writer: "worker" });
    try {
      for (const g of [1, 2]) host.openGroup(g);
      // The thread stops on a request it does not know, as on a crash.
      writerThreadOf(host)!.postRaw({ type: "no such request" });
      const pending = host.writeBatch([{ groupId: 1, update: append(1, 1, 0, "x") }]);
      await assert.rejects(
        async () => await pending,
        code("write_failed", /writer thread stopped/),
      );
      assert.throws(
        () => host.writeBatch([{ groupId: 2, update: append(1, 1, 0, "x") }]),
        code("write_failed", /writer thread stopped/),
      );
      assert.throws(() => host.openGroup(2).save(append(1, 1, 0, "x")), code("write_failed"));
    } finally {
      await host.close();
    }
  });
});

test("SqliteHostStorage checks its writer option and locks its file with a writer thread", async () => {
  await assert.rejects(
    () => openSqliteHostStorage(":memory:", { writer: "worker" }),
    (e: unknown) =>
      e instanceof RangeError &&
      /Cannot create SqliteHostStorage as 'writer' is "worker" and 'path' names no file/.test(
        e.message,
      ),
  );
  await assert.rejects(
    // @ts-expect-error: not a writer
    () => openSqliteHostStorage(":memory:", { writer: "thread" }),
    (e: unknown) =>
      e instanceof RangeError &&
      /Cannot create SqliteHostStorage as 'writer' must be "inline" or "worker"/.test(e.message),
  );
  await withTempDir(async (tmp) => {
    const path = tmp.file("host.db");
    const host = await openSqliteHostStorage(path, { writer: "worker" });
    await assert.rejects(() => openSqliteHostStorage(path, { writer: "worker" }), code("locked"));
    await assert.rejects(() => openSqliteHostStorage(path), code("locked"));
    await host.close();
    (await openSqliteHostStorage(path)).close();
  });
});
