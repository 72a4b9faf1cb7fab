import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeConfChangeV2 } from "../codec.ts";
import { ConfChangeError, type ConfChangeRefusal } from "../errors.ts";
import { RaftNode } from "../node.ts";
import { MemoryStorage } from "../storage.ts";
import {
  ConfChangeTransition,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  newConfState,
} from "../types.ts";
import { Machine, withCluster } from "../../tests/cluster/harness.ts";
import { recordingLogger } from "../../tests/_util.ts";
import { MemoryNetwork, VirtualScheduler } from "../../adapters/memory/mod.ts";
import { intentEnvelopeHeader, type MembershipIntent, wrap } from "./envelope.ts";
import { checkIntents, intentOf } from "./membership.ts";

const cs = (voters: number[], learners: number[] = []): ConfState =>
  newConfState({ voters, learners });

function refusedAs(reason: ConfChangeRefusal, message: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof ConfChangeError, `expected ConfChangeError, got ${e}`);
    assert.equal(e.reason, reason);
    assert.match(e.message, message);
    return true;
  };
}

test("checkIntents() refuses each intent that does not hold, with its reason", () => {
  const conf = cs([1, 2, 3], [4]);
  const removed = new Set([9]);
  const cases: [MembershipIntent, number, ConfChangeRefusal | undefined, RegExp?][] = [
    ["addVoter", 5, undefined],
    ["addVoter", 2, "already_member", /node 2 as a voter: it is already a voter/],
    ["addVoter", 4, "already_member", /already a learner \(promote it instead\)/],
    ["addVoter", 9, "removed_id", /removed from the cluster.*new ID/],
    ["addLearner", 5, undefined],
    ["addLearner", 3, "already_member", /node 3 as a learner: it is already a voter/],
    ["addLearner", 9, "removed_id", /never admitted again/],
    ["promote", 4, undefined],
    ["promote", 1, "not_learner", /promote node 1: it is not a learner \(it is a voter\)/],
    ["promote", 9, "not_learner", /promote node 9: it is not a learner \(it was removed\)/],
    ["demote", 2, undefined],
    ["demote", 4, "not_voter", /demote node 4: it is not a voter \(it is a learner\)/],
    ["demote", 7, "not_voter", /demote node 7: it is not a voter$/],
    ["remove", 4, undefined],
    ["remove", 1, undefined],
    ["remove", 7, "not_member", /remove node 7: it is not a member$/],
    ["remove", 9, "not_member", /already removed/],
  ];
  const typeOf = {
    addVoter: ConfChangeType.ConfChangeAddNode,
    promote: ConfChangeType.ConfChangeAddNode,
    addLearner: ConfChangeType.ConfChangeAddLearnerNode,
    demote: ConfChangeType.ConfChangeAddLearnerNode,
    remove: ConfChangeType.ConfChangeRemoveNode,
  } as const;
  for (const [intent, id, reason, message] of cases) {
    const got = checkIntents(conf, removed, [{ type: typeOf[intent], nodeId: id }], [intent]);
    if (reason === undefined) {
      assert.equal(got, undefined, `${intent} ${id}: ${got?.message}`);
    } else {
      assert.ok(got !== undefined, `${intent} ${id} was not refused`);
      refusedAs(reason, message!)(got);
    }
  }
});

test("checkIntents() refuses a change naming one node twice, a mismatched type, and re-admission without intents", () => {
  const conf = cs([1, 2, 3]);
  const add = ConfChangeType.ConfChangeAddNode;
  const remove = ConfChangeType.ConfChangeRemoveNode;
  assert.match(
    checkIntents(conf, new Set(), [{ type: add, nodeId: 4 }, { type: remove, nodeId: 4 }], [
      "addVoter",
      "remove",
    ])!.message,
    /changes node 4 twice/,
  );
  assert.match(
    checkIntents(conf, new Set(), [{ type: remove, nodeId: 4 }], ["addVoter"])!.message,
    /intent addVoter does not match change type/,
  );
  // A change stepped without intents (Raft's own types) may still never re-admit a removed ID.
  refusedAs("removed_id", /node 5/)(
    checkIntents(conf, new Set([5]), [{ type: add, nodeId: 5 }], undefined),
  );
  assert.equal(
    checkIntents(conf, new Set([5]), [{ type: remove, nodeId: 7 }], undefined),
    undefined,
  );
});

test("intentOf() reads Raft's change types against the membership", () => {
  const conf = cs([1, 2], [3]);
  assert.equal(intentOf(conf, { type: ConfChangeType.ConfChangeAddNode, nodeId: 3 }), "promote");
  assert.equal(intentOf(conf, { type: ConfChangeType.ConfChangeAddNode, nodeId: 4 }), "addVoter");
  assert.equal(
    intentOf(conf, { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 2 }),
    "demote",
  );
  assert.equal(
    intentOf(conf, { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 5 }),
    "addLearner",
  );
  assert.equal(intentOf(conf, { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 9 }), "remove");
  assert.equal(intentOf(conf, { type: ConfChangeType.ConfChangeUpdateNode, nodeId: 1 }), undefined);
});

test("RaftNode refuses each membership change whose intent does not hold, and changes nothing", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const l = await c.leader();
    await c.run(l.addLearner(4));
    const before = l.status().confState;
    const cases: [string, () => Promise<unknown>, ConfChangeRefusal, RegExp][] = [
      ["addVoter(voter)", () => l.addVoter(2), "already_member", /already a voter/],
      ["addVoter(learner)", () => l.addVoter(4), "already_member", /promote it instead/],
      ["addLearner(voter)", () => l.addLearner(3), "already_member", /already a voter/],
      ["promote(voter)", () => l.promote(1), "not_learner", /not a learner/],
      ["promote(non-member)", () => l.promote(7), "not_learner", /not a learner/],
      ["demote(learner)", () => l.demote(4), "not_voter", /not a voter/],
      ["remove(non-member)", () => l.removeNode(7), "not_member", /not a member/],
    ];
    for (const [name, call, reason, message] of cases) {
      await assert.rejects(c.run(call()), refusedAs(reason, message), name);
    }
    assert.deepEqual(l.status().confState, before);
    // The intents that hold go through.
    await c.run(l.demote(3));
    assert.deepEqual(l.status().confState.learners, [3, 4]);
    await c.run(l.promote(3));
    assert.deepEqual(l.status().confState.voters, [1, 2, 3]);
  });
});

test("RaftNode never admits a removed ID again, also after a snapshot and a restart", async () => {
  await withCluster({
    size: 1,
    node: { snapshotEntries: 4, snapshotCatchUpEntries: 0 },
  }, async (c) => {
    let l = await c.leader();
    await c.run(l.addLearner(2));
    await c.run(l.removeNode(2));
    for (const call of [() => l.addLearner(2), () => l.addVoter(2)]) {
      await assert.rejects(c.run(call()), refusedAs("removed_id", /node 2.*new ID/));
    }
    // Enough entries for a snapshot that compacts the removal out of the log.
    for (let i = 0; i < 6; i++) await c.run(l.propose(new Uint8Array([i])));
    const storage = c.storages.get(1)!;
    assert.ok(storage.firstIndex() > 3, `log not compacted: first index ${storage.firstIndex()}`);
    await c.stop(1);
    l = await c.start(1);
    await c.leader();
    await assert.rejects(c.run(l.addVoter(2)), refusedAs("removed_id", /never admitted again/));
    assert.deepEqual(l.status().confState.voters, [1]);
    assert.deepEqual(l.status().confState.learners, []);
    await c.run(l.addLearner(3));
    assert.deepEqual(l.status().confState.learners, [3]);
  });
});

test("RaftNode refuses a queued promote once the learner's removal applied (sim seed 701428)", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const l = await c.leader();
    await c.run(l.addLearner(6));
    // Both are accepted now; the promote waits until the removal is applied.
    const [removal, promotion] = await c.run(Promise.allSettled([l.removeNode(6), l.promote(6)]));
    assert.equal(removal.status, "fulfilled");
    assert.equal(promotion.status, "rejected");
    refusedAs("not_learner", /node 6.*it was removed/)(promotion.reason);
    assert.deepEqual(l.status().confState.voters, [1, 2, 3]);
    assert.deepEqual(l.status().confState.learners, []);
  });
});

test("RaftNode refuses a committed change whose intent no longer holds when it applies, on every node alike", async () => {
  // A log in which a promote of node 2 follows its removal: both committed.
  const conf = (seq: number, intent: MembershipIntent, type: ConfChangeType): Uint8Array =>
    encodeConfChangeV2({
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [{ type, nodeId: 2 }],
      context: wrap(intentEnvelopeHeader(9, 1, seq, [intent]), new Uint8Array()),
    });
  const entries: Entry[] = [
    {
      term: 1,
      index: 1,
      type: EntryType.EntryConfChangeV2,
      data: conf(1, "addVoter", ConfChangeType.ConfChangeAddNode),
    },
    {
      term: 1,
      index: 2,
      type: EntryType.EntryConfChangeV2,
      data: conf(2, "addLearner", ConfChangeType.ConfChangeAddLearnerNode),
    },
    {
      term: 1,
      index: 3,
      type: EntryType.EntryConfChangeV2,
      data: conf(3, "remove", ConfChangeType.ConfChangeRemoveNode),
    },
    {
      term: 1,
      index: 4,
      type: EntryType.EntryConfChangeV2,
      data: conf(4, "promote", ConfChangeType.ConfChangeAddNode),
    },
  ];
  // Entry 1 adds node 1 itself (with the intent addVoter); build it by hand.
  entries[0] = {
    ...entries[0]!,
    data: encodeConfChangeV2({
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 1 }],
      context: new Uint8Array(),
    }),
  };
  for (const run of [1, 2]) {
    const storage = new MemoryStorage();
    storage.append(entries);
    storage.setHardState({ term: 1, vote: 1, commit: 4 });
    const clock = new VirtualScheduler();
    const net = new MemoryNetwork({ seed: run, scheduler: clock });
    const log = recordingLogger();
    const node = await RaftNode.start({
      id: 1,
      storage,
      transport: net.connect(1),
      stateMachine: new Machine(),
      scheduler: clock,
      tickMs: 10,
      logger: log,
    });
    await clock.run(node.waitForLeader(), 10_000);
    await clock.until(() => node.status().applied >= 4, 10_000);
    const st = node.status().confState;
    assert.deepEqual(st.voters, [1]);
    assert.deepEqual(st.learners, []);
    assert.ok(
      log.lines.some((m) => /refused conf change at 4: Cannot promote node 2/.test(m)),
      log.lines.join("\n"),
    );
    await node.close();
    net.close();
  }
});

test("RaftNode refuses to add a voter its transport cannot reach, and changes nothing", async () => {
  await withCluster({ size: 0 }, async (c) => {
    const t = c.net.connect(1);
    const reachable = new Set([4]);
    c.storages.set(1, new MemoryStorage());
    const n = await RaftNode.start({
      id: 1,
      peers: [1],
      storage: c.storages.get(1)!,
      transport: {
        start: (h) => t.start(h),
        send: (m) => t.send(m),
        close: () => t.close(),
        checkPeer: (id) => reachable.has(id) ? undefined : `no address for node ${id}`,
      },
      stateMachine: new Machine(),
      scheduler: c.clock,
      tickMs: 10,
    });
    await c.run(n.waitForLeader());
    await assert.rejects(
      c.run(n.addVoter(5)),
      refusedAs("unreachable", /Cannot add node 5 as a voter: no address for node 5/),
    );
    assert.deepEqual(n.status().confState.voters, [1]);
    // A learner does not count toward the quorum; a reachable voter is added.
    await c.run(n.addLearner(5));
    await c.run(n.addVoter(4));
    assert.deepEqual(n.status().confState.voters, [1, 4]);
    await n.close();
  });
});
