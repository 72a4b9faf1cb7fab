/**
 * Runs the deterministic simulator from the command line.
 *
 * ```
 * deno run -A tests/sim/main.ts --seed 7 --steps 20000
 * deno run -A tests/sim/main.ts --seeds 1..200 [--steps 20000] [--nodes 5]
 *   [--once] [--verbose] [--quiet]
 * deno run -A tests/sim/main.ts --replay 7:1900:f3.9:o1-4
 * deno run -A tests/sim/main.ts --hosts 3 --groups 16 --seeds 1..100 [--steps 6000]
 * ```
 *
 * Prints one summary line per seed (virtual time, operations, faults by
 * kind, elections, invariant checks, the clients' time to first success
 * after a leader change, linearizability verdict) and the totals (with
 * that time's p50, p99 and maximum over every seed); on a failure, the seed, the violated property (for a
 * linearizability violation, the checker's minimal explanation) and the
 * last events. Exits with status 1 when any seed fails. `--replay` runs
 * one run from the replay token of a failure report (a seed, its steps,
 * and the faults and client operations kept when it was shrunk).
 * `--once` adds the exactly-once workload to every run (clients append
 * through client sessions, with retries; nodes forward proposals) and its
 * totals: appends, retries deduplicated, double applications.
 *
 * `--hosts N` and/or `--groups G` run the multi-group host simulation
 * instead (`tests/sim/host_main.ts`): N `RaftHost`s × G key-value groups.
 *
 * @module
 */

import process from "node:process";
import {
  faultKinds,
  formatFailure,
  formatSummary,
  kvExactlyOnce,
  kvSimulation,
  parseReplay,
  runSimulation,
  type SimKeep,
  type SimResult,
} from "../../testing/mod.ts";
import { cliReplay, sweepHead } from "./_sweep.ts";
import { hostMain } from "./host_main.ts";
import { formatPercentiles } from "../../testing/_quantile.ts";

interface Args {
  from: number;
  to: number;
  steps: number;
  nodes: number | undefined;
  verbose: boolean;
  /** Print only failures and the totals. */
  quiet: boolean;
  /** What a replay token keeps. */
  keep: SimKeep;
  /** Run the exactly-once workload too. */
  once: boolean;
  /** Whether `--steps` was given (the host simulation has its own default). */
  stepsGiven: boolean;
  /** Hosts and groups of the multi-group host simulation, when asked for. */
  hosts: number | undefined;
  groups: number | undefined;
}

function usage(msg: string): never {
  console.error(`${msg}
usage: main.ts (--seed N | --seeds A..B | --replay TOKEN) [--steps M] [--nodes 3|5|7] [--once] [--verbose] [--quiet]
       main.ts [--hosts N] --groups G (--seed N | --seeds A..B) [--steps M] [--verbose] [--quiet]`);
  process.exit(2);
}

function int(name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isSafeInteger(n) || n < 0) usage(`Cannot parse ${name}: ${v}`);
  return n;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    from: 1,
    to: 1,
    steps: 20_000,
    nodes: undefined,
    verbose: false,
    quiet: false,
    keep: {},
    once: false,
    stepsGiven: false,
    hosts: undefined,
    groups: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=")
      ? arg.split("=", 2) as [string, string]
      : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case "--seed":
        a.from = a.to = int("--seed", value());
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
      case "--replay": {
        const v = value() ?? "";
        let t: ReturnType<typeof parseReplay>;
        try {
          t = parseReplay(v);
        } catch (e) {
          usage((e as Error).message);
        }
        a.from = a.to = t.seed;
        a.steps = t.steps;
        a.keep = t.keep;
        break;
      }
      case "--steps":
        a.steps = int("--steps", value());
        a.stepsGiven = true;
        break;
      case "--hosts": {
        const n = int("--hosts", value());
        if (n < 3) usage(`Cannot run with --hosts ${n}: use at least 3`);
        a.hosts = n;
        a.groups ??= 16;
        break;
      }
      case "--groups": {
        const n = int("--groups", value());
        if (n < 1) usage(`Cannot run with --groups ${n}: use at least 1`);
        a.groups = n;
        break;
      }
      case "--nodes": {
        const n = int("--nodes", value());
        if (n !== 3 && n !== 5 && n !== 7) usage(`Cannot run with --nodes ${n}: use 3, 5 or 7`);
        a.nodes = n;
        break;
      }
      case "--verbose":
        a.verbose = true;
        break;
      case "--quiet":
        a.quiet = true;
        break;
      case "--once":
        a.once = true;
        break;
      default:
        usage(`Unknown argument: ${arg}`);
    }
  }
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.groups !== undefined) {
    await hostMain({ ...args, groups: args.groups, steps: args.stepsGiven ? args.steps : 6000 });
    return;
  }
  const results: SimResult<unknown, unknown>[] = [];
  const wall0 = performance.now();
  for (let seed = args.from; seed <= args.to; seed++) {
    const r = await runSimulation({
      ...kvSimulation,
      seed,
      keep: args.keep,
      steps: args.steps,
      ...(args.nodes !== undefined ? { nodes: args.nodes } : {}),
      ...(args.once ? { exactlyOnce: kvExactlyOnce } : {}),
      ...(args.verbose ? { log: (l: string) => console.log(l) } : {}),
    });
    results.push(r);
    if (!args.quiet || !r.ok) console.log(formatSummary(r));
    if (!r.ok) console.log(formatFailure(r, cliReplay));
  }
  const wallMs = performance.now() - wall0;
  const failed = results.filter((r) => !r.ok);
  const sum = (f: (r: SimResult<unknown, unknown>) => number): number =>
    results.reduce((n, r) => n + f(r), 0);
  const ops = sum((r) => r.stats.ops.started);
  const faults = faultKinds.map((k) => `${k}=${sum((r) => r.stats.faults[k])}`).join(" ");
  const verdicts = new Map<string, number>();
  for (const r of results) {
    verdicts.set(r.linearizability, (verdicts.get(r.linearizability) ?? 0) + 1);
  }
  const minutes = wallMs / 60_000;
  const once = results.flatMap((r) => r.stats.exactlyOnce ?? []);
  const onceSum = (f: (o: (typeof once)[number]) => number): number =>
    once.reduce((n, o) => n + f(o), 0);
  const onceLines = once.length === 0 ? [] : [
    `exactly-once: ${once.length} seeds, ${onceSum((o) => o.commands)} appends (${
      onceSum((o) => o.acknowledged)
    } acknowledged, ${onceSum((o) => o.unacknowledged)} unacknowledged of which ${
      onceSum((o) => o.refused)
    } refused after their session expired or was evicted and ${
      onceSum((o) => o.unacknowledgedApplied)
    } applied), ${onceSum((o) => o.attempts)} attempts, ${
      onceSum((o) => o.retried)
    } appends retried, ${onceSum((o) => o.deduplicated)} retries deduplicated (of ${
      onceSum((o) => o.deduplicatedCommands)
    } appends), ${onceSum((o) => o.keyDeduplicated)} keyed writes deduplicated, ${
      onceSum((o) => o.sessionsOpened)
    } sessions opened, double applications: ${onceSum((o) => o.doubleApplications)}`,
  ];
  console.log(
    [
      ...sweepHead(results),
      `operations: ${ops} (${sum((r) => r.stats.ops.completed)} ok, ${
        sum((r) => r.stats.ops.indeterminate)
      } indeterminate)`,
      `faults: ${faults}`,
      `membership changes: ${sum((r) => r.stats.membershipChanges)} done, ${
        sum((r) => r.stats.membershipRetries)
      } retried after a timeout`,
      `elections: ${sum((r) => r.stats.elections)}, restarts: ${sum((r) => r.stats.restarts)}, ` +
      `snapshots sent: ${sum((r) => r.stats.snapshotsSent)}, invariant checks: ${
        sum((r) => r.stats.invariantChecks)
      }`,
      `linearizability: ${[...verdicts].map(([k, v]) => `${k}=${v}`).join(" ")}`,
      `time to first success after a leader change: ${
        sum((r) => r.stats.failover.firstSuccessMs.length)
      } samples over ${sum((r) => r.stats.failover.leaderChanges)} changes (${
        sum((r) => r.stats.failover.unserved)
      } unserved): ${formatPercentiles(results.flatMap((r) => r.stats.failover.firstSuccessMs))}`,
      ...onceLines,
      `wall time: ${(wallMs / 1000).toFixed(1)} s (${
        (results.length / minutes).toFixed(1)
      } seeds/min, ${(ops / minutes).toFixed(0)} ops/min)`,
    ].join("\n"),
  );
  if (failed.length > 0) process.exitCode = 1;
}

await main();
