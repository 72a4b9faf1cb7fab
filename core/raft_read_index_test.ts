// ReadIndex: linearizable reads confirmed by a heartbeat round (ReadOnlySafe)
// or by the leader lease (ReadOnlyLeaseBased), forwarded by followers and
// learners, and held back until a new leader commits in its term. Ported
// from etcd raft's TestReadOnly* and TestRaftFreesReadOnlyMem (raft_test.go)
// and TestNodeReadIndexToOldLeader (node_test.go).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Raft } from "./raft.ts";
import {
  type Message,
  MessageType,
  newEntry,
  newHardState,
  ReadOnlyOption,
  type ReadState,
  StateType,
} from "./types.ts";
import {
  type ConfigOverrides,
  entsAt,
  msg,
  msgHup,
  msgProp,
  type Network,
  newNetwork,
  newTestConfig,
  newTestLearnerRaft,
  newTestMemoryStorage,
  newTestRaft,
  nextEnts,
  readMessages,
  setRandomizedElectionTimeout,
} from "../tests/raft/network.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

function readIndexMsg(from: number, to: number, ctx: string): Message {
  return msg({ type: MessageType.MsgReadIndex, from, to, entries: [newEntry({ data: enc(ctx) })] });
}

function emptyProp(id: number): Message {
  return msg({ type: MessageType.MsgProp, from: id, to: id, entries: [newEntry()] });
}

function readStatesOf(r: Raft): Array<[number, string]> {
  return r.readStates.map((rs: ReadState) => [rs.index, dec(rs.requestCtx)]);
}

/** Three voters; node 1 elected after node 2's election clock has run out. */
function threeNodeCluster(opts: ConfigOverrides): { nt: Network; rafts: Raft[] } {
  const rafts = [1, 2, 3].map((id) =>
    newTestRaft(id, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }), opts)
  );
  const nt = newNetwork(...rafts);
  const b = rafts[1]!;
  setRandomizedElectionTimeout(b, b.electionTimeout + 1);
  for (let i = 0; i < b.electionTimeout; i++) b.tick();
  nt.send(msgHup(1));
  assert.equal(rafts[0]!.state, StateType.StateLeader);
  return { nt, rafts };
}

/** Runs etcd's table: proposals, then a read on the given node. */
function runReadTable(
  nt: Network,
  cases: Array<[Raft, number, number, string]>,
  afterProposal: () => void = () => {},
): void {
  for (const [i, [sm, proposals, wri, wctx]] of cases.entries()) {
    for (let j = 0; j < proposals; j++) {
      nt.send(emptyProp(1));
      afterProposal();
    }
    nt.send(readIndexMsg(sm.id, sm.id, wctx));
    assert.deepEqual(readStatesOf(sm), [[wri, wctx]], `case #${i} on node ${sm.id}`);
    sm.readStates = [];
  }
}

test("Raft serves ReadIndex on leader and followers with ReadOnlySafe (TestReadOnlyOptionSafe)", () => {
  const { nt, rafts } = threeNodeCluster({});
  const [a, b, c] = rafts as [Raft, Raft, Raft];
  runReadTable(nt, [
    [a, 10, 11, "ctx1"],
    [b, 10, 21, "ctx2"],
    [c, 10, 31, "ctx3"],
    [a, 10, 41, "ctx4"],
    [b, 10, 51, "ctx5"],
    [c, 10, 61, "ctx6"],
  ]);
});

test("Raft serves ReadIndex through a learner (TestReadOnlyWithLearner)", () => {
  const s = newTestMemoryStorage({ peers: [1], learners: [2] });
  const a = newTestLearnerRaft(1, 10, 1, s);
  const b = newTestLearnerRaft(2, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  const nt = newNetwork(a, b);
  setRandomizedElectionTimeout(b, b.electionTimeout + 1);
  for (let i = 0; i < b.electionTimeout; i++) b.tick();
  nt.send(msgHup(1));
  assert.equal(a.state, StateType.StateLeader);
  runReadTable(
    nt,
    [
      [a, 10, 11, "ctx1"],
      [b, 10, 21, "ctx2"],
      [a, 10, 31, "ctx3"],
      [b, 10, 41, "ctx4"],
    ],
    () => nextEnts(a, s),
  );
});

test("Raft serves ReadIndex from the lease with ReadOnlyLeaseBased (TestReadOnlyOptionLease)", () => {
  const { nt, rafts } = threeNodeCluster({
    readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
    checkQuorum: true,
  });
  const [a, b, c] = rafts as [Raft, Raft, Raft];
  runReadTable(nt, [
    [a, 10, 11, "ctx1"],
    [b, 10, 21, "ctx2"],
    [c, 10, 31, "ctx3"],
    [a, 10, 41, "ctx4"],
    [b, 10, 51, "ctx5"],
    [c, 10, 61, "ctx6"],
  ]);
});

test("Raft leader with ReadOnlyLeaseBased answers at once, without a heartbeat round", () => {
  const { nt, rafts } = threeNodeCluster({
    readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
    checkQuorum: true,
  });
  const a = rafts[0]!;
  // With every follower cut off, only the lease can confirm the read.
  nt.isolate(1);
  nt.send(readIndexMsg(1, 1, "lease"));
  assert.deepEqual(readStatesOf(a), [[1, "lease"]]);
  assert.deepEqual(readMessages(a), []);

  // A ReadOnlySafe leader in the same position cannot answer.
  const safe = threeNodeCluster({});
  safe.nt.isolate(1);
  safe.nt.send(readIndexMsg(1, 1, "safe"));
  assert.deepEqual(readStatesOf(safe.rafts[0]!), []);
  assert.equal(safe.rafts[0]!.readOnly.unconfirmedReads.length, 1);
});

test("Raft leader holds ReadIndex back until it commits in its term (TestReadOnlyForNewLeader)", () => {
  const nodeConfigs: Array<[number, number, number, number]> = [
    // id, committed, applied, compactIndex
    [1, 1, 1, 0],
    [2, 2, 2, 2],
    [3, 2, 2, 2],
  ];
  const peers: Raft[] = [];
  for (const [id, committed, applied, compactIndex] of nodeConfigs) {
    const storage = newTestMemoryStorage({ peers: [1, 2, 3] });
    storage.append(entsAt(1, 1, 1));
    storage.setHardState(newHardState({ term: 1, commit: committed }));
    if (compactIndex !== 0) storage.compact(compactIndex);
    const cfg = newTestConfig(id, 10, 1, storage);
    cfg.applied = applied;
    peers.push(new Raft(cfg));
  }
  const nt = newNetwork(...peers);
  // Without MsgApp, node 1 cannot commit in its term after winning.
  nt.ignore(MessageType.MsgApp);
  nt.send(msgHup(1));
  const sm = nt.raft(1);
  assert.equal(sm.state, StateType.StateLeader);

  const windex = 4;
  nt.send(readIndexMsg(1, 1, "ctx"));
  assert.deepEqual(sm.readStates, []);
  assert.equal(sm.pendingReadIndexMessages.length, 1);

  nt.recover();
  for (let i = 0; i < sm.heartbeatTimeout; i++) sm.tick();
  nt.send(emptyProp(1));
  assert.equal(sm.raftLog.committed, 4);
  assert.equal(sm.raftLog.zeroTermOnOutOfBounds(sm.raftLog.committed), sm.term);

  // The held-back read was answered once the leader committed.
  assert.deepEqual(readStatesOf(sm), [[windex, "ctx"]]);
  assert.equal(sm.pendingReadIndexMessages.length, 0);

  // New reads are answered right away.
  nt.send(readIndexMsg(1, 1, "ctx"));
  assert.deepEqual(readStatesOf(sm), [[windex, "ctx"], [windex, "ctx"]]);
});

test("Raft never confirms a ReadIndex below the commit index of its time (TestReadOnlyDuplicateRequest)", () => {
  const rafts = [1, 2, 3].map((id) =>
    newTestRaft(id, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }))
  );
  const [r1, r2, r3] = rafts as [Raft, Raft, Raft];
  const nt = newNetwork(r1, r2, r3);
  let delayed: Message[] = [];
  nt.send(msgHup(1));

  const readA = readIndexMsg(2, 1, "A");
  const minimumA = r1.raftLog.committed;
  // The request is duplicated later (a retry, or the network).
  delayed.push(readIndexMsg(2, 1, "A"));

  // Process A, holding heartbeat responses back.
  nt.msgHook = (m) => {
    if (m.type === MessageType.MsgHeartbeatResp) {
      delayed.push(m);
      return false;
    }
    return true;
  };
  nt.send(readA);
  nt.msgHook = undefined;

  r1.tick();
  nt.send(...readMessages(r1));
  nt.isolate(r1.id);

  // Node 2 becomes leader and commits an entry.
  nt.send(msgHup(2));
  nt.send(msgProp(2, "someOp"));
  assert.equal(r2.state, StateType.StateLeader);

  // A read on the stale, cut-off leader.
  const minimumB = r2.raftLog.committed;
  nt.send(readIndexMsg(1, 1, "B"));
  nt.recover();
  const held = delayed;
  delayed = [];
  nt.send(...held);

  let checked = 0;
  for (const rs of [...r1.readStates, ...r2.readStates, ...r3.readStates]) {
    const ctx = dec(rs.requestCtx);
    if (ctx === "A") assert.ok(rs.index >= minimumA, `A read at ${rs.index} < ${minimumA}`);
    if (ctx === "B") assert.ok(rs.index >= minimumB, `B read at ${rs.index} < ${minimumB}`);
    checked++;
  }
  assert.ok(checked > 0, "some read was answered");
});

test("Raft leader drops a confirmed ReadIndex request from memory (TestRaftFreesReadOnlyMem)", () => {
  const sm = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers: [1, 2] }));
  sm.becomeCandidate();
  sm.becomeLeader();
  sm.raftLog.commitTo(sm.raftLog.lastIndex());

  sm.step(readIndexMsg(2, 0, "ctx"));
  const msgs = readMessages(sm);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgHeartbeat);
  assert.equal(sm.readOnly.unconfirmedReads.length, 1);

  sm.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2, context: msgs[0]!.context }));
  assert.equal(sm.readOnly.unconfirmedReads.length, 0);
  assert.equal(sm.readOnly.confirmedReads, 1);
  // The answer goes back to the requesting follower.
  const resp = readMessages(sm).filter((m) => m.type === MessageType.MsgReadIndexResp);
  assert.deepEqual(resp.map((m) => [m.to, m.index, dec(m.entries[0]!.data)]), [[2, 1, "ctx"]]);
});

test("Raft follower forwards ReadIndex to the current leader without a term (TestNodeReadIndexToOldLeader)", () => {
  const rafts = [1, 2, 3].map((id) =>
    newTestRaft(id, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }))
  );
  const [r1, r2, r3] = rafts as [Raft, Raft, Raft];
  const nt = newNetwork(r1, r2, r3);
  nt.send(msgHup(1));

  const shape = (m: Message) => [m.type, m.from, m.to, m.term, dec(m.entries[0]!.data)];
  r2.step(readIndexMsg(2, 2, "testdata"));
  assert.deepEqual(r2.msgs.map(shape), [[MessageType.MsgReadIndex, 2, 1, 0, "testdata"]]);
  r3.step(readIndexMsg(3, 3, "testdata"));
  assert.deepEqual(r3.msgs.map(shape), [[MessageType.MsgReadIndex, 3, 1, 0, "testdata"]]);

  // Node 3 takes over; node 1, now a follower, forwards the old requests.
  nt.send(msgHup(3));
  assert.equal(r3.state, StateType.StateLeader);
  r1.step(readIndexMsg(2, 1, "testdata"));
  r1.step(readIndexMsg(3, 1, "testdata"));
  assert.deepEqual(r1.msgs.map(shape), [
    [MessageType.MsgReadIndex, 2, 3, 0, "testdata"],
    [MessageType.MsgReadIndex, 3, 3, 0, "testdata"],
  ]);
});

test("Raft follower without a leader drops ReadIndex requests", () => {
  const r = newTestRaft(2, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  r.step(readIndexMsg(2, 2, "x"));
  assert.deepEqual(r.msgs, []);
  assert.deepEqual(r.readStates, []);
});

test("Raft follower turns a MsgReadIndexResp into a ReadState, ignoring malformed ones", () => {
  const r = newTestRaft(2, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  r.becomeFollower(1, 1);
  r.step(msg({ type: MessageType.MsgReadIndexResp, from: 1, term: 1, index: 7 }));
  assert.deepEqual(r.readStates, []);
  r.step(msg({
    type: MessageType.MsgReadIndexResp,
    from: 1,
    term: 1,
    index: 7,
    entries: [newEntry({ data: enc("ok") })],
  }));
  assert.deepEqual(readStatesOf(r), [[7, "ok"]]);
});

test("Raft single-voter leader answers ReadIndex at once with its commit index", () => {
  const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] }));
  r.step(msgHup(1));
  readMessages(r);
  assert.equal(r.state, StateType.StateLeader);
  r.step(readIndexMsg(1, 1, "solo"));
  assert.deepEqual(readStatesOf(r), [[r.raftLog.committed, "solo"]]);
  assert.deepEqual(readMessages(r), []);
});
