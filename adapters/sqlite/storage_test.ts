import assert from "node:assert/strict";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { RaftInvariantError } from "../../core/_assert.ts";
import { memoryNodeStorage, RaftNode, type StateMachine } from "../../core/node.ts";
import { MemoryStorage } from "../../core/storage.ts";
import { type Entry, newEntry, newSnapshot } from "../../core/types.ts";
import { viewOf } from "../../testing/storage_check.ts";
import { storageChecks } from "../../tests/_util.ts";
import { MemoryNetwork } from "../memory/mod.ts";
import { openSqliteDatabase, openSqliteStorage, SqliteStorage, SqliteStorageError } from "./mod.ts";
import { countingDatabase, tempDir } from "./_test_util.ts";

storageChecks("MemoryStorage", {
  create() {
    const storage = memoryNodeStorage(new MemoryStorage());
    return { storage, reopen: () => storage, dispose() {} };
  },
});

const sqliteCases: { cacheEntriesMax: number; writer: "inline" | "worker" }[] = [
  { cacheEntriesMax: 4096, writer: "inline" },
  { cacheEntriesMax: 3, writer: "inline" },
  // Without a cache, every read of a durable entry goes to the file.
  { cacheEntriesMax: 0, writer: "worker" },
];
for (const { cacheEntriesMax, writer } of sqliteCases) {
  const cache = cacheEntriesMax === 4096 ? "" : `${cacheEntriesMax}-entry cache`;
  const mode = writer === "worker" ? "writer thread" : "";
  const detail = [cache, mode].filter((x) => x !== "").join(", ");
  storageChecks(detail === "" ? "SqliteStorage" : `SqliteStorage (${detail})`, {
    async create() {
      const tmp = tempDir();
      const path = tmp.file("node.db");
      let storage = await openSqliteStorage(path, { cacheEntriesMax, writer });
      return {
        storage,
        async reopen() {
          await storage.close();
          storage = await openSqliteStorage(path, { create: false, cacheEntriesMax, writer });
          return storage;
        },
        async dispose() {
          await storage.close();
          tmp.remove();
        },
      };
    },
  });
}

const enc = new TextEncoder();

function ents(from: number, to: number, term: number, size = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push(newEntry({ index: i, term, data: enc.encode(`${i}:`.padEnd(size, "x")) }));
  }
  return out;
}

async function withTemp(body: (path: string) => Promise<void>): Promise<void> {
  const tmp = tempDir();
  try {
    await body(tmp.file("node.db"));
  } finally {
    tmp.remove();
  }
}

test("SqliteStorage serves the entries it just wrote from memory, without a query", async () => {
  await withTemp(async (path) => {
    const c = countingDatabase(await openSqliteDatabase(path));
    const s = new SqliteStorage(c.db, { path });
    try {
      s.save({
        hardState: { term: 1, vote: 1, commit: 0 },
        entries: ents(1, 100, 1),
        snapshot: undefined,
        mustSync: true,
      });
      const before = { ...c.counts };
      assert.equal(s.entries(1, 101, Infinity).length, 100);
      assert.equal(s.entries(90, 101, 64).length, 2);
      assert.equal(s.term(100), 1);
      assert.equal(s.term(1), 1);
      assert.equal(c.counts.reads, before.reads, "no SELECT for cached entries");
    } finally {
      s.close();
    }
  });
});

test("SqliteStorage reads entries older than its bounded cache from the database", async () => {
  await withTemp(async (path) => {
    const c = countingDatabase(await openSqliteDatabase(path));
    const s = new SqliteStorage(c.db, { path, cacheEntriesMax: 10, cacheBytesMax: 1 << 20 });
    try {
      s.append(ents(1, 1000, 1));
      s.append(ents(990, 1010, 2));
      const before = c.counts.reads;
      assert.equal(s.entries(1001, 1011, Infinity).length, 10, "the last 10 come from memory");
      assert.equal(c.counts.reads, before);
      const all = s.entries(1, 1011, Infinity);
      assert.ok(c.counts.reads > before, "older entries need a SELECT");
      assert.deepEqual(all, [...ents(1, 989, 1), ...ents(990, 1010, 2)]);
      assert.equal(s.term(500), 1);
      assert.equal(s.term(995), 2);
      // The byte bound: entries of just over 1 KiB with a 4 KiB cache keep 3 in memory.
      const small = countingDatabase(await openSqliteDatabase(path + "-2"));
      const s2 = new SqliteStorage(small.db, { cacheBytesMax: 4096 });
      s2.append(ents(1, 20, 1, 1024));
      const r0 = small.counts.reads;
      assert.equal(s2.entries(18, 21, Infinity).length, 3);
      assert.equal(small.counts.reads, r0, "the newest entries are cached");
      assert.deepEqual(s2.entries(1, 21, Infinity), ents(1, 20, 1, 1024));
      assert.ok(small.counts.reads > r0, "the others were evicted by the byte bound");
      s2.close();
    } finally {
      s.close();
    }
  });
});

test("SqliteStorage decodes an old row once while reads for a few followers take turns", async () => {
  await withTemp(async (path) => {
    const c = countingDatabase(await openSqliteDatabase(path));
    const s = new SqliteStorage(c.db, { path, cacheEntriesMax: 0 });
    try {
      for (let k = 0; k < 6; k++) s.append(ents(10 * k + 1, 10 * k + 10, 1));
      const r0 = c.counts.reads;
      for (let turn = 0; turn < 5; turn++) {
        for (const lo of [1, 11, 21, 31]) {
          assert.deepEqual(
            s.entries(lo + turn, lo + turn + 2, Infinity),
            ents(lo + turn, lo + turn + 1, 1),
          );
          assert.equal(s.term(lo + 9), 1);
        }
      }
      assert.equal(c.counts.reads - r0, 4, "one query per row for four rows read in turn");
      s.entries(41, 43, Infinity); // a fifth row pushes the least recent (row 1) out
      const r1 = c.counts.reads;
      s.term(11);
      assert.equal(c.counts.reads, r1, "row 11..20 is still kept");
      s.term(1);
      assert.equal(c.counts.reads, r1 + 1, "row 1..10 was dropped");
      s.setHardState({ term: 1, vote: 1, commit: 5 }); // every write drops the kept rows
      s.term(1);
      assert.equal(c.counts.reads, r1 + 2);
    } finally {
      s.close();
    }
  });
});

test("SqliteStorage.save() writes nothing when the update is refused", async () => {
  await withTemp(async (path) => {
    let s = await openSqliteStorage(path);
    s.save({
      hardState: { term: 1, vote: 1, commit: 3 },
      entries: ents(1, 5, 1),
      snapshot: undefined,
      mustSync: true,
    });
    const before = viewOf(s);
    // A snapshot, then entries with a gap: MemoryStorage would keep the
    // snapshot; here the whole update is refused.
    assert.throws(
      () =>
        s.save({
          hardState: { term: 2, vote: 1, commit: 9 },
          entries: ents(12, 13, 2),
          snapshot: newSnapshot({ index: 9, term: 2 }),
          mustSync: true,
        }),
      RaftInvariantError,
    );
    // A HardState committing past the last entry.
    assert.throws(
      () => s.setHardState({ term: 1, vote: 1, commit: 6 }),
      (e: unknown) =>
        e instanceof RaftInvariantError &&
        /commit index 6 is past the last index 5/.test(e.message),
    );
    // Truncating below the commit index.
    assert.throws(() => s.append(ents(2, 2, 2)), RaftInvariantError);
    assert.deepEqual(viewOf(s), before);
    s.close();
    s = await openSqliteStorage(path);
    assert.deepEqual(viewOf(s), before);
    s.close();
  });
});

test("SqliteStorage refuses writes after a failed write, and the file keeps the last good state", async () => {
  await withTemp(async (path) => {
    const c = countingDatabase(await openSqliteDatabase(path));
    const s = new SqliteStorage(c.db, { path });
    s.append(ents(1, 5, 1));
    const before = viewOf(s);
    // A conflicting append: the row 1..5 is cut to 1..2, then the insert
    // fails; the cut must be rolled back with it.
    c.failRunAfter(2);
    assert.throws(
      () => s.append(ents(3, 20, 2)),
      (e: unknown) =>
        e instanceof SqliteStorageError && e.code === "write_failed" && e.path === path &&
        /simulated/.test(e.message),
    );
    // The view still shows the last committed state; further writes are refused.
    assert.deepEqual(viewOf(s), before);
    assert.throws(
      () => s.setHardState({ term: 1, vote: 0, commit: 1 }),
      (e: unknown) => e instanceof SqliteStorageError && e.code === "write_failed",
    );
    s.close();
    const again = await openSqliteStorage(path, { create: false });
    assert.deepEqual(viewOf(again), before);
    again.close();
  });
});

test("SqliteStorage runs in WAL mode with synchronous=FULL and a schema version", async () => {
  await withTemp(async (path) => {
    const raw = await openSqliteDatabase(path);
    const s = new SqliteStorage(raw, { path });
    const one = (sql: string): unknown => {
      const st = raw.prepare(sql);
      try {
        return st.get();
      } finally {
        st.finalize?.();
      }
    };
    assert.deepEqual({ ...one("PRAGMA journal_mode") as object }, { journal_mode: "wal" });
    assert.deepEqual({ ...one("PRAGMA synchronous") as object }, { synchronous: 2 });
    assert.deepEqual({ ...one("PRAGMA user_version") as object }, { user_version: 2 });
    assert.deepEqual({ ...one("PRAGMA application_id") as object }, {
      application_id: 0x72667473,
    });
    s.close();
  });
});

test("SqliteStorage.save() skips the sync only for a commit-only Ready (mustSync false)", async () => {
  await withTemp(async (path) => {
    const raw = await openSqliteDatabase(path);
    const s = new SqliteStorage(raw, { path });
    const synchronous = (): unknown => {
      const st = raw.prepare("PRAGMA synchronous");
      try {
        return (st.get() as { synchronous: unknown }).synchronous;
      } finally {
        st.finalize?.();
      }
    };
    const hs = (commit: number) => ({ term: 1, vote: 1, commit });
    s.save({ hardState: hs(0), entries: ents(1, 3, 1), snapshot: undefined, mustSync: true });
    assert.equal(synchronous(), 2);
    // Only the commit index moved: committed with synchronous=NORMAL (no sync).
    s.save({ hardState: hs(2), entries: [], snapshot: undefined, mustSync: false });
    assert.equal(synchronous(), 1);
    assert.equal(s.initialState().hardState.commit, 2);
    // Entries are always synced, whatever mustSync says; so is every other write.
    s.save({ hardState: hs(3), entries: ents(4, 4, 1), snapshot: undefined, mustSync: false });
    assert.equal(synchronous(), 2);
    s.save({ hardState: hs(4), entries: [], snapshot: undefined, mustSync: false });
    assert.equal(synchronous(), 1);
    s.compact(2);
    assert.equal(synchronous(), 2);
    s.close();
    const again = await openSqliteStorage(path, { create: false });
    assert.equal(again.initialState().hardState.commit, 4);
    assert.equal(again.lastIndex(), 4);
    again.close();
  });
});

test("SqliteStorage writes the HardState in time independent of the snapshot's size", async () => {
  await withTemp(async (path) => {
    const s = await openSqliteStorage(path);
    s.append(ents(1, 10, 1));
    const hsSaveMs = (): number => {
      const times: number[] = [];
      for (let commit = 1; commit <= 9; commit++) {
        const t0 = performance.now();
        s.save({
          hardState: { term: 1, vote: 1, commit },
          entries: [],
          snapshot: undefined,
          mustSync: false,
        });
        times.push(performance.now() - t0);
      }
      return times.sort((x, y) => x - y)[4]!;
    };
    hsSaveMs(); // warm up
    const small = hsSaveMs();
    // A 32 MiB snapshot record beside the HardState's: rewriting the HardState
    // used to read all of it (INSERT OR REPLACE), ~6 ms per save here.
    s.createSnapshot(5, {
      voters: [1],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    }, new Uint8Array(32 << 20).fill(7));
    const large = hsSaveMs();
    assert.ok(
      large < Math.max(1.5, 20 * small),
      `${large} ms with the snapshot, ${small} ms before`,
    );
    s.close();
    const again = await openSqliteStorage(path, { create: false });
    assert.equal(again.initialState().hardState.commit, 9);
    assert.equal(again.snapshot().data.length, 32 << 20);
    again.close();
  });
});

test("SqliteStorage refuses to write when a meta record has disappeared", async () => {
  await withTemp(async (path) => {
    const raw = await openSqliteDatabase(path);
    const s = new SqliteStorage(raw, { path });
    s.append(ents(1, 2, 1));
    raw.exec("DELETE FROM raft_meta WHERE key = 'hard_state'");
    assert.throws(
      () => s.setHardState({ term: 1, vote: 1, commit: 1 }),
      (e: unknown) =>
        e instanceof SqliteStorageError && e.code === "write_failed" &&
        /hard_state record is missing/.test(e.message),
    );
    s.close();
  });
});

test("SqliteStorage locks its file against a second opener", async () => {
  await withTemp(async (path) => {
    const s = await openSqliteStorage(path);
    await assert.rejects(
      () => openSqliteStorage(path),
      (e: unknown) => e instanceof SqliteStorageError && e.code === "locked" && e.path === path,
    );
    s.close();
    // Released on close; and held by an opener that only read the file.
    const reader = await openSqliteStorage(path, { create: false });
    await assert.rejects(
      () => openSqliteStorage(path),
      (e: unknown) => e instanceof SqliteStorageError && e.code === "locked",
    );
    reader.close();
    (await openSqliteStorage(path)).close();
  });
});

test("SqliteStorage refuses calls after close()", async () => {
  await withTemp(async (path) => {
    const s = await openSqliteStorage(path);
    s.close();
    s.close();
    for (const call of [() => s.lastIndex(), () => s.term(0), () => s.append(ents(1, 1, 1))]) {
      assert.throws(call, (e: unknown) => e instanceof SqliteStorageError && e.code === "closed");
    }
  });
});

test("openSqliteStorage() with create: false refuses a missing or empty file", async () => {
  await withTemp(async (path) => {
    await assert.rejects(
      () => openSqliteStorage(path, { create: false }),
      (e: unknown) => e instanceof SqliteStorageError && e.code === "not_found",
    );
    assert.equal(existsSync(path), false);
    writeFileSync(path, new Uint8Array(0));
    await assert.rejects(
      () => openSqliteStorage(path, { create: false }),
      (e: unknown) => e instanceof SqliteStorageError && e.code === "empty",
    );
  });
});

test("SqliteStorage rejects out-of-range cache options", async () => {
  await withTemp(async (path) => {
    await assert.rejects(() => openSqliteStorage(path, { cacheEntriesMax: -1 }), RangeError);
    await assert.rejects(() => openSqliteStorage(path, { walPreallocateBytes: 0.5 }), RangeError);
  });
});

test("SqliteStorage grows the WAL when it opens, so that commits rewrite it in place", async () => {
  await withTemp(async (path) => {
    const walSize = (): number => statSync(`${path}-wal`).size;
    let s = await openSqliteStorage(path, { walPreallocateBytes: 1 << 20 });
    const grown = walSize();
    assert.ok(grown >= 1 << 20, `the WAL holds at least 1 MiB: ${grown}`);
    for (let i = 1; i <= 50; i++) {
      s.save({
        hardState: { term: 1, vote: 1, commit: i },
        entries: ents(i, i, 1),
        snapshot: undefined,
        mustSync: true,
      });
    }
    assert.equal(walSize(), grown, "50 commits fit in the grown file");
    const view = viewOf(s);
    s.close();
    // Nothing of the rolled-back growth is visible, here or after a reopen.
    s = await openSqliteStorage(path, { create: false, walPreallocateBytes: 0 });
    assert.deepEqual(viewOf(s), view);
    s.close();
    // Turned off, the WAL only holds what was written.
    const other = `${path}-small`;
    const t = await openSqliteStorage(other, { walPreallocateBytes: 0 });
    t.append(ents(1, 3, 1));
    assert.ok(statSync(`${other}-wal`).size < 1 << 16);
    t.close();
  });
});

test("SqliteStorage cuts a stored batch when an append replaces its tail", async () => {
  await withTemp(async (path) => {
    let s = await openSqliteStorage(path, { cacheEntriesMax: 0 });
    s.append(ents(1, 10, 1));
    s.append(ents(11, 20, 1));
    s.append(ents(6, 12, 2)); // cuts the first batch after 5, drops the second
    const want = [...ents(1, 5, 1), ...ents(6, 12, 2)];
    assert.deepEqual(s.entries(1, 13, Infinity), want);
    assert.equal(s.term(5), 1);
    assert.equal(s.term(6), 2);
    s.compact(7); // the batch 6..12 now starts below the compacted position
    s.append(ents(8, 9, 3)); // cuts it after 7: only compacted entries stay in it
    assert.deepEqual(s.entries(8, 10, Infinity), ents(8, 9, 3));
    s.close();
    s = await openSqliteStorage(path, { create: false, cacheEntriesMax: 0 });
    assert.equal(s.firstIndex(), 8);
    assert.equal(s.lastIndex(), 9);
    assert.equal(s.term(7), 2);
    assert.deepEqual(s.entries(8, 10, Infinity), ents(8, 9, 3));
    s.close();
  });
});

for (const writer of ["inline", "worker"] as const) {
  const on = writer === "worker" ? "SqliteStorage with a writer thread" : "SqliteStorage";
  test(`RaftNode on ${on} restarts from its file with the same applied commands`, {
    timeout: 30_000,
  }, async () => {
    await withTemp(async (path) => {
      const run = async (proposals: string[]): Promise<string[]> => {
        // A small cache: with a writer thread, reads below it go to the file.
        const storage = await openSqliteStorage(path, { writer, cacheEntriesMax: 4 });
        const log: string[] = [];
        const sm: StateMachine<number> = {
          apply: (cmds) => cmds.map((c) => log.push(new TextDecoder().decode(c.data))),
          snapshot: () => enc.encode(JSON.stringify(log)),
          restore: (data) => {
            log.splice(0, log.length, ...JSON.parse(new TextDecoder().decode(data)));
          },
        };
        const net = new MemoryNetwork();
        const node = await RaftNode.start({
          id: 1,
          peers: [1],
          storage,
          transport: net.connect(1),
          stateMachine: sm,
          tickMs: 10,
          snapshotEntries: 20,
          snapshotCatchUpEntries: 5,
        });
        try {
          await node.waitForLeader();
          // Concurrent proposals: many in flight while a write is.
          const results = await Promise.all(proposals.map((p) => node.propose(enc.encode(p))));
          assert.equal(results.length, proposals.length);
          // A linearizable read: everything before it is applied.
          await node.read();
          return log.slice();
        } finally {
          await node.close();
          net.close();
          await storage.close();
        }
      };
      const first = Array.from({ length: 50 }, (_, k) => `a${k}`);
      const log1 = await run(first);
      // Proposed in this order from one process: applied in it.
      assert.deepEqual(log1, first);
      const s = await openSqliteStorage(path);
      assert.ok(s.snapshot().metadata.index > 0, "the driver took a snapshot");
      assert.ok(s.firstIndex() > 1, "and compacted the log");
      s.close();
      const second = ["b0", "b1"];
      assert.deepEqual(await run(second), [...first, ...second]);
    });
  });
}

test("SqliteStorage refuses to open a file whose snapshot data lost or gained a chunk, and to read one that changed", async () => {
  const damage: { name: string; sql: string; want: RegExp; onRead?: boolean }[] = [
    {
      name: "changed",
      sql: "UPDATE raft_snapshot_chunk SET bytes = zeroblob(length(bytes)) WHERE seq = 1",
      want: /fails its checksum/,
      onRead: true,
    },
    {
      name: "lost",
      sql: "DELETE FROM raft_snapshot_chunk WHERE seq = 2",
      want: /misses chunks|has 2 of its 3 chunks/,
    },
    {
      name: "gained",
      sql:
        "INSERT INTO raft_snapshot_chunk SELECT data_id, 3, bytes FROM raft_snapshot_chunk WHERE seq = 0",
      want: /has 4 of its 3 chunks/,
    },
    {
      name: "shortened",
      sql: "UPDATE raft_snapshot_chunk SET bytes = substr(bytes, 1, 10) WHERE seq = 2",
      want: /has \d+ of its \d+ bytes/,
    },
  ];
  for (const d of damage) {
    await withTemp(async (path) => {
      const s = await openSqliteStorage(path);
      s.append(ents(1, 5, 1));
      const st = s.snapshotChunks.stage();
      const data = new Uint8Array(2 * (1 << 20) + 100).map((_, i) => i * 7);
      await st.write(data);
      const desc = await st.finish();
      s.createSnapshot(
        5,
        { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
        enc.encode("h"),
        desc,
      );
      s.close();
      const db = await openSqliteDatabase(path);
      db.exec(d.sql);
      db.close();
      const refused = (e: unknown): boolean =>
        e instanceof SqliteStorageError && e.code === "corrupt_record" && d.want.test(e.message);
      if (d.onRead !== true) {
        await assert.rejects(openSqliteStorage(path, { create: false }), refused, d.name);
        return;
      }
      // Opening reads no snapshot data: the checksum fails when it is read.
      const reopened = await openSqliteStorage(path, { create: false });
      try {
        await assert.rejects(
          async () => {
            for await (const _ of reopened.snapshotChunks.read(desc)) { /* read through */ }
          },
          refused,
          d.name,
        );
      } finally {
        reopened.close();
      }
    });
  }
});
