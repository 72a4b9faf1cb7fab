// Configuration: validation of every option (a RangeError naming the field
// and the value), the defaults, and options the data-driven suite never
// turns on: DisableProposalForwarding (etcd's node_test.go
// TestDisableProposalForwarding), Applied, and a restart from a persisted
// HardState.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftInvariantError } from "./_assert.ts";
import { ProposalDroppedError } from "./errors.ts";
import { type Config, Raft, validateConfig } from "./raft.ts";
import { RawNode, rawNodeRaft } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import {
  LocalAppendThread,
  LocalApplyThread,
  MessageType,
  newEntry,
  newHardState,
  ReadOnlyOption,
  StateType,
} from "./types.ts";
import {
  entsAt,
  msg,
  msgHup,
  msgProp,
  newNetwork,
  newTestConfig,
  newTestMemoryStorage,
  newTestRaft,
  readMessages,
} from "../tests/raft/network.ts";

function base(over: Partial<Config> = {}): Config {
  return { id: 1, electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage(), ...over };
}

test("validateConfig() rejects each invalid option with a RangeError naming it and its value", () => {
  // [override, field named in the message, value shown in the message]
  const cases: Array<[Partial<Config>, string, string]> = [
    [{ id: 0 }, "id", "0"],
    [{ id: -1 }, "id", "-1"],
    [{ id: 1.5 }, "id", "1.5"],
    [{ id: NaN }, "id", "NaN"],
    [{ id: LocalAppendThread }, "id", String(LocalAppendThread)],
    [{ id: LocalApplyThread }, "id", String(LocalApplyThread)],
    [{ heartbeatTick: 0 }, "heartbeatTick", "0"],
    [{ heartbeatTick: -1 }, "heartbeatTick", "-1"],
    [{ heartbeatTick: 0.5 }, "heartbeatTick", "0.5"],
    [{ electionTick: 1, heartbeatTick: 1 }, "electionTick", "1, 1"],
    [{ electionTick: 3, heartbeatTick: 5 }, "electionTick", "3, 5"],
    [{ electionTick: 10.5 }, "electionTick", "10.5"],
    [{ electionTick: Infinity }, "electionTick", "Infinity"],
    [{ applied: -1 }, "applied", "-1"],
    [{ applied: 2.5 }, "applied", "2.5"],
    [{ maxSizePerMsg: -1 }, "maxSizePerMsg", "-1"],
    [{ maxSizePerMsg: 1.5 }, "maxSizePerMsg", "1.5"],
    [{ maxSizePerMsg: NaN }, "maxSizePerMsg", "NaN"],
    [{ maxUncommittedEntriesSize: -5 }, "maxUncommittedEntriesSize", "-5"],
    [{ maxCommittedSizePerReady: -5 }, "maxCommittedSizePerReady", "-5"],
    [{ maxInflightMsgs: 0 }, "maxInflightMsgs", "0"],
    [{ maxInflightMsgs: -3 }, "maxInflightMsgs", "-3"],
    [{ maxInflightMsgs: 2.5 }, "maxInflightMsgs", "2.5"],
    [{ maxInflightBytes: -1 }, "maxInflightBytes", "-1"],
    [{ maxSizePerMsg: 100, maxInflightBytes: 10 }, "maxInflightBytes", "10, 100"],
    [{ readOnlyOption: 7 as ReadOnlyOption }, "readOnlyOption", "7"],
    [{ readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased }, "checkQuorum", "false"],
  ];
  for (const [over, field, value] of cases) {
    const name = JSON.stringify(over);
    let err: unknown;
    try {
      validateConfig(base(over));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RangeError, `${name}: expected a RangeError, got ${err}`);
    assert.match(err.message, /^Cannot create RawNode as /, name);
    assert.ok(err.message.includes(`'${field}'`), `${name}: ${err.message}`);
    assert.ok(err.message.endsWith(value), `${name}: ${err.message}`);
  }
});

test("validateConfig() messages follow the house grammar", () => {
  assert.throws(() => validateConfig(base({ id: 0 })), {
    name: "RangeError",
    message: "Cannot create RawNode as 'id' must not be 0 (None): current value 0",
  });
  assert.throws(() => validateConfig(base({ maxSizePerMsg: 100, maxInflightBytes: 10 })), {
    name: "RangeError",
    message:
      "Cannot create RawNode as 'maxInflightBytes' must be greater than or equal to 'maxSizePerMsg': current values 10, 100",
  });
  assert.throws(() => validateConfig(base({ readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased })), {
    name: "RangeError",
    message:
      "Cannot create RawNode as 'checkQuorum' must be enabled when 'readOnlyOption' is ReadOnlyLeaseBased: current value false",
  });
});

test("validateConfig() rejects a missing storage with a TypeError", () => {
  const c = { id: 1, electionTick: 10, heartbeatTick: 1 } as unknown as Config;
  assert.throws(() => validateConfig(c), {
    name: "TypeError",
    message: "Cannot create RawNode as 'storage' is missing",
  });
});

test("new Raft() and new RawNode() validate their configuration", () => {
  assert.throws(() => new Raft(base({ heartbeatTick: 0 })), RangeError);
  assert.throws(() => new RawNode(base({ maxInflightMsgs: 0 })), RangeError);
});

test("validateConfig() accepts boundary values and fills in etcd's defaults", () => {
  const c = validateConfig(base({ electionTick: 2, heartbeatTick: 1 }));
  assert.equal(c.maxSizePerMsg, 0);
  assert.equal(c.maxInflightMsgs, 256);
  assert.equal(c.maxInflightBytes, Infinity);
  assert.equal(c.maxUncommittedEntriesSize, Infinity);
  assert.equal(c.readOnlyOption, ReadOnlyOption.ReadOnlySafe);
  assert.equal(c.checkQuorum, false);
  assert.equal(c.preVote, false);
  assert.equal(c.asyncStorageWrites, false);
  assert.equal(c.disableProposalForwarding, false);
  assert.equal(c.stepDownOnRemoval, false);
  assert.equal(c.applied, 0);
  // Infinity means "no limit" for the size options.
  const inf = validateConfig(base({
    maxSizePerMsg: Infinity,
    maxUncommittedEntriesSize: Infinity,
    maxInflightBytes: Infinity,
  }));
  assert.equal(inf.maxCommittedSizePerReady, Infinity);
  // maxInflightBytes equal to maxSizePerMsg is allowed.
  assert.equal(
    validateConfig(base({ maxSizePerMsg: 10, maxInflightBytes: 10 })).maxInflightBytes,
    10,
  );
  // Lease-based reads with CheckQuorum are fine.
  const lease = validateConfig(base({
    readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
    checkQuorum: true,
  }));
  assert.equal(lease.readOnlyOption, ReadOnlyOption.ReadOnlyLeaseBased);
  // The input is left as it was.
  const input = base();
  validateConfig(input);
  assert.equal(input.maxInflightMsgs, undefined);
});

test("Raft follower with DisableProposalForwarding drops proposals instead of forwarding (TestDisableProposalForwarding)", () => {
  const r1 = newTestRaft(1, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  const r2 = newTestRaft(2, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  const cfg3 = newTestConfig(3, 10, 1, newTestMemoryStorage({ peers: [1, 2, 3] }));
  cfg3.disableProposalForwarding = true;
  const r3 = new Raft(cfg3);
  const nt = newNetwork(r1, r2, r3);
  nt.send(msgHup(1));
  assert.equal(r1.state, StateType.StateLeader);

  r2.step(msgProp(2, "testdata"));
  assert.equal(r2.msgs.length, 1);
  assert.equal(r2.msgs[0]!.type, MessageType.MsgProp);
  assert.equal(r2.msgs[0]!.to, 1);

  assert.throws(() => r3.step(msgProp(3, "testdata")), ProposalDroppedError);
  assert.deepEqual(r3.msgs, []);
});

test("RawNode.propose() on a follower with DisableProposalForwarding throws ProposalDroppedError", () => {
  const storage = newTestMemoryStorage({ peers: [1, 2] });
  const rn = new RawNode({ ...newTestConfig(2, 10, 1, storage), disableProposalForwarding: true });
  rawNodeRaft(rn).becomeFollower(1, 1);
  assert.throws(() => rn.propose(new Uint8Array([1])), ProposalDroppedError);
  assert.deepEqual(rawNodeRaft(rn).msgs, []);
});

test("Raft restarts from a persisted HardState: term, vote and commit", () => {
  const storage = newTestMemoryStorage({ peers: [1, 2, 3] });
  storage.append(entsAt(1, 1, 2, 2));
  storage.setHardState(newHardState({ term: 5, vote: 2, commit: 2 }));
  const r = newTestRaft(1, 10, 1, storage);
  assert.deepEqual(r.hardState(), { term: 5, vote: 2, commit: 2 });
  assert.equal(r.state, StateType.StateFollower);
  assert.equal(r.raftLog.lastIndex(), 3);

  // The persisted vote stands: another candidate of term 5 is refused...
  r.step(msg({ type: MessageType.MsgVote, from: 3, to: 1, term: 5, index: 3, logTerm: 2 }));
  let out = readMessages(r);
  assert.deepEqual(out.map((m) => [m.type, m.to, m.reject]), [[MessageType.MsgVoteResp, 3, true]]);
  // ...while the node voted for gets the vote again.
  r.step(msg({ type: MessageType.MsgVote, from: 2, to: 1, term: 5, index: 3, logTerm: 2 }));
  out = readMessages(r);
  assert.deepEqual(out.map((m) => [m.type, m.to, m.reject]), [[MessageType.MsgVoteResp, 2, false]]);

  // A restarted node's first campaign is in the next term.
  r.step(msgHup(1));
  assert.equal(r.term, 6);
});

test("Raft refuses a persisted commit index beyond its log", () => {
  const storage = newTestMemoryStorage({ peers: [1] });
  storage.append(entsAt(1, 1));
  storage.setHardState(newHardState({ term: 1, commit: 5 }));
  assert.throws(() => newTestRaft(1, 10, 1, storage), RaftInvariantError);
});

test("RawNode with Config.applied hands out only the committed entries after it", () => {
  const storage = newTestMemoryStorage({ peers: [1] });
  storage.append([
    newEntry({ term: 1, index: 1, data: new Uint8Array([1]) }),
    newEntry({ term: 1, index: 2, data: new Uint8Array([2]) }),
    newEntry({ term: 1, index: 3, data: new Uint8Array([3]) }),
  ]);
  storage.setHardState(newHardState({ term: 1, commit: 3 }));
  const rn = new RawNode({ ...newTestConfig(1, 10, 1, storage), applied: 2 });
  assert.equal(rawNodeRaft(rn).raftLog.applied, 2);
  const rd = rn.ready();
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [3]);
});

test("Raft refuses a Config.applied beyond the persisted commit index", () => {
  const storage = newTestMemoryStorage({ peers: [1] });
  storage.append(entsAt(1, 1, 1));
  storage.setHardState(newHardState({ term: 1, commit: 1 }));
  assert.throws(
    () => new Raft({ ...newTestConfig(1, 10, 1, storage), applied: 2 }),
    RaftInvariantError,
  );
});
