/**
 * The command line of the multi-group host simulation, reached through
 * `tests/sim/main.ts` with `--hosts` or `--groups`:
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
 * leader host crashed). Exits with status 1 when any seed fails.
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
import { formatPercentiles } from "../../testing/_quantile.ts";

interface HostArgs {
  from: number;
  to: number;
  steps: number;
  hosts: number | undefined;
  groups: number;
  verbose: boolean;
  quiet: boolean;
}

function usage(msg: string): never {
  console.error(`${msg}
usage: main.ts --hosts N --groups G (--seed S | --seeds A..B) [--steps M] [--verbose] [--quiet]`);
  process.exit(2);
}

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isSafeInteger(n) || n < min) {
    usage(`Cannot parse ${name}: ${v} (an integer, at least ${min})`);
  }
  return n;
}

function parseHostArgs(argv: readonly string[]): HostArgs {
  const a: HostArgs = {
    from: 1,
    to: 1,
    steps: 6000,
    hosts: undefined,
    groups: 16,
    verbose: false,
    quiet: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=")
      ? arg.split("=", 2) as [string, string]
      : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case "--seed":
        a.from = a.to = int("--seed", value(), 0);
        break;
      case "--seeds": {
        const v = value() ?? "";
        const m = /^(\d+)\.\.(\d+)$/.exec(v);
        if (m === null) usage(`Cannot parse --seeds: ${v} (expected A..B)`);
        a.from = Number(m[1]);
        a.to = Number(m[2]);
        if (a.to < a.from) usage(`Cannot run --seeds ${v}: empty range`);
        break;
      }
      case "--steps":
        a.steps = int("--steps", value(), 0);
        break;
      case "--hosts":
        a.hosts = int("--hosts", value(), 3);
        break;
      case "--groups":
        a.groups = int("--groups", value(), 1);
        break;
      case "--verbose":
        a.verbose = true;
        break;
      case "--quiet":
        a.quiet = true;
        break;
      default:
        usage(`Unknown argument: ${arg}`);
    }
  }
  return a;
}

/**
 * Runs the host simulation over a range of seeds and prints the results.
 *
 * @param argv The command-line arguments.
 * @returns A Promise that settles once every seed ran.
 */
export async function hostMain(argv: readonly string[]): Promise<void> {
  const args = parseHostArgs(argv);
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
      "",
      `seeds: ${results.length} (${failed.length} failed${
        failed.length > 0 ? `: ${failed.map((r) => r.seed).join(", ")}` : ""
      })`,
      `virtual time: ${(sum((r) => r.stats.virtualMs) / 1000).toFixed(1)} s, steps: ${
        sum((r) => r.stats.steps)
      }`,
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
      `write in every group after healing: ${
        formatPercentiles(results.filter((r) => r.ok).map((r) => r.stats.livenessMs))
      }`,
      `linearizability: ${[...verdicts].map(([k, v]) => `${k}=${v}`).join(" ")}`,
      `wall time: ${(wallMs / 1000).toFixed(1)} s`,
    ].join("\n"),
  );
  if (failed.length > 0) process.exitCode = 1;
}
