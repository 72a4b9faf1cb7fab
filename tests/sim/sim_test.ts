/**
 * The simulator in CI: a bounded sweep of seeds that must all pass (every
 * invariant, liveness after healing, a linearizable history; on every
 * sixth seed, the exactly-once workload too), and the determinism the
 * simulator rests on: a seed replays its run event for event.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { ciSweep, cliReplay, sweepRunsExactlyOnce, sweepTimeoutMs } from "./_sweep.ts";
import {
  faultKinds,
  formatFailure,
  formatSummary,
  kvExactlyOnce,
  kvSimulation,
  runSimulation,
  type SimResult,
} from "../../testing/mod.ts";

/** What must be equal between two runs of one seed. */
function fingerprint(r: SimResult<unknown, unknown>): unknown {
  const { wallMs: _, ...stats } = r.stats;
  return { traceHash: r.traceHash, stats, ok: r.ok, lin: r.linearizability, trace: r.trace };
}

test("runSimulation() replays a seed event for event", { timeout: 60_000 }, async () => {
  for (const seed of [3, 11]) {
    const a = await runSimulation({ ...kvSimulation, seed, steps: 4000 });
    const b = await runSimulation({ ...kvSimulation, seed, steps: 4000 });
    assert.ok(a.ok, formatFailure(a, cliReplay));
    assert.ok(a.stats.steps >= 4000);
    assert.deepEqual(fingerprint(b), fingerprint(a), `seed ${seed} did not replay`);
  }
});

test("runSimulation() times every client's first success after each leader change", {
  timeout: 60_000,
}, async () => {
  const r = await runSimulation({ ...kvSimulation, seed: 3, steps: 4000 });
  assert.ok(r.ok, formatFailure(r, cliReplay));
  const f = r.stats.failover;
  assert.ok(f.leaderChanges > 0, "no leader change");
  // Each change is awaited by every client: served once, or left unserved.
  assert.equal(f.firstSuccessMs.length + f.unserved, f.leaderChanges * r.profile.clients);
  assert.ok(f.firstSuccessMs.length > 0, "no client served after a change");
  for (const ms of f.firstSuccessMs) assert.ok(ms >= 0 && ms <= r.stats.virtualMs, `${ms}`);
});

test("runSimulation() runs differ between seeds", { timeout: 60_000 }, async () => {
  const a = await runSimulation({ ...kvSimulation, seed: 21, steps: 2000 });
  const b = await runSimulation({ ...kvSimulation, seed: 22, steps: 2000 });
  assert.notEqual(a.traceHash, b.traceHash);
});

test(
  `runSimulation() passes seeds ${ciSweep.first}..${ciSweep.last} of ${ciSweep.steps} steps`,
  { timeout: sweepTimeoutMs },
  async () => {
    const wall0 = performance.now();
    const results: SimResult<unknown, unknown>[] = [];
    const failures: string[] = [];
    for (let seed = ciSweep.first; seed <= ciSweep.last; seed++) {
      const r = await runSimulation({
        ...kvSimulation,
        ...(sweepRunsExactlyOnce(seed) ? { exactlyOnce: kvExactlyOnce } : {}),
        seed,
        steps: ciSweep.steps,
      });
      results.push(r);
      if (!r.ok || r.linearizability !== "ok") {
        failures.push(`${formatSummary(r)}\n${formatFailure(r, cliReplay)}`);
      }
    }
    const minutes = (performance.now() - wall0) / 60_000;
    const sum = (f: (r: SimResult<unknown, unknown>) => number): number =>
      results.reduce((n, r) => n + f(r), 0);
    const ops = sum((r) => r.stats.ops.started);
    console.log(
      `sim sweep: ${results.length} seeds, ${ops} operations, ${
        (sum((r) => r.stats.virtualMs) / 1000).toFixed(0)
      } s virtual in ${(minutes * 60).toFixed(1)} s: ${
        (results.length / minutes).toFixed(0)
      } seeds/min, ${(ops / minutes).toFixed(0)} ops/min`,
    );
    assert.deepEqual(failures, []);
    // The sweep exercised what it claims to.
    for (const k of faultKinds) assert.ok(sum((r) => r.stats.faults[k]) > 0, `no ${k} fault`);
    assert.ok(sum((r) => r.stats.restarts) > 0, "no restart");
    assert.ok(sum((r) => r.stats.snapshotsSent) > 0, "no snapshot sent");
    assert.ok(sum((r) => r.stats.compactions) > 0, "no compaction");
    assert.ok(sum((r) => r.stats.lostWrites) > 0, "no crash lost a write");
    assert.ok(sum((r) => r.stats.ops.indeterminate) > 0, "no indeterminate operation");
    assert.ok(results.some((r) => r.profile.nodes === 7), "no 7-node cluster");
    assert.ok(sum((r) => r.stats.membershipChanges) > 0, "no membership change");
    assert.ok(sum((r) => r.stats.membershipRetries) > 0, "no membership change retried");
    const once = results.flatMap((r) => r.stats.exactlyOnce ?? []);
    const onceSum = (f: (o: (typeof once)[number]) => number): number =>
      once.reduce((n, o) => n + f(o), 0);
    console.log(
      `exactly-once: ${once.length} seeds, ${onceSum((o) => o.commands)} appends, ${
        onceSum((o) => o.retried)
      } retried, ${onceSum((o) => o.deduplicated)} retries deduplicated, ${
        onceSum((o) => o.refused)
      } refused (session evicted or expired), ${
        onceSum((o) => o.doubleApplications)
      } double applications`,
    );
    assert.equal(once.length, results.filter((r) => sweepRunsExactlyOnce(r.seed)).length);
    assert.equal(onceSum((o) => o.doubleApplications), 0);
    assert.ok(onceSum((o) => o.acknowledged) > 0, "no append acknowledged");
    assert.ok(onceSum((o) => o.deduplicated) > 0, "no retry deduplicated");
    assert.ok(onceSum((o) => o.refused) > 0, "no append refused after an eviction or expiry");
    assert.ok(onceSum((o) => o.unacknowledgedApplied) > 0, "no unacknowledged append applied");
    assert.ok(onceSum((o) => o.keyDeduplicated) > 0, "no keyed write deduplicated");
  },
);
