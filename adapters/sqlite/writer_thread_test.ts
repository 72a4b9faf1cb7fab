import assert from "node:assert/strict";
import { test } from "node:test";
import { type Entry, newEntry } from "../../core/types.ts";
import { openSqliteDatabase, openSqliteStorage, SqliteStorageError } from "./mod.ts";
import { storageErrorCode as code, withTempDir } from "./_test_util.ts";
import { writerThreadOf } from "./_writer_thread.ts";

const enc = new TextEncoder();

function ents(from: number, to: number, term = 1): Entry[] {
  return Array.from(
    { length: to - from + 1 },
    (_, k) => newEntry({ index: from + k, term, data: enc.encode(`${from + k}/${term}`) }),
  );
}

function indexTerms(es: readonly Entry[]): string {
  return es.map((e) => `${e.index}/${e.term}`).join(" ");
}

test("SqliteStorage with a writer thread serves a write before it is durable, beyond its cache bounds", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("node.db");
    const s = await openSqliteStorage(path, { writer: "worker", cacheEntriesMax: 2 });
    try {
      // Not awaited: the thread has not even received them yet.
      const first = s.save({
        hardState: { term: 1, vote: 1, commit: 0 },
        entries: ents(1, 50),
        snapshot: undefined,
        mustSync: true,
      });
      // A new leader's entries replace the tail from 30 on.
      const second = s.save({
        hardState: { term: 2, vote: 2, commit: 10 },
        entries: ents(30, 40, 2),
        snapshot: undefined,
        mustSync: true,
      });
      assert.ok(first instanceof Promise && second instanceof Promise);
      const want = `${indexTerms(ents(1, 29, 1))} ${indexTerms(ents(30, 40, 2))}`;
      assert.equal(s.lastIndex(), 40);
      assert.equal(s.term(29), 1);
      assert.equal(s.term(30), 2);
      assert.equal(indexTerms(s.entries(1, 41, Infinity)), want);
      assert.deepEqual(s.initialState().hardState, { term: 2, vote: 2, commit: 10 });
      await first;
      await second;
      // Durable: now read back through the file (2 entries cached), and after a reopen.
      assert.equal(indexTerms(s.entries(1, 41, Infinity)), want);
      assert.deepEqual(s.entries(5, 6, Infinity), ents(5, 5, 1));
      await s.close();
      const again = await openSqliteStorage(path, { create: false });
      assert.equal(indexTerms(again.entries(1, 41, Infinity)), want);
      assert.deepEqual(again.initialState().hardState, { term: 2, vote: 2, commit: 10 });
      again.close();
    } finally {
      await s.close();
    }
  });
});

test("SqliteStorage with a writer thread: a write that fails there rejects, and later writes are refused", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("node.db");
    const s = await openSqliteStorage(path, { writer: "worker" });
    try {
      await s.save({
        hardState: { term: 1, vote: 1, commit: 1 },
        entries: ents(1, 3),
        snapshot: undefined,
        mustSync: true,
      });
      // Another connection removes the HardState record behind the storage's back.
      const raw = await openSqliteDatabase(path);
      raw.exec("DELETE FROM raft_meta WHERE key = 'hard_state'");
      raw.close();
      const failed = s.save({
        hardState: { term: 1, vote: 1, commit: 2 },
        entries: ents(4, 4),
        snapshot: undefined,
        mustSync: true,
      });
      await assert.rejects(
        async () => await failed,
        (e: unknown): boolean => {
          code("write_failed", /hard_state record is missing; the outcome on disk is unknown/)(e);
          assert.ok(e instanceof SqliteStorageError && e.cause instanceof SqliteStorageError);
          assert.equal(e.cause.code, "missing_record");
          return true;
        },
      );
      assert.throws(() => s.append(ents(5, 5)), code("write_failed", /an earlier write failed/));
      assert.throws(() => s.compact(1), code("write_failed"));
      await assert.rejects(() => s.flush(), code("write_failed"));
      // Reads still answer.
      assert.equal(s.lastIndex(), 4);
    } finally {
      await s.close();
    }
  });
});

test("SqliteStorage whose writer thread stopped fails the writes in flight and refuses later ones", async () => {
  await withTempDir(async (tmp) => {
    const s = await openSqliteStorage(tmp.file("node.db"), { writer: "worker" });
    try {
      const thread = writerThreadOf(s);
      assert.ok(thread !== undefined);
      // The thread stops on a request it does not know, as on a crash;
      // the write sent after it is never answered.
      thread.postRaw({ type: "no such request" });
      const pending = s.save({
        hardState: { term: 1, vote: 1, commit: 0 },
        entries: ents(1, 1),
        snapshot: undefined,
        mustSync: true,
      });
      await assert.rejects(
        async () => await pending,
        code("write_failed", /writer thread stopped/),
      );
      assert.throws(
        () => s.setHardState({ term: 2, vote: 0, commit: 0 }),
        code("write_failed", /writer thread stopped/),
      );
    } finally {
      await s.close();
    }
  });
});

test("SqliteStorage with a writer thread bounds its writes in flight", async () => {
  await withTempDir(async (tmp) => {
    const s = await openSqliteStorage(tmp.file("node.db"), {
      writer: "worker",
      writesInFlightMax: 2,
    });
    try {
      const a = s.append(ents(1, 1));
      const b = s.append(ents(2, 2));
      assert.throws(() => s.append(ents(3, 3)), code("busy", /2 writes are in flight/));
      // Refused before anything changed.
      assert.equal(s.lastIndex(), 2);
      await a;
      await b;
      await s.append(ents(3, 3));
      assert.equal(s.lastIndex(), 3);
    } finally {
      await s.close();
    }
  });
});

test("SqliteStorage with a writer thread locks its file against a second opener", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("node.db");
    const s = await openSqliteStorage(path, { writer: "worker" });
    await assert.rejects(() => openSqliteStorage(path, { writer: "worker" }), code("locked"));
    await assert.rejects(() => openSqliteStorage(path), code("locked"));
    await s.close();
    const inline = await openSqliteStorage(path);
    await assert.rejects(() => openSqliteStorage(path, { writer: "worker" }), code("locked"));
    inline.close();
    (await openSqliteStorage(path, { writer: "worker" })).close();
  });
});

test("SqliteStorage rejects a writer thread without a file", async () => {
  await assert.rejects(
    () => openSqliteStorage(":memory:", { writer: "worker" }),
    (e: unknown) => e instanceof RangeError && /'path' names no file/.test(e.message),
  );
  await assert.rejects(
    // @ts-expect-error: not a writer
    () => openSqliteStorage(":memory:", { writer: "thread" }),
    (e: unknown) =>
      e instanceof RangeError && /'writer' must be "inline" or "worker"/.test(e.message),
  );
});
