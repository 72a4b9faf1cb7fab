import { test } from "node:test";
import assert from "node:assert/strict";
import { LeaderChangedError } from "../errors.ts";
import { MessageType } from "../types.ts";
import { cmd, withCluster } from "../../tests/cluster/harness.ts";

// Tick 10 ms, election timeout 10 ticks: 100 ms of virtual time; requests
// time out after 5000 ms. Times below are virtual, hence exact.

test("RaftNode asks the new leader again for a read its old leader never answered", async () => {
  await withCluster({ size: 3, seed: 3 }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    await c.run(l.propose(cmd("a=1")));
    await c.converge(1);
    await c.stop(l.id); // kill -9: the read goes to a leader that never answers
    const t0 = c.clock.now;
    const read = f.read(() => c.machine(f.id).kv.get("a"));
    assert.equal(await c.run(read), "1");
    const tookMs = c.clock.now - t0;
    assert.notEqual(f.status().leaderId, l.id);
    // Well within the request's own 5000 ms: an election, then one round trip.
    assert.ok(tookMs < 1000, `the read took ${tookMs} ms`);
  });
});

test("RaftNode asks again, after an election timeout, a leader that dropped a read", async () => {
  await withCluster({ size: 3, seed: 4 }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    let dropped = 0;
    c.net.setFilter((m) => {
      if (m.type === MessageType.MsgReadIndex && dropped === 0) {
        dropped++;
        return false;
      }
      return true;
    });
    const t0 = c.clock.now;
    await c.run(f.read());
    assert.equal(dropped, 1);
    assert.equal(f.status().leaderId, l.id, "no election was needed");
    assert.ok(c.clock.now - t0 < 1000, `the read took ${c.clock.now - t0} ms`);
  });
});

test("RaftNode fails a proposal forwarded to a leader that is gone when another is elected", async () => {
  await withCluster({ size: 3, seed: 5, node: { forwardProposals: true } }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    await c.stop(l.id);
    const t0 = c.clock.now;
    await assert.rejects(c.run(f.propose(cmd("b=1"))), (e) => {
      assert.ok(e instanceof LeaderChangedError);
      assert.equal(e.code, "leader_changed");
      assert.match(e.message, new RegExp(`leader ${l.id} changed.*the outcome is unknown`));
      return true;
    });
    assert.ok(c.clock.now - t0 < 1000, `it took ${c.clock.now - t0} ms`);
    // Through the new leader, the same command succeeds.
    assert.match(await c.run(f.propose(cmd("b=1"))), /^b=1@/);
  });
});

test("RaftNode reports how long ago a follower heard from its leader", async () => {
  await withCluster({ size: 3, seed: 6 }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    assert.equal(l.status().leaderContactAgeMs, 0);
    assert.equal(f.status().electionTimeoutMs, 100);
    await c.clock.advance(50);
    assert.ok(f.status().leaderContactAgeMs! <= 20, `${f.status().leaderContactAgeMs}`);
    c.net.isolate(l.id);
    await c.clock.advance(60);
    const age = f.status().leaderContactAgeMs;
    if (f.status().leaderId === l.id) assert.ok(age! >= 50, `age ${age}`);
    // Once another leader is elected, it is the one the follower hears from.
    await c.clock.until(() => ![0, l.id].includes(f.status().leaderId), 5000);
    assert.ok(f.status().leaderContactAgeMs! <= 20, `${f.status().leaderContactAgeMs}`);
  });
});
