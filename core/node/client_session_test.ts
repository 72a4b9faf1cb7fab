import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionError, TimeoutError } from "../errors.ts";
import { MessageType } from "../types.ts";
import { cmd, withCluster } from "../../tests/cluster/harness.ts";

test("RaftNode applies a session's command once though the first answer was lost, and returns the first result", async () => {
  await withCluster({ size: 3, seed: 11, node: { forwardProposals: true } }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    const session = await c.run(f.openSession());
    assert.ok(session.id > 0);
    // The leader commits the command, but nothing it sends reaches the
    // follower for a while: the follower's first attempt times out.
    let cut = true;
    c.net.setFilter((m) => !(cut && m.from === l.id && m.to === f.id));
    const p = session.propose(cmd("x=1"), { timeoutMs: 5000 });
    await c.clock.until(() => c.machine(l.id).history.includes("x=1"), 5000);
    await c.clock.advance(1000);
    cut = false;
    const result = await c.run(p);
    assert.match(result, /^x=1@\d+$/);
    await c.converge(1);
    // Applied once on every node.
    for (const id of [1, 2, 3]) {
      assert.equal(c.machine(id).history.filter((h) => h === "x=1").length, 1, `node ${id}`);
    }
  });
});

test("RaftNode answers a retried session command from the session table on another node, across a leader change", async () => {
  await withCluster({ size: 3, seed: 12, node: { forwardProposals: true } }, async (c) => {
    const l = await c.leader();
    const session = await c.run(l.openSession());
    const first = await c.run(session.propose(cmd("y=1")));
    const other = c.follower(l.id);
    await c.run(l.transferLeadership(other.id));
    // The client retries command 1 through another node, after the leader changed.
    const retry = other.resumeSession(session.id, 1);
    assert.equal(await c.run(retry.propose(cmd("y=1"))), first);
    // The original handle goes on through its node, which now forwards.
    assert.match(await c.run(session.propose(cmd("z=1"))), /^z=1@/);
    await c.converge(2);
    for (const id of [1, 2, 3]) assert.deepEqual(c.machine(id).history, ["y=1", "z=1"]);
  });
});

test("RaftNode gives a keyed command's first result to a retry on another node, and refuses the key for another request", async () => {
  await withCluster({ size: 3, seed: 13, node: { forwardProposals: true } }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    const r1 = await c.run(l.propose(cmd("n=1"), { idempotencyKey: "req-1" }));
    const r2 = await c.run(f.propose(cmd("n=1"), { idempotencyKey: "req-1" }));
    assert.equal(r2, r1);
    await c.converge(1);
    assert.deepEqual(c.machine(f.id).history, ["n=1"]);
    await assert.rejects(
      c.run(f.propose(cmd("n=2"), { idempotencyKey: "req-1" })),
      (e) => e instanceof SessionError && e.code === "key_reused",
    );
    // Two attempts in one batch: applied once, both answered.
    const [a, b] = await c.run(Promise.all([
      l.propose(cmd("m=1"), { idempotencyKey: "req-2" }),
      l.propose(cmd("m=1"), { idempotencyKey: "req-2" }),
    ]));
    assert.equal(a, b);
    await c.converge(2);
    assert.deepEqual(c.machine(l.id).history, ["n=1", "m=1"]);
  });
});

test("RaftNode keeps the session table across a snapshot and a restart", async () => {
  await withCluster({
    size: 1,
    node: { snapshotEntries: 3, snapshotCatchUpEntries: 0 },
  }, async (c) => {
    let n = await c.leader();
    const session = await c.run(n.openSession());
    const first = await c.run(session.propose(cmd("s=1")));
    for (let i = 0; i < 5; i++) await c.run(n.propose(cmd(`f${i}=1`)));
    assert.ok(c.storages.get(1)!.firstIndex() > 3, "compacted past the command");
    await c.stop(1);
    n = await c.start(1);
    await c.leader();
    // The restarted node rebuilt the table from the snapshot: the session
    // lives on, and a retry of its first command gets the first result.
    const resumed = n.resumeSession(session.id, 1);
    assert.equal(await c.run(resumed.propose(cmd("s=1"))), first);
    const next = n.resumeSession(session.id, session.nextSeq);
    assert.match(await c.run(next.propose(cmd("t=1"))), /^t=1@/);
    assert.equal(c.machine(1).history.filter((h) => h === "s=1").length, 1);
    assert.throws(() => n.resumeSession(0, 1), /'id' must be a positive integer/);
  });
});

test("RaftNode refuses a command of an unknown session and bounds its retries by the command's timeout", async () => {
  await withCluster({ size: 3, seed: 14 }, async (c) => {
    const l = await c.leader();
    const session = await c.run(l.openSession());
    await c.run(session.close());
    await assert.rejects(c.run(session.propose(cmd("a=1"))), /session .* is closed/);
    const s2 = await c.run(l.openSession());
    c.net.setFilter((m) => m.type !== MessageType.MsgAppResp);
    const t0 = c.clock.now;
    await assert.rejects(c.run(s2.propose(cmd("b=1"), { timeoutMs: 2000 })), TimeoutError);
    assert.ok(c.clock.now - t0 <= 2200, `gave up after ${c.clock.now - t0} ms`);
  });
});

test("RaftNode keeps its own session limits for a session table it receives in a snapshot", async () => {
  await withCluster({
    size: 3,
    seed: 15,
    node: {
      forwardProposals: true,
      snapshotEntries: 3,
      snapshotCatchUpEntries: 0,
      sessionLimits: { sessionsMax: 1 },
    },
  }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    c.net.isolate(f.id);
    const first = await c.run(l.openSession());
    for (let i = 0; i < 6; i++) await c.run(l.propose(cmd(`p${i}=1`)));
    c.net.heal();
    await c.converge(6, [f.id]);
    assert.ok(c.machine(f.id).restores > 0, "the follower caught up by snapshot");
    // With one session at most, a second evicts the first on every node,
    // the follower (which got its table from the snapshot) included.
    await c.run(f.openSession());
    await assert.rejects(
      c.run(f.resumeSession(first.id, 1).propose(cmd("late=1"), { timeoutMs: 1000 })),
      (e) => e instanceof SessionError && e.code === "session_expired",
    );
  });
});
