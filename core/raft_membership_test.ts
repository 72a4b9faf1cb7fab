// Membership and roles: proposing conf changes (one pending at a time),
// applying them to the tracker, who may campaign, and how terms move roles.
// Ported from etcd raft's raft_test.go (TestStepConfig, TestStepIgnoreConfig,
// TestNewLeaderPendingConfig, TestAddNode, TestAddLearner,
// TestAddNodeCheckQuorum, TestRemoveNode, TestRemoveLearner, TestPromotable,
// TestRaftNodes, TestCampaignWhileLeader, TestCommitAfterRemoveNode) and
// raft_paper_test.go (TestFollower/Candidate/LeaderUpdateTermFromMessage).
import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftInvariantError } from "./_assert.ts";
import { encodeConfChange } from "./codec.ts";
import { Raft } from "./raft.ts";
import {
  type ConfChange,
  confChangeAsV2,
  ConfChangeType,
  EntryType,
  MessageType,
  newConfChange,
  newEntry,
  StateType,
} from "./types.ts";
import {
  msg,
  msgHup,
  mustAppendEntry,
  newTestConfig,
  newTestLearnerRaft,
  newTestMemoryStorage,
  newTestRaft,
  nextEnts,
  readMessages,
} from "../tests/raft/network.ts";

function cc(type: ConfChangeType, nodeId: number): ConfChange {
  return newConfChange({ type, nodeId });
}

const addNode = (id: number) => confChangeAsV2(cc(ConfChangeType.ConfChangeAddNode, id));
const addLearner = (id: number) => confChangeAsV2(cc(ConfChangeType.ConfChangeAddLearnerNode, id));
const removeNode = (id: number) => confChangeAsV2(cc(ConfChangeType.ConfChangeRemoveNode, id));

function confChangeProp(): ReturnType<typeof msg> {
  return msg({
    type: MessageType.MsgProp,
    from: 1,
    to: 1,
    entries: [newEntry({ type: EntryType.EntryConfChange })],
  });
}

function newLeader(peers: number[]): Raft {
  const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers }));
  r.becomeCandidate();
  r.becomeLeader();
  return r;
}

test("Raft leader appends a proposed conf change and marks it pending (TestStepConfig)", () => {
  const r = newLeader([1, 2]);
  const index = r.raftLog.lastIndex();
  r.step(confChangeProp());
  assert.equal(r.raftLog.lastIndex(), index + 1);
  assert.equal(r.pendingConfIndex, index + 1);
});

test("Raft leader turns a second pending conf change into an empty entry (TestStepIgnoreConfig)", () => {
  const r = newLeader([1, 2]);
  r.step(confChangeProp());
  const index = r.raftLog.lastIndex();
  const pendingConfIndex = r.pendingConfIndex;
  r.step(confChangeProp());
  const ents = r.raftLog.entries(index + 1, Infinity);
  assert.deepEqual(ents, [newEntry({ type: EntryType.EntryNormal, term: 1, index: 3 })]);
  assert.equal(r.pendingConfIndex, pendingConfIndex);
});

test("Raft leader accepts a new conf change once the pending one is applied", () => {
  const s = newTestMemoryStorage({ peers: [1] });
  const r = newTestRaft(1, 10, 1, s);
  r.becomeCandidate();
  r.becomeLeader();
  r.step(confChangeProp());
  nextEnts(r, s); // commits and applies the conf change
  assert.equal(r.raftLog.applied, r.pendingConfIndex);
  r.step(confChangeProp());
  const last = r.raftLog.entries(r.raftLog.lastIndex(), Infinity)[0]!;
  assert.equal(last.type, EntryType.EntryConfChange);
  assert.equal(r.pendingConfIndex, last.index);
});

test("Raft new leader treats its uncommitted tail as a possibly pending conf change (TestNewLeaderPendingConfig)", () => {
  for (const [addEntry, wpendingIndex] of [[false, 0], [true, 1]] as const) {
    const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2] }));
    if (addEntry) mustAppendEntry(r, newEntry({ type: EntryType.EntryNormal }));
    r.becomeCandidate();
    r.becomeLeader();
    assert.equal(r.pendingConfIndex, wpendingIndex, `addEntry=${addEntry}`);
  }
});

test("Raft.applyConfChange() adds a voter (TestAddNode)", () => {
  const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] }));
  r.applyConfChange(addNode(2));
  assert.deepEqual(r.trk.voterNodes(), [1, 2]);
});

test("Raft.applyConfChange() adds, promotes and demotes learners (TestAddLearner)", () => {
  const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] }));
  r.applyConfChange(addLearner(2));
  assert.equal(r.isLearner, false);
  assert.deepEqual(r.trk.learnerNodes(), [2]);
  assert.equal(r.trk.progress.get(2)!.isLearner, true);

  r.applyConfChange(addNode(2));
  assert.equal(r.trk.progress.get(2)!.isLearner, false);

  r.applyConfChange(addLearner(1));
  assert.equal(r.trk.progress.get(1)!.isLearner, true);
  assert.equal(r.isLearner, true);

  r.applyConfChange(addNode(1));
  assert.equal(r.trk.progress.get(1)!.isLearner, false);
  assert.equal(r.isLearner, false);
});

test("Raft leader with CheckQuorum gives an added node a full election timeout (TestAddNodeCheckQuorum)", () => {
  const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] }), { checkQuorum: true });
  r.becomeCandidate();
  r.becomeLeader();
  for (let i = 0; i < r.electionTimeout - 1; i++) r.tick();
  r.applyConfChange(addNode(2));
  // This tick reaches the election timeout and checks the quorum.
  r.tick();
  assert.equal(r.state, StateType.StateLeader);
  for (let i = 0; i < r.electionTimeout; i++) r.tick();
  assert.equal(r.state, StateType.StateFollower);
});

test("Raft.applyConfChange() removes a voter, and removing the last one breaks an invariant (TestRemoveNode)", () => {
  const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2] }));
  r.applyConfChange(removeNode(2));
  assert.deepEqual(r.trk.voterNodes(), [1]);
  assert.throws(() => r.applyConfChange(removeNode(1)), RaftInvariantError);
});

test("Raft.applyConfChange() removes a learner (TestRemoveLearner)", () => {
  const r = newTestLearnerRaft(1, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  r.applyConfChange(removeNode(2));
  assert.deepEqual(r.trk.voterNodes(), [1]);
  assert.deepEqual(r.trk.learnerNodes(), []);
  assert.throws(() => r.applyConfChange(removeNode(1)), RaftInvariantError);
});

test("Raft is promotable only as a voter of its configuration (TestPromotable)", () => {
  const cases: Array<[number[], boolean]> = [
    [[1], true],
    [[1, 2, 3], true],
    [[], false],
    [[2, 3], false],
  ];
  for (const [peers, wp] of cases) {
    const r = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers }));
    assert.equal(r.promotable(), wp, `peers ${peers}`);
  }
  const learner = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers: [2], learners: [1] }));
  assert.equal(learner.promotable(), false);
});

test("Raft lists voters in ascending order (TestRaftNodes)", () => {
  for (const ids of [[1, 2, 3], [3, 2, 1]]) {
    const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: ids }));
    assert.deepEqual(r.trk.voterNodes(), [1, 2, 3]);
  }
});

test("Raft leader ignores MsgHup, with and without PreVote (TestCampaignWhileLeader)", () => {
  for (const preVote of [false, true]) {
    const cfg = newTestConfig(1, 5, 1, newTestMemoryStorage({ peers: [1] }));
    cfg.preVote = preVote;
    const r = new Raft(cfg);
    assert.equal(r.state, StateType.StateFollower);
    r.step(msgHup(1));
    readMessages(r);
    assert.equal(r.state, StateType.StateLeader, `preVote=${preVote}`);
    const term = r.term;
    r.step(msgHup(1));
    readMessages(r);
    assert.equal(r.state, StateType.StateLeader);
    assert.equal(r.term, term);
  }
});

test("Raft learner does not campaign on MsgHup or election timeout", () => {
  const r = newTestLearnerRaft(2, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  r.step(msgHup(2));
  for (let i = 0; i < 2 * r.electionTimeout; i++) r.tick();
  assert.equal(r.state, StateType.StateFollower);
  assert.equal(r.term, 0);
  assert.deepEqual(readMessages(r), []);
});

test("Raft leader commits pending entries once a removal shrinks the quorum (TestCommitAfterRemoveNode)", () => {
  const s = newTestMemoryStorage({ peers: [1, 2] });
  const r = newTestRaft(1, 5, 1, s);
  r.becomeCandidate();
  r.becomeLeader();

  const remove = cc(ConfChangeType.ConfChangeRemoveNode, 2);
  r.step(msg({
    type: MessageType.MsgProp,
    entries: [newEntry({ type: EntryType.EntryConfChange, data: encodeConfChange(remove) })],
  }));
  assert.deepEqual(nextEnts(r, s), []);
  const ccIndex = r.raftLog.lastIndex();

  r.step(msg({
    type: MessageType.MsgProp,
    entries: [newEntry({ data: new TextEncoder().encode("hello") })],
  }));

  // Node 2 acknowledges the conf change, committing it.
  r.step(msg({ type: MessageType.MsgAppResp, from: 2, index: ccIndex }));
  let ents = nextEnts(r, s);
  assert.deepEqual(ents.map((e) => [e.type, e.data.length]), [
    [EntryType.EntryNormal, 0],
    [EntryType.EntryConfChange, encodeConfChange(remove).length],
  ]);

  // Applying the removal lowers the quorum: the pending proposal commits.
  r.applyConfChange(confChangeAsV2(remove));
  ents = nextEnts(r, s);
  assert.equal(ents.length, 1);
  assert.equal(ents[0]!.type, EntryType.EntryNormal);
  assert.equal(new TextDecoder().decode(ents[0]!.data), "hello");
});

test("Raft of any role steps down to follower on a message of a higher term (TestUpdateTermFromMessage)", () => {
  for (const state of [StateType.StateFollower, StateType.StateCandidate, StateType.StateLeader]) {
    const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
    if (state === StateType.StateFollower) {
      r.becomeFollower(1, 2);
    } else {
      r.becomeCandidate();
      if (state === StateType.StateLeader) r.becomeLeader();
    }
    assert.equal(r.state, state);
    r.step(msg({ type: MessageType.MsgApp, term: 2 }));
    assert.equal(r.term, 2, `from state ${state}`);
    assert.equal(r.state, StateType.StateFollower);
  }
});
