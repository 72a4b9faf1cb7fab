/**
 * The budget of the CI sweep (tests/sim/sim_test.ts), shared with the
 * planted-bug tests, which must catch each bug within it.
 *
 * @module
 */

/** Seeds `first..last` are run, each for `steps` steps under faults. */
export const ciSweep: { readonly first: number; readonly last: number; readonly steps: number } = {
  first: 1,
  last: 120,
  steps: 20_000,
};

/**
 * Whether the sweep runs seed `seed` with the exactly-once workload too
 * (`kvExactlyOnce`): every sixth seed, so the sweep keeps about its time.
 *
 * @param seed A seed of the sweep.
 * @returns Whether it runs the workload.
 */
export function sweepRunsExactlyOnce(seed: number): boolean {
  return seed % 6 === 0;
}

/** Timeout of one sweep-sized test, in ms (bun's default is 5 s). */
export const sweepTimeoutMs = 300_000;

/**
 * The command line that replays a run of the key-value simulation.
 *
 * @param token A replay token.
 * @returns The command.
 */
export function cliReplay(token: string): string {
  return `deno task sim --replay ${token}`;
}

/**
 * The first lines of a sweep's totals: the seeds run and failed, the
 * virtual time and steps.
 *
 * @param runs The runs.
 * @returns The lines, a blank one first.
 */
export function sweepHead(
  runs: readonly { seed: number; ok: boolean; stats: { virtualMs: number; steps: number } }[],
): string[] {
  const failed = runs.filter((r) => !r.ok);
  let virtualMs = 0;
  let steps = 0;
  for (const r of runs) {
    virtualMs += r.stats.virtualMs;
    steps += r.stats.steps;
  }
  return [
    "",
    `seeds: ${runs.length} (${failed.length} failed${
      failed.length > 0 ? `: ${failed.map((r) => r.seed).join(", ")}` : ""
    })`,
    `virtual time: ${(virtualMs / 1000).toFixed(1)} s, steps: ${steps}`,
  ];
}
