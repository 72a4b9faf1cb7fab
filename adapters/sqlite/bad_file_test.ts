import assert from "node:assert/strict";
import { readFileSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { encodeEntryFrames, encodeFrame, encodeHardState } from "../../core/codec.ts";
import { newRand, randomIntN } from "../../core/rand.ts";
import { newConfState, newEntry } from "../../core/types.ts";
import { type StorageView, viewOf } from "../../testing/storage_check.ts";
import { openSqliteStorage, SqliteStorageError, type SqliteStorageErrorCode } from "./mod.ts";
import { withRawDatabase, withTempDir } from "./_test_util.ts";

const enc = new TextEncoder();
const marker = (i: number): string => `ENTRY-${String(i).padStart(4, "0")}|`;
const goodHardState = { term: 2, vote: 1, commit: 50 };

/**
 * Writes a healthy log of 60 entries in four saves (rows 1..15, 16..30,
 * 31..45, 46..60), with a snapshot at 10, compacted to 5; returns its view.
 */
async function writeLog(path: string): Promise<StorageView> {
  const s = await openSqliteStorage(path);
  const ents = Array.from(
    { length: 60 },
    (_, k) =>
      newEntry({
        index: k + 1,
        term: k < 30 ? 1 : 2,
        data: enc.encode(marker(k + 1).padEnd(120, "~")),
      }),
  );
  for (let k = 0; k < 60; k += 15) {
    const hardState = k === 45 ? goodHardState : undefined;
    s.save({ hardState, entries: ents.slice(k, k + 15), snapshot: undefined, mustSync: true });
  }
  s.createSnapshot(10, newConfState({ voters: [1, 2, 3] }), enc.encode("state at 10"));
  s.compact(5);
  const view = viewOf(s);
  s.close();
  return view;
}

/** Asserts that opening `path` fails with a SqliteStorageError of the given code. */
async function assertRefused(
  path: string,
  code: SqliteStorageErrorCode,
  extra?: { index?: number; message?: RegExp },
): Promise<void> {
  await assert.rejects(
    () => openSqliteStorage(path, { create: false }),
    (e: unknown) => {
      assert.ok(e instanceof SqliteStorageError, `not a SqliteStorageError: ${e}`);
      assert.equal(e.code, code, e.message);
      assert.equal(e.path, path);
      assert.ok(e.message.includes(path), `the message names the file: ${e.message}`);
      if (extra?.index !== undefined) assert.equal(e.index, extra.index, e.message);
      if (extra?.message !== undefined) assert.match(e.message, extra.message);
      return true;
    },
  );
}

async function withLogFile(
  body: (path: string, view: StorageView, file: (name: string) => string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (tmp) => {
    const path = tmp.file("node.db");
    const view = await writeLog(path);
    await body(path, view, tmp.file);
  });
}

function flipByteAt(path: string, pos: number, bit = 0): void {
  const bytes = readFileSync(path);
  bytes[pos] = bytes[pos]! ^ (1 << bit);
  writeFileSync(path, bytes);
}

function findOnce(haystack: Uint8Array, needle: Uint8Array): number {
  const buf = Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  const at = buf.indexOf(needle);
  assert.ok(at >= 0, "pattern not found in the file");
  assert.equal(buf.indexOf(needle, at + 1), -1, "pattern found twice in the file");
  return at;
}

test("a healthy log file reopens unchanged (the baseline of the other cases)", async () => {
  await withLogFile(async (path, view) => {
    const s = await openSqliteStorage(path, { create: false });
    assert.deepEqual(viewOf(s), view);
    assert.equal(view.firstIndex, 6);
    assert.equal(view.lastIndex, 60);
    s.close();
  });
});

test("opening a file that is not SQLite fails with not_sqlite", async () => {
  await withTempDir(async (tmp) => {
    const text = tmp.file("notes.txt");
    writeFileSync(text, "These are not the bytes you are looking for.\n".repeat(200));
    await assertRefused(text, "not_sqlite");
    const noise = tmp.file("noise.bin");
    const rand = newRand(7);
    writeFileSync(noise, Uint8Array.from({ length: 8192 }, () => randomIntN(rand, 256)));
    await assertRefused(noise, "not_sqlite");
  });
});

test("opening another application's SQLite database fails with foreign", async () => {
  await withTempDir(async (tmp) => {
    const tables = tmp.file("app.db");
    await withRawDatabase(tables, (db) => db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)"));
    await assertRefused(tables, "foreign");
    const other = tmp.file("other.db");
    await withRawDatabase(other, (db) => db.exec("PRAGMA application_id = 42"));
    await assertRefused(other, "foreign", { message: /application_id 42/ });
    // Neither file was changed into a raft log.
    await withRawDatabase(tables, (_db, q) => {
      assert.deepEqual({ ...q("PRAGMA application_id")[0] as object }, { application_id: 0 });
      assert.deepEqual({ ...q("PRAGMA journal_mode")[0] as object }, { journal_mode: "delete" });
    });
  });
});

test("opening a log of an older or newer schema version fails with schema_too_old / schema_too_new", async () => {
  await withLogFile(async (path) => {
    await withRawDatabase(path, (db) => db.exec("PRAGMA user_version = 0"));
    await assertRefused(path, "schema_too_old", { message: /schema version 0/ });
    await withRawDatabase(path, (db) => db.exec("PRAGMA user_version = 1"));
    await assertRefused(path, "schema_too_old", { message: /schema version 1 is older/ });
    await withRawDatabase(path, (db) => db.exec("PRAGMA user_version = 3"));
    await assertRefused(path, "schema_too_new", { message: /schema version 3/ });
  });
});

test("opening a truncated file fails with sqlite_corrupt", async () => {
  await withLogFile(async (path) => {
    const size = readFileSync(path).length;
    assert.ok(size >= 4 * 4096, `the file has several pages: ${size} bytes`);
    truncateSync(path, Math.floor(size / 2));
    await assertRefused(path, "sqlite_corrupt");
    truncateSync(path, 4096);
    await assertRefused(path, "sqlite_corrupt");
    truncateSync(path, 50);
    await assertRefused(path, "sqlite_corrupt");
    // Truncated to nothing: indistinguishable from a new file, so refused
    // when the caller says the log must exist.
    truncateSync(path, 0);
    await assertRefused(path, "empty");
  });
});

test("a flipped byte in an entry fails its checksum: corrupt_record naming the index", async () => {
  await withLogFile(async (path) => {
    const at = findOnce(readFileSync(path), enc.encode(marker(37)));
    flipByteAt(path, at + 8);
    await assertRefused(path, "corrupt_record", { index: 37, message: /entry 37/ });
  });
});

test("a flipped byte in the HardState record fails its checksum", async () => {
  await withLogFile(async (path) => {
    const at = findOnce(readFileSync(path), encodeFrame(encodeHardState(goodHardState)));
    flipByteAt(path, at + 9, 3);
    await assertRefused(path, "corrupt_record", { message: /HardState/ });
  });
});

test("a gap in the log fails with log_gap naming the missing index", async () => {
  await withLogFile(async (path) => {
    await withRawDatabase(path, (db) => db.exec("DELETE FROM raft_log WHERE first = 16"));
    await assertRefused(path, "log_gap", { index: 16, message: /entry 16 is missing/ });
  });
});

test("a HardState that commits past the last entry fails with inconsistent", async () => {
  await withLogFile(async (path) => {
    const bad = encodeFrame(encodeHardState({ term: 2, vote: 1, commit: 61 }));
    await withRawDatabase(
      path,
      (_db, q) => q("UPDATE raft_meta SET record = ? WHERE key = 'hard_state'", bad),
    );
    await assertRefused(path, "inconsistent", { index: 61, message: /commits index 61/ });
    // Losing the log's tail below the commit index is the same contradiction.
    const good = encodeFrame(encodeHardState(goodHardState));
    await withRawDatabase(path, (_db, q) => {
      q("UPDATE raft_meta SET record = ? WHERE key = 'hard_state'", good);
      q("DELETE FROM raft_log WHERE first > 45");
    });
    await assertRefused(path, "inconsistent", { index: 50 });
  });
});

test("a valid record stored under the wrong index fails with corrupt_record", async () => {
  await withLogFile(async (path) => {
    await withRawDatabase(
      path,
      (db) =>
        db.exec(
          "UPDATE raft_log SET record = (SELECT record FROM raft_log WHERE first = 16) WHERE first = 31",
        ),
    );
    await assertRefused(path, "corrupt_record", { index: 31, message: /holds entry 16/ });
  });
});

test("a row that holds entries another row holds fails with inconsistent", async () => {
  await withLogFile(async (path) => {
    const again = encodeEntryFrames([newEntry({ index: 20, term: 1 })]);
    await withRawDatabase(
      path,
      (_db, q) => q("INSERT INTO raft_log (first, last, record) VALUES (20, 20, ?)", again),
    );
    await assertRefused(path, "inconsistent", { index: 20, message: /entry 20 is stored twice/ });
  });
  await withLogFile(async (path) => {
    await withRawDatabase(path, (db) => db.exec("UPDATE raft_log SET last = 14 WHERE first = 16"));
    await assertRefused(path, "corrupt_record", { index: 16, message: /ends before it begins/ });
  });
  await withLogFile(async (path) => {
    await withRawDatabase(path, (db) => db.exec("UPDATE raft_log SET last = 31 WHERE first = 16"));
    await assertRefused(path, "corrupt_record", { index: 31, message: /entry 31 is missing/ });
  });
});

test("a record with trailing bytes, or not a blob, fails with corrupt_record", async () => {
  await withLogFile(async (path) => {
    await withRawDatabase(path, (_db, q) => {
      const row = q("SELECT record FROM raft_log WHERE first = 46")[0] as { record: Uint8Array };
      const longer = new Uint8Array(row.record.length + 1);
      longer.set(row.record);
      q("UPDATE raft_log SET record = ? WHERE first = 46", longer);
    });
    await assertRefused(path, "corrupt_record", {
      index: 60,
      message: /1 extra byte after entry 60/,
    });
  });
  await withLogFile(async (path) => {
    await withRawDatabase(
      path,
      (db) => db.exec("UPDATE raft_log SET record = 'text' WHERE first = 31"),
    );
    await assertRefused(path, "corrupt_record", { index: 31, message: /not a blob/ });
  });
});

test("a missing record or table fails with missing_record", async () => {
  await withLogFile(async (path) => {
    await withRawDatabase(path, (db) => db.exec("DELETE FROM raft_meta WHERE key = 'snapshot'"));
    await assertRefused(path, "missing_record", { message: /snapshot record is missing/ });
  });
  await withLogFile(async (path) => {
    await withRawDatabase(path, (db) => db.exec("DELETE FROM raft_meta WHERE key = 'log_start'"));
    await assertRefused(path, "missing_record", { message: /log start record is missing/ });
  });
  await withLogFile(async (path) => {
    // Without its rows the log ends at the compacted position, below the commit index.
    await withRawDatabase(path, (db) => db.exec("DELETE FROM raft_log"));
    await assertRefused(path, "inconsistent", { index: 50 });
  });
  await withLogFile(async (path) => {
    await withRawDatabase(path, (db) => db.exec("DROP TABLE raft_log"));
    await assertRefused(path, "missing_record", { message: /table raft_log is missing/ });
  });
});

test("a byte flipped anywhere in the file is refused with a typed error or changes nothing (seeded sweep)", async () => {
  await withLogFile(async (path, view, file) => {
    const original = readFileSync(path);
    const rand = newRand(0x5eed);
    const outcomes = new Map<string, number>();
    for (let trial = 0; trial < 300; trial++) {
      const pos = randomIntN(rand, original.length);
      const bit = randomIntN(rand, 8);
      const copy = Uint8Array.from(original);
      copy[pos] = copy[pos]! ^ (1 << bit);
      const p = file(`flip-${trial}.db`);
      writeFileSync(p, copy);
      let result: string;
      try {
        const s = await openSqliteStorage(p, { create: false });
        try {
          assert.deepEqual(viewOf(s), view, `byte ${pos} bit ${bit} changed the log silently`);
        } finally {
          s.close();
        }
        result = "unchanged";
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof SqliteStorageError, `byte ${pos} bit ${bit}: untyped error ${e}`);
        result = e.code;
      }
      outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
      unlinkSync(p);
    }
    // Both outcomes occur: unused bytes change nothing, used ones are caught.
    assert.ok((outcomes.get("unchanged") ?? 0) > 0, JSON.stringify([...outcomes]));
    assert.ok(outcomes.size > 1, JSON.stringify([...outcomes]));
  });
});
