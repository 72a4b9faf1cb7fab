/**
 * Unit tests organised by the sections of the Raft paper ("In Search of an
 * Understandable Consensus Algorithm", Ongaro and Ousterhout), after etcd
 * raft's raft_paper_test.go. Each test pins down one rule of the protocol
 * as the paper states it; where etcd deliberately deviates (it ignores,
 * rather than rejects, stale-term requests), the test says so.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Raft } from "./raft.ts";
import {
  type Entry,
  type Message,
  MessageType,
  newEntry,
  newHardState,
  newMessage,
  None,
  StateType,
} from "./types.ts";
import {
  acceptAndReply,
  advanceMessagesAfterAppend,
  blackHole,
  commitNoopEntry,
  entsAt,
  idsBySize,
  logTerms,
  msgBeat,
  msgHup,
  mustAppendEntry,
  newNetwork,
  newTestMemoryStorage,
  newTestRaft,
  readMessages,
  sortMessages,
} from "../tests/raft/network.ts";

const enc = new TextEncoder();
const someData = enc.encode("some data");

/** A node 1 of a three-voter cluster, election 10, heartbeat 1. */
function threeNodeRaft(): Raft {
  return newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
}

/** Puts a node into a role by the same transitions etcd's tests use. */
function enterState(r: Raft, state: StateType): void {
  switch (state) {
    case StateType.StateFollower:
      r.becomeFollower(1, 2);
      break;
    case StateType.StatePreCandidate:
      r.becomePreCandidate();
      break;
    case StateType.StateCandidate:
      r.becomeCandidate();
      break;
    case StateType.StateLeader:
      r.becomeCandidate();
      r.becomeLeader();
      break;
  }
}

function propose(r: Raft, data: Uint8Array = someData): void {
  r.step(newMessage({ type: MessageType.MsgProp, from: 1, to: 1, entries: [newEntry({ data })] }));
}

// §5.1: Raft basics (terms and roles).

for (
  const [name, state] of [
    ["follower", StateType.StateFollower],
    ["candidate", StateType.StateCandidate],
    ["leader", StateType.StateLeader],
  ] as const
) {
  test(`Raft §5.1: a ${name} that sees a higher term adopts it and becomes a follower`, () => {
    const r = threeNodeRaft();
    enterState(r, state);
    r.step(newMessage({ type: MessageType.MsgApp, term: 2 }));
    assert.equal(r.term, 2);
    assert.equal(r.state, StateType.StateFollower);
  });
}

test("Raft §5.1: a request with a stale term is ignored (etcd ignores rather than rejects)", () => {
  const r = threeNodeRaft();
  let called = false;
  const fake = (): void => {
    called = true;
  };
  r.stepFollower = fake;
  r.stepCandidate = fake;
  r.stepLeader = fake;
  r.loadState(newHardState({ term: 2 }));
  r.step(newMessage({ type: MessageType.MsgApp, from: 2, to: 1, term: r.term - 1 }));
  assert.equal(called, false);
  assert.equal(r.term, 2);
  // Without CheckQuorum or PreVote there is no reply either.
  assert.deepEqual(readMessages(r), []);
  // The control: a current-term message does reach the role's step function.
  r.step(newMessage({ type: MessageType.MsgApp, from: 2, to: 1, term: 2 }));
  assert.equal(called, true);
});

test("Raft §5.2: servers start up as followers", () => {
  const r = threeNodeRaft();
  assert.equal(r.state, StateType.StateFollower);
  assert.equal(r.term, 0);
  assert.equal(r.lead, None);
});

// §5.2: Leader election.

test("Raft §5.2: a leader sends empty heartbeats to every follower each heartbeat interval", () => {
  const r = threeNodeRaft();
  r.becomeCandidate();
  r.becomeLeader();
  for (let i = 0; i < 10; i++) mustAppendEntry(r, newEntry({ index: i + 1 }));
  r.tick();
  const msgs = sortMessages(readMessages(r));
  assert.deepEqual(msgs, [
    newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 1, commit: 0 }),
    newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 3, term: 1, commit: 0 }),
  ]);
});

for (
  const [name, state] of [
    ["follower", StateType.StateFollower],
    ["candidate", StateType.StateCandidate],
  ] as const
) {
  test(`Raft §5.2: a ${name} that times out becomes candidate and votes for itself`, () => {
    const et = 10;
    const r = newTestRaft(1, et, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
    enterState(r, state);
    assert.equal(r.term, 1);
    // The randomized timeout is below 2*et, so this many ticks always fire.
    for (let i = 1; i < 2 * et; i++) r.tick();
    advanceMessagesAfterAppend(r);
    assert.equal(r.term, 2);
    assert.equal(r.state, StateType.StateCandidate);
    assert.equal(r.vote, 1);
    assert.equal(r.trk.votes.get(1), true);
    // RequestVote goes out to every other server in parallel.
    assert.deepEqual(sortMessages(readMessages(r)), [
      newMessage({ type: MessageType.MsgVote, from: 1, to: 2, term: 2, index: 0, logTerm: 0 }),
      newMessage({ type: MessageType.MsgVote, from: 1, to: 3, term: 2, index: 0, logTerm: 0 }),
    ]);
  });
}

test("Raft §5.2: one round of RequestVote wins, loses or stays undecided", () => {
  const W = StateType.StateLeader;
  const L = StateType.StateFollower;
  const U = StateType.StateCandidate;
  const cases: Array<
    { name: string; size: number; votes: Array<[number, boolean]>; want: StateType }
  > = [
    { name: "single node wins alone", size: 1, votes: [], want: W },
    { name: "3 nodes, all grant", size: 3, votes: [[2, true], [3, true]], want: W },
    { name: "3 nodes, one grant is a majority", size: 3, votes: [[2, true]], want: W },
    {
      name: "5 nodes, all grant",
      size: 5,
      votes: [[2, true], [3, true], [4, true], [5, true]],
      want: W,
    },
    { name: "5 nodes, three grant", size: 5, votes: [[2, true], [3, true], [4, true]], want: W },
    { name: "5 nodes, two grant", size: 5, votes: [[2, true], [3, true]], want: W },
    { name: "3 nodes, both deny", size: 3, votes: [[2, false], [3, false]], want: L },
    {
      name: "5 nodes, all deny",
      size: 5,
      votes: [[2, false], [3, false], [4, false], [5, false]],
      want: L,
    },
    {
      name: "5 nodes, majority deny",
      size: 5,
      votes: [[2, true], [3, false], [4, false], [5, false]],
      want: L,
    },
    { name: "3 nodes, no answers", size: 3, votes: [], want: U },
    { name: "5 nodes, one grant", size: 5, votes: [[2, true]], want: U },
    { name: "5 nodes, two denials", size: 5, votes: [[2, false], [3, false]], want: U },
    { name: "5 nodes, no answers", size: 5, votes: [], want: U },
  ];
  for (const tc of cases) {
    const r = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: idsBySize(tc.size) }));
    r.step(msgHup(1));
    advanceMessagesAfterAppend(r);
    for (const [id, granted] of tc.votes) {
      r.step(
        newMessage({
          type: MessageType.MsgVoteResp,
          from: id,
          to: 1,
          term: r.term,
          reject: !granted,
        }),
      );
    }
    assert.equal(r.state, tc.want, tc.name);
    assert.equal(r.term, 1, tc.name);
  }
});

test("Raft §5.2: a follower votes for at most one candidate per term, first come first served", () => {
  const cases = [
    { vote: None, nvote: 2, wreject: false },
    { vote: None, nvote: 3, wreject: false },
    { vote: 2, nvote: 2, wreject: false },
    { vote: 3, nvote: 3, wreject: false },
    { vote: 2, nvote: 3, wreject: true },
    { vote: 3, nvote: 2, wreject: true },
  ];
  for (const tc of cases) {
    const r = threeNodeRaft();
    r.loadState(newHardState({ term: 1, vote: tc.vote }));
    r.step(newMessage({ type: MessageType.MsgVote, from: tc.nvote, to: 1, term: 1 }));
    assert.deepEqual(
      r.msgsAfterAppend,
      [
        newMessage({
          type: MessageType.MsgVoteResp,
          from: 1,
          to: tc.nvote,
          term: 1,
          reject: tc.wreject,
        }),
      ],
      `voted ${tc.vote}, asked by ${tc.nvote}`,
    );
    // A granted vote is recorded; a refused one keeps the earlier vote.
    assert.equal(r.vote, tc.wreject ? tc.vote : tc.nvote);
  }
});

test("Raft §5.2: a candidate that hears from a leader of at least its term falls back to follower", () => {
  for (const term of [1, 2]) {
    const r = threeNodeRaft();
    r.step(msgHup(1));
    assert.equal(r.state, StateType.StateCandidate);
    assert.equal(r.term, 1);
    r.step(newMessage({ type: MessageType.MsgApp, from: 2, to: 1, term }));
    assert.equal(r.state, StateType.StateFollower, `term ${term}`);
    assert.equal(r.term, term);
    assert.equal(r.lead, 2);
  }
});

for (
  const [name, state] of [
    ["follower", StateType.StateFollower],
    ["candidate", StateType.StateCandidate],
  ] as const
) {
  test(`Raft §5.2: a ${name}'s election timeout is randomized over [et, 2*et)`, () => {
    const et = 10;
    const r = newTestRaft(1, et, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
    const timeouts = new Set<number>();
    for (let round = 0; round < 50 * et; round++) {
      if (state === StateType.StateFollower) r.becomeFollower(r.term + 1, 2);
      else r.becomeCandidate();
      let time = 0;
      while (readMessages(r).length === 0) {
        r.tick();
        time++;
        assert.ok(time <= 2 * et, "timed out too late");
      }
      timeouts.add(time);
    }
    for (let d = et; d < 2 * et; d++) assert.ok(timeouts.has(d), `a timeout of ${d} ticks`);
    assert.ok(!timeouts.has(et - 1) && !timeouts.has(2 * et), "no timeout outside the range");
  });
}

for (
  const [name, state] of [
    ["followers", StateType.StateFollower],
    ["candidates", StateType.StateCandidate],
  ] as const
) {
  test(`Raft §5.2: randomized timeouts make ${name} rarely time out on the same tick`, () => {
    const et = 10;
    const ids = idsBySize(5);
    const rs = ids.map((id) => newTestRaft(id, et, 1, newTestMemoryStorage({ peers: ids })));
    let conflicts = 0;
    const rounds = 1000;
    for (let round = 0; round < rounds; round++) {
      for (const r of rs) {
        if (state === StateType.StateFollower) r.becomeFollower(r.term + 1, None);
        else r.becomeCandidate();
      }
      let timeoutNum = 0;
      while (timeoutNum === 0) {
        for (const r of rs) {
          r.tick();
          if (readMessages(r).length > 0) timeoutNum++;
        }
      }
      if (timeoutNum > 1) conflicts++;
    }
    assert.ok(conflicts / rounds <= 0.3, `conflict rate ${conflicts / rounds}`);
  });
}

test("Raft §5.2: split votes are resolved by a later election", () => {
  // Four nodes: 1 and 3 campaign at the same time and each gets one other
  // vote (2 and 4 respectively), so neither reaches a majority of three.
  const nt = newNetwork(undefined, undefined, undefined, undefined);
  nt.cut(1, 3);
  nt.cut(1, 4);
  nt.cut(3, 2);
  nt.send(msgHup(1), msgHup(3));
  assert.equal(nt.raft(1).state, StateType.StateCandidate);
  assert.equal(nt.raft(3).state, StateType.StateCandidate);
  assert.equal(nt.raft(2).vote, 1);
  assert.equal(nt.raft(4).vote, 3);
  assert.equal(nt.raft(1).term, 1);
  nt.recover();
  // Whoever times out first starts term 2 and wins it.
  nt.send(msgHup(3));
  assert.equal(nt.raft(3).state, StateType.StateLeader);
  assert.equal(nt.raft(3).term, 2);
  for (const id of [1, 2, 4]) {
    assert.equal(nt.raft(id).state, StateType.StateFollower, `node ${id}`);
    assert.equal(nt.raft(id).lead, 3, `node ${id}`);
  }
});

// §5.3: Log replication.

test("Raft §5.3: a leader appends a proposal and sends it with the preceding index and term", () => {
  const s = newTestMemoryStorage({ peers: [1, 2, 3] });
  const r = newTestRaft(1, 10, 1, s);
  r.becomeCandidate();
  r.becomeLeader();
  commitNoopEntry(r, s);
  const li = r.raftLog.lastIndex();
  propose(r);
  assert.equal(r.raftLog.lastIndex(), li + 1);
  assert.equal(r.raftLog.committed, li);
  const wents = [newEntry({ index: li + 1, term: 1, data: someData })];
  const app = (to: number): Message =>
    newMessage({
      type: MessageType.MsgApp,
      from: 1,
      to,
      term: 1,
      index: li,
      logTerm: 1,
      entries: wents,
      commit: li,
    });
  assert.deepEqual(sortMessages(readMessages(r)), [app(2), app(3)]);
  // The new entry is written to stable storage by the next Ready.
  assert.deepEqual(r.raftLog.nextUnstableEnts(), wents);
});

test("Raft §5.3: a leader applies a replicated entry and tells followers the new commit index", () => {
  const s = newTestMemoryStorage({ peers: [1, 2, 3] });
  const r = newTestRaft(1, 10, 1, s);
  r.becomeCandidate();
  r.becomeLeader();
  commitNoopEntry(r, s);
  const li = r.raftLog.lastIndex();
  propose(r);
  for (const m of readMessages(r)) r.step(acceptAndReply(m));
  assert.equal(r.raftLog.committed, li + 1);
  assert.deepEqual(r.raftLog.nextCommittedEnts(true), [
    newEntry({ index: li + 1, term: 1, data: someData }),
  ]);
  const msgs = sortMessages(readMessages(r));
  assert.deepEqual(msgs.map((m) => [m.to, m.type, m.commit]), [
    [2, MessageType.MsgApp, li + 1],
    [3, MessageType.MsgApp, li + 1],
  ]);
});

test("Raft §5.3: an entry commits once the leader has it on a majority", () => {
  const cases: Array<{ size: number; acceptors: number[]; wack: boolean }> = [
    { size: 1, acceptors: [], wack: true },
    { size: 3, acceptors: [], wack: false },
    { size: 3, acceptors: [2], wack: true },
    { size: 3, acceptors: [2, 3], wack: true },
    { size: 5, acceptors: [], wack: false },
    { size: 5, acceptors: [2], wack: false },
    { size: 5, acceptors: [2, 3], wack: true },
    { size: 5, acceptors: [2, 3, 4], wack: true },
    { size: 5, acceptors: [2, 3, 4, 5], wack: true },
  ];
  for (const tc of cases) {
    const s = newTestMemoryStorage({ peers: idsBySize(tc.size) });
    const r = newTestRaft(1, 10, 1, s);
    r.becomeCandidate();
    r.becomeLeader();
    commitNoopEntry(r, s);
    const li = r.raftLog.lastIndex();
    propose(r);
    advanceMessagesAfterAppend(r);
    for (const m of [...r.msgs]) {
      if (tc.acceptors.includes(m.to)) r.step(acceptAndReply(m));
    }
    assert.equal(r.raftLog.committed > li, tc.wack, `size ${tc.size}, acks ${tc.acceptors}`);
  }
});

test("Raft §5.3: committing an entry commits every preceding entry, older terms included", () => {
  const cases: Entry[][] = [
    [],
    entsAt(1, 2),
    entsAt(1, 1, 2),
    entsAt(1, 1),
  ];
  for (const tt of cases) {
    const storage = newTestMemoryStorage({ peers: [1, 2, 3] });
    storage.append(tt);
    const r = newTestRaft(1, 10, 1, storage);
    r.loadState(newHardState({ term: 2 }));
    r.becomeCandidate();
    r.becomeLeader();
    propose(r);
    for (const m of readMessages(r)) r.step(acceptAndReply(m));
    const li = tt.length;
    assert.deepEqual(r.raftLog.nextCommittedEnts(true), [
      ...tt,
      newEntry({ term: 3, index: li + 1 }),
      newEntry({ term: 3, index: li + 2, data: someData }),
    ]);
  }
});

test("Raft §5.3: a follower applies entries up to the leader's commit index, in log order", () => {
  const d1 = enc.encode("some data");
  const d2 = enc.encode("some data2");
  const cases: Array<{ ents: Entry[]; commit: number }> = [
    { ents: [newEntry({ term: 1, index: 1, data: d1 })], commit: 1 },
    {
      ents: [newEntry({ term: 1, index: 1, data: d1 }), newEntry({ term: 1, index: 2, data: d2 })],
      commit: 2,
    },
    {
      ents: [newEntry({ term: 1, index: 1, data: d2 }), newEntry({ term: 1, index: 2, data: d1 })],
      commit: 2,
    },
    {
      ents: [newEntry({ term: 1, index: 1, data: d1 }), newEntry({ term: 1, index: 2, data: d2 })],
      commit: 1,
    },
  ];
  for (const tc of cases) {
    const r = threeNodeRaft();
    r.becomeFollower(1, 2);
    r.step(
      newMessage({
        type: MessageType.MsgApp,
        from: 2,
        to: 1,
        term: 1,
        entries: tc.ents.map((e) => ({ ...e })),
        commit: tc.commit,
      }),
    );
    assert.equal(r.raftLog.committed, tc.commit);
    assert.deepEqual(r.raftLog.nextCommittedEnts(true), tc.ents.slice(0, tc.commit));
  }
});

test("Raft §5.3: a follower refuses entries unless it has the preceding index and term", () => {
  const ents = entsAt(1, 1, 2);
  const cases = [
    {
      name: "matches the committed dummy",
      term: 0,
      index: 0,
      windex: 1,
      wreject: false,
      hint: 0,
      lt: 0,
    },
    {
      name: "matches a committed entry",
      term: 1,
      index: 1,
      windex: 1,
      wreject: false,
      hint: 0,
      lt: 0,
    },
    {
      name: "matches an uncommitted entry",
      term: 2,
      index: 2,
      windex: 2,
      wreject: false,
      hint: 0,
      lt: 0,
    },
    {
      name: "term mismatch at index 2",
      term: 1,
      index: 2,
      windex: 2,
      wreject: true,
      hint: 1,
      lt: 1,
    },
    { name: "index past the log", term: 3, index: 3, windex: 3, wreject: true, hint: 2, lt: 2 },
  ];
  for (const tc of cases) {
    const storage = newTestMemoryStorage({ peers: [1, 2, 3] });
    storage.append(ents);
    const r = newTestRaft(1, 10, 1, storage);
    r.loadState(newHardState({ commit: 1 }));
    r.becomeFollower(2, 2);
    r.step(
      newMessage({
        type: MessageType.MsgApp,
        from: 2,
        to: 1,
        term: 2,
        logTerm: tc.term,
        index: tc.index,
      }),
    );
    assert.deepEqual(
      readMessages(r),
      [
        newMessage({
          type: MessageType.MsgAppResp,
          from: 1,
          to: 2,
          term: 2,
          index: tc.windex,
          reject: tc.wreject,
          rejectHint: tc.hint,
          logTerm: tc.lt,
        }),
      ],
      tc.name,
    );
  }
});

test("Raft §5.3: a follower deletes a conflicting suffix and appends the new entries", () => {
  const cases = [
    { index: 2, term: 2, ents: entsAt(3, 3), wents: entsAt(1, 1, 2, 3), wunstable: entsAt(3, 3) },
    {
      index: 1,
      term: 1,
      ents: entsAt(2, 3, 4),
      wents: entsAt(1, 1, 3, 4),
      wunstable: entsAt(2, 3, 4),
    },
    { index: 0, term: 0, ents: entsAt(1, 1), wents: entsAt(1, 1, 2), wunstable: [] },
    { index: 0, term: 0, ents: entsAt(1, 3), wents: entsAt(1, 3), wunstable: entsAt(1, 3) },
  ];
  for (const [i, tc] of cases.entries()) {
    const storage = newTestMemoryStorage({ peers: [1, 2, 3] });
    storage.append(entsAt(1, 1, 2));
    const r = newTestRaft(1, 10, 1, storage);
    r.becomeFollower(2, 2);
    r.step(
      newMessage({
        type: MessageType.MsgApp,
        from: 2,
        to: 1,
        term: 2,
        logTerm: tc.term,
        index: tc.index,
        entries: tc.ents,
      }),
    );
    assert.deepEqual(r.raftLog.allEntries(), tc.wents, `#${i} log`);
    assert.deepEqual(r.raftLog.nextUnstableEnts(), tc.wunstable, `#${i} unstable`);
  }
});

test("Raft §5.3 (Figure 7): a new leader brings every possible follower log in line with its own", () => {
  // The leader's log of Figure 7 (index 0 is the dummy) and followers (a)-(f).
  const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Array<[string, number[]]> = [
    ["(a) missing one entry", [1, 1, 1, 4, 4, 5, 5, 6, 6]],
    ["(b) missing many entries", [1, 1, 1, 4]],
    ["(c) one extra uncommitted entry", [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ["(d) extra entries of a later term", [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ["(e) missing entries and extra ones", [1, 1, 1, 4, 4, 4, 4]],
    ["(f) extra entries of terms 2 and 3", [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ];
  const term = 8;
  for (const [name, fterms] of followers) {
    const leadStorage = newTestMemoryStorage({ peers: [1, 2, 3] });
    leadStorage.append(entsAt(1, ...leaderTerms));
    const lead = newTestRaft(1, 10, 1, leadStorage);
    lead.loadState(newHardState({ commit: lead.raftLog.lastIndex(), term }));
    const followerStorage = newTestMemoryStorage({ peers: [1, 2, 3] });
    followerStorage.append(entsAt(1, ...fterms));
    const follower = newTestRaft(2, 10, 1, followerStorage);
    follower.loadState(newHardState({ term: term - 1 }));
    // A third voter is needed: the follower may refuse its vote when its
    // log is longer, and the leader needs the third vote then.
    const nt = newNetwork(lead, follower, blackHole());
    nt.send(msgHup(1));
    nt.send(newMessage({ type: MessageType.MsgVoteResp, from: 3, to: 1, term: term + 1 }));
    assert.equal(lead.state, StateType.StateLeader, name);
    nt.send(newMessage({ type: MessageType.MsgProp, from: 1, to: 1, entries: [newEntry()] }));
    const want = [...leaderTerms, term + 1, term + 1].map((t, i) => [i + 1, t]);
    assert.deepEqual(logTerms(lead), want, `${name}: leader`);
    assert.deepEqual(logTerms(follower), want, `${name}: follower`);
    assert.equal(follower.raftLog.committed, lead.raftLog.committed, `${name}: commit`);
    assert.equal(lead.raftLog.committed, want.length, `${name}: all committed`);
  }
});

// §5.4.1: Election restriction.

test("Raft §5.4.1: a vote request carries the candidate's last log index and term", () => {
  const cases = [
    { ents: entsAt(1, 1), wterm: 2 },
    { ents: entsAt(1, 1, 2), wterm: 3 },
  ];
  for (const tc of cases) {
    const r = threeNodeRaft();
    r.step(
      newMessage({
        type: MessageType.MsgApp,
        from: 2,
        to: 1,
        term: tc.wterm - 1,
        logTerm: 0,
        index: 0,
        entries: tc.ents,
      }),
    );
    readMessages(r);
    for (let i = 1; i < r.electionTimeout * 2; i++) r.tickElection();
    const msgs = sortMessages(readMessages(r));
    const last = tc.ents[tc.ents.length - 1]!;
    assert.deepEqual(msgs.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]), [
      [MessageType.MsgVote, 2, tc.wterm, last.index, last.term],
      [MessageType.MsgVote, 3, tc.wterm, last.index, last.term],
    ]);
  }
});

test("Raft §5.4.1: a voter denies its vote to a candidate whose log is less up to date", () => {
  const cases = [
    {
      name: "same last term, same length",
      ents: entsAt(1, 1),
      logTerm: 1,
      index: 1,
      wreject: false,
    },
    {
      name: "same last term, candidate longer",
      ents: entsAt(1, 1),
      logTerm: 1,
      index: 2,
      wreject: false,
    },
    {
      name: "same last term, voter longer",
      ents: entsAt(1, 1, 1),
      logTerm: 1,
      index: 1,
      wreject: true,
    },
    {
      name: "candidate higher term, same length",
      ents: entsAt(1, 1),
      logTerm: 2,
      index: 1,
      wreject: false,
    },
    {
      name: "candidate higher term, longer",
      ents: entsAt(1, 1),
      logTerm: 2,
      index: 2,
      wreject: false,
    },
    {
      name: "candidate higher term, shorter",
      ents: entsAt(1, 1, 1),
      logTerm: 2,
      index: 1,
      wreject: false,
    },
    {
      name: "voter higher term, same length",
      ents: entsAt(1, 2),
      logTerm: 1,
      index: 1,
      wreject: true,
    },
    {
      name: "voter higher term, candidate longer",
      ents: entsAt(1, 2),
      logTerm: 1,
      index: 2,
      wreject: true,
    },
    {
      name: "voter higher term, voter longer",
      ents: entsAt(1, 2, 2),
      logTerm: 1,
      index: 1,
      wreject: true,
    },
    {
      name: "same term, voter longer (2)",
      ents: entsAt(1, 1, 1),
      logTerm: 1,
      index: 1,
      wreject: true,
    },
  ];
  for (const tc of cases) {
    const storage = newTestMemoryStorage({ peers: [1, 2] });
    storage.append(tc.ents);
    const r = newTestRaft(1, 10, 1, storage);
    r.step(
      newMessage({
        type: MessageType.MsgVote,
        from: 2,
        to: 1,
        term: 3,
        logTerm: tc.logTerm,
        index: tc.index,
      }),
    );
    const msgs = readMessages(r);
    assert.equal(msgs.length, 1, tc.name);
    assert.equal(msgs[0]!.type, MessageType.MsgVoteResp, tc.name);
    assert.equal(msgs[0]!.reject, tc.wreject, tc.name);
    assert.equal(r.vote, tc.wreject ? None : 2, tc.name);
  }
});

test("Raft §5.4.1: only a candidate with every committed entry can win (leader completeness)", () => {
  // Node 1 commits entry 2 with 2 and 3 while 4 and 5 are cut off; 4 and 5
  // then cannot elect a leader lacking it, and node 2 can.
  const nt = newNetwork(undefined, undefined, undefined, undefined, undefined);
  nt.send(msgHup(1));
  nt.isolate(4);
  nt.isolate(5);
  nt.send(
    newMessage({
      type: MessageType.MsgProp,
      from: 1,
      to: 1,
      entries: [newEntry({ data: someData })],
    }),
  );
  assert.equal(nt.raft(1).raftLog.committed, 2);
  nt.recover();
  nt.isolate(1);
  nt.send(msgHup(4));
  assert.notEqual(nt.raft(4).state, StateType.StateLeader);
  assert.equal(nt.raft(2).vote, None, "2 refused 4");
  nt.send(msgHup(5));
  assert.notEqual(nt.raft(5).state, StateType.StateLeader);
  nt.send(msgHup(2));
  assert.equal(nt.raft(2).state, StateType.StateLeader);
  // The new leader's log still holds the committed entry, and commits it on
  // the nodes that lacked it.
  for (const id of [2, 3, 4, 5]) {
    const r = nt.raft(id);
    assert.deepEqual(r.raftLog.entries(2, Infinity)[0]!.data, someData, `node ${id}`);
    assert.ok(r.raftLog.committed >= 2, `node ${id}`);
  }
});

// §5.4.2: Committing entries from previous terms.

test("Raft §5.4.2: a leader commits by counting replicas only for entries of its own term", () => {
  const cases = [
    { name: "ack of a term-1 entry", index: 1, wcommit: 0 },
    { name: "ack of a term-2 entry", index: 2, wcommit: 0 },
    { name: "ack of the term-3 entry", index: 3, wcommit: 3 },
  ];
  for (const tc of cases) {
    const storage = newTestMemoryStorage({ peers: [1, 2] });
    storage.append(entsAt(1, 1, 2));
    const r = newTestRaft(1, 10, 1, storage);
    r.loadState(newHardState({ term: 2 }));
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    r.step(newMessage({ type: MessageType.MsgProp, from: 1, to: 1, entries: [newEntry()] }));
    r.step(
      newMessage({ type: MessageType.MsgAppResp, from: 2, to: 1, term: r.term, index: tc.index }),
    );
    advanceMessagesAfterAppend(r);
    assert.equal(r.raftLog.committed, tc.wcommit, tc.name);
  }
});

/**
 * Builds the state of Figure 8 (c): five servers after S1, leader of term
 * 4, replicated its term-2 entry at index 2 to S2 and S3 but nothing of
 * term 4 yet. S5 holds a term-3 entry at index 2 that S1 never saw.
 */
function figure8(): {
  nt: ReturnType<typeof newNetwork>;
  rs: Raft[];
} {
  const logs = [[1, 2], [1, 2], [1], [1], [1, 3]];
  const rs = logs.map((terms, i) => {
    const s = newTestMemoryStorage({ peers: idsBySize(5) });
    s.append(entsAt(1, ...terms));
    s.setHardState(newHardState({ term: 3, commit: 1, vote: i === 4 ? 5 : None }));
    return newTestRaft(i + 1, 10, 1, s);
  });
  const nt = newNetwork(...rs);
  // S1 wins term 4 with the votes of S2-S4 while S5 is down; its appends are lost.
  nt.isolate(5);
  nt.ignore(MessageType.MsgApp);
  nt.send(msgHup(1));
  const s1 = rs[0]!;
  assert.equal(s1.state, StateType.StateLeader);
  assert.equal(s1.term, 4);
  assert.deepEqual(logTerms(s1), [[1, 1], [2, 2], [3, 4]]);
  // S1 sends index 2 alone to S3, and an empty probe at index 2 to S2; both accept.
  nt.recover();
  nt.isolate(5);
  nt.ignore(MessageType.MsgApp);
  nt.send(
    newMessage({
      type: MessageType.MsgApp,
      from: 1,
      to: 3,
      term: 4,
      index: 1,
      logTerm: 1,
      entries: entsAt(2, 2),
      commit: 1,
    }),
    newMessage({
      type: MessageType.MsgApp,
      from: 1,
      to: 2,
      term: 4,
      index: 2,
      logTerm: 2,
      commit: 1,
    }),
  );
  nt.recover();
  return { nt, rs };
}

test("Raft §5.4.2 (Figure 8 c): an old-term entry on a majority is not committed", () => {
  const { rs } = figure8();
  const s1 = rs[0]!;
  assert.equal(s1.trk.progress.get(2)!.match, 2);
  assert.equal(s1.trk.progress.get(3)!.match, 2);
  assert.deepEqual(logTerms(rs[2]!), [[1, 1], [2, 2]]);
  // Index 2 is stored on S1, S2 and S3, a majority of five, yet it is not committed.
  assert.equal(s1.raftLog.committed, 1);
});

test("Raft §5.4.2 (Figure 8 d): such an entry can still be overwritten by a later leader", () => {
  const { nt, rs } = figure8();
  // S1 crashes. S5's first try at term 4 meets voters that already voted
  // for S1 in term 4; its second, at term 5 as in the paper, succeeds.
  nt.isolate(1);
  nt.send(msgHup(5));
  nt.send(msgHup(5));
  const s5 = rs[4]!;
  assert.equal(s5.state, StateType.StateLeader);
  assert.equal(s5.term, 5);
  // S5 replaced the term-2 entry that a majority held, safely: it was never committed.
  for (const id of [2, 3, 4, 5]) {
    assert.deepEqual(logTerms(nt.raft(id)), [[1, 1], [2, 3], [3, 5]], `S${id}`);
  }
});

test("Raft §5.4.2 (Figure 8 e): once an entry of the leader's term commits, earlier ones are safe", () => {
  const { nt, rs } = figure8();
  const s1 = rs[0]!;
  // S1 replicates its term-4 entry to S2 and S3 (S4 and S5 unreachable).
  nt.isolate(4);
  nt.isolate(5);
  nt.send(msgBeat(1));
  assert.equal(s1.raftLog.committed, 3);
  assert.deepEqual(logTerms(rs[1]!), [[1, 1], [2, 2], [3, 4]]);
  // S1 crashes; S5 cannot win, however often it tries.
  nt.recover();
  nt.isolate(1);
  for (let i = 0; i < 3; i++) {
    nt.send(msgHup(5));
    assert.notEqual(rs[4]!.state, StateType.StateLeader, `attempt ${i}`);
  }
  // Entries 2 and 3 survive on S2 and S3, and one of them can lead.
  nt.send(msgHup(2));
  assert.equal(rs[1]!.state, StateType.StateLeader);
  for (const id of [2, 3, 4, 5]) {
    assert.deepEqual(logTerms(nt.raft(id)).slice(0, 3), [[1, 1], [2, 2], [3, 4]], `S${id}`);
  }
});
