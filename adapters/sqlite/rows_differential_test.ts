/**
 * A seeded differential run of `SqliteStorage` (one row per write) against
 * `MemoryStorage`, aimed at the row layout: appends that cut a row inside
 * it or at its boundary, appends that start at or below the compacted
 * position, rows that span the compacted position, compactions at a row's
 * last index, snapshot installs followed by appends, and reopens after any
 * of them, with caches of 0, 3 and 4096 entries (0: every read decodes a
 * row). After every step it compares everything the read side shows, and
 * after every reopen it checks the rows on disk against the layout the
 * design prescribes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeEntry, encodeEntryFrames, encodeFrame } from "../../core/codec.ts";
import { newRand, randomIntN } from "../../core/rand.ts";
import { cloneSnapshot, MemoryStorage } from "../../core/storage.ts";
import {
  type ConfState,
  type Entry,
  type HardState,
  newConfState,
  newEntry,
  newSnapshot,
  type Snapshot,
} from "../../core/types.ts";
import { viewOf } from "../../testing/storage_check.ts";
import { openSqliteDatabase, openSqliteStorage, SqliteStorage, SqliteStorageError } from "./mod.ts";
import { tempDir, withRawDatabase, withTempDir } from "./_test_util.ts";

/** A row of the log as the design lays them out: `[first, last]`. */
type Row = [number, number];

/** What a call returned or threw, in a form `deepEqual` compares. */
type Outcome = { ok: unknown } | { threw: string };

function outcome(f: () => unknown): Outcome {
  try {
    return { ok: f() };
  } catch (e) {
    if (e instanceof SqliteStorageError) {
      // Never expected: MemoryStorage has no such error.
      throw e;
    }
    return { threw: (e as Error).constructor.name };
  }
}

function plainEntries(ents: Entry[]): [number, number, number, number[]][] {
  return ents.map((e) => [e.index, e.term, e.type, [...e.data]]);
}

function copyModel(m: MemoryStorage): MemoryStorage {
  const c = new MemoryStorage();
  c.hardState = { ...m.hardState };
  c.snap = cloneSnapshot(m.snap);
  c.ents = m.ents.slice();
  return c;
}

/**
 * The rows the design keeps for a log: one per write call; an append cuts
 * the row holding its first index (or drops it when all it keeps is
 * compacted), a compaction drops rows that end at or before its index, a
 * snapshot drops them all.
 */
class RowLayout {
  rows: Row[] = [];

  /** Returns how the append at `start` met the rows: "end", "boundary", "inside" or "spanning". */
  append(start: number, last: number, offset: number): string {
    let kind = "end";
    const kept: Row[] = [];
    for (const [f, l] of this.rows) {
      if (f >= start) {
        if (f === start) kind = "boundary";
        continue;
      }
      if (l >= start) {
        if (start - 1 <= offset) {
          kind = "spanning";
          continue;
        }
        kind = "inside";
        kept.push([f, start - 1]);
        continue;
      }
      kept.push([f, l]);
    }
    kept.push([start, last]);
    this.rows = kept;
    return kind;
  }

  /** Returns whether `i` was a row's last index, inside a row, or between rows. */
  compact(i: number): string {
    let kind = "none";
    for (const [f, l] of this.rows) {
      if (l === i) kind = "row end";
      else if (f <= i && i < l) kind = "inside";
    }
    this.rows = this.rows.filter(([, l]) => l > i);
    return kind;
  }

  clear(): void {
    this.rows = [];
  }
}

interface Run {
  steps: number;
  seen: Map<string, number>;
}

async function differentialRun(
  seed: number,
  cacheEntriesMax: number,
  steps: number,
): Promise<Run> {
  const tmp = tempDir();
  const path = tmp.file("node.db");
  const rand = newRand(seed);
  const int = (n: number): number => randomIntN(rand, n);
  const seen = new Map<string, number>();
  // After these, the next step often reopens, to check what they left on disk.
  const reopenAfter = new Set([
    "append boundary",
    "append inside",
    "append spanning",
    "append of compacted entries only",
    "compact at row end",
    "compact at inside",
    "install then append",
    "install",
    "createSnapshot",
  ]);
  /** The kind of the last write, and whether the next step reopens. */
  let previous = "open";
  let reopenNext = false;
  const count = (kind: string): void => {
    seen.set(kind, (seen.get(kind) ?? 0) + 1);
    if (kind.startsWith("reopen")) return;
    previous = kind;
    if (reopenAfter.has(kind) && int(2) === 0) reopenNext = true;
  };
  // The file is reopened often: growing its WAL each time costs time, not coverage.
  const open = (create: boolean, walPreallocateBytes = 0): Promise<SqliteStorage> =>
    openSqliteStorage(path, { create, cacheEntriesMax, walPreallocateBytes });
  let s = await open(true, 1 << 16);
  let model = new MemoryStorage();
  const layout = new RowLayout();
  let serial = 0;
  let term = 1;

  const ent = (index: number, t: number): Entry => {
    serial++;
    const data = new Uint8Array(int(4) === 0 ? 0 : 1 + int(40));
    for (let k = 0; k < data.length; k++) data[k] = (serial * 31 + k * 7 + index) & 0xff;
    return newEntry({ index, term: t, type: int(8) === 0 ? 1 : 0, data });
  };
  const confState = (): ConfState => newConfState({ voters: [1, 2, 3].slice(0, 1 + int(3)) });

  /** Compares everything the read side shows; reads in random order so the kept row varies. */
  const compare = (label: string): void => {
    const m = model;
    assert.equal(s.firstIndex(), m.firstIndex(), `${label}: firstIndex`);
    assert.equal(s.lastIndex(), m.lastIndex(), `${label}: lastIndex`);
    assert.deepEqual(s.initialState(), m.initialState(), `${label}: initialState`);
    const snap = (x: Snapshot) => ({ ...x.metadata, data: [...x.data] });
    assert.deepEqual(snap(s.snapshot()), snap(m.snapshot()), `${label}: snapshot`);
    const first = m.firstIndex();
    const last = m.lastIndex();
    const reads: (() => void)[] = [];
    for (let i = Math.max(0, first - 3); i <= last + 2; i++) {
      reads.push(() =>
        assert.deepEqual(
          outcome(() => s.term(i)),
          outcome(() => m.term(i)),
          `${label}: term(${i})`,
        )
      );
    }
    for (let k = 0; k < 8; k++) {
      const lo = Math.max(0, first - 2) + int(last - first + 5);
      const hi = Math.max(0, lo - 1 + int(last + 4 - lo + 1));
      const max = [0, Infinity, int(200), int(600)][int(4)]!;
      reads.push(() =>
        assert.deepEqual(
          outcome(() => plainEntries(s.entries(lo, hi, max))),
          outcome(() => plainEntries(m.entries(lo, hi, max))),
          `${label}: entries(${lo}, ${hi}, ${max})`,
        )
      );
    }
    if (last >= first) {
      reads.push(() =>
        assert.deepEqual(
          plainEntries(s.entries(first, last + 1, Infinity)),
          plainEntries(m.entries(first, last + 1, Infinity)),
          `${label}: the whole log`,
        )
      );
    }
    for (let k = reads.length - 1; k > 0; k--) {
      const j = int(k + 1);
      [reads[k], reads[j]] = [reads[j]!, reads[k]!];
    }
    for (const r of reads) r();
  };

  /**
   * Runs a write on both. The model's steps run on a copy; when the model
   * throws, or ends with a commit index past its last index (which
   * SqliteStorage refuses), the storage must refuse the write with the same
   * error type and change nothing.
   */
  const write = (
    label: string,
    onModel: (m: MemoryStorage) => void,
    onStorage: (t: SqliteStorage) => void,
  ): boolean => {
    const next = copyModel(model);
    let want: string | undefined;
    try {
      onModel(next);
      if (next.hardState.commit > next.lastIndex()) want = "RaftInvariantError";
    } catch (e) {
      want = (e as Error).constructor.name;
    }
    const got = outcome(() => onStorage(s));
    if (want === undefined) {
      assert.deepEqual(got, { ok: undefined }, label);
      model = next;
      return true;
    }
    assert.deepEqual(got, { threw: want }, label);
    count(`refused ${want}`);
    return false;
  };

  const offset = (): number => model.firstIndex() - 1;

  for (let step = 0; step < steps; step++) {
    const first = model.firstIndex();
    const last = model.lastIndex();
    const commit = model.hardState.commit;
    const snapIndex = model.snap.metadata.index;
    const r = reopenNext ? 80 : int(100);
    reopenNext = false;
    let label: string;
    if (r < 40 || (last - first > 120 && r < 50)) {
      // Append 1..20 entries from somewhere in [offset - 3, last + 1]; a
      // start below last replaces the entries from there (same or new term).
      const lowest = Math.max(0, first - 4);
      const start = int(5) === 0
        ? lowest + int(first - lowest + 1)
        : Math.max(lowest, last + 1 - (int(3) === 0 ? int(last - lowest + 2) : 0));
      const n = 1 + int(20);
      if (start <= last && int(2) === 0) term++;
      const ents = Array.from({ length: n }, (_, k) => ent(start + k, term));
      label = `append ${start}..${start + n - 1}`;
      const before = offset();
      if (write(label, (m) => m.append(ents), (t) => t.append(ents))) {
        const lastNew = start + n - 1;
        if (lastNew > before) {
          const from = Math.max(start, before + 1);
          const kind = layout.append(from, lastNew, before);
          if (start <= before) count("append from at or below the compacted position");
          count(`append ${kind}`);
        } else {
          count("append of compacted entries only");
        }
      }
    } else if (r < 48) {
      const c = int(5) === 0 ? last + 1 : int(last + 1);
      const hs: HardState = { term, vote: int(4), commit: c };
      label = `setHardState(commit ${c})`;
      if (write(label, (m) => m.setHardState(hs), (t) => t.setHardState(hs))) count("hardState");
    } else if (r < 60) {
      const i = first - 2 + int(last - first + 4);
      label = `compact(${i})`;
      if (write(label, (m) => m.compact(i), (t) => t.compact(i))) {
        count(`compact at ${layout.compact(i)}`);
      }
    } else if (r < 68) {
      const i = Math.max(0, snapIndex - 1) + int(Math.max(1, last - snapIndex + 3));
      const cs = int(2) === 0 ? confState() : undefined;
      const data = new Uint8Array([i & 0xff, 7, 7]);
      label = `createSnapshot(${i})`;
      if (
        write(label, (m) => void m.createSnapshot(i, cs, data), (t) => {
          const got = t.createSnapshot(i, cs, data);
          assert.deepEqual(got, t.snapshot(), "createSnapshot returns the new snapshot");
        })
      ) {
        count("createSnapshot");
      }
    } else if (r < 76) {
      // Install a snapshot; usually with a HardState and entries in the same
      // save (the driver's path), sometimes alone.
      const together = int(3) !== 0;
      // An empty snapshot (index 0) in a save is ignored, so a save installs from 1.
      const i = Math.max(together ? 1 : 0, snapIndex - 1) +
        int(Math.max(1, last - snapIndex + 8));
      term += int(2);
      const snap = newSnapshot({ index: i, term, confState: confState() });
      snap.data = new Uint8Array([i & 0xff, 1, 2, 3]);
      const n = together ? int(8) : 0;
      const from = i + 1 - int(3);
      const ents = Array.from({ length: n }, (_, k) => ent(from + k, term));
      const hs: HardState | undefined = together
        ? { term, vote: 0, commit: i + int(2) }
        : undefined;
      label = `install snapshot ${i} with ${n} entries from ${from}`;
      const applied = write(label, (m) => {
        m.applySnapshot(snap);
        m.append(ents);
        if (hs !== undefined) m.setHardState(hs);
      }, (t) => {
        if (together) t.save({ snapshot: snap, entries: ents, hardState: hs, mustSync: true });
        else t.applySnapshot(snap);
      });
      if (applied) {
        layout.clear();
        if (n > 0 && from + n - 1 > i) layout.append(Math.max(from, i + 1), from + n - 1, i);
        count(n > 0 && from + n - 1 > i ? "install then append" : "install");
      }
    } else if (r < 88) {
      label = "reopen";
      s.close();
      const rows = await withRawDatabase(
        path,
        (_db, q) =>
          q("SELECT first, last FROM raft_log ORDER BY first").map((row) => {
            const o = row as { first: number | bigint; last: number | bigint };
            return [Number(o.first), Number(o.last)] as Row;
          }),
      );
      assert.deepEqual(rows, layout.rows, `step ${step}: the rows on disk`);
      s = await open(false);
      count("reopen");
      count(`reopen after ${previous}`);
    } else {
      // A commit-only save, not synced.
      const c = Math.min(last, commit + int(3));
      const hs: HardState = { term, vote: 1, commit: c };
      label = `unsynced save(commit ${c})`;
      if (
        write(
          label,
          (m) => m.setHardState(hs),
          (t) => t.save({ hardState: hs, entries: [], snapshot: undefined, mustSync: false }),
        )
      ) {
        count("unsynced hardState");
      }
    }
    compare(`seed ${seed}, cache ${cacheEntriesMax}, step ${step}: ${label}`);
  }
  s.close();
  tmp.remove();
  return { steps, seen };
}

for (const cacheEntriesMax of [0, 3, 4096]) {
  test(
    `SqliteStorage rows match MemoryStorage over a seeded random run (cache ${cacheEntriesMax})`,
    {
      timeout: 60_000,
    },
    async () => {
      const run = await differentialRun(0x5eed + cacheEntriesMax, cacheEntriesMax, 600);
      // The run met every case of the row layout it is meant to cover.
      for (
        const kind of [
          "append end",
          "append boundary",
          "append inside",
          "append spanning",
          "append from at or below the compacted position",
          "append of compacted entries only",
          "compact at row end",
          "compact at inside",
          "install then append",
          "install",
          "reopen",
          "reopen after append boundary",
          "reopen after append inside",
          "reopen after append spanning",
          "reopen after compact at row end",
          "reopen after compact at inside",
          "reopen after install then append",
          "reopen after createSnapshot",
          "createSnapshot",
          "refused RaftInvariantError",
          "refused CompactedError",
          "refused SnapOutOfDateError",
        ]
      ) {
        assert.ok(
          (run.seen.get(kind) ?? 0) > 0,
          `no "${kind}" in the run: ${JSON.stringify([...run.seen])}`,
        );
      }
    },
  );
}

test("SqliteStorage opens a log of more rows than one scan reads, with rows wholly below, and one across, the compacted position", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("node.db");
    (await openSqliteStorage(path, { walPreallocateBytes: 0 })).close();
    // 2500 entries in rows of 1 to 3 entries (two scans and more), written
    // directly; the compacted position 1200 lies inside a row, and the rows
    // before it stay (a compaction would have deleted them; opening ignores them).
    const rand = newRand(7);
    const all: Entry[] = [];
    const rows: Row[] = [];
    for (let i = 1; i <= 2500;) {
      const last = Math.min(2500, i + randomIntN(rand, 3));
      rows.push([i, last]);
      for (let j = i; j <= last; j++) {
        all.push(newEntry({ index: j, term: 1 + (j >> 8), data: new Uint8Array([j & 0xff]) }));
      }
      i = last + 1;
    }
    assert.ok(rows.length > 1024, `${rows.length} rows`);
    let compacted = 1200;
    while (!rows.some(([f, l]) => f < compacted && compacted < l)) compacted++;
    await withRawDatabase(path, (db, q) => {
      db.exec("BEGIN");
      for (const [f, l] of rows) {
        q(
          "INSERT INTO raft_log (first, last, record) VALUES (?, ?, ?)",
          f,
          l,
          encodeEntryFrames(all, f - 1, l),
        );
      }
      q(
        "UPDATE raft_meta SET record = ? WHERE key = 'log_start'",
        encodeFrame(encodeEntry(newEntry({ index: compacted, term: all[compacted - 1]!.term }))),
      );
      db.exec("COMMIT");
    });
    const model = new MemoryStorage();
    model.append(all);
    model.compact(compacted);
    for (const cacheEntriesMax of [0, 3, 4096]) {
      const s = await openSqliteStorage(path, {
        create: false,
        cacheEntriesMax,
        walPreallocateBytes: 0,
      });
      try {
        assert.deepEqual(viewOf(s), viewOf(model), `cache ${cacheEntriesMax}`);
        assert.equal(s.term(compacted), model.term(compacted));
      } finally {
        s.close();
      }
    }
  });
});

test("SqliteStorage reports a row damaged after it opened, when it reads or cuts it", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("node.db");
    const raw = await openSqliteDatabase(path);
    // Not exclusive, no cache: every read below the tail goes to the file,
    // which the same connection damages behind the storage's back.
    const s = new SqliteStorage(raw, {
      path,
      cacheEntriesMax: 0,
      walPreallocateBytes: 0,
      exclusive: false,
    });
    const ents = (from: number, to: number): Entry[] =>
      Array.from(
        { length: to - from + 1 },
        (_, k) => newEntry({ index: from + k, term: 1, data: new Uint8Array(8).fill(from + k) }),
      );
    s.append(ents(1, 5));
    s.append(ents(6, 10));
    s.append(ents(11, 15));
    s.append(ents(16, 20));
    const recordOf = (first: number): Uint8Array => {
      const st = raw.prepare("SELECT record FROM raft_log WHERE first = ?");
      try {
        return new Uint8Array((st.get(first) as { record: Uint8Array }).record);
      } finally {
        st.finalize?.();
      }
    };
    const put = (first: number, record: Uint8Array | string): void => {
      const st = raw.prepare("UPDATE raft_log SET record = ? WHERE first = ?");
      try {
        st.run(record, first);
      } finally {
        st.finalize?.();
      }
    };
    const refused = (code: string, index: number) => (e: unknown): boolean => {
      assert.ok(e instanceof SqliteStorageError, String(e));
      assert.equal(e.code, code, e.message);
      assert.equal(e.index, index, e.message);
      assert.equal(e.path, path);
      return true;
    };
    // A flipped byte in the third frame of the row 6..10: reading any entry
    // of the row fails on the entry whose frame fails.
    const bad = recordOf(6);
    const third = 2 * (bad.length / 5) + 10;
    bad[third] = bad[third]! ^ 1;
    put(6, bad);
    assert.throws(() => s.entries(6, 7, Infinity), refused("corrupt_record", 8));
    assert.throws(() => s.term(10), refused("corrupt_record", 8));
    assert.throws(() => s.entries(2, 12, Infinity), refused("corrupt_record", 8));
    // A record that is not a blob.
    put(11, "text");
    assert.throws(() => s.term(12), refused("corrupt_record", 11));
    // A missing row.
    raw.exec("DELETE FROM raft_log WHERE first = 16");
    assert.throws(() => s.entries(17, 19, Infinity), refused("log_gap", 17));
    assert.throws(() => s.term(20), refused("log_gap", 20));
    // The rows that are intact still read.
    assert.deepEqual(s.entries(1, 6, Infinity), ents(1, 5));
    // An append that must cut the damaged row fails the write, changes
    // nothing on disk or in the view, and refuses writes from then on.
    const before = { first: s.firstIndex(), last: s.lastIndex(), start: recordOf(6) };
    assert.throws(
      () => s.append(ents(9, 9)),
      (e: unknown): boolean => {
        assert.ok(e instanceof SqliteStorageError && e.code === "write_failed", String(e));
        const cause = e.cause;
        assert.ok(cause instanceof SqliteStorageError, String(cause));
        assert.equal(cause.code, "corrupt_record");
        assert.equal(cause.index, 8);
        return true;
      },
    );
    assert.deepEqual(
      { first: s.firstIndex(), last: s.lastIndex(), start: recordOf(6) },
      before,
    );
    assert.throws(
      () => s.append(ents(21, 21)),
      (e: unknown) => e instanceof SqliteStorageError && e.code === "write_failed",
    );
    s.close();
  });
});

test("SqliteStorage refuses to open a log whose rows overlap, even where they are compacted away", async () => {
  // A row wholly below the compacted position, inside the row across it:
  // opening used to skip it, and then every read below the cache of the
  // entries after it picked it as "the last row starting at or before i"
  // and failed with log_gap, though the file had opened as healthy.
  await withTempDir(async (tmp) => {
    const path = tmp.file("node.db");
    (await openSqliteStorage(path, { walPreallocateBytes: 0 })).close();
    const all = Array.from({ length: 10 }, (_, k) => newEntry({ index: k + 1, term: 1 }));
    await withRawDatabase(path, (_db, q) => {
      q("INSERT INTO raft_log (first, last, record) VALUES (1, 10, ?)", encodeEntryFrames(all));
      q(
        "INSERT INTO raft_log (first, last, record) VALUES (3, 4, ?)",
        encodeEntryFrames(all, 2, 4),
      );
      q(
        "UPDATE raft_meta SET record = ? WHERE key = 'log_start'",
        encodeFrame(encodeEntry(newEntry({ index: 5, term: 1 }))),
      );
    });
    await assert.rejects(
      () => openSqliteStorage(path, { create: false, cacheEntriesMax: 0, walPreallocateBytes: 0 }),
      (e: unknown): boolean => {
        assert.ok(e instanceof SqliteStorageError, String(e));
        assert.equal(e.code, "inconsistent", e.message);
        assert.equal(e.index, 3, e.message);
        assert.match(e.message, /entry 3 is stored twice/);
        return true;
      },
    );
    // Without the stray row the same file opens, and reads across the compacted position.
    await withRawDatabase(path, (db) => db.exec("DELETE FROM raft_log WHERE first = 3"));
    const s = await openSqliteStorage(path, {
      create: false,
      cacheEntriesMax: 0,
      walPreallocateBytes: 0,
    });
    try {
      assert.deepEqual([s.firstIndex(), s.lastIndex()], [6, 10]);
      assert.deepEqual(s.entries(6, 11, Infinity), all.slice(5));
    } finally {
      s.close();
    }
  });
});
