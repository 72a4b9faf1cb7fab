/**
 * Multi-node tests of RaftNode on the in-memory network, on virtual time:
 * elections, replication order, linearizable reads, membership changes,
 * leadership transfer, crashes, restarts and snapshot catch-up.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type Cluster, cmd, withCluster } from "./harness.ts";
import { NotLeaderError } from "../../core/node.ts";
import { ConfChangeType, MessageType, StateType } from "../../core/types.ts";

/** Every running node's machine holds the same history as node `ref`'s. */
function assertSameHistory(c: Cluster, ref: number): void {
  const want = c.machine(ref).history;
  for (const id of c.nodes.keys()) {
    assert.deepEqual(c.machine(id).history, want, `node ${id} differs from node ${ref}`);
  }
}

for (const size of [3, 5]) {
  test(`RaftNode elects exactly one leader in a ${size}-node cluster`, async () => {
    await withCluster({ size, seed: size }, async (c) => {
      const l = await c.leader();
      const term = l.status().term;
      const leaders = [...c.nodes.values()].filter((n) =>
        n.status().raftState === StateType.StateLeader
      );
      assert.deepEqual(leaders.map((n) => n.id), [l.id]);
      for (const n of c.nodes.values()) {
        assert.equal(n.status().term, term);
        assert.equal(n.status().leaderId, l.id);
      }
      // Leadership is stable without faults: no election for a while.
      await c.clock.advance(2000);
      assert.equal(l.status().raftState, StateType.StateLeader);
      assert.equal(l.status().term, term);
    });
  });

  test(`RaftNode applies proposals on every node of ${size} in the same order`, async () => {
    // Jitter reorders messages; loss forces retransmissions.
    await withCluster({
      size,
      seed: 10 + size,
      net: { delayMs: 1, jitterMs: 8, dropRate: 0.05 },
    }, async (c) => {
      const l = await c.leader();
      const n = 60;
      const results = await c.run(
        Promise.all(Array.from({ length: n }, (_, i) => l.propose(cmd(`k${i % 7}=${i}`)))),
      );
      // Each proposal resolved with the result of its own command.
      for (let i = 0; i < n; i++) assert.match(results[i]!, new RegExp(`^k${i % 7}=${i}@\\d+$`));
      const indexes = results.map((r) => Number(r.split("@")[1]));
      assert.deepEqual(indexes, [...indexes].sort((a, b) => a - b), "applied in proposal order");
      await c.converge(n);
      assertSameHistory(c, l.id);
      assert.equal(c.machine(l.id).history.length, n, "each command applied exactly once");
      assert.ok(c.net.stats.dropped > 0, "the network lost messages");
    });
  });
}

test("RaftNode.read() on a follower waits until the read index is applied there", async () => {
  await withCluster({ size: 3, seed: 3 }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    await c.run(l.propose(cmd("x=1")));
    await c.converge(1);
    // Starve the follower of appends: heartbeats still flow, so it knows the
    // leader and its reads reach it, but it cannot apply new entries.
    c.net.setFilter((m) => !(m.to === f.id && m.type === MessageType.MsgApp));
    await c.run(l.propose(cmd("x=2")));
    let seen: string | undefined;
    let done = false;
    const read = f.read(() => c.machine(f.id).kv.get("x")).then((v) => {
      seen = v;
      done = true;
    });
    await c.clock.advance(300);
    assert.equal(done, false, "a stale follower must not answer the read");
    assert.equal(c.machine(f.id).kv.get("x"), "1");
    c.net.setFilter(undefined);
    await c.run(read);
    assert.equal(seen, "2", "the read observes the write that completed before it");
  });
});

test("RaftNode.read() with ReadOnlyLeaseBased serves reads on leader and followers", async () => {
  await withCluster({
    size: 3,
    seed: 4,
    node: { readOnlyOption: 1, checkQuorum: true },
  }, async (c) => {
    const l = await c.leader();
    await c.run(l.propose(cmd("y=7")));
    for (const n of c.nodes.values()) {
      const v = await c.run(n.read(() => c.machine(n.id).kv.get("y")));
      assert.equal(v, "7", `node ${n.id}`);
    }
  });
});

test("RaftNode batches reads issued together into one ReadIndex request", async () => {
  await withCluster({ size: 3, seed: 5 }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    let readIndexMsgs = 0;
    c.net.setFilter((m) => {
      if (m.type === MessageType.MsgReadIndex) readIndexMsgs++;
      return true;
    });
    const reads = Array.from({ length: 10 }, () => f.read());
    await c.run(Promise.all(reads));
    assert.equal(readIndexMsgs, 1);
  });
});

test("RaftNode adds a voter that catches up by snapshot after compaction", async () => {
  await withCluster({
    size: 3,
    seed: 6,
    node: { snapshotEntries: 20, snapshotCatchUpEntries: 5 },
  }, async (c) => {
    const l = await c.leader();
    for (let i = 0; i < 50; i++) await c.run(l.propose(cmd(`a${i}=${i}`)));
    await c.converge(50);
    assert.ok(c.storages.get(l.id)!.firstIndex() > 10, "the leader compacted its log");
    assert.ok(c.machine(l.id).snapshots > 0);

    const n4 = await c.start(4); // empty storage, no peers: joins
    const cs = await c.run(l.addVoter(4));
    assert.deepEqual(cs.voters, [1, 2, 3, 4]);
    await c.converge(50, [4]);
    assert.equal(c.machine(4).restores, 1, "node 4 was initialized from a snapshot");
    assert.ok(c.storages.get(4)!.snapshot().metadata.index > 0);
    assert.deepEqual(n4.status().confState.voters, [1, 2, 3, 4]);

    await c.run(l.propose(cmd("after=join")));
    await c.converge(51);
    assertSameHistory(c, l.id);
  });
});

test("RaftNode adds a learner, promotes it, then removes a voter", async () => {
  await withCluster({ size: 3, seed: 7 }, async (c) => {
    const l = await c.leader();
    await c.start(4);
    let cs = await c.run(l.addLearner(4));
    assert.deepEqual(cs.learners, [4]);
    assert.deepEqual(cs.voters, [1, 2, 3]);
    await c.run(l.propose(cmd("l=1")));
    await c.converge(1, [4]);

    cs = await c.run(l.promote(4));
    assert.deepEqual(cs.voters, [1, 2, 3, 4]);
    assert.deepEqual(cs.learners, []);

    const victim = c.follower(l.id).id;
    cs = await c.run(l.removeNode(victim));
    assert.equal(cs.voters.includes(victim), false);
    await c.stop(victim);
    // Three voters remain; the cluster still commits.
    await c.run(l.propose(cmd("l=2")));
    await c.converge(2);
    assertSameHistory(c, l.id);
  });
});

test("RaftNode replaces the leader: it removes itself and the rest elect a new one", async () => {
  await withCluster({ size: 3, seed: 8 }, async (c) => {
    const old = await c.leader();
    await c.run(old.propose(cmd("before=1")));
    await c.start(4);
    await c.run(old.addVoter(4));
    const cs = await c.run(old.removeNode(old.id));
    assert.equal(cs.voters.includes(old.id), false);
    const rest = [...c.nodes.keys()].filter((id) => id !== old.id);
    const l = await c.leader(rest);
    assert.notEqual(l.id, old.id);
    assert.notEqual(
      old.status().raftState,
      StateType.StateLeader,
      "the removed leader stepped down",
    );
    await c.stop(old.id);
    await c.run(l.propose(cmd("after=1")));
    await c.converge(2);
    assertSameHistory(c, l.id);
  });
});

test("RaftNode.changeMembership() swaps two voters through a joint configuration", async () => {
  await withCluster({ size: 3, seed: 9 }, async (c) => {
    const l = await c.leader();
    await c.start(4);
    const victim = c.follower(l.id).id;
    const seen: boolean[] = [];
    const off = l.on("membership", (e) => seen.push(e.confState.votersOutgoing.length > 0));
    const cs = await c.run(l.changeMembership([
      { type: ConfChangeType.ConfChangeAddNode, nodeId: 4 },
      { type: ConfChangeType.ConfChangeRemoveNode, nodeId: victim },
    ]));
    off();
    assert.deepEqual(seen, [true, false], "entered, then left, the joint configuration");
    assert.deepEqual(cs.votersOutgoing, []);
    assert.deepEqual(cs.voters, [1, 2, 3, 4].filter((id) => id !== victim));
    await c.stop(victim);
    await c.run(l.propose(cmd("j=1")));
    await c.converge(1);
    assertSameHistory(c, l.id);
  });
});

test("RaftNode.transferLeadership() hands leadership to the chosen node", async () => {
  await withCluster({ size: 5, seed: 10 }, async (c) => {
    const l = await c.leader();
    const target = [...c.nodes.keys()].find((id) => id !== l.id)!;
    await c.run(l.propose(cmd("t=1")));
    await c.run(l.transferLeadership(target));
    const nl = await c.leader();
    assert.equal(nl.id, target);
    assert.equal(l.status().leaderId, target);
    await c.run(nl.propose(cmd("t=2")));
    await c.converge(2);
    assertSameHistory(c, target);
  });
});

test("RaftNode loses no acknowledged entry when the leader crashes", async () => {
  await withCluster({ size: 5, seed: 11, net: { delayMs: 1, jitterMs: 3 } }, async (c) => {
    const old = await c.leader();
    const acked = await c.run(
      Promise.all(Array.from({ length: 20 }, (_, i) => old.propose(cmd(`c${i}=${i}`)))),
    );
    assert.equal(acked.length, 20);
    await c.stop(old.id); // crash
    const l = await c.leader();
    assert.notEqual(l.id, old.id);
    await c.run(l.propose(cmd("after=crash")));
    const rest = [...c.nodes.keys()];
    await c.converge(21, rest);
    const h = c.machine(l.id).history;
    for (let i = 0; i < 20; i++) assert.equal(h[i], `c${i}=${i}`);
    assertSameHistory(c, l.id);

    // The old leader comes back from its storage and catches up.
    await c.start(old.id);
    await c.converge(21);
    assertSameHistory(c, l.id);
    assert.equal(c.node(old.id).status().leaderId, l.id);
  });
});

test("RaftNode restarts every node from storage with term, vote, log and state intact", async () => {
  await withCluster({ size: 3, seed: 12 }, async (c) => {
    const l = await c.leader();
    for (let i = 0; i < 10; i++) await c.run(l.propose(cmd(`r${i}=${i}`)));
    await c.converge(10);
    const before = new Map(
      [...c.nodes.values()].map((n) => [n.id, { st: n.status(), hist: c.machine(n.id).history }]),
    );
    const hardStates = new Map([...c.storages].map(([id, s]) => [id, { ...s.hardState }]));
    for (const id of [1, 2, 3]) await c.stop(id);
    for (const id of [1, 2, 3]) {
      assert.deepEqual(c.storages.get(id)!.hardState, hardStates.get(id));
      await c.start(id);
    }
    for (const id of [1, 2, 3]) {
      const st = c.node(id).status();
      assert.equal(st.term, before.get(id)!.st.term, `node ${id} term`);
      assert.equal(st.vote, before.get(id)!.st.vote, `node ${id} vote`);
    }
    // Fresh machines are rebuilt from the log, each command exactly once.
    await c.converge(10);
    for (const id of [1, 2, 3]) assert.deepEqual(c.machine(id).history, before.get(id)!.hist);
    const nl = await c.leader();
    await c.run(nl.propose(cmd("after=restart")));
    await c.converge(11);
    assertSameHistory(c, nl.id);
    assert.equal(c.machine(nl.id).history.length, 11);
  });
});

test("RaftNode does not re-apply commands a persistent state machine already holds", async () => {
  await withCluster({ size: 3, seed: 13, persistent: true }, async (c) => {
    const l = await c.leader();
    for (let i = 0; i < 8; i++) await c.run(l.propose(cmd(`p${i}=${i}`)));
    await c.converge(8);
    const id = c.follower(l.id).id;
    await c.stop(id);
    await c.start(id);
    await c.clock.advance(500);
    assert.equal(c.machine(id).history.length, 8, "no command applied twice");
    await c.run(c.node(l.id).propose(cmd("p8=8")));
    await c.converge(9);
    assertSameHistory(c, l.id);
  });
});

for (const chunkBytes of [0, 64]) {
  const how = chunkBytes === 0 ? "" : " through restoreStream, from a snapshot streamed in chunks";
  test(`RaftNode catches a partitioned follower up by snapshot after compaction${how}`, async () => {
    await withCluster({
      size: 3,
      seed: 14,
      chunkBytes,
      node: { snapshotEntries: 10, snapshotCatchUpEntries: 2 },
    }, async (c) => {
      const l = await c.leader();
      const f = c.follower(l.id);
      await c.run(l.propose(cmd("s0=0")));
      await c.converge(1);
      c.net.isolate(f.id);
      for (let i = 1; i < 40; i++) await c.run(l.propose(cmd(`s${i}=${i}`)));
      assert.ok(c.storages.get(l.id)!.firstIndex() > c.storages.get(f.id)!.lastIndex() + 1);
      assert.equal(c.machine(f.id).restores, 0);
      c.net.heal();
      await c.converge(40);
      assert.ok(c.machine(f.id).restores > 0, "the follower installed a snapshot");
      assertSameHistory(c, l.id);
      if (chunkBytes === 0) return;
      assert.ok(c.machine(f.id).chunksRestored > 0, "through restoreStream");
      // A restart (a fresh machine) restores the stored snapshot through restoreStream too.
      await c.stop(f.id);
      await c.start(f.id);
      assert.ok(c.machine(f.id).chunksRestored > 0, "the restarted machine restored from chunks");
      await c.converge(40, [f.id]);
      assertSameHistory(c, l.id);
    });
  });
}

test("RaftNode forwards a follower's proposal to the leader when forwardProposals is set", async () => {
  await withCluster({ size: 3, seed: 15, node: { forwardProposals: true } }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    const r = await c.run(f.propose(cmd("fwd=1")));
    assert.match(r, /^fwd=1@\d+$/);
    await c.converge(1);
    assertSameHistory(c, l.id);
  });
});

test("RaftNode rejects a follower's proposal with NotLeaderError naming the leader", async () => {
  await withCluster({ size: 3, seed: 16 }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    await assert.rejects(f.propose(cmd("x=1")), (e) => {
      assert.ok(e instanceof NotLeaderError);
      assert.equal(e.code, "not_leader");
      assert.equal(e.leaderId, l.id);
      return true;
    });
    await assert.rejects(f.addVoter(9), NotLeaderError);
  });
});

test("RaftNode keeps histories identical under loss, duplication, reordering and partitions", async () => {
  await withCluster({
    size: 5,
    seed: 17,
    net: { delayMs: 1, jitterMs: 10, dropRate: 0.1, duplicateRate: 0.1 },
    node: { requestTimeoutMs: 2000, snapshotEntries: 25, snapshotCatchUpEntries: 5 },
  }, async (c) => {
    let ok = 0;
    for (let round = 0; round < 6; round++) {
      const l = await c.leader(undefined, 30_000);
      if (round % 2 === 1) c.net.partition([l.id], [...c.nodes.keys()].filter((id) => id !== l.id));
      const outcomes = await c.run(
        Promise.allSettled(Array.from({ length: 10 }, (_, i) => l.propose(cmd(`z${round}=${i}`)))),
      );
      ok += outcomes.filter((o) => o.status === "fulfilled").length;
      c.net.heal();
    }
    assert.ok(ok > 0);
    const l = await c.leader(undefined, 30_000);
    await c.run(l.propose(cmd("final=1")));
    const n = c.machine(l.id).history.length;
    await c.converge(n, undefined, 30_000);
    assertSameHistory(c, l.id);
    assert.ok(n >= ok + 1, "every acknowledged proposal is in the history");
    const seen = new Set(c.machine(l.id).history);
    assert.equal(seen.size, n, "no command applied twice");
  });
});

test("RaftNode runs deterministically on virtual time: same seed, same history", async () => {
  const run = async (): Promise<string> => {
    return await withCluster({ size: 3, seed: 18, net: { delayMs: 1, jitterMs: 5 } }, async (c) => {
      const l = await c.leader();
      await c.run(Promise.all([1, 2, 3].map((i) => l.propose(cmd(`d=${i}`)))));
      return JSON.stringify([l.id, l.status().term, c.clock.now, c.machine(l.id).indexes]);
    });
  };
  assert.equal(await run(), await run());
});

for (let seed = 1; seed <= 12; seed++) {
  test(`RaftNode survives a seeded fault schedule (seed ${seed})`, async () => {
    const size = seed % 2 === 0 ? 3 : 5;
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    await withCluster({
      size,
      seed: 1000 + seed,
      net: { delayMs: 1, jitterMs: 15, dropRate: 0.2, duplicateRate: 0.1, codec: true },
      node: { requestTimeoutMs: 1000, snapshotEntries: 15, snapshotCatchUpEntries: 3 },
    }, async (c) => {
      let acked = 0;
      for (let round = 0; round < 8; round++) {
        const l = await c.leader(undefined, 60_000);
        const others = [...c.nodes.keys()].filter((id) => id !== l.id);
        if (round % 3 === 1) c.net.partition([l.id], others);
        if (round % 3 === 2) c.net.isolate(others[0]!);
        if (round === 5) await c.stop(others[1]!); // crash a follower
        if (round === 6) { for (const id of ids) if (!c.nodes.has(id)) await c.start(id); }
        const outcomes = await c.run(
          Promise.allSettled(Array.from({ length: 8 }, (_, i) => l.propose(cmd(`f${round}=${i}`)))),
        );
        acked += outcomes.filter((o) => o.status === "fulfilled").length;
        await c.run(Promise.allSettled([...c.nodes.values()].map((n) => n.read())));
        c.net.heal();
        await c.clock.advance(50);
      }
      const l = await c.leader(undefined, 60_000);
      await c.run(l.propose(cmd("final=1")), 60_000);
      const h = c.machine(l.id).history;
      await c.converge(h.length, undefined, 60_000);
      assertSameHistory(c, l.id);
      assert.equal(new Set(h).size, h.length, "no command applied twice");
      assert.ok(h.length >= acked + 1, "every acknowledged proposal is applied");
      const leaders = [...c.nodes.values()].filter((n) =>
        n.status().raftState === StateType.StateLeader
      );
      assert.equal(leaders.length, 1);
    });
  });
}
