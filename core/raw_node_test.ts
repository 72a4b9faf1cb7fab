import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftInvariantError } from "./_assert.ts";
import { decodeConfChange } from "./codec.ts";
import { ProposalDroppedError, StepLocalMsgError, StepPeerNotFoundError } from "./errors.ts";
import { type Config, validateConfig } from "./raft.ts";
import { RawNode, rawNodeRaft } from "./raw_node.ts";
import { statusToJSON } from "./status.ts";
import { MemoryStorage } from "./storage.ts";
import {
  EntryType,
  isEmptyHardState,
  isEmptySnap,
  type Message,
  MessageType,
  newConfState,
  newMessage,
  newSnapshot,
  type Ready,
  StateType,
} from "./types.ts";
import { recordingLogger } from "../tests/_util.ts";

function newNode(id: number, voters: number[], extra: Partial<Config> = {}) {
  const storage = new MemoryStorage();
  storage.applySnapshot(
    newSnapshot({ index: 2, term: 1, confState: newConfState({ voters }) }),
  );
  const rn = new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    applied: 2,
    maxSizePerMsg: Infinity,
    ...extra,
  });
  return { id, storage, rn, applied: [] as Uint8Array[] };
}

type TestNode = ReturnType<typeof newNode>;

/** Persists, applies and advances one Ready; returns its messages. */
function handleReady(n: TestNode): Ready {
  const rd = n.rn.ready();
  if (!isEmptyHardState(rd.hardState)) n.storage.setHardState(rd.hardState);
  if (!isEmptySnap(rd.snapshot)) n.storage.applySnapshot(rd.snapshot!);
  n.storage.append(rd.entries);
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.EntryNormal && e.data.length > 0) n.applied.push(e.data);
    if (e.type === EntryType.EntryConfChange) n.rn.applyConfChange(decodeConfChange(e.data));
  }
  n.rn.advance(rd);
  return rd;
}

function stabilize(nodes: TestNode[]): void {
  for (let round = 0; round < 100; round++) {
    const msgs: Message[] = [];
    let busy = false;
    for (const n of nodes) {
      if (!n.rn.hasReady()) continue;
      busy = true;
      msgs.push(...handleReady(n).messages);
    }
    if (!busy) return;
    for (const m of msgs) nodes[m.to - 1]!.rn.step(m);
  }
  throw new Error("cluster did not settle");
}

test("validateConfig() rejects an election tick not above the heartbeat tick", () => {
  assert.throws(
    () =>
      validateConfig({ id: 1, electionTick: 1, heartbeatTick: 1, storage: new MemoryStorage() }),
    {
      name: "RangeError",
      message:
        "Cannot create RawNode as 'electionTick' must be greater than 'heartbeatTick': current values 1, 1",
    },
  );
});

test("validateConfig() rejects bad IDs, inflight limits and lease reads without CheckQuorum", () => {
  const storage = new MemoryStorage();
  const base = { electionTick: 10, heartbeatTick: 1, storage };
  assert.throws(() => validateConfig({ ...base, id: 0 }), RangeError);
  assert.throws(() => validateConfig({ ...base, id: Number.MAX_SAFE_INTEGER }), RangeError);
  assert.throws(() => validateConfig({ ...base, id: 1, maxInflightMsgs: 0 }), RangeError);
  assert.throws(
    () => validateConfig({ ...base, id: 1, maxSizePerMsg: 100, maxInflightBytes: 10 }),
    RangeError,
  );
  assert.throws(() => validateConfig({ ...base, id: 1, readOnlyOption: 1 }), RangeError);
  assert.throws(
    () => validateConfig({ id: 1, electionTick: 10, heartbeatTick: 1 } as unknown as Config),
    TypeError,
  );
});

test("validateConfig() fills in etcd's defaults", () => {
  const c = validateConfig({
    id: 1,
    electionTick: 10,
    heartbeatTick: 1,
    storage: new MemoryStorage(),
    maxSizePerMsg: 4096,
  });
  assert.equal(c.maxUncommittedEntriesSize, Infinity);
  assert.equal(c.maxInflightBytes, Infinity);
  assert.equal(c.maxCommittedSizePerReady, 4096);
  assert.equal(c.applied, 0);
});

test("RawNode logs its construction like etcd's newRaft", () => {
  const lines: string[] = [];
  newNode(1, [1, 2, 3], { logger: recordingLogger(lines) });
  assert.deepEqual(lines, [
    "INFO 1 switched to configuration voters=(1 2 3)",
    "INFO 1 became follower at term 0",
    "INFO newRaft 1 [peers: [1,2,3], term: 0, commit: 2, applied: 2, lastindex: 2, lastterm: 1]",
  ]);
});

test("RawNode elects a leader and commits a proposal on three nodes", () => {
  const nodes = [1, 2, 3].map((id) => newNode(id, [1, 2, 3]));
  nodes[0]!.rn.campaign();
  stabilize(nodes);
  assert.equal(nodes[0]!.rn.basicStatus().raftState, StateType.StateLeader);
  assert.equal(nodes[1]!.rn.basicStatus().lead, 1);
  nodes[0]!.rn.propose(new Uint8Array([42]));
  stabilize(nodes);
  for (const n of nodes) {
    assert.deepEqual(n.applied.map((d) => [...d]), [[42]]);
    assert.equal(n.rn.basicStatus().commit, 4);
  }
  const st = nodes[0]!.rn.status();
  assert.deepEqual([...st.progress.keys()], [1, 2, 3]);
  assert.equal(st.progress.get(2)!.match, 4);
});

test("RawNode.step() refuses local messages and responses from unknown peers", () => {
  const n = newNode(1, [1]);
  assert.throws(
    () => n.rn.step(newMessage({ type: MessageType.MsgHup, from: 1 })),
    StepLocalMsgError,
  );
  assert.throws(
    () => n.rn.step(newMessage({ type: MessageType.MsgAppResp, from: 9, term: 1 })),
    StepPeerNotFoundError,
  );
});

test("RawNode.propose() throws ProposalDroppedError without a leader", () => {
  const lines: string[] = [];
  const n = newNode(1, [1, 2], { logger: recordingLogger(lines) });
  assert.throws(() => n.rn.propose(new Uint8Array([1])), ProposalDroppedError);
  assert.equal(lines.at(-1), "INFO 1 no leader at term 0; dropping proposal");
});

test("RawNode.readIndex() on a single-node leader yields a ReadState", () => {
  const n = newNode(1, [1]);
  n.rn.campaign();
  stabilize([n]);
  n.rn.readIndex(new Uint8Array([7]));
  assert.ok(n.rn.hasReady());
  const rd = handleReady(n);
  assert.deepEqual(rd.readStates.map((r) => [r.index, [...r.requestCtx]]), [[3, [7]]]);
  assert.equal(n.rn.hasReady(), false);
});

test("RawNode.advance() is refused with async storage writes", () => {
  const n = newNode(1, [1], { asyncStorageWrites: true });
  assert.throws(() => n.rn.advance(), RaftInvariantError);
});

test("RawNode.ready() twice without advance() breaks an invariant", () => {
  const n = newNode(1, [1]);
  n.rn.campaign();
  n.rn.ready();
  assert.throws(() => n.rn.ready(), RaftInvariantError);
});

test("RawNode.bootstrap() commits one conf change entry per peer", () => {
  const storage = new MemoryStorage();
  const rn = new RawNode({
    id: 1,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: Infinity,
  });
  rn.bootstrap([{ id: 1 }, { id: 2 }]);
  const rd = rn.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: 0, commit: 2 });
  assert.deepEqual(rd.entries.map((e) => [e.index, e.type]), [[1, 1], [2, 1]]);
  assert.equal(rd.committedEntries.length, 2);
  assert.deepEqual(rn.status().config.voters.ids(), new Set([1, 2]));
  assert.throws(() => rn.bootstrap([]), RangeError);
});

test("statusToJSON() matches etcd's format with sorted progress", () => {
  const n = newNode(10, [10]);
  n.rn.campaign();
  stabilize([n]);
  assert.equal(
    statusToJSON(n.rn.status()),
    '{"id":"a","term":1,"vote":"a","commit":3,"lead":"a","raftState":"StateLeader","applied":3,' +
      '"progress":{"a":{"match":3,"next":4,"state":"StateReplicate"}},"leadtransferee":"0"}',
  );
});

test("RawNode uses the injected rand for the randomized election timeout", () => {
  const a = newNode(1, [1], { rand: () => 0 });
  const b = newNode(1, [1], { rand: () => 0.99 });
  assert.equal(rawNodeRaft(a.rn).randomizedElectionTimeout, 10);
  assert.equal(rawNodeRaft(b.rn).randomizedElectionTimeout, 19);
});
