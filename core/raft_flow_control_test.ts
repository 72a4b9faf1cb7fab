// Flow control on the leader: the inflight window (MaxInflightMsgs), the
// byte budget (MaxInflightBytes), message batching (MaxSizePerMsg), probing,
// heartbeats and the uncommitted-size limit. Ported from etcd raft's
// raft_flow_control_test.go and the matching tests of raft_test.go.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProposalDroppedError } from "./errors.ts";
import { newLog } from "./raft_log.ts";
import { Raft } from "./raft.ts";
import { MemoryStorage } from "./storage.ts";
import type { Progress } from "./tracker/progress.ts";
import { ProgressState } from "./tracker/state.ts";
import { type Entry, type Message, MessageType, newEntry, StateType } from "./types.ts";
import { entrySize, payloadSize, payloadsSize } from "./util.ts";
import {
  type ConfigOverrides,
  entsAt,
  msg,
  msgBeat,
  msgProp,
  mustAppendEntry,
  newTestConfig,
  newTestMemoryStorage,
  newTestRaft,
  readMessages,
} from "../tests/raft/network.ts";

/** A leader of peers `1..n` at term 1 (etcd's becomeCandidate + becomeLeader). */
function newLeader(peers: number[], opts: ConfigOverrides = {}, electionTick = 5): Raft {
  const r = newTestRaft(1, electionTick, 1, newTestMemoryStorage({ peers }), opts);
  r.becomeCandidate();
  r.becomeLeader();
  return r;
}

function propose(r: Raft, data: Uint8Array | string = "somedata"): void {
  r.step(msgProp(1, data));
}

function appResp(from: number, index: number): Message {
  return msg({ type: MessageType.MsgAppResp, from, to: 1, index });
}

/** A leader replicating to 2 with its inflight window to 2 just filled. */
function leaderWithFullWindow(): { r: Raft; pr2: Progress } {
  const r = newLeader([1, 2]);
  const pr2 = r.trk.progress.get(2)!;
  pr2.becomeReplicate();
  for (let i = 0; i < r.trk.maxInflight; i++) {
    propose(r);
    readMessages(r);
  }
  return { r, pr2 };
}

test("Raft leader fills the inflight window, then sends nothing (TestMsgAppFlowControlFull)", () => {
  const r = newLeader([1, 2]);
  const pr2 = r.trk.progress.get(2)!;
  pr2.becomeReplicate();
  for (let i = 0; i < r.trk.maxInflight; i++) {
    propose(r);
    const ms = readMessages(r);
    assert.equal(ms.length, 1, `proposal #${i}`);
    assert.equal(ms[0]!.type, MessageType.MsgApp);
  }
  assert.equal(pr2.isPaused(), true);
  for (let i = 0; i < 10; i++) {
    propose(r);
    assert.deepEqual(readMessages(r), [], `proposal past the window #${i}`);
  }
});

test("Raft leader slides the inflight window on MsgAppResp, ignoring stale acks (TestMsgAppFlowControlMoveForward)", () => {
  const { r, pr2 } = leaderWithFullWindow();
  // Index 1 is the empty entry; 2 is the first proposal.
  for (let tt = 2; tt < r.trk.maxInflight; tt++) {
    r.step(appResp(2, tt));
    readMessages(r);

    propose(r);
    const ms = readMessages(r);
    assert.equal(ms.length, 1, `refill after ack ${tt}`);
    assert.equal(ms[0]!.type, MessageType.MsgApp);
    assert.equal(pr2.isPaused(), true);

    for (let i = 0; i < tt; i++) {
      r.step(appResp(2, i));
      assert.equal(pr2.isPaused(), true, `stale ack ${i} after ${tt}`);
    }
  }
});

test("Raft leader sends one empty MsgApp per MsgHeartbeatResp when the window is full (TestMsgAppFlowControlRecvHeartbeat)", () => {
  const { r, pr2 } = leaderWithFullWindow();
  for (let tt = 1; tt < 5; tt++) {
    for (let i = 0; i < tt; i++) {
      assert.equal(pr2.isPaused(), true);
      r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1 }));
      const ms = readMessages(r);
      assert.equal(ms.length, 1);
      assert.equal(ms[0]!.type, MessageType.MsgApp);
      assert.equal(ms[0]!.entries.length, 0);
    }
    for (let i = 0; i < 10; i++) {
      assert.equal(pr2.isPaused(), true);
      propose(r);
      assert.deepEqual(readMessages(r), []);
    }
    r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1 }));
    readMessages(r);
  }
});

test("Raft leader acks its own entries only once they are persisted (TestProgressLeader)", () => {
  const r = newLeader([1, 2]);
  r.trk.progress.get(2)!.becomeReplicate();
  for (let i = 0; i < 5; i++) propose(r, "foo");
  assert.equal(r.trk.progress.get(1)!.match, 0);
  const ents = r.raftLog.nextUnstableEnts();
  assert.equal(ents.length, 6);
  assert.equal(ents[0]!.data.length, 0);
  assert.equal(new TextDecoder().decode(ents[5]!.data), "foo");
  readMessages(r); // delivers the self-ack
  assert.equal(r.trk.progress.get(1)!.match, 6);
  assert.equal(r.trk.progress.get(1)!.next, 7);
});

test("Raft leader unpauses a follower on MsgHeartbeatResp, not on MsgBeat (TestProgressResumeByHeartbeatResp)", () => {
  const r = newLeader([1, 2]);
  const pr2 = r.trk.progress.get(2)!;
  pr2.msgAppFlowPaused = true;
  r.step(msgBeat(1));
  assert.equal(pr2.msgAppFlowPaused, true);
  pr2.becomeReplicate();
  assert.equal(pr2.msgAppFlowPaused, false);
  pr2.msgAppFlowPaused = true;
  r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1 }));
  assert.equal(pr2.msgAppFlowPaused, false);
});

test("Raft leader sends one probe to a probing follower for many proposals (TestProgressPaused)", () => {
  const r = newLeader([1, 2]);
  propose(r);
  propose(r);
  propose(r);
  assert.equal(readMessages(r).length, 1);
});

test("Raft leader batches by MaxSizePerMsg and caps inflight by MaxInflightBytes (TestProgressFlowControl)", () => {
  const r = newLeader([1, 2], { maxInflightMsgs: 3, maxSizePerMsg: 2048, maxInflightBytes: 9000 });
  readMessages(r);
  r.trk.progress.get(2)!.becomeProbe();
  const blob = new Uint8Array(1000).fill(0x61);
  const large = new Uint8Array(5000).fill(0x62);
  for (let i = 0; i < 22; i++) propose(r, i >= 10 && i < 16 ? large : blob);

  const ms = readMessages(r);
  // Probing: one MsgApp with the empty entry and the first proposal.
  assert.equal(ms.length, 1);
  assert.equal(ms[0]!.type, MessageType.MsgApp);
  assert.equal(ms[0]!.entries.length, 2);
  assert.equal(ms[0]!.entries[0]!.data.length, 0);
  assert.equal(ms[0]!.entries[1]!.data.length, 1000);

  const ackAndVerify = (index: number, ...expEntries: number[]): number => {
    r.step(appResp(2, index));
    const out = readMessages(r);
    assert.deepEqual(
      out.map((m) => [m.type, m.entries.length]),
      expEntries.map((n) => [MessageType.MsgApp, n]),
      `after ack of ${index}`,
    );
    const last = out[out.length - 1]!.entries;
    return last.length === 0 ? index : last[last.length - 1]!.index;
  };

  // Replicating: three messages of two 1000-byte entries each.
  let index = ackAndVerify(ms[0]!.entries[1]!.index, 2, 2, 2);
  // The third message holds a single 5000-byte entry.
  index = ackAndVerify(index, 2, 1, 1);
  // Two large messages overflow MaxInflightBytes: two per round.
  index = ackAndVerify(index, 1, 1);
  index = ackAndVerify(index, 1, 1);
  // Small entries again.
  index = ackAndVerify(index, 1, 2, 2);
  ackAndVerify(index, 2);
});

test("Raft leader puts at most MaxSizePerMsg bytes (but at least one entry) in a MsgApp", () => {
  const data = new Uint8Array(100).fill(7);
  const one = entrySize(newEntry({ term: 1, index: 2, data }));
  // Room for exactly three such entries.
  const r = newLeader([1, 2], { maxSizePerMsg: 3 * one });
  readMessages(r);
  for (let i = 0; i < 7; i++) propose(r, data);
  readMessages(r); // the probe: empty entry and first proposal
  r.trk.progress.get(2)!.becomeReplicate();
  r.trk.progress.get(2)!.next = 3; // entries 3..8 remain (all 100-byte)
  r.sendAppend(2);
  while (r.maybeSendAppend(2, false)) {
    // keep sending
  }
  const ms = readMessages(r);
  assert.deepEqual(ms.map((m) => m.entries.map((e) => e.index)), [[3, 4, 5], [6, 7, 8]]);

  // A single entry larger than the limit still goes out alone.
  const big = newLeader([1, 2], { maxSizePerMsg: 10 });
  readMessages(big);
  propose(big, data);
  propose(big, data);
  assert.deepEqual(readMessages(big).map((m) => m.entries.map((e) => e.index)), [[1]]);
  big.trk.progress.get(2)!.becomeReplicate();
  big.sendAppend(2);
  while (big.maybeSendAppend(2, false)) {
    // keep sending
  }
  assert.deepEqual(readMessages(big).map((m) => m.entries.map((e) => e.index)), [[1], [2], [3]]);
});

test("Raft leader stops replicating when MaxInflightBytes is reached and resumes as acks free bytes", () => {
  const data = new Uint8Array(1000);
  const r = newLeader([1, 2], { maxSizePerMsg: 1000, maxInflightBytes: 2500 });
  readMessages(r);
  const pr2 = r.trk.progress.get(2)!;
  pr2.becomeReplicate(); // next = 1: the empty entry goes first
  propose(r, data); // 2
  propose(r, data); // 3
  propose(r, data); // 4
  propose(r, data); // 5
  const ms = readMessages(r);
  // One entry per message (each encodes to more than 1000 bytes). After
  // entry 3, 2000 payload bytes are in flight: below the budget, so entry 4
  // goes too, and then the 3000 bytes in flight fill the window.
  assert.deepEqual(ms.map((m) => m.entries.map((e) => e.index)), [[1], [2], [3], [4]]);
  assert.equal(pr2.inflights.full(), true);
  assert.equal(pr2.isPaused(), true);
  propose(r, data); // 6
  assert.deepEqual(readMessages(r), []);
  // Acking entry 3 frees 2000 bytes (and commits it): entries 5 and 6 go
  // out, the second one filling the window again.
  r.step(appResp(2, 3));
  assert.deepEqual(readMessages(r).map((m) => m.entries.map((e) => e.index)), [[5], [6]]);
  assert.equal(pr2.inflights.full(), true);
});

test("Raft leader handles MsgAppResp accepts, rejects and stale rejects (TestLeaderAppResp)", () => {
  // [index, reject, wmatch, wnext, wmsgNum, windex, wcommitted]
  const cases: Array<[number, boolean, number, number, number, number, number]> = [
    [3, true, 0, 3, 0, 0, 0], // stale rejection: nothing
    [2, true, 0, 2, 1, 1, 0], // rejection: lower next, probe
    [2, false, 2, 4, 2, 2, 2], // accept: commit, broadcast
    [0, false, 0, 4, 1, 0, 0], // probe at match 0 moves to replicate
  ];
  for (const [index, reject, wmatch, wnext, wmsgNum, windex, wcommitted] of cases) {
    const name = `index=${index} reject=${reject}`;
    const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
    const storage = new MemoryStorage();
    storage.append(entsAt(1, 1, 1));
    sm.raftLog = newLog(storage, sm.logger);
    sm.becomeCandidate();
    sm.becomeLeader();
    readMessages(sm);
    sm.step(msg({
      type: MessageType.MsgAppResp,
      from: 2,
      index,
      term: sm.term,
      reject,
      rejectHint: index,
    }));
    const p = sm.trk.progress.get(2)!;
    assert.equal(p.match, wmatch, name);
    assert.equal(p.next, wnext, name);
    const msgs = readMessages(sm);
    assert.equal(msgs.length, wmsgNum, name);
    for (const m of msgs) {
      assert.equal(m.index, windex, name);
      assert.equal(m.commit, wcommitted, name);
    }
  }
});

test("Raft leader heartbeats carry no entries and commit capped at each match (TestBcastBeat)", () => {
  const offset = 1000;
  const storage = new MemoryStorage();
  storage.applySnapshot({
    data: new Uint8Array(),
    metadata: {
      index: offset,
      term: 1,
      confState: {
        voters: [1, 2, 3],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
  });
  const sm = newTestRaft(1, 10, 1, storage);
  sm.term = 1;
  sm.becomeCandidate();
  sm.becomeLeader();
  for (let i = 0; i < 10; i++) mustAppendEntry(sm, newEntry({ index: i + 1 }));
  readMessages(sm);
  const pr2 = sm.trk.progress.get(2)!;
  pr2.match = 5;
  pr2.next = 6;
  const pr3 = sm.trk.progress.get(3)!;
  pr3.match = sm.raftLog.lastIndex();
  pr3.next = sm.raftLog.lastIndex() + 1;

  sm.step(msg({ type: MessageType.MsgBeat }));
  const msgs = readMessages(sm);
  assert.equal(msgs.length, 2);
  const wantCommit = new Map([
    [2, Math.min(sm.raftLog.committed, 5)],
    [3, Math.min(sm.raftLog.committed, pr3.match)],
  ]);
  assert.deepEqual([...wantCommit.values()], [5, 1000]);
  for (const m of msgs) {
    assert.equal(m.type, MessageType.MsgHeartbeat);
    assert.equal(m.index, 0);
    assert.equal(m.logTerm, 0);
    assert.equal(m.entries.length, 0);
    assert.equal(m.commit, wantCommit.get(m.to), `commit to ${m.to}`);
    wantCommit.delete(m.to);
  }
  assert.equal(wantCommit.size, 0);
});

test("Raft answers MsgBeat with heartbeats only as leader (TestRecvMsgBeat)", () => {
  const cases: Array<[StateType, number]> = [
    [StateType.StateLeader, 2],
    [StateType.StateCandidate, 0],
    [StateType.StateFollower, 0],
  ];
  for (const [state, wMsg] of cases) {
    const storage = newTestMemoryStorage({ peers: [1, 2, 3] });
    storage.append(entsAt(1, 1, 1));
    const sm = newTestRaft(1, 10, 1, storage);
    sm.term = 1;
    sm.state = state;
    sm.step(msgBeat(1));
    const msgs = readMessages(sm);
    assert.equal(msgs.length, wMsg, `state ${state}`);
    for (const m of msgs) assert.equal(m.type, MessageType.MsgHeartbeat);
  }
});

test("Raft leader raises next optimistically only in StateReplicate (TestLeaderIncreaseNext)", () => {
  const previousEnts = entsAt(1, 1, 2, 3);
  const cases: Array<[ProgressState, number, number]> = [
    // previous entries + empty entry + proposal + 1
    [ProgressState.StateReplicate, 2, previousEnts.length + 1 + 1 + 1],
    [ProgressState.StateProbe, 2, 2],
  ];
  for (const [state, next, wnext] of cases) {
    const sm = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2] }));
    sm.raftLog.append(previousEnts);
    sm.becomeCandidate();
    sm.becomeLeader();
    const pr = sm.trk.progress.get(2)!;
    pr.state = state;
    pr.next = next;
    propose(sm);
    assert.equal(pr.next, wnext, `state ${state}`);
  }
});

test("Raft leader sends one MsgApp per heartbeat response to a probing follower (TestSendAppendForProgressProbe)", () => {
  const r = newLeader([1, 2], {}, 10);
  readMessages(r);
  const pr2 = r.trk.progress.get(2)!;
  pr2.becomeProbe();
  for (let i = 0; i < 3; i++) {
    if (i === 0) {
      // Only the first append goes out; then the follower is paused.
      mustAppendEntry(r, newEntry({ data: new TextEncoder().encode("somedata") }));
      r.sendAppend(2);
      const m = readMessages(r);
      assert.equal(m.length, 1);
      assert.equal(m[0]!.index, 0);
    }
    assert.equal(pr2.msgAppFlowPaused, true);
    for (let j = 0; j < 10; j++) {
      mustAppendEntry(r, newEntry({ data: new TextEncoder().encode("somedata") }));
      r.sendAppend(2);
      assert.deepEqual(readMessages(r), []);
    }
    for (let j = 0; j < r.heartbeatTimeout; j++) r.step(msgBeat(1));
    assert.equal(pr2.msgAppFlowPaused, true);
    const hb = readMessages(r);
    assert.equal(hb.length, 1);
    assert.equal(hb[0]!.type, MessageType.MsgHeartbeat);
  }
  // A heartbeat response lets one more append through.
  r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1 }));
  const m = readMessages(r);
  assert.equal(m.length, 1);
  assert.equal(m[0]!.index, 0);
  assert.equal(pr2.msgAppFlowPaused, true);
});

test("Raft leader sends every append to a replicating follower (TestSendAppendForProgressReplicate)", () => {
  const r = newLeader([1, 2]);
  readMessages(r);
  r.trk.progress.get(2)!.becomeReplicate();
  for (let i = 0; i < 10; i++) {
    mustAppendEntry(r, newEntry({ data: new TextEncoder().encode("somedata") }));
    r.sendAppend(2);
    assert.equal(readMessages(r).length, 1, `append #${i}`);
  }
});

test("Raft leader sends nothing to a follower waiting for a snapshot (TestSendAppendForProgressSnapshot)", () => {
  const r = newLeader([1, 2]);
  readMessages(r);
  r.trk.progress.get(2)!.becomeSnapshot(10);
  for (let i = 0; i < 10; i++) {
    mustAppendEntry(r, newEntry({ data: new TextEncoder().encode("somedata") }));
    r.sendAppend(2);
    assert.deepEqual(readMessages(r), [], `append #${i}`);
  }
});

test("Raft leader moves an unreachable replicating follower back to probing (TestRecvMsgUnreachable)", () => {
  const s = newTestMemoryStorage({ peers: [1, 2] });
  s.append(entsAt(1, 1, 2, 3));
  const r = newTestRaft(1, 10, 1, s);
  r.becomeCandidate();
  r.becomeLeader();
  readMessages(r);
  const pr = r.trk.progress.get(2)!;
  pr.match = 3;
  pr.becomeReplicate();
  pr.next = 6;
  r.step(msg({ type: MessageType.MsgUnreachable, from: 2, to: 1 }));
  assert.equal(pr.state, ProgressState.StateProbe);
  assert.equal(pr.next, pr.match + 1);
});

test("Raft leader drops proposals beyond MaxUncommittedEntriesSize (TestUncommittedEntryLimit)", () => {
  const maxEntries = 1024;
  const testEntry = (): Entry => newEntry({ data: new TextEncoder().encode("testdata") });
  const maxEntrySize = maxEntries * payloadSize(testEntry());
  assert.equal(payloadSize(newEntry()), 0);

  const cfg = newTestConfig(1, 5, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  cfg.maxUncommittedEntriesSize = maxEntrySize;
  cfg.maxInflightMsgs = 2 * 1024; // keep the window out of the way
  const r = new Raft(cfg);
  r.becomeCandidate();
  r.becomeLeader();
  assert.equal(r.uncommittedSize, 0);

  const numFollowers = 2;
  r.trk.progress.get(2)!.becomeReplicate();
  r.trk.progress.get(3)!.becomeReplicate();
  r.uncommittedSize = 0;

  const propEnts: Entry[] = [];
  for (let i = 0; i < maxEntries; i++) {
    r.step(msg({ type: MessageType.MsgProp, from: 1, to: 1, entries: [testEntry()] }));
    propEnts.push(testEntry());
  }
  // One more is refused.
  assert.throws(
    () => r.step(msg({ type: MessageType.MsgProp, from: 1, to: 1, entries: [testEntry()] })),
    ProposalDroppedError,
  );

  let ms = readMessages(r);
  assert.equal(ms.length, maxEntries * numFollowers);
  r.reduceUncommittedSize(payloadsSize(propEnts));
  assert.equal(r.uncommittedSize, 0);

  // A large proposal is accepted when the tail is empty, even above the limit.
  const large: Entry[] = [];
  for (let i = 0; i < 2 * maxEntries; i++) large.push(testEntry());
  r.step(msg({ type: MessageType.MsgProp, from: 1, to: 1, entries: large }));
  assert.throws(
    () => r.step(msg({ type: MessageType.MsgProp, from: 1, to: 1, entries: [testEntry()] })),
    ProposalDroppedError,
  );
  // An entry without data is always accepted.
  r.step(msg({ type: MessageType.MsgProp, from: 1, to: 1, entries: [newEntry()] }));

  ms = readMessages(r);
  assert.equal(ms.length, 2 * numFollowers);
  r.reduceUncommittedSize(payloadsSize(large));
  assert.equal(r.uncommittedSize, 0);
});

test("Raft leader with MaxSizePerMsg 0 sends one entry per MsgApp", () => {
  const r = newLeader([1, 2], { maxSizePerMsg: 0 });
  readMessages(r);
  propose(r);
  propose(r);
  readMessages(r); // the probe
  r.trk.progress.get(2)!.becomeReplicate();
  r.sendAppend(2);
  while (r.maybeSendAppend(2, false)) {
    // keep sending
  }
  assert.deepEqual(readMessages(r).map((m) => m.entries.map((e) => e.index)), [[1], [2], [3]]);
});
