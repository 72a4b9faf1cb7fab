/**
 * Unit tests of elections, terms, votes, CheckQuorum, PreVote, learners,
 * leadership transfer and basic replication of the Raft state machine,
 * after etcd raft's raft_test.go. They use the in-memory network of
 * tests/raft/network.ts.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeConfChange, encodeConfChangeV2 } from "./codec.ts";
import { ProposalDroppedError } from "./errors.ts";
import { Raft } from "./raft.ts";
import { newLog } from "./raft_log.ts";
import { MemoryStorage } from "./storage.ts";
import { ProgressState } from "./tracker/state.ts";
import {
  confChangeAsV2,
  ConfChangeType,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newConfState,
  newEntry,
  newHardState,
  newMessage,
  None,
  ReadOnlyOption,
  StateType,
} from "./types.ts";
import { voteRespMsgType } from "./util.ts";
import { RaftInvariantError } from "./_assert.ts";
import {
  advanceMessagesAfterAppend,
  blackHole,
  type ConfigFn,
  entsAt,
  entsWithConfig,
  expectOneMessage,
  logTerms,
  msgBeat,
  msgHup,
  msgProp,
  mustAppendEntry,
  type Network,
  newNetwork,
  newNetworkWithConfig,
  newTestConfig,
  newTestLearnerRaft,
  newTestMemoryStorage,
  newTestRaft,
  nextEnts,
  preVoteConfig,
  readMessages,
  setRandomizedElectionTimeout,
  stepOrSend,
  takeMessagesAfterAppend,
  votedWithConfig,
} from "../tests/raft/network.ts";

const enc = new TextEncoder();
const someData = enc.encode("somedata");

const Follower = StateType.StateFollower;
const PreCandidate = StateType.StatePreCandidate;
const Candidate = StateType.StateCandidate;
const Leader = StateType.StateLeader;

/** Three fresh nodes 1..3 built directly (election 10, heartbeat 1). */
function threeRafts(opts: { checkQuorum?: boolean; preVote?: boolean } = {}): Raft[] {
  return [1, 2, 3].map((id) =>
    newTestRaft(id, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }), opts)
  );
}

function addNode(id: number): ReturnType<typeof confChangeAsV2> {
  return confChangeAsV2(newConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: id }));
}

function removeNode(id: number): ReturnType<typeof confChangeAsV2> {
  return confChangeAsV2(newConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: id }));
}

function addLearner(id: number): ReturnType<typeof confChangeAsV2> {
  return confChangeAsV2(
    newConfChange({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: id }),
  );
}

function transfer(from: number, to: number): Message {
  return newMessage({ type: MessageType.MsgTransferLeader, from, to });
}

/**
 * A three-node network led by 1, with a transfer to 3 pending that cannot
 * finish: 3 is isolated, or, with `"dropTimeoutNow"`, MsgTimeoutNow is dropped.
 */
function pendingTransferTo3(
  block: "isolate" | "dropTimeoutNow" = "isolate",
): { nt: Network; lead: Raft } {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.send(msgHup(1));
  if (block === "isolate") nt.isolate(3);
  else nt.ignore(MessageType.MsgTimeoutNow);
  const lead = nt.raft(1);
  nt.send(transfer(3, 1));
  assert.equal(lead.leadTransferee, 3);
  return { nt, lead };
}

/** Asserts each node's `[node, state, term, lastIndex]`. */
function assertStateTermLastIndex(want: Array<[Raft, StateType, number, number]>): void {
  for (const [i, [sm, state, term, lastIndex]] of want.entries()) {
    assert.equal(sm.state, state, `#${i}`);
    assert.equal(sm.term, term, `#${i}`);
    assert.equal(sm.raftLog.lastIndex(), lastIndex, `#${i}`);
  }
}

/** Asserts a node's role and leader, and that no transfer is pending. */
function checkLeaderTransferState(r: Raft, state: StateType, lead: number): void {
  assert.equal(r.state, state, "state");
  assert.equal(r.lead, lead, "lead");
  assert.equal(r.leadTransferee, None, "leadTransferee");
}

/** Every node's log, as [index, term] pairs, must equal `want`. */
function assertLogs(nt: Network, want: Array<[number, number]>, wantData?: Uint8Array): void {
  for (const [id, p] of nt.peers) {
    if (!(p instanceof Raft)) continue;
    assert.deepEqual(logTerms(p), want, `node ${id} log`);
    if (wantData !== undefined && want.length > 0) {
      const last = p.raftLog.entries(want.length, Infinity)[0]!;
      assert.deepEqual(last.data, wantData, `node ${id} data`);
    }
  }
}

// Leader election.

for (const preVote of [false, true]) {
  const cfg: ConfigFn | undefined = preVote ? preVoteConfig : undefined;
  const candState = preVote ? PreCandidate : Candidate;
  const candTerm = preVote ? 0 : 1;
  const label = preVote ? " with PreVote" : "";
  test(`Raft election${label}: a candidate wins exactly when a majority can vote for it`, () => {
    const bh = blackHole;
    const cases: Array<{ name: string; nt: Network; state: StateType; term: number }> = [
      {
        name: "3 of 3 up",
        nt: newNetworkWithConfig(cfg, undefined, undefined, undefined),
        state: Leader,
        term: 1,
      },
      {
        name: "2 of 3 up",
        nt: newNetworkWithConfig(cfg, undefined, undefined, bh()),
        state: Leader,
        term: 1,
      },
      {
        name: "1 of 3 up",
        nt: newNetworkWithConfig(cfg, undefined, bh(), bh()),
        state: candState,
        term: candTerm,
      },
      {
        name: "2 of 4 up",
        nt: newNetworkWithConfig(cfg, undefined, bh(), bh(), undefined),
        state: candState,
        term: candTerm,
      },
      {
        name: "3 of 5 up",
        nt: newNetworkWithConfig(cfg, undefined, bh(), bh(), undefined, undefined),
        state: Leader,
        term: 1,
      },
      {
        // Three logs further along, in the same term: rejections, not silence.
        name: "voters with longer logs refuse",
        nt: newNetworkWithConfig(
          cfg,
          undefined,
          entsWithConfig(cfg, 1),
          entsWithConfig(cfg, 1),
          entsWithConfig(cfg, 1, 1),
          undefined,
        ),
        state: Follower,
        term: 1,
      },
    ];
    for (const tc of cases) {
      tc.nt.send(msgHup(1));
      const sm = tc.nt.raft(1);
      assert.equal(sm.state, tc.state, tc.name);
      assert.equal(sm.term, tc.term, tc.name);
    }
  });

  test(`Raft election${label}: every node can campaign and win in turn`, () => {
    const n = newNetworkWithConfig(cfg, undefined, undefined, undefined);
    for (let campaigner = 1; campaigner <= 3; campaigner++) {
      n.send(msgHup(campaigner));
      for (const id of [1, 2, 3]) {
        const want = id === campaigner ? Leader : Follower;
        assert.equal(n.raft(id).state, want, `campaigner ${campaigner}, node ${id}`);
      }
      assert.equal(n.raft(1).term, campaigner);
    }
  });

  test(`Raft election${label}: a new leader overwrites newer-term entries of the losers`, () => {
    // Node 1 won term 1 and gave its entry to 2; node 3 won term 2 and wrote
    // an entry nobody saw; 4 and 5 voted for 3 in term 2.
    const n = newNetworkWithConfig(
      cfg,
      entsWithConfig(cfg, 1),
      entsWithConfig(cfg, 1),
      entsWithConfig(cfg, 2),
      votedWithConfig(cfg, 3, 2),
      votedWithConfig(cfg, 3, 2),
    );
    // The first campaign fails (a quorum is at term 2) but lifts node 1 to term 2.
    n.send(msgHup(1));
    const sm1 = n.raft(1);
    assert.equal(sm1.state, Follower);
    assert.equal(sm1.term, 2);
    n.send(msgHup(1));
    assert.equal(sm1.state, Leader);
    assert.equal(sm1.term, 3);
    for (const id of [1, 2, 3, 4, 5]) {
      assert.deepEqual(logTerms(n.raft(id)), [[1, 1], [2, 3]], `node ${id}`);
    }
  });
}

for (const vt of [MessageType.MsgVote, MessageType.MsgPreVote]) {
  const name = vt === MessageType.MsgVote ? "MsgVote" : "MsgPreVote";
  test(`Raft.step() grants a ${name} for a newer term and better log from any state`, () => {
    for (const st of [Follower, PreCandidate, Candidate, Leader]) {
      const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
      r.term = 1;
      switch (st) {
        case Follower:
          r.becomeFollower(r.term, 3);
          break;
        case PreCandidate:
          r.becomePreCandidate();
          break;
        case Candidate:
          r.becomeCandidate();
          break;
        case Leader:
          r.becomeCandidate();
          r.becomeLeader();
          break;
      }
      const origTerm = r.term;
      const newTerm = r.term + 1;
      r.step(newMessage({ type: vt, from: 2, to: 1, term: newTerm, logTerm: newTerm, index: 42 }));
      const msgs = readMessages(r);
      assert.equal(msgs.length, 1, `state ${st}`);
      assert.equal(msgs[0]!.type, voteRespMsgType(vt), `state ${st}`);
      assert.equal(msgs[0]!.reject, false, `state ${st}`);
      assert.equal(msgs[0]!.term, newTerm, `state ${st}`);
      if (vt === MessageType.MsgVote) {
        assert.equal(r.state, Follower, `state ${st}`);
        assert.equal(r.term, newTerm, `state ${st}`);
        assert.equal(r.vote, 2, `state ${st}`);
      } else {
        // A pre-vote changes nothing.
        assert.equal(r.state, st, `state ${st}`);
        assert.equal(r.term, origTerm, `state ${st}`);
        assert.ok(r.vote === None || r.vote === 1, `state ${st}: vote ${r.vote}`);
      }
    }
  });
}

test("Raft election: dueling candidates, the one with the shorter log cannot win", () => {
  const [a, b, c] = threeRafts() as [Raft, Raft, Raft];
  const nt = newNetwork(a, b, c);
  nt.cut(1, 3);
  nt.send(msgHup(1));
  nt.send(msgHup(3));
  // 1 wins with 2's vote; 3 gets only its own vote and 2's refusal.
  assert.equal(a.state, Leader);
  assert.equal(c.state, Candidate);
  nt.recover();
  // 3 campaigns at a higher term, disrupting 1, but loses: its log is shorter.
  nt.send(msgHup(3));
  assertStateTermLastIndex([
    [a, Follower, 2, 1],
    [b, Follower, 2, 1],
    [c, Follower, 2, 0],
  ]);
});

test("Raft election with PreVote: a dueling pre-candidate cannot disrupt the leader", () => {
  const [a, b, c] = threeRafts({ preVote: true }) as [Raft, Raft, Raft];
  const nt = newNetwork(a, b, c);
  nt.cut(1, 3);
  nt.send(msgHup(1));
  nt.send(msgHup(3));
  assert.equal(a.state, Leader);
  // 3's pre-vote is refused by 2, so it goes back to follower.
  assert.equal(c.state, Follower);
  nt.recover();
  nt.send(msgHup(3));
  assertStateTermLastIndex([
    [a, Leader, 1, 1],
    [b, Follower, 1, 1],
    [c, Follower, 1, 0],
  ]);
});

test("Raft election: an isolated candidate concedes to the leader once the partition heals", () => {
  const tt = newNetwork(undefined, undefined, undefined);
  tt.isolate(1);
  tt.send(msgHup(1));
  tt.send(msgHup(3));
  assert.equal(tt.raft(1).state, Candidate);
  assert.equal(tt.raft(3).state, Leader);
  tt.recover();
  tt.send(msgBeat(3));
  const data = enc.encode("force follower");
  tt.send(msgProp(3, data));
  tt.send(msgBeat(3));
  const a = tt.raft(1);
  assert.equal(a.state, Follower);
  assert.equal(a.term, 1);
  assert.equal(a.lead, 3);
  assertLogs(tt, [[1, 1], [2, 1]], data);
  for (const id of [1, 2, 3]) assert.equal(tt.raft(id).raftLog.committed, 2, `node ${id}`);
});

for (const preVote of [false, true]) {
  test(`Raft election: a single ${preVote ? "pre-" : ""}candidate becomes leader at once`, () => {
    const tt = newNetworkWithConfig(preVote ? preVoteConfig : undefined, undefined);
    tt.send(msgHup(1));
    assert.equal(tt.raft(1).state, Leader);
    assert.equal(tt.raft(1).term, 1);
  });

  test(`Raft election: MsgHup to a leader is ignored (preVote=${preVote})`, () => {
    const cfg = newTestConfig(1, 5, 1, newTestMemoryStorage({ peers: [1] }));
    cfg.preVote = preVote;
    const r = new Raft(cfg);
    assert.equal(r.state, Follower);
    r.step(msgHup(1));
    advanceMessagesAfterAppend(r);
    assert.equal(r.state, Leader);
    const term = r.term;
    r.step(msgHup(1));
    advanceMessagesAfterAppend(r);
    assert.equal(r.state, Leader);
    assert.equal(r.term, term);
  });
}

test("Raft election: messages from an old leader's term are ignored", () => {
  const tt = newNetwork(undefined, undefined, undefined);
  // Make 1 leader at term 3.
  tt.send(msgHup(1));
  tt.send(msgHup(2));
  tt.send(msgHup(1));
  // An old leader (2, term 2) tries to append; it must be ignored.
  tt.send(
    newMessage({ type: MessageType.MsgApp, from: 2, to: 1, term: 2, entries: entsAt(3, 2) }),
  );
  tt.send(msgProp(1));
  assertLogs(tt, [[1, 1], [2, 2], [3, 3], [4, 3]], someData);
  for (const id of [1, 2, 3]) assert.equal(tt.raft(id).raftLog.committed, 4, `node ${id}`);
});

test("Raft proposal: committed only when a quorum of peers is alive", () => {
  const bh = blackHole;
  const cases: Array<{ name: string; nt: Network; success: boolean }> = [
    { name: "3 of 3", nt: newNetwork(undefined, undefined, undefined), success: true },
    { name: "2 of 3", nt: newNetwork(undefined, undefined, bh()), success: true },
    { name: "1 of 3", nt: newNetwork(undefined, bh(), bh()), success: false },
    { name: "2 of 4", nt: newNetwork(undefined, bh(), bh(), undefined), success: false },
    { name: "3 of 5", nt: newNetwork(undefined, bh(), bh(), undefined, undefined), success: true },
  ];
  for (const tc of cases) {
    tc.nt.send(msgHup(1));
    // Without a leader the proposal is dropped (the network swallows the error).
    tc.nt.send(msgProp(1));
    if (tc.success) {
      assertLogs(tc.nt, [[1, 1], [2, 1]], someData);
      for (const [id, p] of tc.nt.peers) {
        if (p instanceof Raft) assert.equal(p.raftLog.committed, 2, `${tc.name}: node ${id}`);
      }
    } else {
      assertLogs(tc.nt, []);
      assert.throws(() => tc.nt.raft(1).step(msgProp(1)), ProposalDroppedError, tc.name);
    }
    assert.equal(tc.nt.raft(1).term, 1, tc.name);
  }
});

test("Raft proposal: a follower forwards a proposal to the leader", () => {
  for (
    const nt of [
      newNetwork(undefined, undefined, undefined),
      newNetwork(undefined, undefined, blackHole()),
    ]
  ) {
    nt.send(msgHup(1));
    nt.send(msgProp(2));
    assertLogs(nt, [[1, 1], [2, 1]], someData);
    assert.equal(nt.raft(1).term, 1);
    assert.equal(nt.raft(1).raftLog.committed, 2);
  }
});

test("Raft proposal: a follower with disableProposalForwarding drops it", () => {
  const nt = newNetworkWithConfig(
    (c) => {
      c.disableProposalForwarding = true;
    },
    undefined,
    undefined,
    undefined,
  );
  nt.send(msgHup(1));
  assert.throws(() => nt.raft(2).step(msgProp(2)), ProposalDroppedError);
  assert.deepEqual(readMessages(nt.raft(2)), []);
  assert.equal(nt.raft(1).raftLog.lastIndex(), 1);
});

test("Raft replication: proposals are committed and applied on every node", () => {
  const cases: Array<{ name: string; msgs: Message[]; wcommitted: number }> = [
    { name: "one proposal", msgs: [msgProp(1)], wcommitted: 2 },
    {
      name: "a proposal, a new leader, another proposal",
      msgs: [msgProp(1), msgHup(2), msgProp(2)],
      wcommitted: 4,
    },
  ];
  for (const tc of cases) {
    const nt = newNetwork(undefined, undefined, undefined);
    nt.send(msgHup(1));
    for (const m of tc.msgs) nt.send(m);
    const props = tc.msgs.filter((m) => m.type === MessageType.MsgProp);
    for (const id of [1, 2, 3]) {
      const sm = nt.raft(id);
      assert.equal(sm.raftLog.committed, tc.wcommitted, `${tc.name}: node ${id}`);
      const ents = nextEnts(sm, nt.storageOf(id)).filter((e) => e.data.length > 0);
      assert.deepEqual(
        ents.map((e) => e.data),
        props.map((m) => m.entries[0]!.data),
        `${tc.name}: node ${id}`,
      );
    }
  }
});

test("Raft replication: a single node commits its own proposals", () => {
  const tt = newNetwork(newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] })));
  tt.send(msgHup(1));
  tt.send(msgProp(1));
  tt.send(msgProp(1));
  assert.equal(tt.raft(1).raftLog.committed, 3);
});

test("Raft replication: old-term entries stay uncommitted until the new leader's entry commits", () => {
  const tt = newNetwork(undefined, undefined, undefined, undefined, undefined);
  tt.send(msgHup(1));
  tt.cut(1, 3);
  tt.cut(1, 4);
  tt.cut(1, 5);
  tt.send(msgProp(1));
  tt.send(msgProp(1));
  assert.equal(tt.raft(1).raftLog.committed, 1);
  tt.recover();
  // Stop the new leader's empty entry from being replicated.
  tt.ignore(MessageType.MsgApp);
  tt.send(msgHup(2));
  const sm = tt.raft(2);
  assert.equal(sm.state, Leader);
  assert.equal(sm.raftLog.committed, 1);
  tt.recover();
  tt.send(msgBeat(2));
  tt.send(msgProp(2));
  assert.equal(sm.raftLog.committed, 5);
});

test("Raft replication: a new leader's empty entry commits the previous term's entries", () => {
  const tt = newNetwork(undefined, undefined, undefined, undefined, undefined);
  tt.send(msgHup(1));
  tt.cut(1, 3);
  tt.cut(1, 4);
  tt.cut(1, 5);
  tt.send(msgProp(1));
  tt.send(msgProp(1));
  const sm = tt.raft(1);
  assert.equal(sm.raftLog.committed, 1);
  tt.recover();
  tt.send(msgHup(2));
  assert.equal(sm.raftLog.committed, 4);
});

test("Raft.maybeCommit() commits the quorum index only when it is of the current term", () => {
  const cases: Array<{ matches: number[]; logs: Entry[]; smTerm: number; w: number }> = [
    // single
    { matches: [1], logs: entsAt(1, 1), smTerm: 1, w: 1 },
    { matches: [1], logs: entsAt(1, 1), smTerm: 2, w: 0 },
    { matches: [2], logs: entsAt(1, 1, 2), smTerm: 2, w: 2 },
    { matches: [1], logs: entsAt(1, 2), smTerm: 2, w: 1 },
    // odd
    { matches: [2, 1, 1], logs: entsAt(1, 1, 2), smTerm: 1, w: 1 },
    { matches: [2, 1, 1], logs: entsAt(1, 1, 1), smTerm: 2, w: 0 },
    { matches: [2, 1, 2], logs: entsAt(1, 1, 2), smTerm: 2, w: 2 },
    { matches: [2, 1, 2], logs: entsAt(1, 1, 1), smTerm: 2, w: 0 },
    // even
    { matches: [2, 1, 1, 1], logs: entsAt(1, 1, 2), smTerm: 1, w: 1 },
    { matches: [2, 1, 1, 1], logs: entsAt(1, 1, 1), smTerm: 2, w: 0 },
    { matches: [2, 1, 1, 2], logs: entsAt(1, 1, 2), smTerm: 1, w: 1 },
    { matches: [2, 1, 1, 2], logs: entsAt(1, 1, 1), smTerm: 2, w: 0 },
    { matches: [2, 1, 2, 2], logs: entsAt(1, 1, 2), smTerm: 2, w: 2 },
    { matches: [2, 1, 2, 2], logs: entsAt(1, 1, 1), smTerm: 2, w: 0 },
  ];
  for (const [i, tc] of cases.entries()) {
    const storage = newTestMemoryStorage({ peers: [1] });
    storage.append(tc.logs);
    storage.setHardState(newHardState({ term: tc.smTerm }));
    const sm = newTestRaft(1, 10, 2, storage);
    for (let j = 0; j < tc.matches.length; j++) {
      const id = j + 1;
      if (id > 1) sm.applyConfChange(addNode(id));
      const pr = sm.trk.progress.get(id)!;
      pr.match = tc.matches[j]!;
      pr.next = tc.matches[j]! + 1;
    }
    sm.maybeCommit();
    assert.equal(sm.raftLog.committed, tc.w, `#${i}`);
  }
});

test("Raft.pastElectionTimeout() fires with probability uniform over [et, 2*et)", () => {
  const cases = [
    { elapse: 5, wprobability: 0, round: false },
    { elapse: 10, wprobability: 0.1, round: true },
    { elapse: 13, wprobability: 0.4, round: true },
    { elapse: 15, wprobability: 0.6, round: true },
    { elapse: 18, wprobability: 0.9, round: true },
    { elapse: 20, wprobability: 1, round: false },
  ];
  for (const tc of cases) {
    const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] }));
    sm.electionElapsed = tc.elapse;
    let c = 0;
    const n = 10000;
    for (let j = 0; j < n; j++) {
      sm.resetRandomizedElectionTimeout();
      assert.ok(sm.randomizedElectionTimeout >= 10 && sm.randomizedElectionTimeout < 20);
      if (sm.pastElectionTimeout()) c++;
    }
    let got = c / n;
    if (tc.round) got = Math.floor(got * 10 + 0.5) / 10;
    assert.equal(got, tc.wprobability, `elapsed ${tc.elapse}`);
  }
});

// Message handling.

test("Raft.handleAppendEntries() checks the previous entry, truncates conflicts and bounds commit", () => {
  const app = (
    term: number,
    logTerm: number,
    index: number,
    commit: number,
    entries: Entry[] = [],
  ): Message => newMessage({ type: MessageType.MsgApp, term, logTerm, index, commit, entries });
  const cases: Array<
    { name: string; m: Message; wIndex: number; wCommit: number; wReject: boolean }
  > = [
    { name: "previous entry mismatch", m: app(2, 3, 2, 3), wIndex: 2, wCommit: 0, wReject: true },
    { name: "previous entry missing", m: app(2, 3, 3, 3), wIndex: 2, wCommit: 0, wReject: true },
    { name: "match at 1", m: app(2, 1, 1, 1), wIndex: 2, wCommit: 1, wReject: false },
    {
      name: "conflict at 1",
      m: app(2, 0, 0, 1, entsAt(1, 2)),
      wIndex: 1,
      wCommit: 1,
      wReject: false,
    },
    {
      name: "append 3-4",
      m: app(2, 2, 2, 3, entsAt(3, 2, 2)),
      wIndex: 4,
      wCommit: 3,
      wReject: false,
    },
    { name: "append 3", m: app(2, 2, 2, 4, entsAt(3, 2)), wIndex: 3, wCommit: 3, wReject: false },
    {
      name: "conflict at 2",
      m: app(2, 1, 1, 4, entsAt(2, 2)),
      wIndex: 2,
      wCommit: 2,
      wReject: false,
    },
    {
      name: "commit bounded by last new entry (1)",
      m: app(1, 1, 1, 3),
      wIndex: 2,
      wCommit: 1,
      wReject: false,
    },
    {
      name: "commit bounded by last new entry (2)",
      m: app(1, 1, 1, 3, entsAt(2, 2)),
      wIndex: 2,
      wCommit: 2,
      wReject: false,
    },
    { name: "commit up to the match", m: app(2, 2, 2, 3), wIndex: 2, wCommit: 2, wReject: false },
    {
      name: "commit up to the last index",
      m: app(2, 2, 2, 4),
      wIndex: 2,
      wCommit: 2,
      wReject: false,
    },
  ];
  for (const tc of cases) {
    const storage = newTestMemoryStorage({ peers: [1] });
    storage.append(entsAt(1, 1, 2));
    const sm = newTestRaft(1, 10, 1, storage);
    sm.becomeFollower(2, None);
    sm.handleAppendEntries(tc.m);
    assert.equal(sm.raftLog.lastIndex(), tc.wIndex, tc.name);
    assert.equal(sm.raftLog.committed, tc.wCommit, tc.name);
    const m = readMessages(sm);
    assert.equal(m.length, 1, tc.name);
    assert.equal(m[0]!.type, MessageType.MsgAppResp, tc.name);
    assert.equal(m[0]!.reject, tc.wReject, tc.name);
  }
});

test("Raft.handleHeartbeat() raises the commit index but never lowers it", () => {
  const commit = 2;
  for (
    const [mc, want] of [[commit + 1, commit + 1], [commit - 1, commit]] as Array<[number, number]>
  ) {
    const storage = newTestMemoryStorage({ peers: [1, 2] });
    storage.append(entsAt(1, 1, 2, 3));
    const sm = newTestRaft(1, 5, 1, storage);
    sm.becomeFollower(2, 2);
    sm.raftLog.commitTo(commit);
    sm.handleHeartbeat(
      newMessage({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: 2, commit: mc }),
    );
    assert.equal(sm.raftLog.committed, want);
    const m = readMessages(sm);
    assert.equal(m.length, 1);
    assert.equal(m[0]!.type, MessageType.MsgHeartbeatResp);
  }
});

test("Raft leader: a heartbeat response from a lagging follower triggers a MsgApp", () => {
  const storage = newTestMemoryStorage({ peers: [1, 2] });
  storage.append(entsAt(1, 1, 2, 3));
  const sm = newTestRaft(1, 5, 1, storage);
  sm.becomeCandidate();
  sm.becomeLeader();
  sm.raftLog.commitTo(sm.raftLog.lastIndex());
  const hbResp = (): Message => newMessage({ type: MessageType.MsgHeartbeatResp, from: 2 });
  sm.step(hbResp());
  let msgs = readMessages(sm);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgApp);
  sm.step(hbResp());
  msgs = readMessages(sm);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgApp);
  // Once the follower acknowledges everything, heartbeats send nothing more.
  sm.step(
    newMessage({
      type: MessageType.MsgAppResp,
      from: 2,
      index: msgs[0]!.index + msgs[0]!.entries.length,
    }),
  );
  readMessages(sm);
  sm.step(hbResp());
  assert.deepEqual(readMessages(sm), []);
});

test("Raft leader: a MsgAppResp ends a follower's probe pause, others stay paused", () => {
  const s = newTestMemoryStorage({ peers: [1, 2, 3] });
  const sm = newTestRaft(1, 5, 1, s);
  sm.becomeCandidate();
  sm.becomeLeader();
  nextEnts(sm, s);
  sm.step(newMessage({ type: MessageType.MsgAppResp, from: 2, index: 1 }));
  assert.equal(sm.raftLog.committed, 1);
  readMessages(sm);
  sm.step(newMessage({ type: MessageType.MsgProp, from: 1, entries: [newEntry()] }));
  // Only 2 left probing through its response; 3 is still paused.
  let msgs = readMessages(sm);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgApp);
  assert.equal(msgs[0]!.to, 2);
  assert.deepEqual(msgs[0]!.entries.map((e) => e.index), [2]);
  sm.step(newMessage({ type: MessageType.MsgAppResp, from: 3, index: 1 }));
  msgs = readMessages(sm);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgApp);
  assert.equal(msgs[0]!.to, 3);
  assert.deepEqual(msgs[0]!.entries.map((e) => e.index), [2]);
});

for (const msgType of [MessageType.MsgVote, MessageType.MsgPreVote]) {
  const name = msgType === MessageType.MsgVote ? "MsgVote" : "MsgPreVote";
  test(`Raft.step() answers a same-term ${name} by log recency and earlier vote`, () => {
    const cases: Array<[StateType, number, number, number, boolean]> = [
      [Follower, 0, 0, None, true],
      [Follower, 0, 1, None, true],
      [Follower, 0, 2, None, true],
      [Follower, 0, 3, None, false],
      [Follower, 1, 0, None, true],
      [Follower, 1, 1, None, true],
      [Follower, 1, 2, None, true],
      [Follower, 1, 3, None, false],
      [Follower, 2, 0, None, true],
      [Follower, 2, 1, None, true],
      [Follower, 2, 2, None, false],
      [Follower, 2, 3, None, false],
      [Follower, 3, 0, None, true],
      [Follower, 3, 1, None, true],
      [Follower, 3, 2, None, false],
      [Follower, 3, 3, None, false],
      [Follower, 3, 2, 2, false],
      [Follower, 3, 2, 1, true],
      [Leader, 3, 3, 1, true],
      [PreCandidate, 3, 3, 1, true],
      [Candidate, 3, 3, 1, true],
    ];
    for (const [i, [state, index, logTerm, voteFor, wreject]] of cases.entries()) {
      const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] }));
      sm.state = state;
      sm.vote = voteFor;
      const s = new MemoryStorage();
      s.append(entsAt(1, 2, 2));
      sm.raftLog = newLog(s, sm.logger);
      const term = Math.max(sm.raftLog.lastEntryId().term, logTerm);
      sm.term = term;
      sm.step(newMessage({ type: msgType, term, from: 2, index, logTerm }));
      const msgs = readMessages(sm);
      assert.equal(msgs.length, 1, `#${i}`);
      assert.equal(msgs[0]!.type, voteRespMsgType(msgType), `#${i}`);
      assert.equal(msgs[0]!.reject, wreject, `#${i}`);
    }
  });
}

test("Raft role transitions: allowed ones set term and leader, forbidden ones throw", () => {
  const cases: Array<[StateType, StateType, boolean, number, number]> = [
    [Follower, Follower, true, 1, None],
    [Follower, PreCandidate, true, 0, None],
    [Follower, Candidate, true, 1, None],
    [Follower, Leader, false, 0, None],
    [PreCandidate, Follower, true, 0, None],
    [PreCandidate, PreCandidate, true, 0, None],
    [PreCandidate, Candidate, true, 1, None],
    [PreCandidate, Leader, true, 0, 1],
    [Candidate, Follower, true, 0, None],
    [Candidate, PreCandidate, true, 0, None],
    [Candidate, Candidate, true, 1, None],
    [Candidate, Leader, true, 0, 1],
    [Leader, Follower, true, 1, None],
    [Leader, PreCandidate, false, 0, None],
    [Leader, Candidate, false, 1, None],
    [Leader, Leader, true, 0, 1],
  ];
  for (const [i, [from, to, wallow, wterm, wlead]] of cases.entries()) {
    const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] }));
    sm.state = from;
    const go = (): void => {
      switch (to) {
        case Follower:
          sm.becomeFollower(wterm, wlead);
          break;
        case PreCandidate:
          sm.becomePreCandidate();
          break;
        case Candidate:
          sm.becomeCandidate();
          break;
        case Leader:
          sm.becomeLeader();
          break;
      }
    };
    if (!wallow) {
      assert.throws(go, RaftInvariantError, `#${i}`);
      continue;
    }
    go();
    assert.equal(sm.state, to, `#${i}`);
    assert.equal(sm.term, wterm, `#${i}`);
    assert.equal(sm.lead, wlead, `#${i}`);
  }
});

test("Raft.step() makes every role step down on a higher-term MsgVote or MsgApp", () => {
  const cases: Array<[StateType, number]> = [
    [Follower, 0],
    [PreCandidate, 0],
    [Candidate, 0],
    [Leader, 1],
  ];
  const tterm = 3;
  for (const [state, windex] of cases) {
    const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
    switch (state) {
      case Follower:
        sm.becomeFollower(1, None);
        break;
      case PreCandidate:
        sm.becomePreCandidate();
        break;
      case Candidate:
        sm.becomeCandidate();
        break;
      case Leader:
        sm.becomeCandidate();
        sm.becomeLeader();
        break;
    }
    for (const msgType of [MessageType.MsgVote, MessageType.MsgApp]) {
      sm.step(newMessage({ type: msgType, from: 2, term: tterm, logTerm: tterm }));
      const label = `state ${state}, msg ${msgType}`;
      assert.equal(sm.state, Follower, label);
      assert.equal(sm.term, tterm, label);
      assert.equal(sm.raftLog.lastIndex(), windex, label);
      assert.equal(sm.raftLog.allEntries().length, windex, label);
      // A vote names no leader; an append from the leader does.
      assert.equal(sm.lead, msgType === MessageType.MsgVote ? None : 2, label);
    }
  }
});

for (const mt of [MessageType.MsgHeartbeat, MessageType.MsgApp]) {
  const name = mt === MessageType.MsgHeartbeat ? "MsgHeartbeat" : "MsgApp";
  test(`Raft election: a stale candidate adopts the leader's term from its ${name}`, () => {
    const [a, b, c] = threeRafts() as [Raft, Raft, Raft];
    const nt = newNetwork(a, b, c);
    nt.send(msgHup(1));
    assert.equal(a.state, Leader);
    assert.equal(b.state, Follower);
    assert.equal(c.state, Follower);
    // Isolate 3 and raise the term of the others.
    nt.isolate(3);
    nt.send(msgHup(2));
    nt.send(msgHup(1));
    assert.equal(a.state, Leader);
    assert.equal(a.term, 3);
    assert.equal(b.state, Follower);
    // 3 times out alone.
    c.resetRandomizedElectionTimeout();
    for (let i = 0; i < c.randomizedElectionTimeout; i++) c.tick();
    advanceMessagesAfterAppend(c);
    assert.equal(c.state, Candidate);
    assert.equal(c.term, 2);
    nt.recover();
    nt.send(newMessage({ type: mt, from: 1, to: 3, term: a.term }));
    assert.equal(c.state, Follower);
    assert.equal(c.term, a.term);
    assert.equal(c.lead, 1);
  });
}

for (const preVote of [false, true]) {
  test(`Raft election: a self-vote delivered after losing is ignored (preVote=${preVote})`, () => {
    const sm = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
    sm.preVote = preVote;
    sm.step(msgHup(1));
    const steps = takeMessagesAfterAppend(sm);
    assert.equal(steps.length, 1);
    // 2 already won before the self-vote was persisted.
    sm.step(newMessage({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: sm.term }));
    assert.equal(sm.state, Follower);
    stepOrSend(sm, steps);
    assert.equal(sm.state, Follower);
    assert.equal(sm.trk.tallyVotes().granted, 0);
  });
}

test("Raft election: a delayed pre-vote self-vote does not count in the real election", () => {
  const sm = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  sm.preVote = true;
  sm.step(msgHup(1));
  assert.equal(sm.state, PreCandidate);
  let steps = takeMessagesAfterAppend(sm);
  // Pre-vote answers carry the next term.
  sm.step(newMessage({ type: MessageType.MsgPreVoteResp, from: 2, to: 1, term: sm.term + 1 }));
  sm.step(newMessage({ type: MessageType.MsgPreVoteResp, from: 3, to: 1, term: sm.term + 1 }));
  assert.equal(sm.state, Candidate);
  stepOrSend(sm, steps);
  assert.equal(sm.state, Candidate);
  steps = takeMessagesAfterAppend(sm);
  assert.equal(sm.trk.tallyVotes().granted, 0);
  sm.step(newMessage({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: sm.term }));
  assert.equal(sm.state, Candidate, "one vote of three is not enough");
  stepOrSend(sm, steps);
  assert.equal(sm.state, Leader, "the real self-vote completes the quorum");
});

test("Raft leader: a self-ack from an earlier term is ignored after stepping down", () => {
  const sm = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  sm.becomeCandidate();
  sm.becomeLeader();
  sm.step(msgProp(1));
  const steps = takeMessagesAfterAppend(sm);
  sm.step(newMessage({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: sm.term + 1 }));
  assert.equal(sm.state, Follower);
  stepOrSend(sm, steps);
  assert.equal(sm.state, Follower);
  assert.equal(sm.term, 2);
  assert.equal(sm.raftLog.committed, 0);
});

// CheckQuorum and the leader lease.

test("Raft CheckQuorum: a leader that hears from a quorum stays leader", () => {
  const sm = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers: [1, 2, 3] }), {
    checkQuorum: true,
  });
  sm.becomeCandidate();
  sm.becomeLeader();
  for (let i = 0; i < sm.electionTimeout + 1; i++) {
    sm.step(newMessage({ type: MessageType.MsgHeartbeatResp, from: 2, term: sm.term }));
    sm.tick();
  }
  assert.equal(sm.state, Leader);
});

test("Raft CheckQuorum: a leader that loses its quorum steps down after an election timeout", () => {
  const sm = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers: [1, 2, 3] }), {
    checkQuorum: true,
  });
  sm.becomeCandidate();
  sm.becomeLeader();
  for (let i = 0; i < sm.electionTimeout - 1; i++) sm.tick();
  assert.equal(sm.state, Leader, "not before the timeout");
  sm.tick();
  assert.equal(sm.state, Follower);
  assert.equal(sm.term, 1);
  assert.equal(sm.lead, None);
});

test("Raft CheckQuorum: a voter within its lease ignores a higher-term vote request", () => {
  const [a, b, c] = threeRafts({ checkQuorum: true }) as [Raft, Raft, Raft];
  const nt = newNetwork(a, b, c);
  setRandomizedElectionTimeout(b, b.electionTimeout + 1);
  for (let i = 0; i < b.electionTimeout; i++) b.tick();
  nt.send(msgHup(1));
  assert.equal(a.state, Leader);
  assert.equal(c.state, Follower);
  nt.send(msgHup(3));
  // b heard from the leader less than an election timeout ago.
  assert.equal(c.state, Candidate);
  assert.equal(b.term, 1);
  for (let i = 0; i < b.electionTimeout; i++) b.tick();
  nt.send(msgHup(3));
  assert.equal(c.state, Leader);
});

test("Raft CheckQuorum: votes are granted right after startup and after the lease expires", () => {
  const [a, b, c] = threeRafts({ checkQuorum: true }) as [Raft, Raft, Raft];
  const nt = newNetwork(a, b, c);
  setRandomizedElectionTimeout(a, a.electionTimeout + 1);
  setRandomizedElectionTimeout(b, b.electionTimeout + 2);
  // Fresh nodes know no leader, so no lease holds.
  nt.send(msgHup(1));
  assert.equal(a.state, Leader);
  assert.equal(c.state, Follower);
  setRandomizedElectionTimeout(a, a.electionTimeout + 1);
  setRandomizedElectionTimeout(b, b.electionTimeout + 2);
  for (let i = 0; i < a.electionTimeout; i++) a.tick();
  for (let i = 0; i < b.electionTimeout; i++) b.tick();
  nt.send(msgHup(3));
  assert.equal(a.state, Follower);
  assert.equal(c.state, Leader);
});

test("Raft CheckQuorum: a stuck candidate with a higher term is freed by the leader's heartbeat", () => {
  const [a, b, c] = threeRafts({ checkQuorum: true }) as [Raft, Raft, Raft];
  const nt = newNetwork(a, b, c);
  setRandomizedElectionTimeout(b, b.electionTimeout + 1);
  for (let i = 0; i < b.electionTimeout; i++) b.tick();
  nt.send(msgHup(1));
  nt.isolate(1);
  nt.send(msgHup(3));
  assert.equal(b.state, Follower);
  assert.equal(c.state, Candidate);
  assert.equal(c.term, b.term + 1);
  nt.send(msgHup(3));
  assert.equal(b.state, Follower);
  assert.equal(c.state, Candidate);
  assert.equal(c.term, b.term + 2);
  nt.recover();
  // The stale heartbeat makes 3 answer with its term, which deposes 1.
  nt.send(newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 3, term: a.term }));
  assert.equal(a.state, Follower);
  assert.equal(c.term, a.term);
  nt.send(msgHup(3));
  assert.equal(c.state, Leader);
});

test("Raft CheckQuorum: a voter not in its own configuration still follows the leader", () => {
  const a = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2] }), { checkQuorum: true });
  const b = newTestRaft(2, 10, 1, newTestMemoryStorage({ peers: [1] }), { checkQuorum: true });
  const nt = newNetwork(a, b);
  setRandomizedElectionTimeout(b, b.electionTimeout + 1);
  // The network gave b a full configuration; remove it again.
  b.applyConfChange(removeNode(2));
  assert.equal(b.promotable(), false);
  for (let i = 0; i < b.electionTimeout; i++) b.tick();
  assert.equal(b.state, Follower, "an unpromotable node never campaigns");
  nt.send(msgHup(1));
  assert.equal(a.state, Leader);
  assert.equal(b.state, Follower);
  assert.equal(b.lead, 1);
});

test("Raft CheckQuorum: a follower that times out disrupts the leader through its reply", () => {
  const [n1, n2, n3] = threeRafts({ checkQuorum: true }) as [Raft, Raft, Raft];
  for (const n of [n1, n2, n3]) n.becomeFollower(1, None);
  const nt = newNetwork(n1, n2, n3);
  nt.send(msgHup(1));
  assert.equal(n1.state, Leader);
  setRandomizedElectionTimeout(n3, n3.electionTimeout + 2);
  for (let i = 0; i < n3.randomizedElectionTimeout - 1; i++) n3.tick();
  n3.tick();
  assert.deepEqual([n1.state, n2.state, n3.state], [Leader, Follower, Candidate]);
  assert.deepEqual([n1.term, n2.term, n3.term], [2, 2, 3]);
  // The delayed heartbeat reaches n3, whose higher-term reply deposes n1.
  nt.send(newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 3, term: n1.term }));
  assert.deepEqual([n1.state, n2.state, n3.state], [Follower, Follower, Candidate]);
  assert.deepEqual([n1.term, n2.term, n3.term], [3, 2, 3]);
});

test("Raft CheckQuorum with PreVote: a lagging follower cannot disrupt the leader", () => {
  const [n1, n2, n3] = threeRafts({ checkQuorum: true }) as [Raft, Raft, Raft];
  for (const n of [n1, n2, n3]) n.becomeFollower(1, None);
  const nt = newNetwork(n1, n2, n3);
  nt.send(msgHup(1));
  assert.equal(n1.state, Leader);
  nt.isolate(3);
  for (let i = 0; i < 3; i++) nt.send(msgProp(1));
  for (const n of [n1, n2, n3]) n.preVote = true;
  nt.recover();
  nt.send(msgHup(3));
  assert.deepEqual([n1.state, n2.state, n3.state], [Leader, Follower, PreCandidate]);
  assert.deepEqual([n1.term, n2.term, n3.term], [2, 2, 2]);
  nt.send(newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 3, term: n1.term }));
  assert.equal(n1.state, Leader);
  assert.equal(n3.state, Follower);
});

test("Raft CheckQuorum with PreVote: followers of an isolated leader elect a new one", () => {
  const [n1, n2, n3] = threeRafts({ checkQuorum: true, preVote: true }) as [Raft, Raft, Raft];
  for (const n of [n1, n2, n3]) n.becomeFollower(1, None);
  const nt = newNetwork(n1, n2, n3);
  nt.send(msgHup(1));
  nt.isolate(1);
  assert.deepEqual([n1.state, n2.state, n3.state], [Leader, Follower, Follower]);
  // 2 ignores 3's pre-vote (its lease), but 3 grants 2's after becoming a pre-candidate.
  nt.send(msgHup(3));
  nt.send(msgHup(2));
  assert.equal(n2.state, Leader);
});

test("Raft.step() MsgForgetLeader lets a follower vote before its lease would expire", () => {
  const [a, b, c] = threeRafts({ checkQuorum: true }) as [Raft, Raft, Raft];
  const nt = newNetwork(a, b, c);
  nt.send(msgHup(1));
  assert.equal(b.lead, 1);
  nt.isolate(1);
  nt.send(msgHup(3));
  assert.equal(c.state, Candidate, "b's lease refuses the vote");
  nt.send(newMessage({ type: MessageType.MsgForgetLeader, from: 2, to: 2 }));
  assert.equal(b.lead, None);
  nt.send(msgHup(3));
  assert.equal(c.state, Leader);
  // A leader ignores it.
  nt.send(newMessage({ type: MessageType.MsgForgetLeader, from: 3, to: 3 }));
  assert.equal(c.state, Leader);
  assert.equal(c.lead, 3);
});

test("Raft.step() MsgForgetLeader is ignored under ReadOnlyLeaseBased", () => {
  const nt = newNetworkWithConfig(
    (c) => {
      c.checkQuorum = true;
      c.readOnlyOption = ReadOnlyOption.ReadOnlyLeaseBased;
    },
    undefined,
    undefined,
    undefined,
  );
  nt.send(msgHup(1));
  nt.send(newMessage({ type: MessageType.MsgForgetLeader, from: 2, to: 2 }));
  assert.equal(nt.raft(2).lead, 1);
});

// PreVote.

test("Raft PreVote: a node with a smaller term can still complete an election", () => {
  const [n1, n2, n3] = threeRafts({ preVote: true }) as [Raft, Raft, Raft];
  for (const n of [n1, n2, n3]) n.becomeFollower(1, None);
  const nt = newNetwork(n1, n2, n3);
  nt.cut(1, 3);
  nt.cut(2, 3);
  nt.send(msgHup(1));
  assert.equal(n1.state, Leader);
  assert.equal(n2.state, Follower);
  nt.send(msgHup(3));
  assert.equal(n3.state, PreCandidate);
  nt.send(msgHup(2));
  assert.deepEqual([n1.term, n2.term, n3.term], [3, 3, 1]);
  assert.deepEqual([n1.state, n2.state, n3.state], [Follower, Leader, PreCandidate]);
  // Bring 3 back and "crash" 2, the leader.
  nt.recover();
  nt.cut(2, 1);
  nt.cut(2, 3);
  nt.send(msgHup(3));
  nt.send(msgHup(1));
  assert.ok(n1.state === Leader || n3.state === Leader);
});

test("Raft PreVote: after a split vote the next round elects a leader", () => {
  const [n1, n2, n3] = threeRafts({ preVote: true }) as [Raft, Raft, Raft];
  for (const n of [n1, n2, n3]) n.becomeFollower(1, None);
  const nt = newNetwork(n1, n2, n3);
  nt.send(msgHup(1));
  nt.isolate(1);
  nt.send(msgHup(2), msgHup(3));
  assert.deepEqual([n2.term, n3.term], [3, 3]);
  assert.deepEqual([n2.state, n3.state], [Candidate, Candidate]);
  nt.send(msgHup(2));
  assert.deepEqual([n2.term, n3.term], [4, 4]);
  assert.deepEqual([n2.state, n3.state], [Leader, Follower]);
});

/**
 * A rolling upgrade to PreVote: 1 leads at term 2 with PreVote, 2 follows
 * with PreVote, 3 was partitioned without PreVote and reached term 4 with a
 * shorter log; PreVote is then turned on at 3 and the partition heals.
 */
function newPreVoteMigrationCluster(): { nt: Network; n1: Raft; n2: Raft; n3: Raft } {
  const [n1, n2, n3] = threeRafts() as [Raft, Raft, Raft];
  for (const n of [n1, n2, n3]) n.becomeFollower(1, None);
  n1.preVote = true;
  n2.preVote = true;
  const nt = newNetwork(n1, n2, n3);
  nt.send(msgHup(1));
  nt.isolate(3);
  nt.send(msgProp(1));
  nt.send(msgHup(3));
  nt.send(msgHup(3));
  assert.deepEqual([n1.state, n2.state, n3.state], [Leader, Follower, Candidate]);
  assert.deepEqual([n1.term, n2.term, n3.term], [2, 2, 4]);
  n3.preVote = true;
  nt.recover();
  return { nt, n1, n2, n3 };
}

test("Raft PreVote migration: the cluster can complete an election", () => {
  const { nt, n2, n3 } = newPreVoteMigrationCluster();
  nt.isolate(1);
  nt.send(msgHup(3));
  nt.send(msgHup(2));
  assert.equal(n2.state, Follower);
  assert.equal(n3.state, PreCandidate);
  nt.send(msgHup(3));
  nt.send(msgHup(2));
  assert.equal(n2.state, Leader);
});

test("Raft PreVote migration: a stuck pre-candidate is freed by the leader's heartbeat", () => {
  const { nt, n1, n2, n3 } = newPreVoteMigrationCluster();
  nt.send(msgHup(3));
  assert.deepEqual([n1.state, n2.state, n3.state], [Leader, Follower, PreCandidate]);
  nt.send(msgHup(3));
  assert.deepEqual([n1.state, n2.state, n3.state], [Leader, Follower, PreCandidate]);
  nt.send(newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 3, term: n1.term }));
  assert.equal(n1.state, Follower);
  assert.equal(n3.term, n1.term);
});

// Learners.

test("Raft learner: does not campaign when its election timeout passes", () => {
  const n2 = newTestLearnerRaft(2, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  n2.becomeFollower(1, None);
  setRandomizedElectionTimeout(n2, n2.electionTimeout);
  for (let i = 0; i < n2.electionTimeout; i++) n2.tick();
  assert.equal(n2.state, Follower);
  assert.deepEqual(readMessages(n2), []);
});

test("Raft learner: campaigns only after promotion to voter", () => {
  const n1 = newTestLearnerRaft(1, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  const n2 = newTestLearnerRaft(2, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  n1.becomeFollower(1, None);
  n2.becomeFollower(1, None);
  const nt = newNetwork(n1, n2);
  assert.notEqual(n1.state, Leader);
  setRandomizedElectionTimeout(n1, n1.electionTimeout);
  for (let i = 0; i < n1.electionTimeout; i++) n1.tick();
  advanceMessagesAfterAppend(n1);
  assert.equal(n1.state, Leader);
  assert.equal(n2.state, Follower);
  nt.send(msgBeat(1));
  n1.applyConfChange(addNode(2));
  n2.applyConfChange(addNode(2));
  assert.equal(n2.isLearner, false);
  setRandomizedElectionTimeout(n2, n2.electionTimeout);
  for (let i = 0; i < n2.electionTimeout; i++) n2.tick();
  advanceMessagesAfterAppend(n2);
  nt.send(msgBeat(2));
  assert.equal(n1.state, Follower);
  assert.equal(n2.state, Leader);
});

test("Raft learner: grants a valid vote request (it may have been promoted unknowingly)", () => {
  const n2 = newTestLearnerRaft(2, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  n2.becomeFollower(1, None);
  n2.step(
    newMessage({ type: MessageType.MsgVote, from: 1, to: 2, term: 2, logTerm: 11, index: 11 }),
  );
  const msgs = readMessages(n2);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgVoteResp);
  assert.equal(msgs[0]!.reject, false);
});

test("Raft learner: ignores MsgHup and MsgTimeoutNow", () => {
  const n1 = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1] }));
  n1.applyConfChange(addLearner(2));
  const n2 = newTestRaft(2, 10, 1, newTestMemoryStorage({ peers: [1] }));
  n2.applyConfChange(addLearner(2));
  const nt = newNetwork(n1, n2);
  nt.send(msgHup(2));
  assert.equal(n2.isLearner, true);
  assert.equal(n2.state, Follower);
  nt.send(msgHup(1));
  assert.ok(n1.state === Leader && n1.lead === 1);
  nt.send(newMessage({ type: MessageType.MsgTimeoutNow, from: 1, to: 2 }));
  assert.equal(n2.state, Follower);
  assert.equal(n1.state, Leader);
});

test("Raft learner: receives and commits the leader's entries", () => {
  const n1 = newTestLearnerRaft(1, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  const n2 = newTestLearnerRaft(2, 10, 1, newTestMemoryStorage({ peers: [1], learners: [2] }));
  const nt = newNetwork(n1, n2);
  n1.becomeFollower(1, None);
  n2.becomeFollower(1, None);
  setRandomizedElectionTimeout(n1, n1.electionTimeout);
  for (let i = 0; i < n1.electionTimeout; i++) n1.tick();
  advanceMessagesAfterAppend(n1);
  nt.send(msgBeat(1));
  assert.equal(n1.state, Leader);
  assert.equal(n2.isLearner, true);
  nt.send(msgProp(1));
  assert.equal(n1.raftLog.committed, 2);
  assert.equal(n2.raftLog.committed, 2);
  assert.equal(n1.trk.progress.get(2)!.match, 2);
});

// Membership changes and elections.

test("Raft: a pending entry commits when removing a node lowers the quorum", () => {
  const s = newTestMemoryStorage({ peers: [1, 2] });
  const r = newTestRaft(1, 5, 1, s);
  r.becomeCandidate();
  r.becomeLeader();
  const cc = newConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 2 });
  r.step(
    newMessage({
      type: MessageType.MsgProp,
      entries: [newEntry({ type: EntryType.EntryConfChange, data: encodeConfChange(cc) })],
    }),
  );
  assert.deepEqual(nextEnts(r, s), []);
  const ccIndex = r.raftLog.lastIndex();
  r.step(
    newMessage({ type: MessageType.MsgProp, entries: [newEntry({ data: enc.encode("hello") })] }),
  );
  r.step(newMessage({ type: MessageType.MsgAppResp, from: 2, index: ccIndex }));
  let ents = nextEnts(r, s);
  assert.equal(ents.length, 2);
  assert.equal(ents[0]!.type, EntryType.EntryNormal);
  assert.equal(ents[0]!.data.length, 0);
  assert.equal(ents[1]!.type, EntryType.EntryConfChange);
  r.applyConfChange(confChangeAsV2(cc));
  ents = nextEnts(r, s);
  assert.equal(ents.length, 1);
  assert.equal(ents[0]!.type, EntryType.EntryNormal);
  assert.deepEqual(ents[0]!.data, enc.encode("hello"));
});

for (const v2 of [false, true]) {
  test(`Raft election: a node does not campaign with a committed, unapplied ${v2 ? "ConfChangeV2" : "ConfChange"}`, () => {
    const nt = newNetwork(undefined, undefined, undefined);
    const n1 = nt.raft(1);
    const n2 = nt.raft(2);
    nt.send(msgHup(1));
    assert.equal(n1.state, Leader);
    const cc = newConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 2 });
    const entry = v2
      ? newEntry({
        type: EntryType.EntryConfChangeV2,
        data: encodeConfChangeV2(confChangeAsV2(cc)),
      })
      : newEntry({ type: EntryType.EntryConfChange, data: encodeConfChange(cc) });
    nt.send(newMessage({ type: MessageType.MsgProp, from: 1, to: 1, entries: [entry] }));
    for (let i = 0; i < n2.randomizedElectionTimeout; i++) n2.tick();
    assert.equal(n2.state, Follower, "timeout ignored");
    nt.send(transfer(2, 1));
    assert.equal(n1.state, Leader);
    assert.equal(n2.state, Follower, "MsgTimeoutNow ignored");
    // Let the transfer time out, then apply on 2 and retry.
    for (let i = 0; i < n1.electionTimeout; i++) n1.tick();
    assert.equal(n1.leadTransferee, None);
    nextEnts(n2, nt.storageOf(2));
    nt.send(transfer(2, 1));
    assert.equal(n1.state, Follower);
    assert.equal(n2.state, Leader);
    nextEnts(n1, nt.storageOf(1));
    for (let i = 0; i < n1.randomizedElectionTimeout; i++) n1.tick();
    assert.equal(n1.state, Candidate);
  });
}

test("Raft: MsgTimeoutNow to a node outside the configuration does nothing", () => {
  const r = newTestRaft(1, 5, 1, newTestMemoryStorage({ peers: [2, 3, 4] }));
  r.step(newMessage({ type: MessageType.MsgTimeoutNow, from: 2, to: 1 }));
  r.step(newMessage({ type: MessageType.MsgVoteResp, from: 2, to: 1 }));
  r.step(newMessage({ type: MessageType.MsgVoteResp, from: 3, to: 1 }));
  assert.equal(r.state, Follower);
  assert.equal(r.term, 0);
});

// Leadership transfer.

test("Raft leader transfer: to an up-to-date node, and back", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.send(msgHup(1));
  const lead = nt.raft(1);
  assert.equal(lead.lead, 1);
  nt.send(transfer(2, 1));
  checkLeaderTransferState(lead, Follower, 2);
  assert.equal(nt.raft(2).state, Leader);
  assert.equal(nt.raft(2).term, 2);
  nt.send(msgProp(1));
  nt.send(transfer(1, 2));
  checkLeaderTransferState(lead, Leader, 1);
  assert.equal(lead.term, 3);
});

test("Raft leader transfer: a request made at a follower is forwarded to the leader", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.send(msgHup(1));
  const lead = nt.raft(1);
  nt.send(transfer(2, 2));
  checkLeaderTransferState(lead, Follower, 2);
  nt.send(msgProp(1));
  nt.send(transfer(1, 1));
  checkLeaderTransferState(lead, Leader, 1);
});

test("Raft leader transfer: works while voters are within their CheckQuorum lease", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  for (const id of [1, 2, 3]) {
    const r = nt.raft(id);
    r.checkQuorum = true;
    setRandomizedElectionTimeout(r, r.electionTimeout + id);
  }
  const f = nt.raft(2);
  for (let i = 0; i < f.electionTimeout; i++) f.tick();
  nt.send(msgHup(1));
  const lead = nt.raft(1);
  assert.equal(lead.state, Leader);
  nt.send(transfer(2, 1));
  checkLeaderTransferState(lead, Follower, 2);
  nt.send(msgProp(1));
  nt.send(transfer(1, 2));
  checkLeaderTransferState(lead, Leader, 1);
});

test("Raft leader transfer: to a slow follower, after catching it up", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.send(msgHup(1));
  nt.isolate(3);
  nt.send(msgProp(1));
  nt.recover();
  const lead = nt.raft(1);
  assert.equal(lead.trk.progress.get(3)!.match, 1);
  nt.send(transfer(3, 1));
  checkLeaderTransferState(lead, Follower, 3);
  assert.equal(nt.raft(3).raftLog.lastIndex(), 3);
});

test("Raft leader transfer: to a follower that needs a snapshot first", () => {
  const nt = newNetwork(undefined, undefined, undefined);
  nt.send(msgHup(1));
  nt.isolate(3);
  nt.send(msgProp(1));
  const lead = nt.raft(1);
  nextEnts(lead, nt.storageOf(1));
  nt.storageOf(1).createSnapshot(
    lead.raftLog.applied,
    newConfState({ voters: lead.trk.voterNodes() }),
    new Uint8Array(0),
  );
  nt.storageOf(1).compact(lead.raftLog.applied);
  nt.recover();
  assert.equal(lead.trk.progress.get(3)!.match, 1);
  let filtered: Message | undefined;
  // The follower acknowledges the snapshot only once it has applied it.
  nt.msgHook = (m): boolean => {
    if (m.type !== MessageType.MsgAppResp || m.from !== 3 || m.reject) return true;
    filtered = m;
    return false;
  };
  nt.send(transfer(3, 1));
  assert.equal(lead.state, Leader);
  assert.ok(filtered !== undefined);
  assert.equal(lead.trk.progress.get(3)!.state, ProgressState.StateSnapshot);
  const follower = nt.raft(3);
  const snap = follower.raftLog.nextUnstableSnapshot()!;
  assert.ok(snap !== undefined);
  nt.storageOf(3).applySnapshot(snap);
  follower.appliedSnap(snap);
  nt.msgHook = undefined;
  nt.send(filtered);
  checkLeaderTransferState(lead, Follower, 3);
});

test("Raft leader transfer: to itself or to an unknown node is a no-op", () => {
  for (const from of [1, 4]) {
    const nt = newNetwork(undefined, undefined, undefined);
    nt.send(msgHup(1));
    const lead = nt.raft(1);
    nt.send(transfer(from, 1));
    checkLeaderTransferState(lead, Leader, 1);
    assert.equal(lead.term, 1);
  }
});

test("Raft leader transfer: to a learner is ignored", () => {
  const peers = { peers: [1, 2], learners: [3] };
  const n1 = newTestRaft(1, 10, 1, newTestMemoryStorage(peers));
  const n2 = newTestRaft(2, 10, 1, newTestMemoryStorage(peers));
  const n3 = newTestRaft(3, 10, 1, newTestMemoryStorage(peers));
  const nt = newNetwork(n1, n2, n3);
  nt.send(msgHup(1));
  assert.equal(n1.state, Leader);
  nt.send(transfer(3, 1));
  checkLeaderTransferState(n1, Leader, 1);
  assert.equal(n3.state, Follower);
  assert.equal(n1.term, 1);
});

test("Raft leader transfer: aborted after an election timeout without success", () => {
  const { lead } = pendingTransferTo3();
  for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick();
  assert.equal(lead.leadTransferee, 3);
  for (let i = 0; i < lead.electionTimeout - lead.heartbeatTimeout; i++) lead.tick();
  checkLeaderTransferState(lead, Leader, 1);
});

test("Raft leader transfer: proposals are dropped while a transfer is pending", () => {
  const s = newTestMemoryStorage({ peers: [1, 2, 3] });
  const r = newTestRaft(1, 10, 1, s);
  const nt = newNetwork(r, undefined, undefined);
  nt.send(msgHup(1));
  nt.isolate(3);
  const lead = nt.raft(1);
  nextEnts(r, s);
  nt.send(transfer(3, 1));
  assert.equal(lead.leadTransferee, 3);
  nt.send(msgProp(1));
  assert.throws(() => lead.step(msgProp(1)), ProposalDroppedError);
  assert.equal(lead.trk.progress.get(1)!.match, 1);
  assert.equal(lead.raftLog.lastIndex(), 1);
});

test("Raft leader transfer: a higher-term vote request ends the pending transfer", () => {
  const { nt, lead } = pendingTransferTo3();
  nt.send(newMessage({ type: MessageType.MsgHup, from: 2, to: 2, index: 1, term: 2 }));
  checkLeaderTransferState(lead, Follower, 2);
});

test("Raft leader transfer: removing the transferee cancels the transfer", () => {
  const { lead } = pendingTransferTo3("dropTimeoutNow");
  lead.applyConfChange(removeNode(3));
  checkLeaderTransferState(lead, Leader, 1);
});

test("Raft leader transfer: demoting the transferee to learner cancels the transfer", () => {
  const { lead } = pendingTransferTo3("dropTimeoutNow");
  lead.applyConfChange(
    newConfChangeV2({
      changes: [
        { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3 },
        { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 3 },
      ],
    }),
  );
  lead.applyConfChange(newConfChangeV2());
  checkLeaderTransferState(lead, Leader, 1);
  assert.deepEqual(lead.trk.learnerNodes(), [3]);
});

test("Raft leader transfer: a transfer back to the leader cancels the pending one", () => {
  const { nt, lead } = pendingTransferTo3();
  nt.send(transfer(1, 1));
  checkLeaderTransferState(lead, Leader, 1);
});

test("Raft leader transfer: a second transfer to another node replaces the first", () => {
  const { nt, lead } = pendingTransferTo3();
  nt.send(transfer(2, 1));
  checkLeaderTransferState(lead, Follower, 2);
});

test("Raft leader transfer: a second transfer to the same node does not extend the timeout", () => {
  const { nt, lead } = pendingTransferTo3();
  for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick();
  nt.send(transfer(3, 1));
  for (let i = 0; i < lead.electionTimeout - lead.heartbeatTimeout; i++) lead.tick();
  checkLeaderTransferState(lead, Leader, 1);
});

// Conflict-term probing.

test("Raft log probing: a rejection's hint lets the leader skip whole conflicting terms", () => {
  const cases: Array<{
    name: string;
    leaderLog: Entry[];
    followerLog: Entry[];
    followerCompact?: number;
    hintTerm: number;
    hintIndex: number;
    nextTerm: number;
    nextIndex: number;
  }> = [
    {
      name: "leader finds the conflict index quickly (1)",
      leaderLog: entsAt(1, 1, 2, 2, 4, 4, 4, 4),
      followerLog: entsAt(1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
      hintTerm: 3,
      hintIndex: 7,
      nextTerm: 2,
      nextIndex: 3,
    },
    {
      name: "leader finds the conflict index quickly (2)",
      leaderLog: entsAt(1, 1, 2, 2, 3, 4, 4, 4, 5),
      followerLog: entsAt(1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
      hintTerm: 3,
      hintIndex: 8,
      nextTerm: 3,
      nextIndex: 4,
    },
    {
      name: "follower finds the conflict index quickly",
      leaderLog: entsAt(1, 1, 1, 1, 1),
      followerLog: entsAt(1, 1, 2, 2, 4),
      hintTerm: 1,
      hintIndex: 1,
      nextTerm: 1,
      nextIndex: 1,
    },
    {
      name: "leader has a longer uncommitted tail",
      leaderLog: entsAt(1, 1, 1, 1, 1, 1, 1),
      followerLog: entsAt(1, 1, 2, 2, 4),
      hintTerm: 1,
      hintIndex: 1,
      nextTerm: 1,
      nextIndex: 1,
    },
    {
      name: "follower has a longer uncommitted tail",
      leaderLog: entsAt(1, 1, 1, 1, 1),
      followerLog: entsAt(1, 1, 2, 2, 4, 4, 4),
      hintTerm: 1,
      hintIndex: 1,
      nextTerm: 1,
      nextIndex: 1,
    },
    {
      name: "no conflict, follower is one behind",
      leaderLog: entsAt(1, 1, 1, 1, 4, 5),
      followerLog: entsAt(1, 1, 1, 1, 4),
      hintTerm: 4,
      hintIndex: 4,
      nextTerm: 4,
      nextIndex: 4,
    },
    {
      name: "the leader-side example",
      leaderLog: entsAt(1, 2, 5, 5, 5, 5, 5, 5, 5, 5),
      followerLog: entsAt(1, 2, 4, 4, 4, 4, 4),
      hintTerm: 4,
      hintIndex: 6,
      nextTerm: 2,
      nextIndex: 1,
    },
    {
      name: "the follower-side example",
      leaderLog: entsAt(1, 2, 2, 2, 2, 2),
      followerLog: entsAt(1, 2, 4, 4, 4, 4, 4, 4, 4),
      hintTerm: 2,
      hintIndex: 1,
      nextTerm: 2,
      nextIndex: 1,
    },
    {
      name: "a stale MsgApp below the follower's compacted index",
      leaderLog: entsAt(1, 1, 1, 3),
      followerLog: entsAt(1, 1, 1, 3, 3, 3),
      followerCompact: 5,
      hintTerm: 0,
      hintIndex: 3,
      nextTerm: 1,
      nextIndex: 2,
    },
  ];
  for (const tc of cases) {
    const s1 = newTestMemoryStorage({ peers: [1, 2, 3] });
    s1.append(tc.leaderLog);
    const last = tc.leaderLog[tc.leaderLog.length - 1]!;
    s1.setHardState(newHardState({ term: last.term - 1, commit: last.index }));
    const n1 = newTestRaft(1, 10, 1, s1);
    n1.becomeCandidate();
    n1.becomeLeader();

    const s2 = newTestMemoryStorage({ peers: [1, 2, 3] });
    s2.append(tc.followerLog);
    s2.setHardState(newHardState({ term: last.term, vote: 1, commit: 0 }));
    const n2 = newTestRaft(2, 10, 1, s2);
    if (tc.followerCompact !== undefined) s2.compact(tc.followerCompact);

    n2.step(newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2 }));
    let m = expectOneMessage(n2);
    assert.equal(m.type, MessageType.MsgHeartbeatResp, tc.name);
    n1.step(m);
    m = expectOneMessage(n1);
    assert.equal(m.type, MessageType.MsgApp, tc.name);
    n2.step(m);
    m = expectOneMessage(n2);
    assert.equal(m.type, MessageType.MsgAppResp, tc.name);
    assert.equal(m.reject, true, tc.name);
    assert.equal(m.logTerm, tc.hintTerm, `${tc.name}: hint term`);
    assert.equal(m.rejectHint, tc.hintIndex, `${tc.name}: hint index`);
    n1.step(m);
    const msgs = readMessages(n1);
    assert.ok(msgs.length >= 1, tc.name);
    assert.equal(msgs[0]!.logTerm, tc.nextTerm, `${tc.name}: next term`);
    assert.equal(msgs[0]!.index, tc.nextIndex, `${tc.name}: next index`);
  }
});

test("Raft leader: a new leader blocks conf changes until its earlier entries are applied", () => {
  for (const [addEntry, want] of [[false, 0], [true, 1]] as const) {
    const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2] }));
    if (addEntry) mustAppendEntry(r, newEntry());
    r.becomeCandidate();
    r.becomeLeader();
    assert.equal(r.pendingConfIndex, want);
  }
});
