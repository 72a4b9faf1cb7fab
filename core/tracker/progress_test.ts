import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RaftInvariantError } from "../_assert.ts";
import { Inflights } from "./inflights.ts";
import { Progress, ProgressMap } from "./progress.ts";
import { ProgressState } from "./state.ts";

const { StateProbe, StateReplicate, StateSnapshot } = ProgressState;

test("Progress.toString() prints every flag in etcd's order", () => {
  const ins = new Inflights(1, 0);
  ins.add(123, 1);
  const pr = new Progress({
    match: 1,
    next: 2,
    state: StateSnapshot,
    pendingSnapshot: 123,
    recentActive: false,
    msgAppFlowPaused: true,
    isLearner: true,
    inflights: ins,
  });
  assert.equal(
    pr.toString(),
    "StateSnapshot match=1 next=2 learner paused pendingSnap=123 inactive inflight=1[full]",
  );
  const quiet = new Progress({
    match: 3,
    next: 4,
    recentActive: true,
    inflights: new Inflights(2, 0),
  });
  assert.equal(quiet.toString(), "StateProbe match=3 next=4");
  quiet.inflights.add(4, 1);
  assert.equal(quiet.toString(), "StateProbe match=3 next=4 inflight=1");
});

test("Progress.isPaused() by state and flow flag", () => {
  const cases: [ProgressState, boolean, boolean][] = [
    [StateProbe, false, false],
    [StateProbe, true, true],
    [StateReplicate, false, false],
    [StateReplicate, true, true],
    [StateSnapshot, false, true],
    [StateSnapshot, true, true],
  ];
  for (const [state, paused, want] of cases) {
    const p = new Progress({ state, msgAppFlowPaused: paused, inflights: new Inflights(256, 0) });
    assert.equal(p.isPaused(), want, `state ${state} paused ${paused}`);
  }
  const bad = new Progress({ state: 7 as ProgressState, inflights: new Inflights(1, 0) });
  assert.throws(() => bad.isPaused(), RaftInvariantError);
});

test("Progress.maybeDecrTo() and maybeUpdate() resume a paused flow", () => {
  const p = new Progress({ next: 2, msgAppFlowPaused: true, inflights: new Inflights(1, 0) });
  p.maybeDecrTo(1, 1);
  assert.equal(p.msgAppFlowPaused, false);
  p.msgAppFlowPaused = true;
  p.maybeUpdate(2);
  assert.equal(p.msgAppFlowPaused, false);
});

describe("Progress.becomeProbe()", () => {
  const cases = [
    { name: "from replicate", state: StateReplicate, pendingSnapshot: 0, wnext: 2 },
    { name: "snapshot finished", state: StateSnapshot, pendingSnapshot: 10, wnext: 11 },
    { name: "snapshot failed", state: StateSnapshot, pendingSnapshot: 0, wnext: 2 },
  ];
  for (const tc of cases) {
    test(`sets next: ${tc.name}`, () => {
      const ins = new Inflights(256, 0);
      ins.add(4, 1);
      const p = new Progress({
        state: tc.state,
        match: 1,
        next: 5,
        pendingSnapshot: tc.pendingSnapshot,
        msgAppFlowPaused: true,
        inflights: ins,
      });
      p.becomeProbe();
      assert.equal(p.state, StateProbe);
      assert.equal(p.match, 1);
      assert.equal(p.next, tc.wnext);
      assert.equal(p.pendingSnapshot, 0);
      assert.equal(p.msgAppFlowPaused, false);
      assert.equal(p.inflights.count(), 0);
    });
  }

  test("lowers sentCommit to next - 1", () => {
    const p = new Progress({
      state: StateReplicate,
      match: 3,
      next: 9,
      sentCommit: 8,
      inflights: new Inflights(4, 0),
    });
    p.becomeProbe();
    assert.equal(p.sentCommit, 3);
    p.sentCommit = 1;
    p.becomeProbe();
    assert.equal(p.sentCommit, 1);
  });
});

test("Progress.becomeReplicate() resets next to match + 1", () => {
  const p = new Progress({
    state: StateProbe,
    match: 1,
    next: 5,
    inflights: new Inflights(256, 0),
  });
  p.becomeReplicate();
  assert.equal(p.state, StateReplicate);
  assert.equal(p.match, 1);
  assert.equal(p.next, 2);
});

test("Progress.becomeSnapshot() records the pending snapshot", () => {
  const p = new Progress({
    state: StateProbe,
    match: 1,
    next: 5,
    inflights: new Inflights(256, 0),
  });
  p.becomeSnapshot(10);
  assert.equal(p.state, StateSnapshot);
  assert.equal(p.match, 1);
  assert.equal(p.pendingSnapshot, 10);
  assert.equal(p.next, 11);
  assert.equal(p.sentCommit, 10);
  assert.equal(p.isPaused(), true);
});

test("Progress.maybeUpdate() never lowers match or next", () => {
  const prevM = 3;
  const prevN = 5;
  const cases = [
    { update: prevM - 1, wm: prevM, wn: prevN, wok: false },
    { update: prevM, wm: prevM, wn: prevN, wok: false },
    { update: prevM + 1, wm: prevM + 1, wn: prevN, wok: true },
    { update: prevM + 2, wm: prevM + 2, wn: prevN + 1, wok: true },
  ];
  for (const tc of cases) {
    const p = new Progress({ match: prevM, next: prevN, inflights: new Inflights(1, 0) });
    assert.equal(p.maybeUpdate(tc.update), tc.wok, `update ${tc.update}`);
    assert.equal(p.match, tc.wm, `update ${tc.update}`);
    assert.equal(p.next, tc.wn, `update ${tc.update}`);
  }
});

test("Progress.maybeDecrTo() ignores stale rejections and lowers next", () => {
  const cases: {
    state: ProgressState;
    m: number;
    n: number;
    rejected: number;
    last: number;
    w: boolean;
    wn: number;
  }[] = [
    // Replicate: rejected not above match is stale.
    { state: StateReplicate, m: 5, n: 10, rejected: 5, last: 5, w: false, wn: 10 },
    { state: StateReplicate, m: 5, n: 10, rejected: 4, last: 4, w: false, wn: 10 },
    // Replicate: rejected above match goes straight to match + 1.
    { state: StateReplicate, m: 5, n: 10, rejected: 9, last: 9, w: true, wn: 6 },
    // Probe: anything but next - 1 is stale.
    { state: StateProbe, m: 0, n: 0, rejected: 0, last: 0, w: false, wn: 0 },
    { state: StateProbe, m: 0, n: 10, rejected: 5, last: 5, w: false, wn: 10 },
    // Probe: next goes down by one.
    { state: StateProbe, m: 0, n: 10, rejected: 9, last: 9, w: true, wn: 9 },
    { state: StateProbe, m: 0, n: 2, rejected: 1, last: 1, w: true, wn: 1 },
    // Probe: next is at least 1.
    { state: StateProbe, m: 0, n: 1, rejected: 0, last: 0, w: true, wn: 1 },
    // Probe: next goes down to min(rejected, last + 1).
    { state: StateProbe, m: 0, n: 10, rejected: 9, last: 2, w: true, wn: 3 },
    { state: StateProbe, m: 0, n: 10, rejected: 9, last: 0, w: true, wn: 1 },
  ];
  for (const [i, tc] of cases.entries()) {
    const p = new Progress({
      state: tc.state,
      match: tc.m,
      next: tc.n,
      inflights: new Inflights(1, 0),
    });
    assert.equal(p.maybeDecrTo(tc.rejected, tc.last), tc.w, `case ${i}`);
    assert.equal(p.match, tc.m, `case ${i}`);
    assert.equal(p.next, tc.wn, `case ${i}`);
  }
});

test("Progress.maybeDecrTo() regresses sentCommit below next", () => {
  const p = new Progress({
    state: StateReplicate,
    match: 5,
    next: 10,
    sentCommit: 9,
    inflights: new Inflights(4, 0),
  });
  assert.equal(p.maybeDecrTo(9, 9), true);
  assert.equal(p.sentCommit, 5);
});

describe("Progress.sentEntries()", () => {
  test("in StateReplicate advances next, records the message, pauses when full", () => {
    const p = new Progress({
      state: StateReplicate,
      match: 4,
      next: 5,
      inflights: new Inflights(2, 0),
    });
    p.sentEntries(3, 30);
    assert.equal(p.next, 8);
    assert.equal(p.inflights.count(), 1);
    assert.equal(p.inflights.bytes(), 30);
    assert.equal(p.msgAppFlowPaused, false);
    p.sentEntries(1, 5);
    assert.equal(p.next, 9);
    assert.equal(p.msgAppFlowPaused, true);
    // An empty message with a full window keeps the flow paused.
    p.sentEntries(0, 0);
    assert.equal(p.next, 9);
    assert.equal(p.inflights.count(), 2);
    assert.equal(p.msgAppFlowPaused, true);
  });

  test("in StateReplicate pauses when the byte limit is reached", () => {
    const p = new Progress({ state: StateReplicate, next: 1, inflights: new Inflights(10, 100) });
    p.sentEntries(1, 60);
    assert.equal(p.msgAppFlowPaused, false);
    p.sentEntries(1, 60);
    assert.equal(p.msgAppFlowPaused, true);
  });

  test("in StateProbe pauses after a non-empty message only", () => {
    const p = new Progress({ state: StateProbe, next: 5, inflights: new Inflights(2, 0) });
    p.sentEntries(0, 0);
    assert.equal(p.msgAppFlowPaused, false);
    p.sentEntries(2, 10);
    assert.equal(p.msgAppFlowPaused, true);
    assert.equal(p.next, 5);
    assert.equal(p.inflights.count(), 0);
  });

  test("in StateSnapshot is a broken invariant", () => {
    const p = new Progress({ state: StateSnapshot, next: 5, inflights: new Inflights(2, 0) });
    assert.throws(
      () => p.sentEntries(1, 1),
      (e: unknown) =>
        e instanceof RaftInvariantError &&
        e.message === "sending append in unhandled state StateSnapshot",
    );
  });
});

test("Progress.canBumpCommit() until the sent commit reaches next - 1", () => {
  const p = new Progress({
    state: StateReplicate,
    match: 3,
    next: 8,
    inflights: new Inflights(2, 0),
  });
  p.setSentCommit(5);
  assert.equal(p.sentCommit, 5);
  assert.equal(p.canBumpCommit(5), false);
  assert.equal(p.canBumpCommit(6), true);
  p.setSentCommit(7);
  assert.equal(p.canBumpCommit(9), false);
});

test("Progress.clone() copies the in-flight window too", () => {
  const p = new Progress({
    state: StateReplicate,
    match: 1,
    next: 2,
    inflights: new Inflights(4, 0),
  });
  p.sentEntries(1, 10);
  const c = p.clone();
  assert.equal(c.toString(), p.toString());
  c.sentEntries(1, 10);
  c.isLearner = true;
  assert.equal(p.inflights.count(), 1);
  assert.equal(p.next, 3);
  assert.equal(p.isLearner, false);
  assert.equal(c.inflights.count(), 2);
});

describe("ProgressMap", () => {
  const pr = (match: number): Progress =>
    new Progress({ match, next: match + 1, recentActive: true, inflights: new Inflights(1, 0) });

  test("toString() prints one line per node in ascending ID order", () => {
    const m = new ProgressMap([[10, pr(1)], [2, pr(2)]]);
    assert.equal(m.toString(), "2: StateProbe match=2 next=3\n10: StateProbe match=1 next=2\n");
    assert.equal(new ProgressMap().toString(), "");
  });

  test("sortedIds() follows additions and removals", () => {
    const m = new ProgressMap();
    assert.deepEqual(m.sortedIds(), []);
    m.set(3, pr(0));
    m.set(1, pr(0));
    const ids = m.sortedIds();
    assert.deepEqual(ids, [1, 3]);
    // Replacing a progress keeps the cached list.
    m.set(3, pr(5));
    assert.equal(m.sortedIds(), ids);
    m.set(2, pr(0));
    assert.deepEqual(m.sortedIds(), [1, 2, 3]);
    assert.deepEqual(ids, [1, 3]);
    m.delete(1);
    assert.deepEqual(m.sortedIds(), [2, 3]);
    assert.equal(m.delete(42), false);
    m.clear();
    assert.deepEqual(m.sortedIds(), []);
  });
});
