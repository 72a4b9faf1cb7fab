/** Tests of the Raft unit-test network harness itself. */

import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType, StateType } from "../../core/types.ts";
import {
  BlackHole,
  blackHole,
  entsWithConfig,
  logTerms,
  msgHup,
  msgProp,
  newNetwork,
  newNetworkWithConfig,
  newTestMemoryStorage,
  newTestRaft,
  nextEnts,
  preVoteConfig,
  readMessages,
} from "./network.ts";

test("Network.send() elects a leader and replicates a proposal to every peer", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.send(msgHup(1));
  assert.equal(nt.raft(1).state, StateType.StateLeader);
  assert.equal(nt.raft(2).lead, 1);
  nt.send(msgProp(1, "x"));
  for (const id of [1, 2, 3]) {
    assert.deepEqual(logTerms(nt.raft(id)), [[1, 1], [2, 1]], `node ${id}`);
    assert.equal(nt.raft(id).raftLog.committed, 2, `node ${id}`);
    // send() leaves entries unstable; nextEnts() persists and applies them.
    assert.equal(nt.storageOf(id).lastIndex(), 0);
    assert.equal(nextEnts(nt.raft(id), nt.storageOf(id)).length, 2);
    assert.equal(nt.storageOf(id).lastIndex(), 2);
  }
});

test("Network.isolate() and recover() control delivery", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.isolate(1);
  nt.send(msgHup(1));
  assert.equal(nt.raft(1).state, StateType.StateCandidate);
  assert.equal(nt.raft(2).term, 0);
  nt.recover();
  nt.send(msgHup(1));
  assert.equal(nt.raft(1).state, StateType.StateLeader);
});

test("Network.cut() drops both directions and ignore() drops a type", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.cut(1, 2);
  nt.cut(1, 3);
  nt.send(msgHup(1));
  assert.equal(nt.raft(1).state, StateType.StateCandidate);
  nt.recover();
  nt.ignore(MessageType.MsgVoteResp);
  nt.send(msgHup(2));
  assert.equal(nt.raft(2).state, StateType.StateCandidate);
  assert.equal(nt.raft(3).vote, 2);
  assert.equal(nt.raft(1).vote, 1); // same term, already voted for itself
});

test("Network.drop() with a fractional rate is reproducible from the seed", () => {
  const run = (): number[] => {
    const nt = newNetwork(undefined, undefined, undefined);
    nt.send(msgHup(1));
    nt.drop(1, 2, 0.5);
    for (let i = 0; i < 20; i++) nt.send(msgProp(1));
    return [nt.raft(2).raftLog.lastIndex(), nt.raft(3).raftLog.lastIndex()];
  };
  const a = run();
  assert.deepEqual(run(), a);
  assert.equal(a[1], 21);
});

test("newNetwork() renumbers given Raft peers and black holes swallow messages", () => {
  const bh = blackHole();
  const r = entsWithConfig(undefined, 1, 2);
  const nt = newNetwork(undefined, r, bh);
  assert.equal(nt.raft(2).id, 2);
  assert.deepEqual([...nt.raft(2).trk.progress.keys()].sort(), [1, 2, 3]);
  nt.send(msgHup(2));
  assert.equal(nt.raft(2).state, StateType.StateLeader);
  assert.ok(bh instanceof BlackHole);
  assert.ok(bh.received.some((m) => m.type === MessageType.MsgVote));
  assert.throws(() => nt.raft(3));
});

test("newNetworkWithConfig() applies the config function to fresh nodes", () => {
  const nt = newNetworkWithConfig(preVoteConfig, undefined, undefined);
  assert.equal(nt.raft(1).preVote, true);
  nt.ignore(MessageType.MsgPreVoteResp);
  nt.send(msgHup(1));
  assert.equal(nt.raft(1).state, StateType.StatePreCandidate);
});

test("readMessages() delivers a candidate's own vote before returning messages", () => {
  const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  r.step(msgHup(1));
  const msgs = readMessages(r);
  assert.deepEqual(msgs.map((m) => [m.type, m.to]), [
    [MessageType.MsgVote, 2],
    [MessageType.MsgVote, 3],
  ]);
  assert.equal(r.trk.votes.get(1), true);
});
