import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cloneSnapshot, MemoryStorage } from "./storage.ts";
import {
  type Entry,
  newConfState,
  newEntry,
  newHardState,
  newSnapshot,
  type Snapshot,
} from "./types.ts";
import { CompactedError, SnapOutOfDateError, UnavailableError } from "./errors.ts";
import { RaftInvariantError } from "./_assert.ts";
import { entryIds, recordingLogger } from "../tests/_util.ts";
import { entsAt } from "../tests/raft/network.ts";
import { entrySize } from "./util.ts";

/** A storage whose log is exactly `log` (log[0] being the dummy), as etcd's tests build it. */
function storageWith(log: Entry[]): MemoryStorage {
  const s = new MemoryStorage();
  s.ents = log.slice();
  return s;
}

describe("MemoryStorage.term()", () => {
  const cases: Array<{ i: number; werr?: typeof CompactedError; wterm: number }> = [
    { i: 2, werr: CompactedError, wterm: 0 },
    { i: 3, wterm: 3 },
    { i: 4, wterm: 4 },
    { i: 5, wterm: 5 },
    { i: 6, werr: UnavailableError, wterm: 0 },
  ];
  for (const tt of cases) {
    test(`term(${tt.i}) of log [3..5] with terms 3,4,5`, () => {
      const s = storageWith(entsAt(3, 3, 4, 5));
      if (tt.werr !== undefined) assert.throws(() => s.term(tt.i), tt.werr);
      else assert.equal(s.term(tt.i), tt.wterm);
    });
  }
});

describe("MemoryStorage.entries()", () => {
  const log = entsAt(3, 3, 4, 5, 6);
  const sz = (k: number): number => entrySize(log[k]!);
  const cases: Array<
    { name: string; lo: number; hi: number; max: number; compacted?: boolean; w?: Entry[] }
  > = [
    { name: "lo before the dummy", lo: 2, hi: 6, max: Infinity, compacted: true },
    { name: "lo at the dummy", lo: 3, hi: 4, max: Infinity, compacted: true },
    { name: "one entry", lo: 4, hi: 5, max: Infinity, w: entsAt(4, 4) },
    { name: "two entries", lo: 4, hi: 6, max: Infinity, w: entsAt(4, 4, 5) },
    { name: "up to the end", lo: 4, hi: 7, max: Infinity, w: entsAt(4, 4, 5, 6) },
    { name: "zero limit still returns one", lo: 4, hi: 7, max: 0, w: entsAt(4, 4) },
    { name: "limit of exactly two", lo: 4, hi: 7, max: sz(1) + sz(2), w: entsAt(4, 4, 5) },
    {
      name: "limit of two and a half",
      lo: 4,
      hi: 7,
      max: sz(1) + sz(2) + Math.floor(sz(3) / 2),
      w: entsAt(4, 4, 5),
    },
    {
      name: "limit one byte short of three",
      lo: 4,
      hi: 7,
      max: sz(1) + sz(2) + sz(3) - 1,
      w: entsAt(4, 4, 5),
    },
    {
      name: "limit of exactly three",
      lo: 4,
      hi: 7,
      max: sz(1) + sz(2) + sz(3),
      w: entsAt(4, 4, 5, 6),
    },
  ];
  for (const tt of cases) {
    test(`entries(${tt.lo}, ${tt.hi}): ${tt.name}`, () => {
      const s = storageWith(log);
      if (tt.compacted) {
        assert.throws(() => s.entries(tt.lo, tt.hi, tt.max), CompactedError);
      } else {
        assert.deepEqual(entryIds(s.entries(tt.lo, tt.hi, tt.max)), entryIds(tt.w!));
      }
    });
  }

  test("entries() throws UnavailableError when only the dummy is left", () => {
    const s = storageWith(entsAt(3, 3));
    assert.throws(() => s.entries(4, 4, Infinity), UnavailableError);
  });

  test("entries() panics when hi is past lastIndex+1", () => {
    const logger = recordingLogger();
    const s = new MemoryStorage(logger);
    s.ents = entsAt(3, 3, 4, 5);
    assert.throws(() => s.entries(4, 7, Infinity), RaftInvariantError);
    assert.deepEqual(logger.lines, ["PANIC entries' hi(7) is out of bound lastindex(5)"]);
  });

  test("entries() returns a copy: appending to it does not change the storage", () => {
    const s = storageWith(entsAt(3, 3, 4, 5));
    const got = s.entries(4, 5, Infinity);
    got.push(newEntry({ index: 5, term: 99 }));
    assert.equal(s.term(5), 5);
    assert.equal(s.lastIndex(), 5);
  });
});

test("MemoryStorage.lastIndex() follows appends", () => {
  const s = storageWith(entsAt(3, 3, 4, 5));
  assert.equal(s.lastIndex(), 5);
  s.append(entsAt(6, 5));
  assert.equal(s.lastIndex(), 6);
});

test("MemoryStorage.firstIndex() follows compaction", () => {
  const s = storageWith(entsAt(3, 3, 4, 5));
  assert.equal(s.firstIndex(), 4);
  s.compact(4);
  assert.equal(s.firstIndex(), 5);
});

describe("MemoryStorage.compact()", () => {
  const cases: Array<
    { i: number; compacted: boolean; windex: number; wterm: number; wlen: number }
  > = [
    { i: 2, compacted: true, windex: 3, wterm: 3, wlen: 3 },
    { i: 3, compacted: true, windex: 3, wterm: 3, wlen: 3 },
    { i: 4, compacted: false, windex: 4, wterm: 4, wlen: 2 },
    { i: 5, compacted: false, windex: 5, wterm: 5, wlen: 1 },
  ];
  for (const tt of cases) {
    test(`compact(${tt.i}) of log [3..5]`, () => {
      const s = storageWith(entsAt(3, 3, 4, 5));
      if (tt.compacted) assert.throws(() => s.compact(tt.i), CompactedError);
      else s.compact(tt.i);
      assert.equal(s.ents[0]!.index, tt.windex);
      assert.equal(s.ents[0]!.term, tt.wterm);
      assert.equal(s.ents.length, tt.wlen);
      assert.equal(s.firstIndex(), tt.windex + 1);
    });
  }

  test("compact() past the last index panics", () => {
    const logger = recordingLogger();
    const s = new MemoryStorage(logger);
    s.ents = entsAt(3, 3, 4, 5);
    assert.throws(() => s.compact(6), RaftInvariantError);
    assert.deepEqual(logger.lines, ["PANIC compact 6 is out of bound lastindex(5)"]);
  });

  test("compact() keeps the new dummy's data out and leaves the snapshot alone", () => {
    const s = new MemoryStorage();
    s.append([
      newEntry({ index: 1, term: 1, data: new Uint8Array([1, 2]) }),
      newEntry({ index: 2, term: 1 }),
    ]);
    s.compact(1);
    assert.equal(s.ents[0]!.data.length, 0);
    assert.equal(s.snapshot().metadata.index, 0);
  });
});

describe("MemoryStorage.createSnapshot()", () => {
  const cs = newConfState({ voters: [1, 2, 3] });
  const data = new TextEncoder().encode("data");
  for (const i of [4, 5]) {
    test(`createSnapshot(${i}) of log [3..5]`, () => {
      const s = storageWith(entsAt(3, 3, 4, 5));
      const snap = s.createSnapshot(i, cs, data);
      const want = newSnapshot({
        data,
        index: i,
        term: i,
        confState: newConfState({ voters: [1, 2, 3] }),
      });
      assert.deepEqual(snap, want);
      assert.deepEqual(s.snapshot(), want);
      // The ConfState was copied.
      cs.voters.push(4);
      assert.deepEqual(s.snapshot().metadata.confState.voters, [1, 2, 3]);
      cs.voters.pop();
    });
  }

  test("createSnapshot() at or below the stored snapshot is out of date", () => {
    const s = storageWith(entsAt(3, 3, 4, 5));
    s.createSnapshot(4, cs, data);
    assert.throws(() => s.createSnapshot(4, cs, data), SnapOutOfDateError);
    assert.throws(() => s.createSnapshot(3, cs, data), SnapOutOfDateError);
  });

  test("createSnapshot() without a ConfState keeps the stored one", () => {
    const s = storageWith(entsAt(3, 3, 4, 5));
    s.createSnapshot(4, cs, data);
    const snap = s.createSnapshot(5, undefined, data);
    assert.deepEqual(snap.metadata.confState.voters, [1, 2, 3]);
    assert.equal(snap.metadata.term, 5);
  });

  test("createSnapshot() past the last index panics", () => {
    const s = storageWith(entsAt(3, 3, 4, 5));
    assert.throws(() => s.createSnapshot(6, cs, data), RaftInvariantError);
  });
});

describe("MemoryStorage.append()", () => {
  const cases: Array<{ name: string; entries: Entry[]; w: Entry[] }> = [
    { name: "all compacted: no-op", entries: entsAt(1, 1, 2), w: entsAt(3, 3, 4, 5) },
    { name: "same entries", entries: entsAt(3, 3, 4, 5), w: entsAt(3, 3, 4, 5) },
    { name: "conflict replaces the tail", entries: entsAt(3, 3, 6, 6), w: entsAt(3, 3, 6, 6) },
    { name: "overlap and extend", entries: entsAt(3, 3, 4, 5, 5), w: entsAt(3, 3, 4, 5, 5) },
    {
      name: "skip compacted input, truncate and append",
      entries: entsAt(2, 3, 3, 5),
      w: entsAt(3, 3, 5),
    },
    { name: "truncate and append", entries: entsAt(4, 5), w: entsAt(3, 3, 5) },
    { name: "direct append", entries: entsAt(6, 5), w: entsAt(3, 3, 4, 5, 5) },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const s = storageWith(entsAt(3, 3, 4, 5));
      s.append(tt.entries);
      assert.deepEqual(entryIds(s.ents), entryIds(tt.w));
    });
  }

  test("append() of nothing is a no-op", () => {
    const s = storageWith(entsAt(3, 3, 4, 5));
    s.append([]);
    assert.deepEqual(entryIds(s.ents), entryIds(entsAt(3, 3, 4, 5)));
  });

  test("append() with a gap panics", () => {
    const logger = recordingLogger();
    const s = new MemoryStorage(logger);
    s.ents = entsAt(3, 3, 4, 5);
    assert.throws(() => s.append(entsAt(7, 5)), RaftInvariantError);
    assert.deepEqual(logger.lines, ["PANIC missing log entry [last: 5, append at: 7]"]);
  });

  test("append() of non-consecutive entries panics", () => {
    const s = storageWith(entsAt(3, 3, 4, 5));
    assert.throws(
      () => s.append([newEntry({ index: 6, term: 5 }), newEntry({ index: 8, term: 5 })]),
      RaftInvariantError,
    );
  });

  test("append() does not disturb arrays handed out earlier", () => {
    const s = storageWith(entsAt(3, 3, 4, 5));
    const before = s.entries(4, 6, Infinity);
    s.append(entsAt(4, 7, 7, 7));
    assert.deepEqual(entryIds(before), [[4, 4], [5, 5]]);
    assert.deepEqual(entryIds(s.entries(4, 7, Infinity)), [[4, 7], [5, 7], [6, 7]]);
  });

  test("append() keeps no reference to the caller's array", () => {
    const s = new MemoryStorage();
    const input = entsAt(1, 1, 1);
    s.append(input);
    input.push(newEntry({ index: 3, term: 1 }));
    input.length = 0;
    assert.equal(s.lastIndex(), 2);
  });
});

describe("MemoryStorage.applySnapshot()", () => {
  const cs = newConfState({ voters: [1, 2, 3] });
  const data = new TextEncoder().encode("data");
  const snap = (index: number, term: number): Snapshot =>
    newSnapshot({ data, index, term, confState: cs });

  test("normal case", () => {
    const s = new MemoryStorage();
    s.applySnapshot(snap(4, 4));
    assert.equal(s.firstIndex(), 5);
    assert.equal(s.lastIndex(), 4);
    assert.equal(s.term(4), 4);
    assert.deepEqual(s.snapshot(), snap(4, 4));
    assert.deepEqual(s.initialState().confState, cs);
  });

  test("snapshot out of date", () => {
    const s = new MemoryStorage();
    s.applySnapshot(snap(4, 4));
    assert.throws(() => s.applySnapshot(snap(3, 3)), SnapOutOfDateError);
    assert.throws(() => s.applySnapshot(snap(4, 4)), SnapOutOfDateError);
    assert.equal(s.snapshot().metadata.index, 4);
  });

  test("bootstrap with only a ConfState, then a real snapshot", () => {
    const s = new MemoryStorage();
    s.applySnapshot(snap(0, 0));
    assert.deepEqual(s.initialState().confState.voters, [1, 2, 3]);
    assert.equal(s.firstIndex(), 1);
    s.applySnapshot(snap(2, 1));
    assert.equal(s.firstIndex(), 3);
  });

  test("applySnapshot() rejects a non-integer index", () => {
    const s = new MemoryStorage();
    assert.throws(() => s.applySnapshot(newSnapshot({ index: 1.5 })), RangeError);
  });
});

test("MemoryStorage.initialState() and setHardState()", () => {
  const s = new MemoryStorage();
  assert.deepEqual(s.initialState(), { hardState: newHardState(), confState: newConfState() });
  const hs = newHardState({ term: 3, vote: 2, commit: 1 });
  s.setHardState(hs);
  hs.term = 9;
  assert.deepEqual(s.initialState().hardState, newHardState({ term: 3, vote: 2, commit: 1 }));
});

test("MemoryStorage.snapshot() returns a copy", () => {
  const s = new MemoryStorage();
  s.applySnapshot(newSnapshot({ index: 2, term: 1, confState: newConfState({ voters: [1] }) }));
  const got = s.snapshot();
  got.metadata.index = 7;
  got.metadata.confState.voters.push(2);
  assert.equal(s.snapshot().metadata.index, 2);
  assert.deepEqual(s.snapshot().metadata.confState.voters, [1]);
});

test("cloneSnapshot() copies metadata and shares data", () => {
  const data = new Uint8Array([1, 2, 3]);
  const s = newSnapshot({ data, index: 3, term: 2, confState: newConfState({ learners: [4] }) });
  const c = cloneSnapshot(s);
  assert.deepEqual(c, s);
  assert.equal(c.data, data);
  assert.notEqual(c.metadata.confState.learners, s.metadata.confState.learners);
});
