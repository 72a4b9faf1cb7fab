import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type LogSlice, newLog, newLogWithSize, pbEntryId, type RaftLog } from "./raft_log.ts";
import { MemoryStorage } from "./storage.ts";
import { type Entry, EntryType, newEntry, newSnapshot, noLimit, type Snapshot } from "./types.ts";
import { CompactedError, UnavailableError } from "./errors.ts";
import { RaftInvariantError } from "./_assert.ts";
import type { Logger } from "./logger.ts";
import { entryIds, recordingLogger } from "../tests/_util.ts";
import { entsAt } from "../tests/raft/network.ts";
import { entrySize, entsSize } from "./util.ts";

/** Entries at consecutive indexes from `first`, with terms from, from+1, ..., to-1. */
function termRange(first: number, from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let t = from; t < to; t++) out.push(newEntry({ index: first + t - from, term: t }));
  return out;
}

function snap(index: number, term: number): Snapshot {
  return newSnapshot({ index, term });
}

/** A log over a fresh MemoryStorage, with `previous` appended to its unstable part. */
function logWith(previous: Entry[], logger: Logger = recordingLogger()): RaftLog {
  const l = newLog(new MemoryStorage(), logger);
  l.append(previous);
  return l;
}

describe("RaftLog.findConflict()", () => {
  const previous = entsAt(1, 1, 2, 3);
  const cases: Array<{ name: string; ents: Entry[]; w: number; wlog?: string }> = [
    { name: "no conflict, empty", ents: [], w: 0 },
    { name: "no conflict, all", ents: entsAt(1, 1, 2, 3), w: 0 },
    { name: "no conflict, suffix", ents: entsAt(2, 2, 3), w: 0 },
    { name: "no conflict, last", ents: entsAt(3, 3), w: 0 },
    { name: "new entries after all", ents: entsAt(1, 1, 2, 3, 4, 4), w: 4 },
    { name: "new entries after a suffix", ents: entsAt(2, 2, 3, 4, 5), w: 4 },
    { name: "new entries after the last", ents: entsAt(3, 3, 4, 4), w: 4 },
    { name: "only new entries", ents: entsAt(4, 4, 4), w: 4 },
    {
      name: "conflict at 1",
      ents: entsAt(1, 4, 4),
      w: 1,
      wlog: "INFO found conflict at index 1 [existing term: 1, conflicting term: 4]",
    },
    {
      name: "conflict at 2",
      ents: entsAt(2, 1, 4, 4),
      w: 2,
      wlog: "INFO found conflict at index 2 [existing term: 2, conflicting term: 1]",
    },
    {
      name: "conflict at 3",
      ents: entsAt(3, 1, 2, 4, 4),
      w: 3,
      wlog: "INFO found conflict at index 3 [existing term: 3, conflicting term: 1]",
    },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const logger = recordingLogger();
      const l = logWith(previous, logger);
      assert.equal(l.findConflict(tt.ents), tt.w);
      assert.deepEqual(logger.lines, tt.wlog === undefined ? [] : [tt.wlog]);
    });
  }

  test("a conflict with a compacted entry logs existing term 0", () => {
    const logger = recordingLogger();
    const ms = new MemoryStorage();
    ms.applySnapshot(snap(5, 2));
    const l = newLog(ms, logger);
    assert.equal(l.findConflict(entsAt(3, 1)), 3);
    assert.deepEqual(logger.lines, [
      "INFO found conflict at index 3 [existing term: 0, conflicting term: 1]",
    ]);
  });
});

describe("RaftLog.findConflictByTerm()", () => {
  // ents[0] is the (index, term) of the snapshot.
  const cases: Array<{ ents: Entry[]; index: number; term: number; want: number }> = [
    // Log starts from index 1.
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 100, term: 2, want: 100 }, // unavailable
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 5, term: 6, want: 5 },
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 5, term: 5, want: 5 },
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 5, term: 4, want: 2 },
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 5, term: 2, want: 2 },
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 5, term: 1, want: 0 },
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 1, term: 2, want: 1 },
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 1, term: 1, want: 0 },
    { ents: entsAt(0, 0, 2, 2, 5, 5, 5), index: 0, term: 0, want: 0 },
    // Log with compacted entries.
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 30, term: 3, want: 30 }, // unavailable
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 14, term: 9, want: 14 },
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 14, term: 4, want: 14 },
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 14, term: 3, want: 12 },
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 14, term: 2, want: 9 },
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 11, term: 5, want: 11 },
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 10, term: 5, want: 10 },
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 10, term: 3, want: 10 },
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 10, term: 2, want: 9 },
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 9, term: 2, want: 9 }, // compacted
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 4, term: 2, want: 4 }, // compacted
    { ents: entsAt(10, 3, 3, 3, 4, 4, 4), index: 0, term: 0, want: 0 }, // compacted
  ];
  for (const tt of cases) {
    const first = tt.ents[0]!;
    test(`snapshot at ${first.index}, (index ${tt.index}, term ${tt.term}) -> ${tt.want}`, () => {
      const st = new MemoryStorage();
      st.applySnapshot(snap(first.index, first.term));
      const l = newLog(st, recordingLogger());
      l.append(tt.ents.slice(1));
      const [index, term] = l.findConflictByTerm(tt.index, tt.term);
      assert.equal(index, tt.want);
      assert.equal(term, l.zeroTermOnOutOfBounds(index));
    });
  }
});

describe("RaftLog.isUpToDate()", () => {
  const l = logWith(entsAt(1, 1, 2, 3));
  const last = l.lastIndex();
  const cases: Array<{ name: string; index: number; term: number; w: boolean }> = [
    // A greater term wins whatever the index.
    { name: "greater term, shorter", index: last - 1, term: 4, w: true },
    { name: "greater term, same length", index: last, term: 4, w: true },
    { name: "greater term, longer", index: last + 1, term: 4, w: true },
    // A smaller term loses whatever the index.
    { name: "smaller term, shorter", index: last - 1, term: 2, w: false },
    { name: "smaller term, same length", index: last, term: 2, w: false },
    { name: "smaller term, longer", index: last + 1, term: 2, w: false },
    // Equal terms: the equal or longer log wins.
    { name: "equal term, shorter", index: last - 1, term: 3, w: false },
    { name: "equal term, same length", index: last, term: 3, w: true },
    { name: "equal term, longer", index: last + 1, term: 3, w: true },
  ];
  for (const tt of cases) {
    test(tt.name, () => assert.equal(l.isUpToDate({ term: tt.term, index: tt.index }), tt.w));
  }
});

describe("RaftLog.append()", () => {
  const previous = entsAt(1, 1, 2);
  const cases: Array<
    { name: string; ents: Entry[]; windex: number; wents: Entry[]; wunstable: number }
  > = [
    { name: "nothing", ents: [], windex: 2, wents: entsAt(1, 1, 2), wunstable: 3 },
    {
      name: "after the last",
      ents: entsAt(3, 2),
      windex: 3,
      wents: entsAt(1, 1, 2, 2),
      wunstable: 3,
    },
    {
      name: "conflict at index 1",
      ents: entsAt(1, 2),
      windex: 1,
      wents: entsAt(1, 2),
      wunstable: 1,
    },
    {
      name: "conflict at index 2",
      ents: entsAt(2, 3, 3),
      windex: 3,
      wents: entsAt(1, 1, 3, 3),
      wunstable: 2,
    },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const storage = new MemoryStorage();
      storage.append(previous);
      const l = newLog(storage, recordingLogger());
      assert.equal(l.append(tt.ents), tt.windex);
      assert.deepEqual(entryIds(l.entries(1, noLimit)), entryIds(tt.wents));
      assert.equal(l.unstable.offset, tt.wunstable);
    });
  }

  test("append() below the commit index panics", () => {
    const logger = recordingLogger();
    const l = logWith(entsAt(1, 1, 2, 3), logger);
    l.commitTo(2);
    assert.throws(() => l.append(entsAt(2, 4)), RaftInvariantError);
    assert.deepEqual(logger.lines, ["PANIC after(1) is out of range [committed(2)]"]);
  });
});

describe("RaftLog.maybeAppend()", () => {
  const previous = entsAt(1, 1, 2, 3);
  const lastindex = 3;
  const lastterm = 3;
  const commit = 1;
  const cases: Array<{
    name: string;
    prev: { term: number; index: number };
    committed: number;
    ents: Entry[];
    wlasti: number | undefined;
    wcommit: number;
    wpanic?: boolean;
  }> = [
    {
      name: "not match: term is different",
      prev: { term: lastterm - 1, index: lastindex },
      committed: lastindex,
      ents: entsAt(lastindex + 1, 4),
      wlasti: undefined,
      wcommit: commit,
    },
    {
      name: "not match: index out of bound",
      prev: { term: lastterm, index: lastindex + 1 },
      committed: lastindex,
      ents: entsAt(lastindex + 2, 4),
      wlasti: undefined,
      wcommit: commit,
    },
    {
      name: "match the last entry",
      prev: { term: lastterm, index: lastindex },
      committed: lastindex,
      ents: [],
      wlasti: lastindex,
      wcommit: lastindex,
    },
    {
      name: "commit no higher than the last new index",
      prev: { term: lastterm, index: lastindex },
      committed: lastindex + 1,
      ents: [],
      wlasti: lastindex,
      wcommit: lastindex,
    },
    {
      name: "commit up to the message's commit",
      prev: { term: lastterm, index: lastindex },
      committed: lastindex - 1,
      ents: [],
      wlasti: lastindex,
      wcommit: lastindex - 1,
    },
    {
      name: "commit does not decrease",
      prev: { term: lastterm, index: lastindex },
      committed: 0,
      ents: [],
      wlasti: lastindex,
      wcommit: commit,
    },
    {
      name: "commit does not decrease, prev at the origin",
      prev: { term: 0, index: 0 },
      committed: lastindex,
      ents: [],
      wlasti: 0,
      wcommit: commit,
    },
    {
      name: "append one, commit the old last",
      prev: { term: lastterm, index: lastindex },
      committed: lastindex,
      ents: entsAt(lastindex + 1, 4),
      wlasti: lastindex + 1,
      wcommit: lastindex,
    },
    {
      name: "append one, commit it",
      prev: { term: lastterm, index: lastindex },
      committed: lastindex + 1,
      ents: entsAt(lastindex + 1, 4),
      wlasti: lastindex + 1,
      wcommit: lastindex + 1,
    },
    {
      name: "append one, commit no higher than it",
      prev: { term: lastterm, index: lastindex },
      committed: lastindex + 2,
      ents: entsAt(lastindex + 1, 4),
      wlasti: lastindex + 1,
      wcommit: lastindex + 1,
    },
    {
      name: "append two, commit both",
      prev: { term: lastterm, index: lastindex },
      committed: lastindex + 2,
      ents: entsAt(lastindex + 1, 4, 4),
      wlasti: lastindex + 2,
      wcommit: lastindex + 2,
    },
    {
      name: "match in the middle, replace the last",
      prev: { term: lastterm - 1, index: lastindex - 1 },
      committed: lastindex,
      ents: entsAt(lastindex, 4),
      wlasti: lastindex,
      wcommit: lastindex,
    },
    {
      name: "match in the middle, replace two",
      prev: { term: lastterm - 2, index: lastindex - 2 },
      committed: lastindex,
      ents: entsAt(lastindex - 1, 4),
      wlasti: lastindex - 1,
      wcommit: lastindex - 1,
    },
    {
      name: "conflict with a committed entry",
      prev: { term: lastterm - 3, index: lastindex - 3 },
      committed: lastindex,
      ents: entsAt(lastindex - 2, 4),
      wlasti: lastindex - 2,
      wcommit: lastindex - 2,
      wpanic: true,
    },
    {
      name: "match in the middle, replace and extend",
      prev: { term: lastterm - 2, index: lastindex - 2 },
      committed: lastindex,
      ents: entsAt(lastindex - 1, 4, 4),
      wlasti: lastindex,
      wcommit: lastindex,
    },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const logger = recordingLogger();
      const l = logWith(previous, logger);
      l.committed = commit;
      const a: LogSlice = { term: 100, prev: tt.prev, entries: tt.ents };
      if (tt.wpanic) {
        assert.throws(() => l.maybeAppend(a, tt.committed), RaftInvariantError);
        assert.equal(
          logger.lines.at(-1),
          `PANIC entry ${lastindex - 2} conflict with committed entry [committed(${commit})]`,
        );
        return;
      }
      assert.equal(l.maybeAppend(a, tt.committed), tt.wlasti);
      assert.equal(l.committed, tt.wcommit);
      if (tt.wlasti !== undefined && tt.ents.length !== 0) {
        const last = l.lastIndex();
        const got = l.slice(last - tt.ents.length + 1, last + 1, noLimit);
        assert.deepEqual(entryIds(got), entryIds(tt.ents));
      }
    });
  }

  test("maybeAppend() does not keep the message's array", () => {
    const l = logWith(entsAt(1, 1));
    const entries = entsAt(2, 1, 1);
    l.maybeAppend({ term: 1, prev: { term: 1, index: 1 }, entries }, 0);
    entries.length = 0;
    assert.equal(l.lastIndex(), 3);
    l.append(entsAt(4, 1));
    assert.equal(entries.length, 0);
  });
});

test("RaftLog works after storage compaction", () => {
  // 750 entries in storage, 250 unstable.
  const lastIndex = 1000;
  const unstableIndex = 750;
  const storage = new MemoryStorage();
  storage.append(termRange(1, 1, unstableIndex + 1));
  const l = newLog(storage, recordingLogger());
  l.append(termRange(unstableIndex + 1, unstableIndex + 1, lastIndex + 1));

  assert.equal(l.maybeCommit(l.lastEntryId()), true);
  l.appliedTo(l.committed, 0);

  const offset = 500;
  storage.compact(offset);
  assert.equal(l.lastIndex(), lastIndex);
  for (let j = offset; j <= l.lastIndex(); j++) assert.equal(l.term(j), j);
  for (let j = offset; j <= l.lastIndex(); j++) assert.ok(l.matchTerm({ term: j, index: j }));

  const unstableEnts = l.nextUnstableEnts();
  assert.equal(unstableEnts.length, 250);
  assert.equal(unstableEnts[0]!.index, 751);

  const prev = l.lastIndex();
  l.append([newEntry({ index: l.lastIndex() + 1, term: l.lastIndex() + 1 })]);
  assert.equal(l.lastIndex(), prev + 1);
  assert.equal(l.entries(l.lastIndex(), noLimit).length, 1);
});

/** The setup of etcd's committed-entries tests: snapshot at 3, entry 4 stable, 5 and 6 unstable, commit 5. */
function committedSetup(maxSize: number = noLimit): RaftLog {
  const storage = new MemoryStorage();
  storage.applySnapshot(snap(3, 1));
  const es = entsAt(4, 1, 1, 1);
  storage.append(es.slice(0, 1));
  const l = newLogWithSize(storage, recordingLogger(), maxSize);
  l.append(es);
  l.stableTo({ term: 1, index: 4 });
  l.maybeCommit({ term: 1, index: 5 });
  return l;
}

const committedCases: Array<{
  applied: number;
  applying: number;
  allowUnstable: boolean;
  paused?: boolean;
  snap?: boolean;
  wents: Entry[];
}> = [
  { applied: 3, applying: 3, allowUnstable: true, wents: entsAt(4, 1, 1) },
  { applied: 3, applying: 4, allowUnstable: true, wents: entsAt(5, 1) },
  { applied: 3, applying: 5, allowUnstable: true, wents: [] },
  { applied: 4, applying: 4, allowUnstable: true, wents: entsAt(5, 1) },
  { applied: 4, applying: 5, allowUnstable: true, wents: [] },
  { applied: 5, applying: 5, allowUnstable: true, wents: [] },
  // Unstable entries not allowed.
  { applied: 3, applying: 3, allowUnstable: false, wents: entsAt(4, 1) },
  { applied: 3, applying: 4, allowUnstable: false, wents: [] },
  { applied: 3, applying: 5, allowUnstable: false, wents: [] },
  { applied: 4, applying: 4, allowUnstable: false, wents: [] },
  { applied: 4, applying: 5, allowUnstable: false, wents: [] },
  { applied: 5, applying: 5, allowUnstable: false, wents: [] },
  // Paused.
  { applied: 3, applying: 3, allowUnstable: true, paused: true, wents: [] },
  // With a snapshot.
  { applied: 3, applying: 3, allowUnstable: true, snap: true, wents: [] },
];

function committedCaseName(tt: typeof committedCases[number]): string {
  return `applied ${tt.applied}, applying ${tt.applying}, allowUnstable ${tt.allowUnstable}` +
    (tt.paused ? ", paused" : "") + (tt.snap ? ", with snapshot" : "");
}

function committedCaseLog(tt: typeof committedCases[number]): RaftLog {
  const l = committedSetup();
  l.appliedTo(tt.applied, 0);
  l.acceptApplying(tt.applying, 0, tt.allowUnstable);
  l.applyingEntsPaused = tt.paused ?? false;
  if (tt.snap) l.restore(snap(4, 1));
  return l;
}

describe("RaftLog.hasNextCommittedEnts()", () => {
  for (const tt of committedCases) {
    test(committedCaseName(tt), () => {
      const l = committedCaseLog(tt);
      assert.equal(l.hasNextCommittedEnts(tt.allowUnstable), tt.wents.length > 0);
    });
  }
});

describe("RaftLog.nextCommittedEnts()", () => {
  for (const tt of committedCases) {
    test(committedCaseName(tt), () => {
      const l = committedCaseLog(tt);
      assert.deepEqual(entryIds(l.nextCommittedEnts(tt.allowUnstable)), entryIds(tt.wents));
    });
  }

  test("the applying size limit cuts a batch and pauses until applied", () => {
    const one = entrySize(newEntry({ index: 4, term: 1 }));
    const l = committedSetup(one + 1);
    l.appliedTo(3, 0);
    const got = l.nextCommittedEnts(true);
    assert.deepEqual(entryIds(got), [[4, 1]]);
    l.acceptApplying(4, entsSize(got), true);
    assert.equal(l.applyingEntsPaused, true);
    assert.deepEqual(l.nextCommittedEnts(true), []);
    l.appliedTo(4, entsSize(got));
    assert.equal(l.applyingEntsPaused, false);
    assert.deepEqual(entryIds(l.nextCommittedEnts(true)), [[5, 1]]);
  });
});

describe("RaftLog.acceptApplying()", () => {
  const maxSize = 100;
  const cases: Array<{ index: number; allowUnstable: boolean; size: number; wpaused: boolean }> = [
    { index: 3, allowUnstable: true, size: maxSize - 1, wpaused: true },
    { index: 3, allowUnstable: true, size: maxSize, wpaused: true },
    { index: 3, allowUnstable: true, size: maxSize + 1, wpaused: true },
    { index: 4, allowUnstable: true, size: maxSize - 1, wpaused: true },
    { index: 4, allowUnstable: true, size: maxSize, wpaused: true },
    { index: 4, allowUnstable: true, size: maxSize + 1, wpaused: true },
    { index: 5, allowUnstable: true, size: maxSize - 1, wpaused: false },
    { index: 5, allowUnstable: true, size: maxSize, wpaused: true },
    { index: 5, allowUnstable: true, size: maxSize + 1, wpaused: true },
    // Unstable entries not allowed.
    { index: 3, allowUnstable: false, size: maxSize - 1, wpaused: true },
    { index: 3, allowUnstable: false, size: maxSize, wpaused: true },
    { index: 3, allowUnstable: false, size: maxSize + 1, wpaused: true },
    { index: 4, allowUnstable: false, size: maxSize - 1, wpaused: false },
    { index: 4, allowUnstable: false, size: maxSize, wpaused: true },
    { index: 4, allowUnstable: false, size: maxSize + 1, wpaused: true },
    { index: 5, allowUnstable: false, size: maxSize - 1, wpaused: false },
    { index: 5, allowUnstable: false, size: maxSize, wpaused: true },
    { index: 5, allowUnstable: false, size: maxSize + 1, wpaused: true },
  ];
  for (const tt of cases) {
    test(`index ${tt.index}, size ${tt.size}, allowUnstable ${tt.allowUnstable}`, () => {
      const l = committedSetup(maxSize);
      l.appliedTo(3, 0);
      l.acceptApplying(tt.index, tt.size, tt.allowUnstable);
      assert.equal(l.applyingEntsPaused, tt.wpaused);
      assert.equal(l.applying, tt.index);
      assert.equal(l.applyingEntsSize, tt.size);
    });
  }

  test("acceptApplying() past the commit index panics", () => {
    const l = committedSetup();
    assert.throws(() => l.acceptApplying(6, 0, true), RaftInvariantError);
  });
});

describe("RaftLog.appliedTo()", () => {
  const maxSize = 100;
  const overshoot = 5;
  const cases: Array<{ index: number; size: number; wapplyingSize: number; wpaused: boolean }> = [
    // Apply some of the entries being applied (applying is 5).
    { index: 4, size: overshoot - 1, wapplyingSize: maxSize + 1, wpaused: true },
    { index: 4, size: overshoot, wapplyingSize: maxSize, wpaused: true },
    { index: 4, size: overshoot + 1, wapplyingSize: maxSize - 1, wpaused: false },
    // Apply all of them.
    { index: 5, size: overshoot - 1, wapplyingSize: maxSize + 1, wpaused: true },
    { index: 5, size: overshoot, wapplyingSize: maxSize, wpaused: true },
    { index: 5, size: overshoot + 1, wapplyingSize: maxSize - 1, wpaused: false },
    // Acknowledge all outstanding bytes.
    { index: 4, size: maxSize + overshoot, wapplyingSize: 0, wpaused: false },
    // Acknowledge more than outstanding: no underflow.
    { index: 4, size: maxSize + overshoot + 1, wapplyingSize: 0, wpaused: false },
  ];
  for (const tt of cases) {
    test(`index ${tt.index}, size ${tt.size}`, () => {
      const l = committedSetup(maxSize);
      l.appliedTo(3, 0);
      l.acceptApplying(5, maxSize + overshoot, false);
      l.appliedTo(tt.index, tt.size);
      assert.equal(l.applied, tt.index);
      assert.equal(l.applying, 5);
      assert.equal(l.applyingEntsSize, tt.wapplyingSize);
      assert.equal(l.applyingEntsPaused, tt.wpaused);
    });
  }

  for (const i of [2, 6]) {
    test(`appliedTo(${i}) outside [applied, committed] panics`, () => {
      const logger = recordingLogger();
      const l = committedSetup();
      l.logger = logger;
      l.appliedTo(3, 0);
      assert.throws(() => l.appliedTo(i, 0), RaftInvariantError);
      assert.deepEqual(logger.lines, [
        `PANIC applied(${i}) is out of range [prevApplied(3), committed(5)]`,
      ]);
    });
  }
});

describe("RaftLog.nextUnstableEnts()", () => {
  const previous = entsAt(1, 1, 2);
  for (const tt of [{ unstable: 3, w: [] as Entry[] }, { unstable: 1, w: previous }]) {
    test(`unstable from index ${tt.unstable}`, () => {
      const storage = new MemoryStorage();
      storage.append(previous.slice(0, tt.unstable - 1));
      const l = newLog(storage, recordingLogger());
      l.append(previous.slice(tt.unstable - 1));
      const got = l.nextUnstableEnts();
      assert.equal(l.hasNextUnstableEnts(), got.length > 0);
      if (got.length > 0) l.stableTo(pbEntryId(got[got.length - 1]!));
      assert.deepEqual(entryIds(got), entryIds(tt.w));
      assert.equal(l.unstable.offset, previous[previous.length - 1]!.index + 1);
      assert.equal(l.hasNextUnstableEnts(), false);
      assert.equal(l.hasNextOrInProgressUnstableEnts(), false);
    });
  }

  test("acceptUnstable() marks entries in progress until stable", () => {
    const l = logWith(entsAt(1, 1, 1));
    assert.equal(l.nextUnstableEnts().length, 2);
    l.acceptUnstable();
    assert.equal(l.hasNextUnstableEnts(), false);
    assert.equal(l.hasNextOrInProgressUnstableEnts(), true);
    assert.deepEqual(l.nextUnstableEnts(), []);
    l.append(entsAt(3, 1));
    assert.deepEqual(entryIds(l.nextUnstableEnts()), [[3, 1]]);
  });
});

describe("RaftLog.commitTo()", () => {
  const cases: Array<{ name: string; commit: number; wcommit: number; wpanic?: boolean }> = [
    { name: "advance", commit: 3, wcommit: 3 },
    { name: "never decrease", commit: 1, wcommit: 2 },
    { name: "out of range", commit: 4, wcommit: 2, wpanic: true },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const logger = recordingLogger();
      const l = logWith(entsAt(1, 1, 2, 3), logger);
      l.committed = 2;
      if (tt.wpanic) {
        assert.throws(() => l.commitTo(tt.commit), RaftInvariantError);
        assert.deepEqual(logger.lines, [
          "PANIC tocommit(4) is out of range [lastIndex(3)]. Was the raft log corrupted, truncated, or lost?",
        ]);
      } else {
        l.commitTo(tt.commit);
      }
      assert.equal(l.committed, tt.wcommit);
    });
  }
});

describe("RaftLog.stableTo()", () => {
  const cases: Array<{ name: string; index: number; term: number; wunstable: number }> = [
    { name: "first entry", index: 1, term: 1, wunstable: 2 },
    { name: "second entry", index: 2, term: 2, wunstable: 3 },
    { name: "bad term", index: 2, term: 1, wunstable: 1 },
    { name: "bad index", index: 3, term: 1, wunstable: 1 },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const l = logWith(entsAt(1, 1, 2));
      l.stableTo({ term: tt.term, index: tt.index });
      assert.equal(l.unstable.offset, tt.wunstable);
    });
  }
});

describe("RaftLog.stableTo() after a snapshot", () => {
  const snapi = 5;
  const snapt = 2;
  const cases: Array<{ index: number; term: number; newEnts: Entry[]; wunstable: number }> = [
    { index: snapi + 1, term: snapt, newEnts: [], wunstable: snapi + 1 },
    { index: snapi, term: snapt, newEnts: [], wunstable: snapi + 1 },
    { index: snapi - 1, term: snapt, newEnts: [], wunstable: snapi + 1 },

    { index: snapi + 1, term: snapt + 1, newEnts: [], wunstable: snapi + 1 },
    { index: snapi, term: snapt + 1, newEnts: [], wunstable: snapi + 1 },
    { index: snapi - 1, term: snapt + 1, newEnts: [], wunstable: snapi + 1 },

    { index: snapi + 1, term: snapt, newEnts: entsAt(snapi + 1, snapt), wunstable: snapi + 2 },
    { index: snapi, term: snapt, newEnts: entsAt(snapi + 1, snapt), wunstable: snapi + 1 },
    { index: snapi - 1, term: snapt, newEnts: entsAt(snapi + 1, snapt), wunstable: snapi + 1 },

    { index: snapi + 1, term: snapt + 1, newEnts: entsAt(snapi + 1, snapt), wunstable: snapi + 1 },
    { index: snapi, term: snapt + 1, newEnts: entsAt(snapi + 1, snapt), wunstable: snapi + 1 },
    { index: snapi - 1, term: snapt + 1, newEnts: entsAt(snapi + 1, snapt), wunstable: snapi + 1 },
  ];
  for (const tt of cases) {
    test(`stableTo(${tt.index}, ${tt.term}) with ${tt.newEnts.length} new entries`, () => {
      const s = new MemoryStorage();
      s.applySnapshot(snap(snapi, snapt));
      const l = newLog(s, recordingLogger());
      l.append(tt.newEnts);
      l.stableTo({ term: tt.term, index: tt.index });
      assert.equal(l.unstable.offset, tt.wunstable);
    });
  }
});

describe("RaftLog.allEntries() after storage compaction", () => {
  const cases: Array<{ name: string; compact: number[]; wleft: number[]; wallow: boolean }> = [
    { name: "out of upper bound", compact: [1001], wleft: [-1], wallow: false },
    { name: "in bounds", compact: [300, 500, 800, 900], wleft: [700, 500, 200, 100], wallow: true },
    { name: "out of lower bound", compact: [300, 299], wleft: [700, -1], wallow: false },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const storage = new MemoryStorage();
      storage.append(termRange(1, 1, 1001));
      const l = newLog(storage, recordingLogger());
      l.appliedTo(l.committed, 0);
      let failed = false;
      for (let j = 0; j < tt.compact.length; j++) {
        try {
          storage.compact(tt.compact[j]!);
        } catch (e) {
          assert.ok(e instanceof CompactedError || e instanceof RaftInvariantError);
          failed = true;
          continue;
        }
        assert.equal(l.allEntries().length, tt.wleft[j]);
      }
      assert.equal(failed, !tt.wallow);
    });
  }
});

test("RaftLog over a restored storage starts at the snapshot", () => {
  const index = 1000;
  const term = 1000;
  const storage = new MemoryStorage();
  storage.applySnapshot(snap(index, term));
  const l = newLog(storage, recordingLogger());
  assert.equal(l.allEntries().length, 0);
  assert.equal(l.firstIndex(), index + 1);
  assert.equal(l.committed, index);
  assert.equal(l.applied, index);
  assert.equal(l.applying, index);
  assert.equal(l.unstable.offset, index + 1);
  assert.equal(l.term(index), term);
  assert.deepEqual(l.lastEntryId(), { term, index });
  assert.equal(l.lastTerm(), term);
});

describe("RaftLog.mustCheckOutOfBounds()", () => {
  const offset = 100;
  const num = 100;
  const first = offset + 1;
  const cases: Array<{ lo: number; hi: number; wpanic?: boolean; wcompacted?: boolean }> = [
    { lo: first - 2, hi: first + 1, wcompacted: true },
    { lo: first - 1, hi: first + 1, wcompacted: true },
    { lo: first, hi: first },
    { lo: first + num / 2, hi: first + num / 2 },
    { lo: first + num - 1, hi: first + num - 1 },
    { lo: first + num, hi: first + num },
    { lo: first + num, hi: first + num + 1, wpanic: true },
    { lo: first + num + 1, hi: first + num + 1, wpanic: true },
    { lo: first + 1, hi: first, wpanic: true },
  ];
  for (const tt of cases) {
    test(`[${tt.lo}, ${tt.hi})`, () => {
      const storage = new MemoryStorage();
      storage.applySnapshot(snap(offset, 0));
      const logger = recordingLogger();
      const l = newLog(storage, logger);
      l.append(termRange(offset + 1, offset + 1, offset + num + 1));
      if (tt.wpanic) {
        assert.throws(() => l.mustCheckOutOfBounds(tt.lo, tt.hi), RaftInvariantError);
        const want = tt.lo > tt.hi
          ? `PANIC invalid slice ${tt.lo} > ${tt.hi}`
          : `PANIC slice[${tt.lo},${tt.hi}) out of bound [${first},${offset + num}]`;
        assert.deepEqual(logger.lines, [want]);
      } else if (tt.wcompacted) {
        assert.throws(() => l.mustCheckOutOfBounds(tt.lo, tt.hi), CompactedError);
      } else {
        l.mustCheckOutOfBounds(tt.lo, tt.hi);
      }
    });
  }
});

describe("RaftLog.term()", () => {
  const offset = 100;
  const num = 100;
  const cases: Array<{ idx: number; term?: number; err?: typeof CompactedError }> = [
    { idx: offset - 1, err: CompactedError },
    { idx: offset, term: 1 },
    { idx: offset + num / 2, term: num / 2 },
    { idx: offset + num - 1, term: num - 1 },
    { idx: offset + num, err: UnavailableError },
  ];
  for (const tt of cases) {
    test(`term(${tt.idx})`, () => {
      const storage = new MemoryStorage();
      storage.applySnapshot(snap(offset, 1));
      const l = newLog(storage, recordingLogger());
      l.append(termRange(offset + 1, 1, num));
      if (tt.err !== undefined) {
        assert.throws(() => l.term(tt.idx), tt.err);
        assert.equal(l.zeroTermOnOutOfBounds(tt.idx), 0);
        assert.equal(l.matchTerm({ term: 0, index: tt.idx }), false);
      } else {
        assert.equal(l.term(tt.idx), tt.term);
        assert.equal(l.zeroTermOnOutOfBounds(tt.idx), tt.term);
        assert.equal(l.matchTerm({ term: tt.term!, index: tt.idx }), true);
      }
    });
  }
});

describe("RaftLog.term() with an unstable snapshot", () => {
  const storagesnapi = 100;
  const unstablesnapi = storagesnapi + 5;
  const cases: Array<{ name: string; idx: number; term?: number; err?: typeof CompactedError }> = [
    { name: "storage's snapshot index", idx: storagesnapi, err: CompactedError },
    { name: "gap after storage", idx: storagesnapi + 1, err: CompactedError },
    { name: "just before the unstable snapshot", idx: unstablesnapi - 1, err: CompactedError },
    { name: "the unstable snapshot's index", idx: unstablesnapi, term: 1 },
    { name: "after the unstable snapshot", idx: unstablesnapi + 1, err: UnavailableError },
  ];
  for (const tt of cases) {
    test(tt.name, () => {
      const storage = new MemoryStorage();
      storage.applySnapshot(snap(storagesnapi, 1));
      const l = newLog(storage, recordingLogger());
      l.restore(snap(unstablesnapi, 1));
      if (tt.err !== undefined) assert.throws(() => l.term(tt.idx), tt.err);
      else assert.equal(l.term(tt.idx), tt.term);
    });
  }
});

describe("RaftLog.slice()", () => {
  // Indexes 201..299 with term = index: every entry has the same encoded size.
  const offset = 200;
  const num = 100;
  const last = offset + num;
  const half = offset + num / 2;
  const size = entrySize(newEntry({ index: half, term: half }));
  const entries = (from: number, to: number): Entry[] => termRange(from, from, to);

  const storage = new MemoryStorage();
  storage.applySnapshot(snap(offset, 0));
  storage.append(entries(offset + 1, half));
  const l = newLog(storage, recordingLogger());
  l.append(entries(half, last));

  const cases: Array<
    { lo: number; hi: number; lim: number; w?: Entry[]; compacted?: boolean; wpanic?: boolean }
  > = [
    { lo: offset - 1, hi: offset + 1, lim: noLimit, compacted: true },
    { lo: offset, hi: offset + 1, lim: noLimit, compacted: true },
    { lo: half, hi: half - 1, lim: noLimit, wpanic: true }, // lo > hi
    { lo: last, hi: last + 1, lim: noLimit, wpanic: true }, // hi out of bounds
    // No limit.
    { lo: offset + 1, hi: offset + 1, lim: noLimit, w: [] },
    { lo: offset + 1, hi: half - 1, lim: noLimit, w: entries(offset + 1, half - 1) },
    { lo: offset + 1, hi: half, lim: noLimit, w: entries(offset + 1, half) },
    { lo: offset + 1, hi: half + 1, lim: noLimit, w: entries(offset + 1, half + 1) },
    { lo: offset + 1, hi: last, lim: noLimit, w: entries(offset + 1, last) },
    { lo: half - 1, hi: half, lim: noLimit, w: entries(half - 1, half) },
    { lo: half - 1, hi: half + 1, lim: noLimit, w: entries(half - 1, half + 1) },
    { lo: half - 1, hi: last, lim: noLimit, w: entries(half - 1, last) },
    { lo: half, hi: half + 1, lim: noLimit, w: entries(half, half + 1) },
    { lo: half, hi: last, lim: noLimit, w: entries(half, last) },
    { lo: last - 1, hi: last, lim: noLimit, w: entries(last - 1, last) },
    // At least one entry.
    { lo: offset + 1, hi: last, lim: 0, w: entries(offset + 1, offset + 2) },
    { lo: half - 1, hi: half + 1, lim: 0, w: entries(half - 1, half) },
    { lo: half, hi: last, lim: 0, w: entries(half, half + 1) },
    { lo: half + 1, hi: last, lim: 0, w: entries(half + 1, half + 2) },
    // Low limit.
    { lo: offset + 1, hi: last, lim: size - 1, w: entries(offset + 1, offset + 2) },
    { lo: half - 1, hi: half + 1, lim: size - 1, w: entries(half - 1, half) },
    { lo: half, hi: last, lim: size - 1, w: entries(half, half + 1) },
    // Just enough for one.
    { lo: offset + 1, hi: last, lim: size, w: entries(offset + 1, offset + 2) },
    { lo: half - 1, hi: half + 1, lim: size, w: entries(half - 1, half) },
    { lo: half, hi: last, lim: size, w: entries(half, half + 1) },
    // Not enough for two.
    { lo: offset + 1, hi: last, lim: size + 1, w: entries(offset + 1, offset + 2) },
    { lo: half - 1, hi: half + 1, lim: size + 1, w: entries(half - 1, half) },
    { lo: half, hi: last, lim: size + 1, w: entries(half, half + 1) },
    // Enough for two.
    { lo: offset + 1, hi: last, lim: size * 2, w: entries(offset + 1, offset + 3) },
    { lo: half - 2, hi: half + 1, lim: size * 2, w: entries(half - 2, half) },
    { lo: half - 1, hi: half + 1, lim: size * 2, w: entries(half - 1, half + 1) },
    { lo: half, hi: last, lim: size * 2, w: entries(half, half + 2) },
    // Not enough for three.
    { lo: half - 2, hi: half + 1, lim: size * 3 - 1, w: entries(half - 2, half) },
    // Enough for three.
    { lo: half - 1, hi: half + 2, lim: size * 3, w: entries(half - 1, half + 2) },
    // One byte short of two or three, within storage, within unstable, and across.
    { lo: offset + 1, hi: last, lim: size * 2 - 1, w: entries(offset + 1, offset + 2) },
    { lo: half, hi: last, lim: size * 2 - 1, w: entries(half, half + 1) },
    { lo: half, hi: last, lim: size * 3 - 1, w: entries(half, half + 2) },
    { lo: half - 1, hi: last, lim: size * 3 - 1, w: entries(half - 1, half + 1) },
  ];
  for (const tt of cases) {
    test(`[${tt.lo}, ${tt.hi}) limit ${tt.lim}`, () => {
      if (tt.wpanic) assert.throws(() => l.slice(tt.lo, tt.hi, tt.lim), RaftInvariantError);
      else if (tt.compacted) assert.throws(() => l.slice(tt.lo, tt.hi, tt.lim), CompactedError);
      else assert.deepEqual(entryIds(l.slice(tt.lo, tt.hi, tt.lim)), entryIds(tt.w!));
    });
  }

  test("a limit reached in storage is not topped up from the unstable log", () => {
    // Entry 2 is large, entries 1 and 3 small: storage stops after entry 1,
    // and entry 3 would fit the rest of the budget but must not follow it.
    const ms = new MemoryStorage();
    ms.append([
      newEntry({ index: 1, term: 1 }),
      newEntry({ index: 2, term: 1, data: new Uint8Array(100) }),
    ]);
    const log = newLog(ms, recordingLogger());
    log.append(entsAt(3, 1));
    const small = entrySize(newEntry({ index: 1, term: 1 }));
    assert.deepEqual(entryIds(log.slice(1, 4, small * 2 + 1)), [[1, 1]]);
    assert.deepEqual(entryIds(log.slice(1, 4, noLimit)), [[1, 1], [2, 1], [3, 1]]);
  });

  test("the returned array is the caller's", () => {
    const got = l.slice(half - 1, half + 2, noLimit);
    got.push(newEntry({ index: 1, term: 1 }));
    got[0] = newEntry({ index: 2, term: 2 });
    assert.deepEqual(
      entryIds(l.slice(half - 1, half + 2, noLimit)),
      entryIds(entries(half - 1, half + 2)),
    );
    const unstable = l.slice(half, half + 2, noLimit);
    unstable.length = 0;
    assert.equal(l.unstable.entries.length, last - half);
  });
});

describe("RaftLog.scan()", () => {
  const offset = 47;
  const num = 20;
  const last = offset + num;
  const half = offset + num / 2;
  const entries = (from: number, to: number): Entry[] => termRange(from, from, to);
  const size = entsSize(entries(half, half + 1));

  const storage = new MemoryStorage();
  storage.applySnapshot(snap(offset, 0));
  storage.append(entries(offset + 1, half));
  const l = newLog(storage, recordingLogger());
  l.append(entries(half, last));

  test("scan() returns the same entries as slice() on all inputs", () => {
    for (const pageSize of [0, 1, 10, 100, size, size + 1]) {
      for (let lo = offset + 1; lo < last; lo++) {
        for (let hi = lo; hi <= last; hi++) {
          const got: Entry[] = [];
          l.scan(lo, hi, pageSize, (e) => {
            assert.ok(e.length === 1 || entsSize(e) <= pageSize);
            got.push(...e);
          });
          assert.deepEqual(
            entryIds(got),
            entryIds(l.slice(lo, hi, noLimit)),
            `scan() and slice() differ on [${lo}, ${hi}) @ ${pageSize}`,
          );
        }
      }
    }
  });

  test("the visitor stops the scan by returning false", () => {
    let iters = 0;
    l.scan(offset + 1, half, 0, () => {
      iters++;
      return iters !== 2;
    });
    assert.equal(iters, 2);
  });

  test("what the visitor throws propagates", () => {
    const stop = new Error("stop");
    let iters = 0;
    assert.throws(
      () =>
        l.scan(offset + 1, half, 0, () => {
          if (++iters === 3) throw stop;
        }),
      (e) => e === stop,
    );
    assert.equal(iters, 3);
  });

  test("pages are filled up to the limit", () => {
    let pages = 0;
    l.scan(offset + 1, offset + 11, size * 2, (es) => {
      pages++;
      assert.equal(es.length, 2);
      assert.equal(entsSize(es), size * 2);
    });
    assert.equal(pages, 5);
  });
});

describe("RaftLog snapshots", () => {
  test("restore() logs the log's state and commits the snapshot", () => {
    const logger = recordingLogger();
    const l = newLog(new MemoryStorage(), logger);
    const s = snap(4, 1);
    l.restore(s);
    assert.deepEqual(logger.lines, [
      "INFO log [committed=0, applied=0, applying=0, unstable.offset=1, " +
      "unstable.offsetInProgress=1, len(unstable.Entries)=0] starts to restore snapshot [index: 4, term: 1]",
    ]);
    assert.equal(l.committed, 4);
    assert.equal(l.firstIndex(), 5);
    assert.equal(l.lastIndex(), 4);
    assert.equal(l.hasNextUnstableSnapshot(), true);
    assert.equal(l.hasNextOrInProgressSnapshot(), true);
    assert.deepEqual(l.nextUnstableSnapshot(), s);
    assert.deepEqual(l.snapshot(), s);
    assert.notEqual(l.snapshot(), l.unstable.snapshot);

    l.acceptUnstable();
    assert.equal(l.hasNextUnstableSnapshot(), false);
    assert.equal(l.nextUnstableSnapshot(), undefined);
    assert.equal(l.hasNextOrInProgressSnapshot(), true);

    l.stableSnapTo(4);
    assert.equal(l.hasNextOrInProgressSnapshot(), false);
  });

  test("snapshot() falls back to storage", () => {
    const ms = new MemoryStorage();
    ms.applySnapshot(snap(7, 3));
    const l = newLog(ms, recordingLogger());
    assert.deepEqual(l.snapshot(), snap(7, 3));
  });
});

test("RaftLog.toString() follows etcd's format", () => {
  const l = logWith(entsAt(1, 1, 1, 1));
  l.acceptUnstable();
  l.stableTo({ index: 1, term: 1 });
  l.commitTo(2);
  l.acceptApplying(2, 0, true);
  l.appliedTo(1, 0);
  assert.equal(
    l.toString(),
    "committed=2, applied=1, applying=2, unstable.offset=2, unstable.offsetInProgress=4, " +
      "len(unstable.Entries)=2",
  );
});

describe("RaftLog.maybeCommit()", () => {
  test("commits a matching entry past the commit index", () => {
    const l = logWith(entsAt(1, 1, 2, 2));
    assert.equal(l.maybeCommit({ index: 3, term: 2 }), true);
    assert.equal(l.committed, 3);
    assert.equal(l.maybeCommit({ index: 2, term: 2 }), false);
  });

  test("ignores a term mismatch and term 0", () => {
    const l = logWith(entsAt(1, 0, 2));
    assert.equal(l.maybeCommit({ index: 2, term: 1 }), false);
    assert.equal(l.maybeCommit({ index: 1, term: 0 }), false);
    assert.equal(l.committed, 0);
  });
});

test("pbEntryId() takes an entry's term and index", () => {
  const e = newEntry({ index: 123, term: 10, type: EntryType.EntryConfChange });
  assert.deepEqual(pbEntryId(e), { term: 10, index: 123 });
});

test("RaftLog.entries() returns nothing past the end", () => {
  const l = logWith(entsAt(1, 1, 1));
  assert.deepEqual(l.entries(3, noLimit), []);
  assert.deepEqual(entryIds(l.entries(2, noLimit)), [[2, 1]]);
});
