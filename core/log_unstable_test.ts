import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Unstable } from "./log_unstable.ts";
import { type Entry, newEntry, newSnapshot, type Snapshot } from "./types.ts";
import { RaftInvariantError } from "./_assert.ts";
import type { Logger } from "./logger.ts";
import { entryIds, recordingLogger } from "../tests/_util.ts";
import { entsAt } from "../tests/raft/network.ts";

function snap(index: number, term: number): Snapshot {
  return newSnapshot({ index, term });
}

interface Init {
  entries?: Entry[];
  offset?: number;
  offsetInProgress?: number;
  snapshot?: Snapshot | undefined;
  snapshotInProgress?: boolean;
}

/** Builds an Unstable field by field, as etcd's tests do with a struct literal. */
function mk(init: Init, logger: Logger = recordingLogger()): Unstable {
  const u = new Unstable(init.offset ?? 0, logger);
  u.entries = init.entries ?? [];
  u.offsetInProgress = init.offsetInProgress ?? 0;
  u.snapshot = init.snapshot;
  u.snapshotInProgress = init.snapshotInProgress ?? false;
  return u;
}

describe("Unstable.maybeFirstIndex()", () => {
  const cases: Array<Init & { name: string; w: number | undefined }> = [
    { name: "no snapshot", entries: entsAt(5, 1), offset: 5, w: undefined },
    { name: "empty", entries: [], offset: 0, w: undefined },
    { name: "snapshot and entries", entries: entsAt(5, 1), offset: 5, snapshot: snap(4, 1), w: 5 },
    { name: "snapshot only", entries: [], offset: 5, snapshot: snap(4, 1), w: 5 },
  ];
  for (const tt of cases) {
    test(tt.name, () => assert.equal(mk(tt).maybeFirstIndex(), tt.w));
  }
});

describe("Unstable.maybeLastIndex()", () => {
  const cases: Array<Init & { name: string; w: number | undefined }> = [
    { name: "last in entries", entries: entsAt(5, 1), offset: 5, w: 5 },
    {
      name: "last in entries, with snapshot",
      entries: entsAt(5, 1),
      offset: 5,
      snapshot: snap(4, 1),
      w: 5,
    },
    { name: "last in snapshot", entries: [], offset: 5, snapshot: snap(4, 1), w: 4 },
    { name: "empty", entries: [], offset: 0, w: undefined },
  ];
  for (const tt of cases) {
    test(tt.name, () => assert.equal(mk(tt).maybeLastIndex(), tt.w));
  }
});

describe("Unstable.maybeTerm()", () => {
  const cases: Array<Init & { name: string; index: number; w: number | undefined }> = [
    { name: "term from entries", entries: entsAt(5, 1), offset: 5, index: 5, w: 1 },
    { name: "past the entries", entries: entsAt(5, 1), offset: 5, index: 6, w: undefined },
    { name: "before the entries", entries: entsAt(5, 1), offset: 5, index: 4, w: undefined },
    {
      name: "entries with snapshot",
      entries: entsAt(5, 1),
      offset: 5,
      snapshot: snap(4, 1),
      index: 5,
      w: 1,
    },
    {
      name: "past the entries with snapshot",
      entries: entsAt(5, 1),
      offset: 5,
      snapshot: snap(4, 1),
      index: 6,
      w: undefined,
    },
    {
      name: "term from snapshot",
      entries: entsAt(5, 1),
      offset: 5,
      snapshot: snap(4, 1),
      index: 4,
      w: 1,
    },
    {
      name: "before the snapshot",
      entries: entsAt(5, 1),
      offset: 5,
      snapshot: snap(4, 1),
      index: 3,
      w: undefined,
    },
    {
      name: "snapshot only, after it",
      entries: [],
      offset: 5,
      snapshot: snap(4, 1),
      index: 5,
      w: undefined,
    },
    { name: "snapshot only, at it", entries: [], offset: 5, snapshot: snap(4, 1), index: 4, w: 1 },
    { name: "empty", entries: [], offset: 0, index: 5, w: undefined },
  ];
  for (const tt of cases) {
    test(tt.name, () => assert.equal(mk(tt).maybeTerm(tt.index), tt.w));
  }
});

test("Unstable.restore() replaces entries and snapshot", () => {
  const u = mk({
    entries: entsAt(5, 1),
    offset: 5,
    offsetInProgress: 6,
    snapshot: snap(4, 1),
    snapshotInProgress: true,
  });
  const s = snap(6, 2);
  u.restore(s);
  assert.equal(u.offset, 7);
  assert.equal(u.offsetInProgress, 7);
  assert.equal(u.entries.length, 0);
  assert.deepEqual(u.snapshot, s);
  assert.notEqual(u.snapshot, s);
  assert.equal(u.snapshotInProgress, false);
});

describe("Unstable.nextEntries()", () => {
  const cases: Array<Init & { name: string; w: Entry[] }> = [
    {
      name: "nothing in progress",
      entries: entsAt(5, 1, 1),
      offset: 5,
      offsetInProgress: 5,
      w: entsAt(5, 1, 1),
    },
    {
      name: "partially in progress",
      entries: entsAt(5, 1, 1),
      offset: 5,
      offsetInProgress: 6,
      w: entsAt(6, 1),
    },
    {
      name: "everything in progress",
      entries: entsAt(5, 1, 1),
      offset: 5,
      offsetInProgress: 7,
      w: [],
    },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const u = mk(tt);
      assert.deepEqual(entryIds(u.nextEntries()), entryIds(tt.w));
      assert.equal(u.hasNextEntries(), tt.w.length > 0);
    });
  }

  test("the returned array is not changed by later appends", () => {
    const u = new Unstable(5, recordingLogger());
    u.truncateAndAppend(entsAt(5, 1));
    const got = u.nextEntries();
    u.truncateAndAppend(entsAt(6, 1));
    assert.deepEqual(entryIds(got), [[5, 1]]);
    got.push(newEntry({ index: 99, term: 9 }));
    assert.deepEqual(entryIds(u.entries), [[5, 1], [6, 1]]);
  });
});

describe("Unstable.nextSnapshot()", () => {
  const s = snap(4, 1);
  const cases: Array<Init & { name: string; w: Snapshot | undefined }> = [
    { name: "no snapshot", snapshot: undefined, snapshotInProgress: false, w: undefined },
    { name: "snapshot not in progress", snapshot: s, snapshotInProgress: false, w: s },
    { name: "snapshot in progress", snapshot: s, snapshotInProgress: true, w: undefined },
  ];
  for (const tt of cases) {
    test(tt.name, () => assert.deepEqual(mk(tt).nextSnapshot(), tt.w));
  }
});

describe("Unstable.acceptInProgress()", () => {
  const cases: Array<{
    entries: Entry[];
    offset: number;
    snapshot: Snapshot | undefined;
    offsetInProgress: number;
    snapshotInProgress: boolean;
    woffsetInProgress: number;
    wsnapshotInProgress: boolean;
  }> = [];
  // Each row: entries, offsetInProgress before, offsetInProgress after.
  const rows: Array<[Entry[], number, number]> = [
    [[], 5, 5], // no entries
    [entsAt(5, 1), 5, 6], // entries not in progress
    [entsAt(5, 1, 1), 5, 7], // entries not in progress
    [entsAt(5, 1, 1), 6, 7], // in progress to the first entry
    [entsAt(5, 1, 1), 7, 7], // in progress to the second entry
  ];
  for (const [entries, oip, woip] of rows) {
    cases.push({
      entries,
      offset: 5,
      snapshot: undefined,
      offsetInProgress: oip,
      snapshotInProgress: false,
      woffsetInProgress: woip,
      wsnapshotInProgress: false,
    });
  }
  for (const snapInProgress of [false, true]) {
    for (const [entries, oip, woip] of rows) {
      cases.push({
        entries,
        offset: 5,
        snapshot: snap(4, 1),
        offsetInProgress: oip,
        snapshotInProgress: snapInProgress,
        woffsetInProgress: woip,
        wsnapshotInProgress: true,
      });
    }
  }
  for (const [i, tt] of cases.entries()) {
    const name =
      `case ${i}: ${tt.entries.length} entries, offsetInProgress ${tt.offsetInProgress}, ` +
      `snapshot ${
        tt.snapshot === undefined ? "none" : tt.snapshotInProgress ? "in progress" : "new"
      }`;
    test(name, () => {
      const u = mk(tt);
      u.acceptInProgress();
      assert.equal(u.offsetInProgress, tt.woffsetInProgress);
      assert.equal(u.snapshotInProgress, tt.wsnapshotInProgress);
      assert.equal(u.nextEntries().length, 0);
      assert.equal(u.nextSnapshot(), undefined);
    });
  }
});

describe("Unstable.stableTo()", () => {
  const cases: Array<
    Init & {
      name: string;
      index: number;
      term: number;
      woffset: number;
      woffsetInProgress: number;
      wlen: number;
      wlog?: string;
    }
  > = [
    {
      name: "empty",
      entries: [],
      offset: 0,
      offsetInProgress: 0,
      index: 5,
      term: 1,
      woffset: 0,
      woffsetInProgress: 0,
      wlen: 0,
      wlog: "INFO entry at index 5 missing from unstable log; ignoring",
    },
    {
      name: "stable to the first entry",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 6,
      index: 5,
      term: 1,
      woffset: 6,
      woffsetInProgress: 6,
      wlen: 0,
    },
    {
      name: "stable to the first of two entries",
      entries: entsAt(5, 1, 1),
      offset: 5,
      offsetInProgress: 6,
      index: 5,
      term: 1,
      woffset: 6,
      woffsetInProgress: 6,
      wlen: 1,
    },
    {
      name: "stable to the first entry, in progress ahead",
      entries: entsAt(5, 1, 1),
      offset: 5,
      offsetInProgress: 7,
      index: 5,
      term: 1,
      woffset: 6,
      woffsetInProgress: 7,
      wlen: 1,
    },
    {
      name: "term mismatch",
      entries: entsAt(6, 2),
      offset: 6,
      offsetInProgress: 7,
      index: 6,
      term: 1,
      woffset: 6,
      woffsetInProgress: 7,
      wlen: 1,
      wlog:
        "INFO entry at (index,term)=(6,1) mismatched with entry at (6,2) in unstable log; ignoring",
    },
    {
      name: "old entry",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 6,
      index: 4,
      term: 1,
      woffset: 5,
      woffsetInProgress: 6,
      wlen: 1,
      wlog: "INFO entry at index 4 missing from unstable log; ignoring",
    },
    {
      name: "old entry, other term",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 6,
      index: 4,
      term: 2,
      woffset: 5,
      woffsetInProgress: 6,
      wlen: 1,
    },
    {
      name: "with snapshot: stable to the first entry",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 6,
      snapshot: snap(4, 1),
      index: 5,
      term: 1,
      woffset: 6,
      woffsetInProgress: 6,
      wlen: 0,
    },
    {
      name: "with snapshot: stable to the first of two entries",
      entries: entsAt(5, 1, 1),
      offset: 5,
      offsetInProgress: 6,
      snapshot: snap(4, 1),
      index: 5,
      term: 1,
      woffset: 6,
      woffsetInProgress: 6,
      wlen: 1,
    },
    {
      name: "with snapshot: in progress ahead",
      entries: entsAt(5, 1, 1),
      offset: 5,
      offsetInProgress: 7,
      snapshot: snap(4, 1),
      index: 5,
      term: 1,
      woffset: 6,
      woffsetInProgress: 7,
      wlen: 1,
    },
    {
      name: "with snapshot: term mismatch",
      entries: entsAt(6, 2),
      offset: 6,
      offsetInProgress: 7,
      snapshot: snap(5, 1),
      index: 6,
      term: 1,
      woffset: 6,
      woffsetInProgress: 7,
      wlen: 1,
    },
    {
      name: "with snapshot: stable to the snapshot",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 6,
      snapshot: snap(4, 1),
      index: 4,
      term: 1,
      woffset: 5,
      woffsetInProgress: 6,
      wlen: 1,
      wlog: "INFO entry at index 4 matched unstable snapshot; ignoring",
    },
    {
      name: "with snapshot: old entry",
      entries: entsAt(5, 2),
      offset: 5,
      offsetInProgress: 6,
      snapshot: snap(4, 2),
      index: 4,
      term: 1,
      woffset: 5,
      woffsetInProgress: 6,
      wlen: 1,
    },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const logger = recordingLogger();
      const u = mk(tt, logger);
      u.stableTo({ term: tt.term, index: tt.index });
      assert.equal(u.offset, tt.woffset);
      assert.equal(u.offsetInProgress, tt.woffsetInProgress);
      assert.equal(u.entries.length, tt.wlen);
      if (tt.wlog !== undefined) assert.deepEqual(logger.lines, [tt.wlog]);
      if (tt.woffset !== tt.offset) assert.deepEqual(logger.lines, []);
    });
  }

  test("the remaining entries keep their positions", () => {
    const u = mk({ entries: entsAt(5, 1, 1, 2), offset: 5, offsetInProgress: 8 });
    u.stableTo({ index: 6, term: 1 });
    assert.deepEqual(entryIds(u.entries), [[7, 2]]);
    assert.equal(u.maybeTerm(7), 2);
    assert.equal(u.maybeTerm(6), undefined);
  });
});

describe("Unstable.truncateAndAppend()", () => {
  const cases: Array<
    Init & {
      name: string;
      toappend: Entry[];
      woffset: number;
      woffsetInProgress: number;
      wentries: Entry[];
      wlog: string[];
    }
  > = [
    {
      name: "append to the end",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 5,
      toappend: entsAt(6, 1, 1),
      woffset: 5,
      woffsetInProgress: 5,
      wentries: entsAt(5, 1, 1, 1),
      wlog: [],
    },
    {
      name: "append to the end, first entry in progress",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 6,
      toappend: entsAt(6, 1, 1),
      woffset: 5,
      woffsetInProgress: 6,
      wentries: entsAt(5, 1, 1, 1),
      wlog: [],
    },
    {
      name: "replace the unstable entries",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 5,
      toappend: entsAt(5, 2, 2),
      woffset: 5,
      woffsetInProgress: 5,
      wentries: entsAt(5, 2, 2),
      wlog: ["INFO replace the unstable entries from index 5"],
    },
    {
      name: "replace from before the offset",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 5,
      toappend: entsAt(4, 2, 2, 2),
      woffset: 4,
      woffsetInProgress: 4,
      wentries: entsAt(4, 2, 2, 2),
      wlog: ["INFO replace the unstable entries from index 4"],
    },
    {
      name: "replace in-progress entries",
      entries: entsAt(5, 1),
      offset: 5,
      offsetInProgress: 6,
      toappend: entsAt(5, 2, 2),
      woffset: 5,
      woffsetInProgress: 5,
      wentries: entsAt(5, 2, 2),
      wlog: ["INFO replace the unstable entries from index 5"],
    },
    {
      name: "truncate and append",
      entries: entsAt(5, 1, 1, 1),
      offset: 5,
      offsetInProgress: 5,
      toappend: entsAt(6, 2),
      woffset: 5,
      woffsetInProgress: 5,
      wentries: entsAt(5, 1, 2),
      wlog: ["INFO truncate the unstable entries before index 6"],
    },
    {
      name: "truncate the last entry and append",
      entries: entsAt(5, 1, 1, 1),
      offset: 5,
      offsetInProgress: 5,
      toappend: entsAt(7, 2, 2),
      woffset: 5,
      woffsetInProgress: 5,
      wentries: entsAt(5, 1, 1, 2, 2),
      wlog: ["INFO truncate the unstable entries before index 7"],
    },
    {
      name: "truncate after the in-progress entries",
      entries: entsAt(5, 1, 1, 1),
      offset: 5,
      offsetInProgress: 6,
      toappend: entsAt(6, 2),
      woffset: 5,
      woffsetInProgress: 6,
      wentries: entsAt(5, 1, 2),
      wlog: ["INFO truncate the unstable entries before index 6"],
    },
    {
      name: "truncate in-progress entries",
      entries: entsAt(5, 1, 1, 1),
      offset: 5,
      offsetInProgress: 7,
      toappend: entsAt(6, 2),
      woffset: 5,
      woffsetInProgress: 6,
      wentries: entsAt(5, 1, 2),
      wlog: ["INFO truncate the unstable entries before index 6"],
    },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const logger = recordingLogger();
      const u = mk(tt, logger);
      u.truncateAndAppend(tt.toappend);
      assert.equal(u.offset, tt.woffset);
      assert.equal(u.offsetInProgress, tt.woffsetInProgress);
      assert.deepEqual(entryIds(u.entries), entryIds(tt.wentries));
      assert.deepEqual(logger.lines, tt.wlog);
    });
  }

  test("the caller's array is not kept after a replace", () => {
    const u = new Unstable(5, recordingLogger());
    u.truncateAndAppend(entsAt(5, 1));
    const input = entsAt(5, 2, 2);
    u.truncateAndAppend(input);
    u.truncateAndAppend(entsAt(7, 2));
    assert.equal(input.length, 2);
    input.length = 0;
    assert.deepEqual(entryIds(u.entries), [[5, 2], [6, 2], [7, 2]]);
  });

  test("arrays handed out before a truncation are not changed", () => {
    const u = new Unstable(5, recordingLogger());
    u.truncateAndAppend(entsAt(5, 1, 1, 1));
    const sliced = u.slice(5, 8);
    const next = u.nextEntries();
    u.truncateAndAppend(entsAt(6, 2));
    assert.deepEqual(entryIds(sliced), [[5, 1], [6, 1], [7, 1]]);
    assert.deepEqual(entryIds(next), [[5, 1], [6, 1], [7, 1]]);
  });
});

describe("Unstable.slice()", () => {
  test("returns the entries in [lo, hi)", () => {
    const u = mk({ entries: entsAt(5, 1, 2, 3), offset: 5 });
    assert.deepEqual(entryIds(u.slice(5, 8)), [[5, 1], [6, 2], [7, 3]]);
    assert.deepEqual(entryIds(u.slice(6, 7)), [[6, 2]]);
    assert.deepEqual(u.slice(8, 8), []);
  });

  const bad: Array<{ lo: number; hi: number; wlog: string }> = [
    { lo: 7, hi: 6, wlog: "PANIC invalid unstable.slice 7 > 6" },
    { lo: 4, hi: 6, wlog: "PANIC unstable.slice[4,6) out of bound [5,8]" },
    { lo: 5, hi: 9, wlog: "PANIC unstable.slice[5,9) out of bound [5,8]" },
  ];
  for (const tt of bad) {
    test(`panics on [${tt.lo}, ${tt.hi})`, () => {
      const logger = recordingLogger();
      const u = mk({ entries: entsAt(5, 1, 2, 3), offset: 5 }, logger);
      assert.throws(() => u.slice(tt.lo, tt.hi), RaftInvariantError);
      assert.deepEqual(logger.lines, [tt.wlog]);
    });
  }
});

describe("Unstable.stableSnapTo()", () => {
  test("drops the snapshot at that index", () => {
    const u = mk({ offset: 5, snapshot: snap(4, 1), snapshotInProgress: true });
    u.stableSnapTo(4);
    assert.equal(u.snapshot, undefined);
    assert.equal(u.snapshotInProgress, false);
  });

  test("keeps a snapshot at another index", () => {
    const u = mk({ offset: 5, snapshot: snap(4, 1), snapshotInProgress: true });
    u.stableSnapTo(3);
    assert.deepEqual(u.snapshot, snap(4, 1));
    assert.equal(u.snapshotInProgress, true);
  });
});
