import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BusyError,
  memoryNodeStorage,
  NodeClosedError,
  NodeError,
  type NodeStorage,
  NotLeaderError,
  RaftNode,
  type StorageUpdate,
  TimeoutError,
  type Transport,
} from "./node.ts";
import { ConfChangeError, ProposalDroppedError } from "./errors.ts";
import { MemoryStorage } from "./storage.ts";
import { MessageType, StateType } from "./types.ts";
import { MemoryNetwork, VirtualScheduler } from "../adapters/memory/mod.ts";
import { cmd, Machine, withCluster } from "../tests/cluster/harness.ts";

/** A NodeStorage over a MemoryStorage whose writes land only after `delayMs` of virtual time. */
function slowStorage(
  ms: MemoryStorage,
  clock: VirtualScheduler,
  delayMs: number,
  saves: StorageUpdate[],
): NodeStorage {
  const base = memoryNodeStorage(ms);
  return {
    ...base,
    save(u: StorageUpdate): Promise<void> {
      saves.push(u);
      return new Promise((resolve) => {
        clock.setTimeout(() => {
          base.save(u);
          resolve();
        }, delayMs);
      });
    },
  };
}

const nullTransport: Transport = { start() {}, send() {}, close() {} };

test("RaftNode.start() validates its options", async () => {
  const base = {
    id: 1,
    storage: new MemoryStorage(),
    transport: nullTransport,
    stateMachine: new Machine(),
  };
  await assert.rejects(RaftNode.start({ ...base, tickMs: 0 }), RangeError);
  await assert.rejects(RaftNode.start({ ...base, id: 0 }), RangeError);
  await assert.rejects(RaftNode.start({ ...base, maxPendingProposals: -1 }), RangeError);
  await assert.rejects(
    RaftNode.start({ ...base, storage: {} as NodeStorage }),
    /'storage' has no save\(\) method/,
  );
});

test("RaftNode schedules time only through its scheduler and stops it on close", async () => {
  const clock = new VirtualScheduler();
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    storage: new MemoryStorage(),
    transport: nullTransport,
    stateMachine: new Machine(),
    scheduler: clock,
    tickMs: 10,
  });
  assert.equal(clock.pendingTimers, 2, "the tick timer and the yield before the first write");
  await clock.advance(0);
  assert.equal(node.status().raftState, StateType.StateFollower, "no time passed, no election");
  await clock.advance(500);
  assert.equal(node.status().raftState, StateType.StateLeader);
  await node.close();
  assert.equal(clock.pendingTimers, 0);
  assert.equal(node.closed, true);
});

test("RaftNode runs a cluster on the global timers", async () => {
  const net = new MemoryNetwork({ seed: 2 });
  const machines = [new Machine(), new Machine(), new Machine()];
  const nodes = await Promise.all([1, 2, 3].map((id) =>
    RaftNode.start({
      id,
      peers: [1, 2, 3],
      storage: new MemoryStorage(),
      transport: net.connect(id),
      stateMachine: machines[id - 1]!,
      tickMs: 2,
    })
  ));
  try {
    const leaderId = await nodes[0]!.waitForLeader({ timeoutMs: 5000 });
    const leader = nodes[leaderId - 1]!;
    const r = await leader.propose(cmd("rt=1"));
    assert.match(r, /^rt=1@\d+$/);
    for (const n of nodes) {
      assert.equal(await n.read(() => machines[n.id - 1]!.kv.get("rt")), "1");
    }
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    net.close();
  }
});

test("RaftNode hands the state machine the proposed bytes, without the envelope", async () => {
  await withCluster({ size: 1 }, async (c) => {
    const l = await c.leader();
    const seen: Uint8Array[] = [];
    const m = c.machine(1);
    const apply = m.apply.bind(m);
    m.apply = (cmds) => {
      for (const x of cmds) seen.push(x.data.slice());
      return apply(cmds);
    };
    const payloads = [new Uint8Array([0xa7, 1, 2]), new Uint8Array(0), new Uint8Array([0, 255])];
    for (const p of payloads) await c.run(l.propose(p));
    assert.deepEqual(seen, payloads);
  });
});

test("RaftNode holds requests on a node without a leader until one is elected, then serves them", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const n = c.node(2);
    assert.equal(n.status().leaderId, 0);
    assert.equal(n.status().leaderContactAgeMs, undefined);
    const read = n.read(() => "read");
    const write = n.propose(cmd("a=1"));
    write.catch(() => {});
    assert.equal(await c.run(read), "read");
    const lead = n.status().leaderId;
    assert.notEqual(lead, 0);
    if (lead === n.id) {
      assert.match(await c.run(write), /^a=1@/);
    } else {
      // A follower that does not forward names the leader it now knows.
      await assert.rejects(c.run(write), (e) => {
        assert.ok(e instanceof NotLeaderError && e instanceof NodeError);
        assert.equal(e.leaderId, lead);
        return true;
      });
    }
  });
});

test("RaftNode fails a request held without a leader at its own timeout", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const n = c.node(2);
    c.net.isolate(n.id);
    await assert.rejects(c.run(n.read(undefined, { timeoutMs: 300 })), TimeoutError);
    await assert.rejects(c.run(n.propose(cmd("a=1"), { timeoutMs: 300 })), TimeoutError);
    assert.equal(n.status().leaderId, 0);
  });
});

test("RaftNode rejects a proposal Raft drops (uncommitted size limit) with ProposalDroppedError", async () => {
  await withCluster({ size: 3, node: { maxUncommittedEntriesSize: 64 } }, async (c) => {
    const l = await c.leader();
    c.net.isolate(l.id);
    const small = l.propose(cmd("s=1"));
    small.catch(() => {});
    // Let the small one be stepped on its own (a batch is accepted or dropped whole).
    await c.clock.advance(1);
    await assert.rejects(c.run(l.propose(new Uint8Array(200))), ProposalDroppedError);
  });
});

test("RaftNode rejects a proposal whose log position another entry took with ProposalDroppedError", async () => {
  await withCluster({ size: 3, node: { requestTimeoutMs: 60_000 } }, async (c) => {
    const old = await c.leader();
    await c.run(old.propose(cmd("base=1")));
    const others = [...c.nodes.keys()].filter((id) => id !== old.id);
    c.net.partition([old.id], others);
    // Appended on the old leader only; it can never commit.
    const doomed = old.propose(cmd("doomed=1"));
    let outcome: unknown;
    doomed.then((v) => (outcome = v), (e) => (outcome = e));
    const l = await c.leader(others);
    await c.run(l.propose(cmd("winner=1")));
    c.net.heal();
    await c.clock.until(() => outcome !== undefined, 5000);
    assert.ok(outcome instanceof ProposalDroppedError, `got ${outcome}`);
    await c.converge(2);
    assert.deepEqual(c.machine(old.id).history, ["base=1", "winner=1"]);
  });
});

test("RaftNode rejects with TimeoutError when a proposal cannot commit in time", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const l = await c.leader();
    c.net.isolate(l.id);
    const start = c.clock.now;
    await assert.rejects(c.run(l.propose(cmd("t=1"), { timeoutMs: 200 })), (e) => {
      assert.ok(e instanceof TimeoutError);
      assert.equal(e.code, "timeout");
      return true;
    });
    const waited = c.clock.now - start;
    assert.ok(waited >= 200 && waited <= 220, `timed out after ${waited} ms`);
    // A follower that hears the leader but cannot reach it: its read times out.
    c.net.heal();
    const nl = await c.leader();
    const f = c.follower(nl.id);
    c.net.cutLink(f.id, nl.id);
    await assert.rejects(c.run(f.read(undefined, { timeoutMs: 100 })), TimeoutError);
  });
});

test("RaftNode rejects requests beyond its bounds with BusyError", async () => {
  await withCluster(
    { size: 3, node: { maxPendingProposals: 2, maxPendingReads: 1 } },
    async (c) => {
      const l = await c.leader();
      c.net.isolate(l.id);
      const pending = [l.propose(cmd("a=1")), l.propose(cmd("b=1")), l.read()];
      for (const p of pending) p.catch(() => {});
      await assert.rejects(
        l.propose(cmd("c=1")),
        (e) => e instanceof BusyError && e.code === "busy",
      );
      await assert.rejects(l.addVoter(4), BusyError);
      await assert.rejects(l.read(), BusyError);
      await assert.rejects(l.waitForLeader(), BusyError);
      assert.equal(l.status().pendingProposals, 2);
      assert.equal(l.status().pendingReads, 1);
    },
  );
});

test("RaftNode.close() rejects pending requests and later ones with NodeClosedError", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const l = await c.leader();
    c.net.isolate(l.id);
    const p = l.propose(cmd("a=1"));
    const r = l.read();
    let closed = 0;
    l.on("close", (e) => {
      assert.equal(e.error, undefined);
      closed++;
    });
    await l.close();
    await l.close(); // idempotent
    assert.equal(closed, 1);
    await assert.rejects(p, (e) => e instanceof NodeClosedError && e.code === "node_closed");
    await assert.rejects(r, NodeClosedError);
    await assert.rejects(l.propose(cmd("b=1")), NodeClosedError);
    await assert.rejects(l.transferLeadership(2), NodeClosedError);
    assert.throws(() => l.campaign(), NodeClosedError);
  });
});

test("RaftNode stops with the error when storage fails, rejecting pending work", async () => {
  const clock = new VirtualScheduler();
  const ms = new MemoryStorage();
  const base = memoryNodeStorage(ms);
  let fail = false;
  const storage: NodeStorage = {
    ...base,
    save(u: StorageUpdate): void {
      if (fail) throw new Error("disk full");
      base.save(u);
    },
  };
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    storage,
    transport: nullTransport,
    stateMachine: new Machine(),
    scheduler: clock,
    tickMs: 10,
  });
  await clock.run(node.waitForLeader());
  await clock.run(node.propose(cmd("ok=1")));
  let closeError: Error | undefined;
  const events: string[] = [];
  node.on("fatal", (e) => events.push(`fatal: ${e.error.message}`));
  node.on("close", (e) => {
    closeError = e.error;
    events.push("close");
  });
  fail = true;
  await assert.rejects(clock.run(node.propose(cmd("lost=1"))), (e) => {
    assert.ok(e instanceof NodeClosedError);
    assert.equal((e.cause as Error).message, "disk full");
    return true;
  });
  await clock.advance(10);
  assert.equal(node.closed, true);
  assert.equal(node.error?.message, "disk full");
  assert.equal(closeError?.message, "disk full");
  assert.deepEqual(events, ["fatal: disk full", "close"]);
  // A stopped node says so: it leads nothing any more.
  assert.equal(node.status().raftState, StateType.StateFollower);
  assert.equal(node.status().leaderId, 0);
  // Bootstrap entry, the leader's empty entry, "ok=1": nothing after the failure.
  assert.equal(ms.lastIndex(), 3);
  await assert.rejects(node.propose(cmd("x=1")), /fatal error: disk full/);
  await node.close();
});

test("RaftNode stops with the error when the state machine throws", async () => {
  await withCluster({ size: 1 }, async (c) => {
    const l = await c.leader();
    c.machine(1).apply = () => {
      throw new Error("bad command");
    };
    await assert.rejects(c.run(l.propose(cmd("x=1"))), NodeClosedError);
    assert.equal(l.error?.message, "bad command");
  });
});

test("RaftNode awaits an asynchronous save before a follower acknowledges or votes", async () => {
  await withCluster({ size: 0 }, async (c) => {
    const saves = new Map<number, StorageUpdate[]>();
    const stores = new Map<number, MemoryStorage>();
    const violations: string[] = [];
    c.net.setFilter((m) => {
      const ms = stores.get(m.from);
      if (ms === undefined) return true;
      if (m.type === MessageType.MsgAppResp && !m.reject && m.index > ms.lastIndex()) {
        violations.push(`${m.from} acked ${m.index} with ${ms.lastIndex()} durable`);
      }
      if (m.type === MessageType.MsgVoteResp && !m.reject) {
        const hs = ms.hardState;
        if (hs.term !== m.term || hs.vote !== m.to) {
          violations.push(
            `${m.from} voted for ${m.to} at ${m.term} with ${JSON.stringify(hs)} durable`,
          );
        }
      }
      return true;
    });
    for (const id of [1, 2, 3]) {
      const ms = new MemoryStorage();
      stores.set(id, ms);
      saves.set(id, []);
      c.storages.set(id, ms);
      await c.start(id, {
        peers: [1, 2, 3],
        options: { storage: slowStorage(ms, c.clock, 25, saves.get(id)!) },
      });
    }
    const l = await c.leader();
    const results = await c.run(
      Promise.all(Array.from({ length: 30 }, (_, i) => l.propose(cmd(`w${i}=${i}`)))),
    );
    assert.equal(results.length, 30);
    await c.converge(30);
    assert.deepEqual(violations, []);
    // Proposals that arrive while a write is in flight go out in one batch.
    const withEntries = saves.get(l.id)!.filter((u) => u.entries.length > 0).length;
    assert.ok(withEntries < 10, `${withEntries} writes for 30 proposals`);
    for (const id of [1, 2, 3]) assert.deepEqual(c.machine(id).history, c.machine(l.id).history);
  });
});

test("RaftNode restarts a single node from storage with its term and applied state", async () => {
  await withCluster({
    size: 1,
    node: { snapshotEntries: 5, snapshotCatchUpEntries: 1 },
  }, async (c) => {
    const l = await c.leader();
    for (let i = 0; i < 12; i++) await c.run(l.propose(cmd(`k=${i}`)));
    const term = l.status().term;
    const applied = l.status().applied;
    assert.ok(c.storages.get(1)!.snapshot().metadata.index > 0);
    await c.stop(1);
    const n = await c.start(1);
    // The fresh machine was restored from the snapshot; the rest is replayed.
    assert.equal(c.machine(1).restores, 1);
    await c.clock.until(() => n.status().applied >= applied);
    assert.equal(n.status().term, term);
    assert.equal(c.machine(1).kv.get("k"), "11");
    assert.equal(c.machine(1).history.length, 12);
  });
});

test("RaftNode snapshots by entry count and keeps snapshotCatchUpEntries behind it", async () => {
  await withCluster({
    size: 1,
    node: { snapshotEntries: 10, snapshotCatchUpEntries: 3 },
  }, async (c) => {
    const l = await c.leader();
    const snaps: number[] = [];
    l.on("snapshot", (e) => snaps.push(e.index));
    for (let i = 0; i < 25; i++) await c.run(l.propose(cmd(`k=${i}`)));
    assert.ok(snaps.length >= 2, `snapshots at ${snaps}`);
    const ms = c.storages.get(1)!;
    const last = snaps[snaps.length - 1]!;
    assert.equal(ms.snapshot().metadata.index, last);
    assert.equal(ms.firstIndex(), last - 3 + 1);
    assert.equal(l.status().snapshotIndex, last);
  });
});

test("RaftNode snapshots by applied bytes when snapshotBytes is set", async () => {
  await withCluster({ size: 1, node: { snapshotEntries: 0, snapshotBytes: 500 } }, async (c) => {
    const l = await c.leader();
    for (let i = 0; i < 3; i++) await c.run(l.propose(new Uint8Array(100)));
    assert.equal(c.machine(1).snapshots, 0);
    for (let i = 0; i < 3; i++) await c.run(l.propose(new Uint8Array(100)));
    assert.equal(c.machine(1).snapshots, 1);
  });
});

test("RaftNode refuses invalid membership changes with ConfChangeError", async () => {
  await withCluster({ size: 1 }, async (c) => {
    const l = await c.leader();
    await assert.rejects(
      l.removeNode(1),
      (e) => e instanceof ConfChangeError && /removed all voters/.test(e.message),
    );
    await assert.rejects(l.promote(1), /not a learner/);
    await assert.rejects(l.changeMembership([]), RangeError);
    assert.deepEqual(l.status().confState.voters, [1]);
  });
});

test("RaftNode tells the transport about added and removed peers, with the context", async () => {
  await withCluster({ size: 0 }, async (c) => {
    const calls: string[] = [];
    const t = c.net.connect(1);
    const transport: Transport = {
      start: (h) => t.start(h),
      send: (m) => t.send(m),
      close: () => t.close(),
      addPeer: (id, ctx) => calls.push(`add ${id} ${new TextDecoder().decode(ctx)}`),
      removePeer: (id) => calls.push(`remove ${id}`),
    };
    c.storages.set(1, new MemoryStorage());
    const n = await RaftNode.start({
      id: 1,
      peers: [1],
      storage: c.storages.get(1)!,
      transport,
      stateMachine: new Machine(),
      scheduler: c.clock,
      tickMs: 10,
    });
    await c.run(n.waitForLeader());
    await c.run(n.addLearner(5, { context: cmd("10.0.0.5:7000") }));
    await c.run(n.removeNode(5));
    assert.deepEqual(calls, ["add 5 10.0.0.5:7000", "remove 5"]);
    await n.close();
  });
});

test("RaftNode.on() delivers leader and applied events until unsubscribed", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const leaders: number[] = [];
    const applied: number[] = [];
    const n = c.node(1);
    n.on("leader", (e) => leaders.push(e.leaderId));
    const off = n.on("applied", (e) => applied.push(e.index));
    const l = await c.leader();
    await c.clock.advance(0); // node 1 takes the Ready that reports the leader
    assert.deepEqual(leaders, [l.id]);
    await c.run(l.propose(cmd("e=1")));
    await c.converge(1);
    assert.ok(applied.length > 0);
    assert.ok(applied.every((v, i) => i === 0 || v > applied[i - 1]!), "increasing");
    off();
    const count = applied.length;
    await c.run(l.propose(cmd("e=2")));
    await c.converge(2);
    assert.equal(applied.length, count);
  });
});

test("RaftNode rejects a transfer or leader wait that cannot complete with TimeoutError", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    c.net.isolate(f.id);
    await assert.rejects(c.run(l.transferLeadership(f.id, { timeoutMs: 300 })), TimeoutError);
    await assert.rejects(l.transferLeadership(9), /not a voter/);
    const lone = await c.start(9);
    await assert.rejects(c.run(lone.waitForLeader({ timeoutMs: 100 })), TimeoutError);
  });
});

test("RaftNode.status() gives the leader every member's progress, caught up to its commit", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    const other = [1, 2, 3].find((id) => id !== l.id && id !== f.id)!;
    for (let i = 0; i < 3; i++) await c.run(l.propose(cmd(`p=${i}`)));
    await c.clock.until(() => l.status().progress.every((p) => p.match === l.status().commit));
    const st = l.status();
    assert.deepEqual(st.progress.map((p) => p.id), [1, 2, 3]);
    for (const p of st.progress) {
      assert.equal(p.match, st.lastIndex, `match of ${p.id}`);
      assert.equal(p.next, p.match + 1, `next of ${p.id}`);
      assert.equal(p.state, "replicate", `state of ${p.id}`);
      assert.equal(p.isLearner, false);
      assert.equal(p.paused, false);
      assert.equal(p.pendingSnapshot, 0);
      assert.equal(p.inflight, 0);
      assert.equal(p.recentActive, true);
    }

    // A cut-off follower falls behind in the leader's view, then catches up.
    c.net.isolate(f.id);
    for (let i = 0; i < 3; i++) await c.run(l.propose(cmd(`q=${i}`)));
    const cut = l.status();
    const fp = cut.progress.find((p) => p.id === f.id)!;
    assert.equal(fp.match, st.lastIndex);
    assert.ok(cut.commit >= st.lastIndex + 3, `commit ${cut.commit}`);
    assert.equal(cut.progress.find((p) => p.id === other)!.match, cut.commit);
    c.net.heal();
    await c.clock.until(() => l.status().progress.every((p) => p.match === l.status().commit));
    assert.equal(l.status().progress.find((p) => p.id === f.id)!.match, cut.commit);
  });
});

test("RaftNode.status() gives followers an empty progress list", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const l = await c.leader();
    await c.run(l.propose(cmd("a=1")));
    await c.converge(1);
    for (const n of c.nodes.values()) {
      if (n === l) continue;
      const st = n.status();
      assert.equal(st.raftState, StateType.StateFollower);
      assert.deepEqual(st.progress, []);
      assert.equal(st.lastIndex, l.status().lastIndex);
    }
  });
});

test("RaftNode.status() reports a lastIndex that grows with proposals and survives closed storage", async () => {
  const clock = new VirtualScheduler();
  const ms = new MemoryStorage();
  const base = memoryNodeStorage(ms);
  let storageClosed = false;
  const storage: NodeStorage = {
    ...base,
    lastIndex(): number {
      if (storageClosed) throw new Error("Cannot read raft storage: the storage is closed");
      return base.lastIndex();
    },
  };
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    storage,
    transport: nullTransport,
    stateMachine: new Machine(),
    scheduler: clock,
    tickMs: 10,
  });
  await clock.run(node.waitForLeader());
  const before = node.status().lastIndex;
  assert.equal(before, 2, "the bootstrap entry and the leader's empty entry");
  for (let i = 1; i <= 4; i++) {
    await clock.run(node.propose(cmd(`k=${i}`)));
    const st = node.status();
    assert.equal(st.lastIndex, before + i);
    assert.equal(st.commit, st.lastIndex);
    assert.equal(st.lastIndex, ms.lastIndex());
  }
  await node.close();
  storageClosed = true;
  assert.throws(() => storage.lastIndex());
  const st = node.status();
  assert.equal(st.lastIndex, before + 4);
  // A closed node leads nothing, whatever Raft's state was at close.
  assert.equal(st.closed, true);
  assert.equal(st.raftState, StateType.StateFollower);
  assert.equal(st.leaderId, 0);
  assert.equal(st.leaderContactAgeMs, undefined);
  assert.deepEqual(st.progress, []);
});
