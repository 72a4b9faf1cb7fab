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
import { storageErrorCode as code, withTempDir } from "./_test_util.ts";
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

/**
 * Runs `body` on a host storage with a writer thread in a new file, and on
 * a second connection to the file, then closes both.
 */
async function withWorkerHost(
  cacheEntriesMax: number | undefined,
  body: (host: SqliteHostStorage, raw: SqliteDatabaseLike, path: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (tmp) => {
    const path = tmp.file("host.db");
    const host = await openSqliteHostStorage(path, {
      writer: "worker",
      ...(cacheEntriesMax !== undefined ? { cacheEntriesMax } : {}),
    });
    const raw = await openSqliteDatabase(path);
    try {
      await body(host, raw, path);
    } finally {
      raw.close();
      await host.close();
    }
  });
}

/** Whether a promise settled after a few real milliseconds. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(() => settled = true, () => settled = true);
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

test("SqliteHostStorage with a writer thread resolves a batch once the thread committed it, keeping each group's entries in memory until then", async () => {
  // No cache: entries not yet durable are served from memory only while pinned.
  await withWorkerHost(0, async (host, raw) => {
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
  });
});

test("SqliteHostStorage with a writer thread queues each group's own writes behind the batches", async () => {
  await withWorkerHost(undefined, async (host, raw, path) => {
    for (const g of [1, 2]) host.openGroup(g);
    raw.exec("BEGIN IMMEDIATE");
    // With the write lock held elsewhere, none of these could run on the
    // host's own connection: they all wait in the thread's queue.
    const batch = host.writeBatch([
      { groupId: 1, update: append(1, 6, 6, "a") },
      { groupId: 2, update: append(1, 2, 2, "b") },
    ]);
    assert.ok(batch instanceof Promise);
    const g1 = host.openGroup(1);
    g1.createSnapshot(4, undefined, enc.encode("snap"));
    g1.compact(3);
    const write = g1.snapshotChunks.stage().write(enc.encode("chunk"));
    assert.equal(await settledWithin(batch, 50), false);
    raw.exec("ROLLBACK");
    await batch;
    await write;
    await host.close();
    // Reopened with a thread too (an inline opener locks the file, which `raw` has open).
    const again = await openSqliteHostStorage(path, { create: false, writer: "worker" });
    try {
      assert.equal(again.openGroup(1).snapshot().metadata.index, 4);
      assert.equal(again.openGroup(1).firstIndex(), 4);
      assert.deepEqual(dataOf(again, 1), ["a4", "a5", "a6"]);
      assert.deepEqual(dataOf(again, 2), ["b1", "b2"]);
    } finally {
      await again.close();
    }
  });
});

test("SqliteHostStorage with a writer thread: a write that fails there fails the pending and later writes of every group", async () => {
  await withWorkerHost(undefined, async (host, raw) => {
    for (const g of [1, 2, 3]) host.openGroup(g);
    await host.writeBatch([1, 2, 3].map((g) => ({ groupId: g, update: append(1, 2, 1, "x") })));
    // Another connection removes group 2's HardState record behind the storage's back.
    raw.exec("DELETE FROM raft_g2_meta WHERE key = 'hard_state'");
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
    assert.throws(() => host.openGroup(3).save(append(4, 4, 2, "x")), code("write_failed", later));
    assert.throws(() => host.openGroup(4), code("write_failed", later));
    // Reads still answer (the view holds what failed to be written).
    assert.equal(host.openGroup(1).lastIndex(), 3);
    await assert.rejects(async () => await host.deleteGroup(3), code("write_failed"));
    await assert.rejects(() => host.flush(), code("write_failed"));
  });
});

test("SqliteHostStorage whose writer thread stopped fails every group's writes", async () => {
  await withWorkerHost(undefined, async (host) => {
    for (const g of [1, 2]) host.openGroup(g);
    // The thread stops on a request it does not know, as on a crash.
    writerThreadOf(host)!.postRaw({ type: "no such request" });
    const pending = host.writeBatch([{ groupId: 1, update: append(1, 1, 0, "x") }]);
    await assert.rejects(async () => await pending, code("write_failed", /writer thread stopped/));
    assert.throws(
      () => host.writeBatch([{ groupId: 2, update: append(1, 1, 0, "x") }]),
      code("write_failed", /writer thread stopped/),
    );
    assert.throws(() => host.openGroup(2).save(append(1, 1, 0, "x")), code("write_failed"));
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
  // The thread's lock file keeps a second opener out, with or without a thread
  // (the file opens again once it closed: see the queue test).
  await withWorkerHost(undefined, async (_host, _raw, path) => {
    await assert.rejects(() => openSqliteHostStorage(path, { writer: "worker" }), code("locked"));
    await assert.rejects(() => openSqliteHostStorage(path), code("locked"));
  });
});
