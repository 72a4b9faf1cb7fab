// Snapshots: sending them (pending snapshot, pausing, MsgSnapStatus and
// RawNode.reportSnapshot), and restoring them on followers and learners.
// Ported from etcd raft's raft_snap_test.go and the TestRestore*,
// TestProvideSnap, TestIgnoreProvidingSnap, TestRestoreFromSnapMsg and
// TestSlowNodeRestore tests of raft_test.go.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Raft } from "./raft.ts";
import { RawNode, rawNodeRaft } from "./raw_node.ts";
import type { Progress } from "./tracker/progress.ts";
import { ProgressState } from "./tracker/state.ts";
import {
  type ConfState,
  MessageType,
  newConfState,
  newSnapshot,
  type Snapshot,
  SnapshotStatus,
  StateType,
} from "./types.ts";
import {
  entsAt,
  msg,
  msgBeat,
  msgHup,
  msgProp,
  newNetwork,
  newTestLearnerRaft,
  newTestMemoryStorage,
  newTestRaft,
  nextEnts,
  readMessages,
  setRandomizedElectionTimeout,
} from "../tests/raft/network.ts";

/** A snapshot at index 11, term 11 (etcd's magic numbers). */
function snapAt11(cs: Partial<ConfState>): Snapshot {
  return newSnapshot({ index: 11, term: 11, confState: newConfState(cs) });
}

/** A leader (term 1) restored from a snapshot at 11 with voters 1 and 2. */
function leaderAfterSnapshot(peers: number[]): Raft {
  const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers }));
  sm.restore(snapAt11({ voters: [1, 2] }));
  sm.becomeCandidate();
  sm.becomeLeader();
  return sm;
}

/**
 * A {@linkcode leaderAfterSnapshot} whose follower 2 just refused an append
 * below the first index: entries cannot help it, only a snapshot can.
 */
function leaderRefusedBelowFirstIndex(): { sm: Raft; pr2: Progress } {
  const sm = leaderAfterSnapshot([1]);
  const pr2 = sm.trk.progress.get(2)!;
  pr2.next = sm.raftLog.firstIndex();
  sm.step(msg({
    type: MessageType.MsgAppResp,
    from: 2,
    to: 1,
    index: pr2.next - 1,
    reject: true,
  }));
  return { sm, pr2 };
}

test("Raft leader records the pending snapshot it sends (TestSendingSnapshotSetPendingSnapshot)", () => {
  const { pr2 } = leaderRefusedBelowFirstIndex();
  assert.equal(pr2.pendingSnapshot, 11);
  assert.equal(pr2.state, ProgressState.StateSnapshot);
});

test("Raft leader sends nothing to a follower with a pending snapshot (TestPendingSnapshotPauseReplication)", () => {
  const sm = leaderAfterSnapshot([1, 2]);
  sm.trk.progress.get(2)!.becomeSnapshot(11);
  sm.step(msgProp(1));
  assert.deepEqual(readMessages(sm), []);
});

/** MsgSnapStatus ends the pending snapshot either way; `next` shows which way. */
const snapStatusCases = [
  {
    name:
      "Raft leader probes from the old next after MsgSnapStatus reports a failure (TestSnapshotFailure)",
    reject: true,
    wnext: 1,
  },
  {
    name:
      "Raft leader probes after the snapshot once MsgSnapStatus reports success (TestSnapshotSucceed)",
    reject: false,
    wnext: 12,
  },
];
for (const { name, reject, wnext } of snapStatusCases) {
  test(name, () => {
    const sm = leaderAfterSnapshot([1, 2]);
    const pr2 = sm.trk.progress.get(2)!;
    pr2.next = 1;
    pr2.becomeSnapshot(11);
    sm.step(msg({ type: MessageType.MsgSnapStatus, from: 2, to: 1, reject }));
    assert.equal(pr2.pendingSnapshot, 0);
    assert.equal(pr2.next, wnext);
    assert.equal(pr2.state, ProgressState.StateProbe);
    assert.equal(pr2.msgAppFlowPaused, true);
  });
}

test("Raft leader ignores MsgSnapStatus from a follower not in StateSnapshot", () => {
  const sm = leaderAfterSnapshot([1, 2]);
  const pr2 = sm.trk.progress.get(2)!;
  pr2.becomeReplicate();
  const next = pr2.next;
  sm.step(msg({ type: MessageType.MsgSnapStatus, from: 2, to: 1, reject: true }));
  assert.equal(pr2.state, ProgressState.StateReplicate);
  assert.equal(pr2.next, next);
  assert.equal(pr2.msgAppFlowPaused, false);
});

test("Raft leader ends a pending snapshot on a MsgAppResp at or past it (TestSnapshotAbort)", () => {
  const sm = leaderAfterSnapshot([1, 2]);
  const pr2 = sm.trk.progress.get(2)!;
  pr2.next = 1;
  pr2.becomeSnapshot(11);
  sm.step(msg({ type: MessageType.MsgAppResp, from: 2, to: 1, index: 11 }));
  assert.equal(pr2.pendingSnapshot, 0);
  // Replicating: the empty entry at 12 was sent optimistically.
  assert.equal(pr2.state, ProgressState.StateReplicate);
  assert.equal(pr2.next, 13);
  assert.equal(pr2.inflights.count(), 1);
});

test("RawNode.reportSnapshot() reports success and failure to the leader", () => {
  for (const status of [SnapshotStatus.SnapshotFinish, SnapshotStatus.SnapshotFailure]) {
    const s = newTestMemoryStorage({ peers: [1, 2] });
    const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: s });
    rawNodeRaft(rn).restore(snapAt11({ voters: [1, 2] }));
    rawNodeRaft(rn).becomeCandidate();
    rawNodeRaft(rn).becomeLeader();
    const pr2 = rawNodeRaft(rn).trk.progress.get(2)!;
    pr2.next = 1;
    pr2.becomeSnapshot(11);
    rn.reportSnapshot(2, status);
    assert.equal(pr2.state, ProgressState.StateProbe, `status ${status}`);
    assert.equal(pr2.pendingSnapshot, 0);
    assert.equal(pr2.next, status === SnapshotStatus.SnapshotFinish ? 12 : 1);
    assert.equal(pr2.msgAppFlowPaused, true);
  }
  // On a follower the report is ignored rather than thrown.
  const rn = new RawNode({
    id: 1,
    electionTick: 10,
    heartbeatTick: 1,
    storage: newTestMemoryStorage({ peers: [1, 2] }),
  });
  rn.reportSnapshot(2, SnapshotStatus.SnapshotFailure);
  assert.equal(rawNodeRaft(rn).state, StateType.StateFollower);
});

test("Raft.restore() installs a snapshot's log position and voters (TestRestore)", () => {
  const s = snapAt11({ voters: [1, 2, 3] });
  const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2] }));
  assert.equal(sm.restore(s), true);
  assert.equal(sm.raftLog.lastIndex(), 11);
  assert.equal(sm.raftLog.term(11), 11);
  assert.deepEqual(sm.trk.voterNodes(), [1, 2, 3]);
  assert.equal(sm.restore(s), false);
  // Not promotable while the snapshot is unapplied.
  for (let i = 0; i < sm.randomizedElectionTimeout; i++) sm.tick();
  assert.equal(sm.state, StateType.StateFollower);
});

test("Raft.restore() installs learners from a snapshot (TestRestoreWithLearner)", () => {
  const s = snapAt11({ voters: [1, 2], learners: [3] });
  const sm = newTestLearnerRaft(3, 8, 2, newTestMemoryStorage({ peers: [1, 2], learners: [3] }));
  assert.equal(sm.restore(s), true);
  assert.equal(sm.raftLog.lastIndex(), 11);
  assert.equal(sm.raftLog.term(11), 11);
  assert.deepEqual(sm.trk.voterNodes(), [1, 2]);
  assert.deepEqual(sm.trk.learnerNodes(), [3]);
  for (const n of [1, 2]) assert.equal(sm.trk.progress.get(n)!.isLearner, false);
  assert.equal(sm.trk.progress.get(3)!.isLearner, true);
  assert.equal(sm.restore(s), false);
});

test("Raft.restore() installs a joint configuration for an outgoing voter (TestRestoreWithVotersOutgoing)", () => {
  const s = snapAt11({ voters: [2, 3, 4], votersOutgoing: [1, 2, 3] });
  const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2] }));
  assert.equal(sm.restore(s), true);
  assert.equal(sm.raftLog.lastIndex(), 11);
  assert.equal(sm.raftLog.term(11), 11);
  assert.deepEqual(sm.trk.voterNodes(), [1, 2, 3, 4]);
  assert.equal(sm.restore(s), false);
  // It must not campaign before the snapshot is applied.
  for (let i = 0; i < sm.randomizedElectionTimeout; i++) sm.tick();
  assert.equal(sm.state, StateType.StateFollower);
});

test("Raft.restore() accepts a snapshot that demotes this voter to learner (TestRestoreVoterToLearner)", () => {
  const s = snapAt11({ voters: [1, 2], learners: [3] });
  const sm = newTestRaft(3, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  assert.equal(sm.isLearner, false);
  assert.equal(sm.restore(s), true);
  assert.equal(sm.isLearner, true);
});

test("Raft.restore() promotes a learner named a voter in the snapshot (TestRestoreLearnerPromotion)", () => {
  const s = snapAt11({ voters: [1, 2, 3] });
  const sm = newTestLearnerRaft(3, 10, 1, newTestMemoryStorage({ peers: [1, 2], learners: [3] }));
  assert.equal(sm.isLearner, true);
  assert.equal(sm.restore(s), true);
  assert.equal(sm.isLearner, false);
});

test("Raft.restore() refuses a snapshot that does not include this node", () => {
  const sm = newTestRaft(3, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  assert.equal(sm.restore(snapAt11({ voters: [1, 2] })), false);
  assert.equal(sm.raftLog.lastIndex(), 0);
  assert.deepEqual(sm.trk.voterNodes(), [1, 2, 3]);
});

test("Raft learner catches up through a snapshot from the leader (TestLearnerReceiveSnapshot)", () => {
  const s = snapAt11({ voters: [1], learners: [2] });
  const store = newTestMemoryStorage({ peers: [1], learners: [2] });
  const n1 = newTestLearnerRaft(1, 10, 1, store);
  const n2 = newTestLearnerRaft(2, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  n1.restore(s);
  const snap = n1.raftLog.nextUnstableSnapshot()!;
  store.applySnapshot(snap);
  n1.appliedSnap(snap);

  const nt = newNetwork(n1, n2);
  setRandomizedElectionTimeout(n1, n1.electionTimeout);
  for (let i = 0; i < n1.electionTimeout; i++) n1.tick();
  nt.send(msgBeat(1));
  assert.equal(n1.state, StateType.StateLeader);
  assert.equal(n2.raftLog.committed, n1.raftLog.committed);
  assert.ok(n2.raftLog.committed >= 11);
});

test("Raft.restore() ignores an old snapshot but fast-forwards commit to a known one (TestRestoreIgnoreSnapshot)", () => {
  const commit = 1;
  const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2] }));
  sm.raftLog.append(entsAt(1, 1, 1, 1));
  sm.raftLog.commitTo(commit);
  const s = newSnapshot({ index: commit, term: 1, confState: newConfState({ voters: [1, 2] }) });
  assert.equal(sm.restore(s), false);
  assert.equal(sm.raftLog.committed, commit);
  s.metadata.index = commit + 1;
  assert.equal(sm.restore(s), false);
  assert.equal(sm.raftLog.committed, commit + 1);
});

test("Raft leader sends a snapshot to a follower behind its first index (TestProvideSnap)", () => {
  const { sm } = leaderRefusedBelowFirstIndex();
  const msgs = readMessages(sm);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgSnap);
  assert.equal(msgs[0]!.snapshot!.metadata.index, 11);
});

test("Raft leader sends no snapshot to an inactive follower (TestIgnoreProvidingSnap)", () => {
  const sm = leaderAfterSnapshot([1]);
  const pr2 = sm.trk.progress.get(2)!;
  pr2.next = sm.raftLog.firstIndex() - 1;
  pr2.recentActive = false;
  sm.step(msgProp(1));
  assert.deepEqual(readMessages(sm), []);
  assert.equal(pr2.state, ProgressState.StateProbe);
});

test("Raft follower learns the leader from a MsgSnap (TestRestoreFromSnapMsg)", () => {
  const s = snapAt11({ voters: [1, 2] });
  const sm = newTestRaft(2, 10, 1, newTestMemoryStorage({ peers: [1, 2] }));
  sm.step(msg({ type: MessageType.MsgSnap, from: 1, term: 2, snapshot: s }));
  assert.equal(sm.lead, 1);
  assert.equal(sm.term, 2);
  assert.equal(sm.raftLog.committed, 11);
  // The follower acknowledges the snapshot's index.
  const msgs = readMessages(sm);
  assert.deepEqual(msgs.map((m) => [m.type, m.to, m.index]), [[MessageType.MsgAppResp, 1, 11]]);
});

test("Raft follower cut off past a compaction catches up via snapshot (TestSlowNodeRestore)", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.send(msgHup(1));
  nt.isolate(3);
  for (let j = 0; j <= 100; j++) nt.send(msgProp(1, new Uint8Array()));
  const lead = nt.raft(1);
  nextEnts(lead, nt.storageOf(1));
  nt.storageOf(1).createSnapshot(
    lead.raftLog.applied,
    newConfState({ voters: lead.trk.voterNodes() }),
    new Uint8Array(),
  );
  nt.storageOf(1).compact(lead.raftLog.applied);

  nt.recover();
  // Heartbeats until the leader knows node 3 is active again.
  for (let i = 0; !lead.trk.progress.get(3)!.recentActive; i++) {
    assert.ok(i < 100, "node 3 never became active");
    nt.send(msgBeat(1));
  }
  // This proposal triggers the snapshot...
  nt.send(msgProp(1, new Uint8Array()));
  const follower = nt.raft(3);
  assert.ok(follower.raftLog.firstIndex() > 1, "the follower restored a snapshot");
  // ...and this one its commit.
  nt.send(msgProp(1, new Uint8Array()));
  assert.equal(follower.raftLog.committed, lead.raftLog.committed);
});
