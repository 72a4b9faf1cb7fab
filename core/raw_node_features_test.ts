// RawNode features outside the data-driven suite: stepping every message
// type, conf changes (simple and joint, auto and explicit leave), ReadIndex,
// starting and restarting from storage, Status, commit pagination after a
// restart, bounded log growth (MaxUncommittedEntriesSize), Ready
// acceptance, bootstrap from peers, TickQuiesced, and a Ready loop with
// asynchronous storage writes. Ported from etcd raft's rawnode_test.go
// where an etcd test exists.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeConfChange,
  decodeConfChangeV2,
  encodeConfChange,
  encodeConfChangeV2,
} from "./codec.ts";
import { RaftError, StepLocalMsgError } from "./errors.ts";
import { RaftInvariantError } from "./_assert.ts";
import { MajorityConfig } from "./quorum/majority.ts";
import { JointConfig } from "./quorum/joint.ts";
import { type Peer, RawNode, rawNodeRaft } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import { TrackerConfig } from "./tracker/tracker.ts";
import {
  type ConfChange,
  confChangeAsV2,
  confChangeEnterJoint,
  type ConfChangeI,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  isConfChangeV2,
  isEmptyHardState,
  isEmptySnap,
  LocalAppendThread,
  LocalApplyThread,
  type Message,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newConfState,
  newEntry,
  newHardState,
  newMessage,
  newSnapshot,
  type ReadState,
  type Ready,
  StateType,
} from "./types.ts";
import { entrySize, isLocalMsg, payloadSize } from "./util.ts";
import { newTestConfig, newTestMemoryStorage, newTestRawNode } from "../tests/raft/network.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** The conf change in a committed entry, or `undefined` for normal entries. */
function confChangeOf(e: Entry): ConfChangeI | undefined {
  if (e.type === EntryType.EntryConfChange) return decodeConfChange(e.data);
  if (e.type === EntryType.EntryConfChangeV2) return decodeConfChangeV2(e.data);
  return undefined;
}

/** A RawNode on a fresh storage whose initial ConfState has the given voters. */
function newNode(peers: number[]): { rn: RawNode; s: MemoryStorage } {
  const s = newTestMemoryStorage({ peers });
  return { rn: new RawNode(newTestConfig(1, 10, 1, s)), s };
}

/** Campaigns a single-voter node and runs Ready loops until it leads. */
function becomeLeader(rn: RawNode, s: MemoryStorage): void {
  rn.campaign();
  for (let i = 0; i < 10; i++) {
    const rd = rn.ready();
    s.append(rd.entries);
    rn.advance(rd);
    if (rd.softState?.lead === rawNodeRaft(rn).id) return;
  }
  assert.fail("the node did not become leader");
}

const emptyReady = (over: Partial<Ready>): Ready => ({
  softState: undefined,
  hardState: newHardState(),
  readStates: [],
  entries: [],
  snapshot: undefined,
  committedEntries: [],
  messages: [],
  mustSync: false,
  ...over,
});

test("RawNode.step() refuses every local message type and survives all others (TestRawNodeStep)", () => {
  for (const [name, type] of Object.entries(MessageType)) {
    const s = new MemoryStorage();
    s.setHardState(newHardState({ term: 1, commit: 1 }));
    s.append([newEntry({ term: 1, index: 1 })]);
    s.applySnapshot(newSnapshot({ index: 1, term: 1, confState: newConfState({ voters: [1] }) }));
    const rn = new RawNode(newTestConfig(1, 10, 1, s));
    let err: unknown;
    try {
      rn.step(newMessage({ type }));
    } catch (e) {
      err = e;
    }
    if (isLocalMsg(type)) {
      assert.ok(err instanceof StepLocalMsgError, `${name}: ${err}`);
    } else {
      // Non-local messages may be refused as an expected outcome (a
      // proposal without a leader, a response from an unknown peer), but
      // never break an invariant.
      assert.ok(err === undefined || err instanceof RaftError, `${name}: ${err}`);
    }
  }
});

test("RawNode proposes and applies simple and joint conf changes (TestRawNodeProposeAndConfChange)", () => {
  const add = ConfChangeType.ConfChangeAddNode;
  const learner = ConfChangeType.ConfChangeAddLearnerNode;
  const {
    ConfChangeTransitionJointExplicit: explicit,
    ConfChangeTransitionJointImplicit: implicit,
  } = ConfChangeTransition;
  const demote3 = [
    { nodeId: 2, type: add },
    { nodeId: 1, type: learner },
    { nodeId: 3, type: learner },
  ];
  const cases: Array<[ConfChangeI, ConfState, ConfState | undefined]> = [
    // V1.
    [newConfChange({ type: add, nodeId: 2 }), newConfState({ voters: [1, 2] }), undefined],
    // The same as V2: no joint config.
    [
      newConfChangeV2({ changes: [{ type: add, nodeId: 2 }] }),
      newConfState({ voters: [1, 2] }),
      undefined,
    ],
    // A learner.
    [
      newConfChangeV2({ changes: [{ type: learner, nodeId: 2 }] }),
      newConfState({ voters: [1], learners: [2] }),
      undefined,
    ],
    // Joint consensus on request, left explicitly...
    [
      newConfChangeV2({ changes: [{ type: learner, nodeId: 2 }], transition: explicit }),
      newConfState({ voters: [1], votersOutgoing: [1], learners: [2] }),
      newConfState({ voters: [1], learners: [2] }),
    ],
    // ...or automatically.
    [
      newConfChangeV2({ changes: [{ type: learner, nodeId: 2 }], transition: implicit }),
      newConfState({ voters: [1], votersOutgoing: [1], learners: [2], autoLeave: true }),
      newConfState({ voters: [1], learners: [2] }),
    ],
    // Adding a node while demoting node 1 needs a joint config and learnersNext.
    [
      newConfChangeV2({ changes: demote3 }),
      newConfState({
        voters: [2],
        votersOutgoing: [1],
        learners: [3],
        learnersNext: [1],
        autoLeave: true,
      }),
      newConfState({ voters: [2], learners: [1, 3] }),
    ],
    [
      newConfChangeV2({ changes: demote3, transition: explicit }),
      newConfState({ voters: [2], votersOutgoing: [1], learners: [3], learnersNext: [1] }),
      newConfState({ voters: [2], learners: [1, 3] }),
    ],
    [
      newConfChangeV2({ changes: demote3, transition: implicit }),
      newConfState({
        voters: [2],
        votersOutgoing: [1],
        learners: [3],
        learnersNext: [1],
        autoLeave: true,
      }),
      newConfState({ voters: [2], learners: [1, 3] }),
    ],
  ];

  for (const [i, [cc, exp, exp2]] of cases.entries()) {
    const name = `case #${i}`;
    const { rn, s } = newNode([1]);
    rn.campaign();
    let proposed = false;
    let ccdata: Uint8Array = new Uint8Array();
    let cs: ConfState | undefined;
    for (let iter = 0; cs === undefined; iter++) {
      assert.ok(iter < 20, `${name}: the conf change never applied`);
      const rd = rn.ready();
      s.append(rd.entries);
      for (const e of rd.committedEntries) {
        const c = confChangeOf(e);
        if (c !== undefined) cs = rn.applyConfChange(c);
      }
      rn.advance(rd);
      if (!proposed && rd.softState?.lead === rawNodeRaft(rn).id) {
        rn.propose(enc("somedata"));
        ccdata = isConfChangeV2(cc) ? encodeConfChangeV2(cc) : encodeConfChange(cc);
        rn.proposeConfChange(cc);
        proposed = true;
      }
    }

    // The stored log ends with the proposal and the conf change, bit for bit.
    const lastIndex = s.lastIndex();
    const entries = s.entries(lastIndex - 1, lastIndex + 1, Infinity);
    assert.equal(entries.length, 2, name);
    assert.equal(dec(entries[0]!.data), "somedata", name);
    assert.equal(
      entries[1]!.type,
      isConfChangeV2(cc) ? EntryType.EntryConfChangeV2 : EntryType.EntryConfChange,
      name,
    );
    assert.deepEqual(entries[1]!.data, ccdata, name);
    assert.deepEqual(cs, exp, name);

    // An auto-leaving joint change has already appended the leaving entry.
    const maybePlusOne = confChangeEnterJoint(confChangeAsV2(cc))?.autoLeave === true ? 1 : 0;
    assert.equal(rawNodeRaft(rn).pendingConfIndex, lastIndex + maybePlusOne, name);

    let rd = rn.ready();
    let context: Uint8Array = new Uint8Array();
    if (!exp.autoLeave) {
      assert.deepEqual(rd.entries, [], name);
      rn.advance(rd);
      if (exp2 === undefined) continue;
      context = enc("manual");
      rn.proposeConfChange(newConfChangeV2({ context }));
      rd = rn.ready();
    }
    // The conf change that leaves the joint config comes out.
    assert.equal(rd.entries.length, 1, name);
    assert.equal(rd.entries[0]!.type, EntryType.EntryConfChangeV2, name);
    const leave = decodeConfChangeV2(rd.entries[0]!.data);
    assert.deepEqual(leave, newConfChangeV2({ context }), name);
    // Pretend it applied (with a joint quorum, one node cannot commit it).
    assert.deepEqual(rn.applyConfChange(leave), exp2, name);
    rn.advance(rd);
  }
});

test("RawNode leaves a joint config automatically after regaining leadership (TestRawNodeJointAutoLeave)", () => {
  const testCc = newConfChangeV2({
    changes: [{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 2 }],
    transition: ConfChangeTransition.ConfChangeTransitionJointImplicit,
  });
  const expCs = newConfState({ voters: [1], votersOutgoing: [1], learners: [2], autoLeave: true });
  const exp2Cs = newConfState({ voters: [1], learners: [2] });

  const { rn, s } = newNode([1]);
  rn.campaign();
  let proposed = false;
  let cs: ConfState | undefined;
  for (let iter = 0; cs === undefined; iter++) {
    assert.ok(iter < 20, "the conf change never applied");
    const rd = rn.ready();
    s.append(rd.entries);
    for (const e of rd.committedEntries) {
      if (e.type !== EntryType.EntryConfChangeV2) continue;
      // Lose leadership before applying the change.
      rn.step(
        newMessage({ type: MessageType.MsgHeartbeatResp, from: 1, term: rawNodeRaft(rn).term + 1 }),
      );
      cs = rn.applyConfChange(decodeConfChangeV2(e.data));
    }
    rn.advance(rd);
    if (!proposed && rd.softState?.lead === rawNodeRaft(rn).id) {
      rn.propose(enc("somedata"));
      rn.proposeConfChange(testCc);
      proposed = true;
    }
  }

  const lastIndex = s.lastIndex();
  const entries = s.entries(lastIndex - 1, lastIndex + 1, Infinity);
  assert.equal(entries.length, 2);
  assert.equal(dec(entries[0]!.data), "somedata");
  assert.equal(entries[1]!.type, EntryType.EntryConfChangeV2);
  assert.deepEqual(entries[1]!.data, encodeConfChangeV2(testCc));
  assert.deepEqual(cs, expCs);
  assert.equal(rawNodeRaft(rn).pendingConfIndex, 0);

  // A follower does not leave the joint config.
  assert.deepEqual(rn.readyWithoutAccept().entries, []);

  // Leading again, it leaves once its applied index catches up.
  rn.campaign();
  let rd = rn.ready();
  for (let i = 0; i < 3; i++) {
    s.append(rd.entries);
    rn.advance(rd);
    rd = rn.ready();
  }
  s.append(rd.entries);
  assert.equal(rd.entries.length, 1);
  assert.equal(rd.entries[0]!.type, EntryType.EntryConfChangeV2);
  const leave = decodeConfChangeV2(rd.entries[0]!.data);
  assert.deepEqual(leave, newConfChangeV2());
  assert.deepEqual(rn.applyConfChange(leave), exp2Cs);
});

test("RawNode accepts adding an existing node twice, then a new one (TestRawNodeProposeAddDuplicateNode)", () => {
  const { rn, s } = newNode([1]);
  let rd = rn.ready();
  s.append(rd.entries);
  rn.advance(rd);
  becomeLeader(rn, s);

  const proposeConfChangeAndApply = (cc: ConfChange): void => {
    rn.proposeConfChange(cc);
    rd = rn.ready();
    s.append(rd.entries);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.EntryConfChange) rn.applyConfChange(decodeConfChange(e.data));
    }
    rn.advance(rd);
  };

  const cc1 = newConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: 1 });
  proposeConfChangeAndApply(cc1);
  proposeConfChangeAndApply(cc1); // the same node again
  const cc2 = newConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: 2 });
  proposeConfChangeAndApply(cc2);

  const lastIndex = s.lastIndex();
  const entries = s.entries(lastIndex - 2, lastIndex + 1, Infinity);
  assert.equal(entries.length, 3);
  assert.deepEqual(entries[0]!.data, encodeConfChange(cc1));
  assert.deepEqual(entries[2]!.data, encodeConfChange(cc2));
  // The duplicate came while the first was unapplied: it became an empty entry.
  assert.deepEqual([entries[1]!.type, entries[1]!.data.length], [EntryType.EntryNormal, 0]);
});

test("RawNode hands out ReadStates and steps MsgReadIndex for readIndex() (TestRawNodeReadIndex)", () => {
  const wrs: ReadState[] = [{ index: 1, requestCtx: enc("somedata") }];
  const { rn, s } = newNode([1]);
  rawNodeRaft(rn).readStates = wrs;
  assert.equal(rn.hasReady(), true);
  let rd = rn.ready();
  assert.deepEqual(rd.readStates, wrs);
  s.append(rd.entries);
  rn.advance(rd);
  assert.deepEqual(rawNodeRaft(rn).readStates, []);

  becomeLeader(rn, s);
  // Capture what readIndex() steps into Raft.
  const msgs: Message[] = [];
  rawNodeRaft(rn).step = (m: Message): void => void msgs.push(m);
  rn.readIndex(enc("somedata2"));
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgReadIndex);
  assert.equal(dec(msgs[0]!.entries[0]!.data), "somedata2");
  rd = rn.readyWithoutAccept();
  assert.deepEqual(rd.readStates, []);
});

test("RawNode leader in a three-node cluster answers readIndex() after a heartbeat round", () => {
  const nodes = [1, 2, 3].map((id) => {
    const s = newTestMemoryStorage({ peers: [1, 2, 3] });
    return { s, rn: new RawNode(newTestConfig(id, 10, 1, s)), readStates: [] as ReadState[] };
  });
  const stabilize = (): void => {
    for (let round = 0; round < 50; round++) {
      const msgs: Message[] = [];
      for (const n of nodes) {
        if (!n.rn.hasReady()) continue;
        const rd = n.rn.ready();
        if (!isEmptyHardState(rd.hardState)) n.s.setHardState(rd.hardState);
        n.s.append(rd.entries);
        n.readStates.push(...rd.readStates);
        msgs.push(...rd.messages);
        n.rn.advance(rd);
      }
      if (msgs.length === 0) return;
      for (const m of msgs) nodes[m.to - 1]!.rn.step(m);
    }
    assert.fail("the cluster did not settle");
  };
  nodes[0]!.rn.campaign();
  stabilize();
  assert.equal(nodes[0]!.rn.basicStatus().raftState, StateType.StateLeader);
  nodes[0]!.rn.readIndex(enc("on-leader"));
  // Unconfirmed until the followers answer the heartbeat.
  assert.deepEqual(nodes[0]!.rn.readyWithoutAccept().readStates, []);
  nodes[2]!.rn.readIndex(enc("on-follower"));
  stabilize();
  const commit = nodes[0]!.rn.basicStatus().commit;
  assert.deepEqual(nodes[0]!.readStates.map((r) => [r.index, dec(r.requestCtx)]), [
    [commit, "on-leader"],
  ]);
  assert.deepEqual(nodes[2]!.readStates.map((r) => [r.index, dec(r.requestCtx)]), [
    [commit, "on-follower"],
  ]);
});

test("RawNode starts from a storage bootstrapped with a ConfState snapshot (TestRawNodeStart)", () => {
  const entries = [
    newEntry({ term: 1, index: 2 }), // the empty entry
    newEntry({ term: 1, index: 3, data: enc("foo") }),
  ];
  const storage = new MemoryStorage();
  // The log begins at index 2: followers at index 1 need the snapshot.
  storage.ents[0]!.index = 1;
  assert.equal(storage.firstIndex(), 2);
  assert.throws(() => storage.entries(2, 2, Infinity));
  assert.throws(() => storage.entries(1, 1, Infinity));
  const { hardState, confState } = storage.initialState();
  assert.equal(isEmptyHardState(hardState), true);
  assert.deepEqual(confState.voters, []);
  storage.applySnapshot(
    newSnapshot({ index: 1, term: 0, confState: newConfState({ voters: [1] }) }),
  );

  const rn = new RawNode(newTestConfig(1, 10, 1, storage));
  assert.equal(rn.hasReady(), false);

  rn.campaign();
  let rd = rn.ready();
  storage.append(rd.entries);
  rn.advance(rd);
  rn.propose(enc("foo"));
  assert.equal(rn.hasReady(), true);

  rd = rn.ready();
  assert.deepEqual(rd.entries, entries);
  storage.append(rd.entries);
  rn.advance(rd);

  assert.equal(rn.hasReady(), true);
  rd = rn.ready();
  assert.deepEqual(rd.entries, []);
  assert.equal(rd.mustSync, false);
  rn.advance(rd);

  assert.deepEqual(
    { ...rd, softState: undefined },
    emptyReady({ hardState: { term: 1, commit: 3, vote: 1 }, committedEntries: entries }),
  );
  assert.equal(rn.hasReady(), false);
});

test("RawNode restarts from a persisted HardState and log (TestRawNodeRestart)", () => {
  const entries = [
    newEntry({ term: 1, index: 1 }),
    newEntry({ term: 1, index: 2, data: enc("foo") }),
  ];
  const st: HardState = { term: 1, vote: 0, commit: 1 };
  const storage = newTestMemoryStorage({ peers: [1] });
  storage.setHardState(st);
  storage.append(entries);
  const rn = new RawNode(newTestConfig(1, 10, 1, storage));
  const rd = rn.ready();
  // Nothing to persist: only the committed entry to apply.
  assert.deepEqual(rd, emptyReady({ committedEntries: entries.slice(0, st.commit) }));
  rn.advance(rd);
  assert.equal(rn.hasReady(), false);
  assert.deepEqual(rawNodeRaft(rn).hardState(), st);
});

test("RawNode restarts from a snapshot, a HardState and a log (TestRawNodeRestartFromSnapshot)", () => {
  const snap = newSnapshot({ index: 2, term: 1, confState: newConfState({ voters: [1, 2] }) });
  const entries = [newEntry({ term: 1, index: 3, data: enc("foo") })];
  const st = newHardState({ term: 1, commit: 3 });
  const s = new MemoryStorage();
  s.setHardState(st);
  s.applySnapshot(snap);
  s.append(entries);
  const rn = new RawNode(newTestConfig(1, 10, 1, s));
  const rd = rn.ready();
  assert.deepEqual(rd, emptyReady({ committedEntries: entries }));
  rn.advance(rd);
  assert.equal(rn.hasReady(), false);
  assert.deepEqual(rawNodeRaft(rn).trk.voterNodes(), [1, 2]);
  assert.equal(rawNodeRaft(rn).raftLog.applied, 3);
});

test("RawNode.status() has progress only on a leader (TestRawNodeStatus)", () => {
  const { rn, s } = newNode([1]);
  assert.equal(rn.status().progress.size, 0);
  rn.campaign();
  const rd = rn.ready();
  s.append(rd.entries);
  rn.advance(rd);
  const status = rn.status();
  assert.equal(status.lead, 1);
  assert.equal(status.raftState, StateType.StateLeader);
  assert.deepEqual(status.progress.get(1), rawNodeRaft(rn).trk.progress.get(1));
  assert.notEqual(status.progress.get(1), rawNodeRaft(rn).trk.progress.get(1), "a copy");
  const expCfg = new TrackerConfig({ voters: new JointConfig(new MajorityConfig([1])) });
  assert.deepEqual(status.config, expCfg);
});

test("RawNode applies every entry, without gaps, after a restart with paginated commits (TestRawNodeCommitPaginationAfterRestart)", () => {
  /** A storage that returns every requested entry, ignoring the size limit. */
  class IgnoreSizeHintMemStorage extends MemoryStorage {
    override entries(lo: number, hi: number, _maxSize: number): Entry[] {
      return super.entries(lo, hi, Infinity);
    }
  }
  const s = new IgnoreSizeHintMemStorage();
  s.snap.metadata.confState.voters = [1];
  s.hardState = { term: 1, vote: 1, commit: 10 };
  let size = 0;
  for (let i = 0; i < 10; i++) {
    const e = newEntry({ term: 1, index: i + 1, type: EntryType.EntryNormal, data: enc("a") });
    s.ents.push(e);
    size += entrySize(e);
  }
  const cfg = newTestConfig(1, 10, 1, s);
  // A limit that would leave out the last committed entry; the storage
  // ignores it and returns it anyway.
  cfg.maxSizePerMsg = size - entrySize(s.ents[s.ents.length - 1]!) - 1;
  s.ents.push(newEntry({ term: 1, index: 11, type: EntryType.EntryNormal, data: enc("boom") }));

  const rn = new RawNode(cfg);
  let highestApplied = 0;
  for (let iter = 0; highestApplied !== 11; iter++) {
    assert.ok(iter < 20, "too many Ready rounds");
    const rd = rn.ready();
    const n = rd.committedEntries.length;
    assert.notEqual(n, 0, `stopped applying entries at index ${highestApplied}`);
    const next = rd.committedEntries[0]!.index;
    assert.ok(
      highestApplied === 0 || highestApplied + 1 === next,
      `applying index ${next} after index ${highestApplied} leaves a gap`,
    );
    highestApplied = rd.committedEntries[n - 1]!.index;
    rn.advance(rd);
    rn.step(newMessage({ type: MessageType.MsgHeartbeat, to: 1, from: 2, term: 1, commit: 11 }));
  }
});

test("RawNode leader cut off from its quorum bounds its log by MaxUncommittedEntriesSize (TestRawNodeBoundedLogGrowthWithPartition)", () => {
  const maxEntries = 16;
  const data = enc("testdata");
  const maxEntrySize = maxEntries * payloadSize(newEntry({ data }));
  const s = newTestMemoryStorage({ peers: [1] });
  const cfg = newTestConfig(1, 10, 1, s);
  cfg.maxUncommittedEntriesSize = maxEntrySize;
  const rn = new RawNode(cfg);

  rn.campaign();
  for (let iter = 0;; iter++) {
    assert.ok(iter < 10, "the empty entry never applied");
    const rd = rn.ready();
    s.append(rd.entries);
    rn.advance(rd);
    if (rd.committedEntries.length > 0) break;
  }

  // Nothing commits while proposing: the log must not grow without bound.
  let dropped = 0;
  for (let i = 0; i < 1024; i++) {
    try {
      rn.propose(data);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      dropped++;
    }
  }
  assert.equal(dropped, 1024 - maxEntries);
  assert.equal(rawNodeRaft(rn).uncommittedSize, maxEntrySize);

  // Recovering, the uncommitted tail shrinks as entries are applied.
  let rd = rn.ready();
  assert.equal(rd.entries.length, maxEntries);
  s.append(rd.entries);
  rn.advance(rd);
  assert.equal(rawNodeRaft(rn).uncommittedSize, maxEntrySize); // appended, not applied

  rd = rn.ready();
  assert.deepEqual(rd.entries, []);
  assert.equal(rd.committedEntries.length, maxEntries);
  rn.advance(rd);
  assert.equal(rawNodeRaft(rn).uncommittedSize, 0);
});

test("RawNode.ready() takes the messages but readyWithoutAccept() does not (TestRawNodeConsumeReady)", () => {
  const s = newTestMemoryStorage({ peers: [1] });
  const rn = newTestRawNode(1, 3, 1, s);
  const m1 = newMessage({ type: MessageType.MsgHup, context: enc("foo") });
  const m2 = newMessage({ type: MessageType.MsgHup, context: enc("bar") });

  rawNodeRaft(rn).msgs.push(m1);
  let rd = rn.readyWithoutAccept();
  assert.equal(rd.messages.length, 1);
  assert.equal(rd.messages[0], m1);
  assert.deepEqual(rawNodeRaft(rn).msgs, [m1]);

  rd = rn.ready();
  assert.equal(rawNodeRaft(rn).msgs.length, 0);
  assert.equal(rd.messages.length, 1);
  assert.equal(rd.messages[0], m1);

  // advance() leaves messages queued since the Ready alone.
  rawNodeRaft(rn).msgs.push(m2);
  rn.advance(rd);
  assert.deepEqual(rawNodeRaft(rn).msgs, [m2]);
});

test("RawNode.bootstrap() starts a single-node cluster that commits proposals", () => {
  const s = new MemoryStorage();
  const rn = new RawNode(newTestConfig(1, 10, 1, s));
  assert.equal(rawNodeRaft(rn).promotable(), false);
  rn.bootstrap([{ id: 1, context: enc("addr-1") }]);
  // The configuration is in force at once: the node could campaign now.
  assert.deepEqual(rawNodeRaft(rn).trk.voterNodes(), [1]);
  assert.equal(rawNodeRaft(rn).promotable(), true);
  assert.equal(rawNodeRaft(rn).term, 1);

  let rd = rn.ready();
  // The faux conf change entry must be persisted and applied.
  assert.deepEqual(rd.hardState, { term: 1, vote: 0, commit: 1 });
  assert.equal(rd.mustSync, true);
  assert.equal(rd.entries.length, 1);
  assert.deepEqual(rd.committedEntries, rd.entries);
  const cc = decodeConfChange(rd.entries[0]!.data);
  assert.deepEqual(cc, {
    type: ConfChangeType.ConfChangeAddNode,
    nodeId: 1,
    context: enc("addr-1"),
    id: 0,
  });
  s.setHardState(rd.hardState);
  s.append(rd.entries);
  // Applying it again is harmless.
  assert.deepEqual(rn.applyConfChange(cc), newConfState({ voters: [1] }));
  rn.advance(rd);
  assert.equal(rawNodeRaft(rn).raftLog.applied, 1);

  rn.campaign();
  const applied: string[] = [];
  let proposed = false;
  for (let i = 0; i < 10 && applied.length === 0; i++) {
    if (!proposed && rn.basicStatus().raftState === StateType.StateLeader) {
      rn.propose(enc("hello"));
      proposed = true;
    }
    if (!rn.hasReady()) continue;
    rd = rn.ready();
    if (!isEmptyHardState(rd.hardState)) s.setHardState(rd.hardState);
    s.append(rd.entries);
    for (const e of rd.committedEntries) if (e.data.length > 0) applied.push(dec(e.data));
    rn.advance(rd);
  }
  assert.deepEqual(applied, ["hello"]);
  assert.equal(rn.basicStatus().term, 2);
});

test("RawNode.bootstrap() on three nodes elects a leader and replicates", () => {
  const peers: Peer[] = [{ id: 1 }, { id: 2 }, { id: 3 }];
  const nodes = peers.map(({ id }) => {
    const s = new MemoryStorage();
    const rn = new RawNode(newTestConfig(id, 10, 1, s));
    rn.bootstrap(peers);
    return { s, rn, applied: [] as string[] };
  });
  const stabilize = (): void => {
    for (let round = 0; round < 50; round++) {
      const msgs: Message[] = [];
      for (const n of nodes) {
        if (!n.rn.hasReady()) continue;
        const rd = n.rn.ready();
        if (!isEmptyHardState(rd.hardState)) n.s.setHardState(rd.hardState);
        n.s.append(rd.entries);
        for (const e of rd.committedEntries) {
          const c = confChangeOf(e);
          if (c !== undefined) n.rn.applyConfChange(c);
          else if (e.data.length > 0) n.applied.push(dec(e.data));
        }
        msgs.push(...rd.messages);
        n.rn.advance(rd);
      }
      if (msgs.length === 0) return;
      for (const m of msgs) nodes[m.to - 1]!.rn.step(m);
    }
    assert.fail("the cluster did not settle");
  };
  stabilize();
  for (const n of nodes) assert.deepEqual(rawNodeRaft(n.rn).trk.voterNodes(), [1, 2, 3]);
  nodes[1]!.rn.campaign();
  stabilize();
  assert.equal(nodes[1]!.rn.basicStatus().raftState, StateType.StateLeader);
  nodes[1]!.rn.propose(enc("x"));
  stabilize();
  for (const n of nodes) {
    assert.deepEqual(n.applied, ["x"]);
    assert.equal(n.rn.basicStatus().commit, 5); // 3 conf changes, empty entry, "x"
  }
});

test("RawNode.bootstrap() rejects empty peers and a non-empty storage", () => {
  const rn = new RawNode(newTestConfig(1, 10, 1, new MemoryStorage()));
  assert.throws(() => rn.bootstrap([]), {
    name: "RangeError",
    message: "Cannot bootstrap RawNode as 'peers' must not be empty",
  });

  const withLog = new MemoryStorage();
  withLog.append([newEntry({ term: 1, index: 1 })]);
  const rn2 = new RawNode(newTestConfig(1, 10, 1, withLog));
  assert.throws(() => rn2.bootstrap([{ id: 1 }]), {
    name: "RangeError",
    message: "Cannot bootstrap RawNode as the storage must be empty: current last index 1",
  });
  // The failed call changed nothing.
  assert.equal(rawNodeRaft(rn2).term, 0);
  assert.equal(rawNodeRaft(rn2).raftLog.lastIndex(), 1);

  const withSnap = newTestMemoryStorage({ peers: [1] });
  withSnap.applySnapshot(
    newSnapshot({ index: 5, term: 1, confState: newConfState({ voters: [1] }) }),
  );
  const rn3 = new RawNode(newTestConfig(1, 10, 1, withSnap));
  assert.throws(() => rn3.bootstrap([{ id: 1 }]), RangeError);
});

test("RawNode.tickQuiesced() advances the election clock without campaigning", () => {
  const { rn } = newNode([1]);
  const timeout = rawNodeRaft(rn).randomizedElectionTimeout;
  for (let i = 0; i < 2 * timeout; i++) rn.tickQuiesced();
  assert.equal(rawNodeRaft(rn).state, StateType.StateFollower);
  assert.equal(rawNodeRaft(rn).electionElapsed, 2 * timeout);
  assert.equal(rn.hasReady(), false);
  // The next real tick finds the timeout long passed.
  rn.tick();
  assert.equal(rawNodeRaft(rn).state, StateType.StateCandidate);
});

// A Ready loop with AsyncStorageWrites: entries and HardState are written by
// an "append thread" and committed entries applied by an "apply thread"; both
// answer with the responses the MsgStorage* messages carry. advance() is
// never called.
interface AsyncNode {
  rn: RawNode;
  s: MemoryStorage;
  applied: Entry[];
}

function newAsyncNode(id: number, peers: number[]): AsyncNode {
  const s = newTestMemoryStorage({ peers });
  return {
    rn: new RawNode({ ...newTestConfig(id, 10, 1, s), asyncStorageWrites: true }),
    s,
    applied: [],
  };
}

/**
 * Runs Ready loops until quiescence. Messages to or from nodes in `down`,
 * and messages to nodes not in the test, are lost.
 */
function asyncStabilize(nodes: AsyncNode[], down: ReadonlySet<number> = new Set()): void {
  for (let round = 0; round < 100; round++) {
    const network: Message[] = [];
    let busy = false;
    for (const n of nodes) {
      if (!n.rn.hasReady()) continue;
      busy = true;
      const rd = n.rn.ready();
      assert.equal(rd.messages.filter((m) => m.to === LocalAppendThread).length <= 1, true);
      // What earlier Readys made durable; this Ready's append comes later.
      const persisted = n.s.lastIndex();
      const local: Message[] = [];
      for (const m of rd.messages) {
        if (m.to === LocalAppendThread) {
          assert.equal(m.type, MessageType.MsgStorageAppend);
          if (m.snapshot !== undefined && !isEmptySnap(m.snapshot)) n.s.applySnapshot(m.snapshot);
          n.s.append(m.entries);
          const hs = { term: m.term, vote: m.vote, commit: m.commit };
          if (!isEmptyHardState(hs)) n.s.setHardState(hs);
          local.push(...m.responses);
        } else if (m.to === LocalApplyThread) {
          assert.equal(m.type, MessageType.MsgStorageApply);
          for (const e of m.entries) {
            // Entries are applied only once durable (acknowledged after an
            // earlier append), unlike with synchronous Ready handling.
            assert.ok(e.index <= persisted, `entry ${e.index} applied before it was persisted`);
            const c = confChangeOf(e);
            if (c !== undefined) n.rn.applyConfChange(c);
            n.applied.push(e);
          }
          local.push(...m.responses);
        } else {
          network.push(m);
        }
      }
      for (const m of local) {
        if (m.to === rawNodeRaft(n.rn).id) n.rn.step(m);
        else network.push(m);
      }
    }
    if (!busy && network.length === 0) return;
    for (const m of network) {
      if (down.has(m.from) || down.has(m.to)) continue;
      nodes[m.to - 1]?.rn.step(m);
    }
  }
  assert.fail("the cluster did not settle");
}

test("RawNode with asyncStorageWrites commits and applies a proposal on one node", () => {
  const n = newAsyncNode(1, [1]);
  assert.throws(() => n.rn.advance(), RaftInvariantError);
  n.rn.campaign();
  asyncStabilize([n]);
  assert.equal(n.rn.basicStatus().raftState, StateType.StateLeader);
  n.rn.propose(enc("async"));
  // The first Ready asks for the entry to be written, not yet applied.
  const rd = n.rn.readyWithoutAccept();
  assert.deepEqual(rd.committedEntries, []);
  assert.deepEqual(
    rd.messages.map((m) => [m.type, m.entries.map((e) => dec(e.data))]),
    [[MessageType.MsgStorageAppend, ["async"]]],
  );
  asyncStabilize([n]);
  const last = n.applied[n.applied.length - 1]!;
  assert.equal(dec(last.data), "async");
  assert.equal(rawNodeRaft(n.rn).raftLog.applied, last.index);
  assert.equal(n.s.hardState.commit, last.index);
  assert.equal(n.s.lastIndex(), last.index);
  assert.equal(rawNodeRaft(n.rn).raftLog.nextUnstableEnts().length, 0);
});

test("RawNode with asyncStorageWrites replicates proposals across three nodes", () => {
  const nodes = [1, 2, 3].map((id) => newAsyncNode(id, [1, 2, 3]));
  nodes[0]!.rn.campaign();
  asyncStabilize(nodes);
  assert.equal(nodes[0]!.rn.basicStatus().raftState, StateType.StateLeader);
  nodes[0]!.rn.propose(enc("a"));
  nodes[0]!.rn.propose(enc("b"));
  asyncStabilize(nodes);
  for (const n of nodes) {
    // The empty entry of the new leader, then "a" and "b".
    assert.deepEqual(n.applied.map((e) => [e.index, dec(e.data)]), [[1, ""], [2, "a"], [3, "b"]]);
    assert.equal(rawNodeRaft(n.rn).raftLog.applied, 3);
    assert.equal(n.s.hardState.commit, 3);
    assert.equal(n.s.lastIndex(), 3);
  }
  // Node 3 misses two entries; when it is back, one MsgApp brings them
  // together with a commit index that covers them. It applies them only
  // after persisting them.
  const down = new Set([3]);
  nodes[0]!.rn.propose(enc("c"));
  nodes[0]!.rn.propose(enc("d"));
  asyncStabilize(nodes, down);
  assert.equal(rawNodeRaft(nodes[2]!.rn).raftLog.lastIndex(), 3);
  assert.equal(rawNodeRaft(nodes[0]!.rn).raftLog.committed, 5);
  nodes[0]!.rn.tick(); // a heartbeat finds node 3 behind
  asyncStabilize(nodes);
  const n3 = nodes[2]!;
  assert.deepEqual(n3.applied.map((e) => dec(e.data)), ["", "a", "b", "c", "d"]);
  assert.equal(rawNodeRaft(n3.rn).raftLog.applied, 5);

  // A conf change goes through the same loop.
  const cc: ConfChangeV2 = newConfChangeV2({
    changes: [{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4 }],
  });
  nodes[0]!.rn.proposeConfChange(cc);
  asyncStabilize(nodes);
  for (const n of nodes) assert.deepEqual(rawNodeRaft(n.rn).trk.learnerNodes(), [4]);
});

test("RawNode hands out committed entries in batches of MaxCommittedSizePerReady", () => {
  const ents: Entry[] = [];
  for (let i = 1; i <= 10; i++) ents.push(newEntry({ term: 1, index: i, data: enc("0123456789") }));
  const one = entrySize(ents[0]!);
  const run = (over: { maxSizePerMsg?: number; maxCommittedSizePerReady?: number }): number[][] => {
    const st = newTestMemoryStorage({ peers: [1] });
    st.append(ents);
    st.setHardState(newHardState({ term: 1, commit: 10 }));
    const rn = new RawNode({ ...newTestConfig(1, 10, 1, st), ...over });
    const out: number[][] = [];
    for (let i = 0; i < 20 && rn.hasReady(); i++) {
      const rd = rn.ready();
      out.push(rd.committedEntries.map((e) => e.index));
      rn.advance(rd);
    }
    return out;
  };
  assert.deepEqual(run({ maxCommittedSizePerReady: 3 * one }), [[1, 2, 3], [4, 5, 6], [7, 8, 9], [
    10,
  ]]);
  // Without its own value, the limit is MaxSizePerMsg.
  assert.deepEqual(run({ maxSizePerMsg: 5 * one }), [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]);
  // A limit of 0 (both options unset) applies one entry per Ready.
  assert.equal(run({ maxSizePerMsg: 0 }).length, 10);
  assert.deepEqual(run({ maxSizePerMsg: Infinity }), [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
});
