/**
 * The command line of the multi-group host simulation, reached through
 * `tests/sim/main.ts` with `--groups` (and `--hosts`; omitted, each seed
 * draws 3 or 5):
 *
 * ```
 * deno run -A tests/sim/main.ts --hosts 3 --groups 16 --seeds 1..100 [--steps 6000]
 *   [--verbose] [--quiet]
 * ```
 *
 * Prints one line per seed (its trace hash, operations, faults, elections,
 * restarts, the time to a write in every group after healing), on a
 * failure the group, the property and the last events, then the totals
 * (operations checked for linearizability, re-election times after a
 * leader host crashed, and how many re-elections of groups that rested on
 * every replica were held to the bound of quiescence, with their times
 * against the bound). Exits with status 1 when any seed fails.
 *
 * @module
 */

import process from "node:process";
import {
  formatHostFailure,
  formatHostSummary,
  type HostSimResult,
  runHostSimulation,
} from "../../testing/_host_sim.ts";
import { hostFaultKinds } from "../../testing/_host_sim_world.ts";
import { formatPercentiles, quantile } from "../../testing/_quantile.ts";
import { sweepHead } from "./_sweep.ts";

/** What the host simulation runs: seeds `from..to`, parsed by `main.ts`. */
export interface HostArgs {
  from: number;
  to: number;
  steps: number;
  /** Omitted: each seed draws 3 or 5. */
  hosts: number | undefined;
  groups: number;
  verbose: boolean;
  /** Print only failures and the totals. */
  quiet: boolean;
}

/**
 * Runs the host simulation over a range of seeds and prints the results.
 *
 * @param args The seeds, steps and shape.
 * @returns A Promise that settles once every seed ran.
 */
export async function hostMain(args: HostArgs): Promise<void> {
  const results: HostSimResult[] = [];
  const wall0 = performance.now();
  for (let seed = args.from; seed <= args.to; seed++) {
    const r = await runHostSimulation({
      seed,
      steps: args.steps,
      hosts: args.hosts,
      groups: args.groups,
      ...(args.verbose ? { log: (l: string) => console.log(l) } : {}),
    });
    results.push(r);
    if (!args.quiet || !r.ok) console.log(formatHostSummary(r));
    if (!r.ok) console.log(formatHostFailure(r));
  }
  const wallMs = performance.now() - wall0;
  const failed = results.filter((r) => !r.ok);
  const sum = (f: (r: HostSimResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  const verdicts = new Map<string, number>();
  for (const r of results) {
    verdicts.set(r.linearizability, (verdicts.get(r.linearizability) ?? 0) + 1);
  }
  console.log(
    [
      ...sweepHead(results),
      `operations: ${sum((r) => r.stats.ops.started)} (${sum((r) => r.stats.ops.completed)} ok, ${
        sum((r) => r.stats.ops.indeterminate)
      } indeterminate), checked for linearizability: ${sum((r) => r.stats.opsChecked)}`,
      `faults: ${hostFaultKinds.map((k) => `${k}=${sum((r) => r.stats.faults[k])}`).join(" ")}`,
      `replicas moved: ${sum((r) => r.stats.membershipChanges)}, elections: ${
        sum((r) => r.stats.elections)
      }, restarts: ${sum((r) => r.stats.restarts)}, batches lost in crashes: ${
        sum((r) => r.stats.lostBatches)
      }, snapshots sent: ${sum((r) => r.stats.snapshotsSent)}, invariant checks: ${
        sum((r) => r.stats.invariantChecks)
      }`,
      `re-election after a leader host crashed: ${
        formatPercentiles(results.flatMap((r) => r.stats.reelectMs))
      }`,
      formatQuiesced(results),
      `write in every group after healing: ${
        formatPercentiles(results.filter((r) => r.ok).map((r) => r.stats.livenessMs))
      }`,
      `linearizability: ${[...verdicts].map(([k, v]) => `${k}=${v}`).join(" ")}`,
      `wall time: ${(wallMs / 1000).toFixed(1)} s`,
    ].join("\n"),
  );
  if (failed.length > 0) process.exitCode = 1;
}

/** The totals of the re-elections held to the bound of quiescence. */
function formatQuiesced(results: readonly HostSimResult[]): string {
  const ms = results.flatMap((r) => r.stats.quiescedReelectMs);
  const shares = results.flatMap((r) =>
    r.stats.quiescedReelectMs.map((t) => 100 * t / r.stats.quiescedBoundMs)
  );
  const bounds = results.map((r) => r.stats.quiescedBoundMs);
  const seeds = results.filter((r) => r.stats.quiescedReelectMs.length > 0).length;
  const pct = (q: number): string => `${quantile(shares, q)?.toFixed(1) ?? "-"}%`;
  return [
    `quiesced re-elections held to the bound: ${ms.length} (in ${seeds} seeds): ${
      formatPercentiles(ms)
    }`,
    `  of the bound: p50 ${pct(0.5)}, p99 ${pct(0.99)}, max ${pct(1)} (bounds ${
      bounds.length > 0 ? `${Math.min(...bounds)} to ${Math.max(...bounds)} ms` : "none"
    })`,
  ].join("\n");
}
