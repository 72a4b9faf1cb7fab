/**
 * The multi-group host simulation in the suite: fixed seeds of 3 and 5
 * hosts × 16 key-value groups under faults must pass every per-group
 * invariant, liveness after healing and per-key linearizability; a seed
 * replays its run; groups that rested when their leader host crashed elect
 * within the bound of quiescence; and a storage that acknowledges batches
 * before they are durable is caught.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatHostFailure,
  groupOfKey,
  type HostSimResult,
  runHostSimulation,
} from "../../testing/_host_sim.ts";

const timeout = 120_000;

/** What must be equal between two runs of one seed. */
function fingerprint(r: HostSimResult): unknown {
  const { wallMs: _, ...stats } = r.stats;
  return { traceHash: r.traceHash, stats, ok: r.ok, lin: r.linearizability, trace: r.trace };
}

test("groupOfKey() spreads keys over every group", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 64; i++) {
    const g = groupOfKey(`key${i}`, 16);
    assert.ok(g >= 1 && g <= 16, `${g}`);
    seen.add(g);
  }
  assert.ok(seen.size >= 12, `only ${seen.size} groups of 16 got keys`);
});

test(
  "runHostSimulation() passes fixed seeds of 3 and 5 hosts × 16 groups",
  { timeout },
  async () => {
    const runs: HostSimResult[] = [];
    // Seed 214 found a replica added by a move that crashed before its first durable write and
    // restarted empty (it must join, never bootstrap a second history); the runs changed since,
    // and it still crashes a host just after a replica moved to it. Seed 16 moves replicas and
    // loses a batch in a crash.
    for (const [seed, hosts] of [[1, 3], [16, 5], [214, 5]] as const) {
      const r = await runHostSimulation({ seed, steps: 6000, hosts, groups: 16 });
      assert.ok(r.ok, formatHostFailure(r));
      assert.equal(r.linearizability, "ok");
      assert.equal(r.stats.opsChecked, r.stats.ops.started);
      runs.push(r);
    }
    const sum = (f: (r: HostSimResult) => number): number => runs.reduce((n, r) => n + f(r), 0);
    // The seeds exercised what they claim to.
    assert.ok(sum((r) => r.stats.faults.crash) > 0, "no host crash");
    assert.ok(sum((r) => r.stats.restarts) > 0, "no restart");
    assert.ok(sum((r) => r.stats.faults.partition + r.stats.faults["one-way"]) > 0, "no partition");
    assert.ok(sum((r) => r.stats.membershipChanges) > 0, "no replica moved");
    assert.ok(sum((r) => r.stats.lostBatches) > 0, "no crash lost a batch");
    assert.ok(sum((r) => r.stats.ops.completed) > 500, "too few operations");
    assert.ok(runs.every((r) => r.stats.elections >= 16), "a group never elected");
  },
);

test(
  "runHostSimulation() holds groups that rested when their leader host crashed to the bound of quiescence",
  { timeout },
  async () => {
    // Seed 188 (heartbeatTick 3): a crash cut the last host heartbeat off
    // from one follower host; campaigning 2 ticks after noticing, the chosen
    // voter's PreVote found the other still in its leader's lease. Seed 314
    // (no PreVote): the other voters, woken at once, timed out just after
    // the chosen voter campaigned and split the vote. Seed 21567395 (5
    // hosts): a removed replica's vote woke the chosen voter before its
    // leader's silence was noticed, and awake, it never campaigned early
    // (core/host/quiesce_test.ts replays that case on its own).
    const seeds = [[5, 3000, 3], [188, 6000, 3], [314, 6000, 3], [21567395, 6000, 5]] as const;
    for (const [seed, steps, hosts] of seeds) {
      const r = await runHostSimulation({ seed, steps, hosts, groups: 16 });
      assert.ok(r.ok, formatHostFailure(r));
      const s = r.stats;
      // The check applied: groups resting on every replica lost their leader host.
      assert.ok(s.quiescedReelectMs.length >= 1, `seed ${seed}: no quiesced re-election checked`);
      assert.ok(s.quiescedBoundMs > 0);
      for (const ms of s.quiescedReelectMs) assert.ok(ms <= s.quiescedBoundMs, `${ms} ms`);
      // Each of them is also one of the re-elections timed after a leader host crashed.
      assert.ok(s.reelectMs.length >= s.quiescedReelectMs.length);
    }
  },
);

test("runHostSimulation() replays a seed event for event", { timeout }, async () => {
  const a = await runHostSimulation({ seed: 2, steps: 3000, hosts: 3, groups: 16 });
  const b = await runHostSimulation({ seed: 2, steps: 3000, hosts: 3, groups: 16 });
  assert.ok(a.ok, formatHostFailure(a));
  assert.deepEqual(fingerprint(b), fingerprint(a));
  const c = await runHostSimulation({ seed: 3, steps: 3000, hosts: 3, groups: 16 });
  assert.notEqual(c.traceHash, a.traceHash);
});

test("runHostSimulation() catches a storage that acknowledges batches before they are durable", {
  timeout,
}, async () => {
  const r = await runHostSimulation({
    seed: 1,
    steps: 6000,
    hosts: 3,
    groups: 16,
    ackBeforeDurable: true,
  });
  assert.equal(r.ok, false);
  assert.equal(r.violation?.invariant, "durable-before-send", formatHostFailure(r));
});
