/**
 * Runs the user's state machine through the deterministic simulator:
 * {@linkcode runSimulation} runs one seed; {@linkcode simulate} runs many,
 * and shrinks the first failure to a short event trace with a one-line
 * replay command.
 *
 * @module
 */

import process from "node:process";
import type { StateMachine } from "../core/node.ts";
import type { InvariantName } from "./_invariants.ts";
import type { SimEvent, SimKeep, SimOptions, SimResult, SimSetup } from "./_sim_options.ts";
import { type FaultKind, faultKinds } from "./_sim_profile.ts";
import { Simulation } from "./_simulation.ts";
import { formatPercentiles } from "./_quantile.ts";
import type { ExactlyOnceStats } from "./exactly_once.ts";

/**
 * Runs one simulation: one seed, under faults for `steps` steps, then
 * healed for the liveness check, then the history's linearizability check.
 *
 * @param options The state machine, workload and model, the seed and the steps.
 * @returns The outcome: violation (if any), verdict, counters, trace hash.
 * @throws {RangeError} When the seed or the steps are not non-negative safe integers.
 *
 * @example Run the key-value store for one seed
 * ```ts
 * import { kvSimulation, runSimulation } from "@raft-ts/raft/testing";
 *
 * const r = await runSimulation({ ...kvSimulation, seed: 3, steps: 500 });
 * if (!r.ok) throw new Error(r.violation?.message);
 * ```
 */
export function runSimulation<S extends StateMachine<R>, R, I, O, M = unknown>(
  options: SimOptions<S, R, I, O, M>,
): Promise<SimResult<I, O>> {
  for (const k of ["seed", "steps"] as const) {
    const v = options[k];
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(
        `Cannot run a simulation as '${k}' must be a non-negative safe integer: current value ${v}`,
      );
    }
  }
  return new Simulation<S, R, I, O, M>(options).run();
}

/** Options of {@linkcode simulate}. */
export interface SimulateOptions<S extends StateMachine<R>, R, I, O, M = unknown>
  extends SimSetup<S, R, I, O, M> {
  /** The seeds to run: a count `n` runs seeds 1..n. */
  seeds: number | readonly number[];
  /**
   * Steps (fired timers) under faults per seed.
   * @default {20000}
   */
  steps?: number;
  /** Forces the cluster size (3, 5 or 7). Omitted: each seed draws one. */
  nodes?: number;
  /**
   * The kinds of fault injected.
   * @default {faultKinds}
   */
  faults?: readonly FaultKind[];
  /**
   * Runs spent at most on shrinking the first failure; 0 reports it as found.
   * @default {30}
   */
  shrinkRunsMax?: number;
  /**
   * A replay token from a failure report: runs only that run. The
   * environment variable `RAFT_SIM_REPLAY`, when set, takes precedence.
   */
  replay?: string;
  /**
   * The command line printed to replay a failure.
   * @default {(token) => `RAFT_SIM_REPLAY=${token} deno test -A`}
   */
  replayCommand?: (token: string) => string;
  /** Properties not to check. */
  disabledInvariants?: readonly InvariantName[];
}

/** The first failure {@linkcode simulate} found, shrunk. */
export interface SimFailure<I, O> {
  /** The seed. */
  readonly seed: number;
  /** The step of the shrunk run the failure was seen at. */
  readonly step: number;
  /** The violated property, or `"error"` when the run threw (a state machine or workload bug). */
  readonly invariant: InvariantName | "error";
  /** What was seen. */
  readonly message: string;
  /** The shrunk run's events: the faults and client operations left. */
  readonly events: readonly SimEvent[];
  /** The shrunk run. */
  readonly result: SimResult<I, O>;
  /** The run as first found. */
  readonly found: SimResult<I, O>;
  /** Runs spent shrinking. */
  readonly shrinkRuns: number;
  /** The replay token (`SimulateOptions.replay`). */
  readonly replay: string;
  /** The one-line command that replays the failure. */
  readonly replayCommand: string;
  /** The whole report, as text. */
  readonly text: string;
}

/** The outcome of {@linkcode simulate}. */
export interface SimulateReport<I, O> {
  /** No seed failed. */
  readonly ok: boolean;
  /** The seeds run, up to and including the first failing one. */
  readonly seeds: readonly number[];
  /** Client operations over all runs. */
  readonly operations: number;
  /** Faults injected over all runs. */
  readonly faults: number;
  /** The first failure, shrunk. */
  readonly failure?: SimFailure<I, O>;
}

const replayEnv = "RAFT_SIM_REPLAY";

/**
 * Runs the user's state machine on a simulated cluster for each seed, with
 * the real `RaftNode` driver, under seeded faults, checking after every
 * step Raft's invariants, replica agreement (every replica's `snapshot()`
 * gives the same bytes after the same command, and every command the same
 * result) and snapshot fidelity (`restore(snapshot())` then `snapshot()`
 * gives the same bytes), then liveness once the faults heal, then the
 * clients' history against `model` for linearizability. Stops at the first
 * failing seed and shrinks it: drops faults, then client operations, while
 * the same property still fails.
 *
 * @param options The state machine, workload and model; the seeds; the budget.
 * @returns The report; `failure.text` says what failed, with the shrunk
 *   event trace and the replay command.
 * @throws {RangeError} When `seeds`, `steps` or a replay token is malformed.
 *
 * @example A correct state machine passes
 * ```ts
 * import { kvSimulation, simulate } from "@raft-ts/raft/testing";
 *
 * const report = await simulate({ ...kvSimulation, seeds: 2, steps: 500 });
 * if (!report.ok) throw new Error(report.failure!.text);
 * ```
 */
export async function simulate<S extends StateMachine<R>, R, I, O, M = unknown>(
  options: SimulateOptions<S, R, I, O, M>,
): Promise<SimulateReport<I, O>> {
  const steps = options.steps ?? 20_000;
  const command = options.replayCommand ??
    ((t: string): string => `${replayEnv}=${t} deno test -A`);
  const base = (seed: number, runSteps: number, keep: SimKeep): SimOptions<S, R, I, O, M> => ({
    ...options,
    seed,
    steps: runSteps,
    keep,
    nodes: options.nodes,
    faults: options.faults,
    disabledInvariants: options.disabledInvariants ?? [],
  });
  const replay = envReplay() ?? options.replay;
  if (replay !== undefined) {
    const t = parseReplay(replay);
    const r = await runSimulation(base(t.seed, t.steps, t.keep));
    const report: SimulateReport<I, O> = {
      ok: r.ok,
      seeds: [t.seed],
      operations: r.stats.ops.started,
      faults: countFaults(r),
    };
    if (r.ok) return report;
    return { ...report, failure: failureOf(r, r, 0, command) };
  }
  const seeds = seedList(options.seeds);
  const ran: number[] = [];
  let operations = 0;
  let faults = 0;
  for (const seed of seeds) {
    const r = await runSimulation(base(seed, steps, {}));
    ran.push(seed);
    operations += r.stats.ops.started;
    faults += countFaults(r);
    if (r.ok) continue;
    const shrunk = await shrink(
      r,
      options.shrinkRunsMax ?? 30,
      (s, keep) => runSimulation(base(seed, s, keep)),
    );
    return {
      ok: false,
      seeds: ran,
      operations,
      faults,
      failure: failureOf(shrunk.result, r, shrunk.runs, command),
    };
  }
  return { ok: true, seeds: ran, operations, faults };
}

function envReplay(): string | undefined {
  try {
    const v = process.env[replayEnv];
    return v === undefined || v === "" ? undefined : v;
  } catch {
    // No permission to read the environment.
    return undefined;
  }
}

function seedList(seeds: number | readonly number[]): readonly number[] {
  if (typeof seeds === "number") {
    if (!Number.isSafeInteger(seeds) || seeds < 1) {
      throw new RangeError(
        `Cannot simulate as 'seeds' must be a positive safe integer or a list: current value ${seeds}`,
      );
    }
    return Array.from({ length: seeds }, (_, i) => i + 1);
  }
  return seeds;
}

function countFaults(r: SimResult<unknown, unknown>): number {
  return faultKinds.reduce((n, k) => n + r.stats.faults[k], 0);
}

/** The property a failed run broke. */
function failedProperty(r: SimResult<unknown, unknown>): InvariantName | "error" {
  return r.violation?.invariant ?? (r.simError !== undefined ? "error" : "linearizability");
}

/** The step a failed run failed at. */
function failedStep(r: SimResult<unknown, unknown>): number {
  return r.violation?.step ?? r.stats.steps;
}

/** The seqs of a run's kept events of one kind. */
function seqs(r: SimResult<unknown, unknown>, kind: "fault" | "op"): number[] {
  // Liveness probes (seq 0) always happen.
  return r.events.filter((e) => e.kind === kind && e.seq > 0).map((e) => e.seq);
}

/** How often a candidate must fail when the failure does not replay exactly. */
const nondeterministicTries = 4;

/**
 * Shrinks a failing run: fewer steps, then fewer faults, then fewer client
 * operations, each change kept only while the run still breaks the same
 * property; at most `runsMax` runs.
 */
async function shrink<I, O>(
  found: SimResult<I, O>,
  runsMax: number,
  run: (steps: number, keep: SimKeep) => Promise<SimResult<I, O>>,
): Promise<{ result: SimResult<I, O>; runs: number }> {
  const property = failedProperty(found);
  let best = found;
  let runs = 0;
  let faults = seqs(found, "fault");
  let ops = seqs(found, "op");
  // A failure under faults needs no more steps than it took (and some slack).
  const step = failedStep(found);
  let steps = step < found.steps
    ? Math.min(found.steps, step + Math.ceil(step / 4) + 100)
    : found.steps;
  // A bug that does not replay exactly (it reads the clock, say) must fail
  // every time a candidate runs.
  let tries = 1;
  const attempt = async (f: number[], o: number[], s: number): Promise<boolean> => {
    let r: SimResult<I, O> | undefined;
    for (let t = 0; t < tries; t++) {
      if (runs >= runsMax) return false;
      runs++;
      r = await run(s, { faults: new Set(f), ops: new Set(o) });
      if (r.ok || failedProperty(r) !== property) return false;
    }
    if (r === undefined) return false;
    if (
      best === found &&
      (failedStep(r) !== step || r.violation?.message !== found.violation?.message)
    ) {
      tries = nondeterministicTries;
    }
    best = r;
    faults = seqs(r, "fault");
    ops = seqs(r, "op");
    steps = s;
    return true;
  };
  // The same run again, cut at the failure: a deterministic failure recurs
  // at the same step with the same message.
  if (!(await attempt(faults, ops, steps))) {
    steps = found.steps;
    tries = nondeterministicTries;
  }
  if (faults.length > 0) await attempt([], ops, steps);
  for (const which of ["fault", "op"] as const) {
    let chunk = Math.ceil((which === "fault" ? faults : ops).length / 2);
    while (chunk >= 1 && runs < runsMax) {
      let progress = false;
      const list = which === "fault" ? faults : ops;
      for (let at = 0; at < list.length && runs < runsMax; at += chunk) {
        const cur = which === "fault" ? faults : ops;
        const cut = cur.filter((seq) =>
          seq < list[at]! || seq > list[Math.min(at + chunk, list.length) - 1]!
        );
        if (cut.length === cur.length) continue;
        const ok = which === "fault"
          ? await attempt(cut, ops, steps)
          : await attempt(faults, cut, steps);
        if (ok) {
          progress = true;
          break;
        }
      }
      if (!progress) chunk = Math.floor(chunk / 2);
      else chunk = Math.min(chunk, Math.ceil((which === "fault" ? faults : ops).length / 2));
    }
  }
  return { result: best, runs };
}

/**
 * The replay token of a run: its seed, its steps and, when some were
 * dropped, the faults and operations it kept.
 *
 * @param r A run's result.
 * @returns The token, such as `7:20000` or `7:1900:f3.9:o1-4`.
 */
export function replayToken(r: SimResult<unknown, unknown>): string {
  const parts = [`${r.seed}`, `${r.steps}`];
  if (r.keep.faults !== undefined) parts.push(`f${ranges(seqs(r, "fault"))}`);
  if (r.keep.ops !== undefined) parts.push(`o${ranges(seqs(r, "op"))}`);
  return parts.join(":");
}

function ranges(xs: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    out.push(j === i ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return out.join(".");
}

/**
 * Reads a replay token.
 *
 * @param token From {@linkcode replayToken}.
 * @returns The seed, the steps and what to keep.
 * @throws {RangeError} When the token is malformed.
 */
export function parseReplay(token: string): { seed: number; steps: number; keep: SimKeep } {
  const bad = (): never => {
    throw new RangeError(
      `Cannot replay '${token}': expected seed:steps[:f<faults>][:o<operations>], such as 7:1900:f3.9:o1-4`,
    );
  };
  const [seedText, stepsText, ...rest] = token.trim().split(":");
  const int = (s: string | undefined): number =>
    s !== undefined && /^\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : bad();
  const keep: { faults?: ReadonlySet<number>; ops?: ReadonlySet<number> } = {};
  for (const part of rest) {
    const set = new Set<number>();
    for (const r of part.slice(1).split(".").filter((x) => x !== "")) {
      const [lo, hi] = r.split("-");
      const a = int(lo);
      const b = hi === undefined ? a : int(hi);
      if (b < a || b - a > 1_000_000) bad();
      for (let x = a; x <= b; x++) set.add(x);
    }
    if (part[0] === "f" && keep.faults === undefined) keep.faults = set;
    else if (part[0] === "o" && keep.ops === undefined) keep.ops = set;
    else bad();
  }
  return { seed: int(seedText), steps: int(stepsText), keep };
}

function failureOf<I, O>(
  r: SimResult<I, O>,
  found: SimResult<I, O>,
  shrinkRuns: number,
  command: (token: string) => string,
): SimFailure<I, O> {
  const replay = replayToken(r);
  const replayCommand = command(replay);
  const invariant = failedProperty(r);
  const message = r.violation?.message ?? r.simError ?? "the run failed";
  const step = failedStep(r);
  const faultsLeft = seqs(r, "fault").length;
  const opsLeft = seqs(r, "op").length;
  const lines = [
    `simulation failed: seed ${r.seed}, step ${step}: ${invariant}`,
    message,
    shrinkRuns > 0
      ? `shrunk in ${shrinkRuns} runs from ${seqs(found, "fault").length} faults and ${
        seqs(found, "op").length
      } operations to ${faultsLeft} faults and ${opsLeft} operations:`
      : `${faultsLeft} faults and ${opsLeft} operations:`,
    ...formatEvents(r.events),
    "last trace lines:",
    ...r.trace.slice(-20).map((l) => `  ${l}`),
    `replay: ${replayCommand}`,
  ];
  return {
    seed: r.seed,
    step,
    invariant,
    message,
    events: r.events,
    result: r,
    found,
    shrinkRuns,
    replay,
    replayCommand,
    text: lines.join("\n"),
  };
}

const eventLinesMax = 40;

function formatEvents(events: readonly SimEvent[]): string[] {
  const shown = events.length > eventLinesMax ? events.slice(-eventLinesMax) : events;
  const out = shown.map((e) =>
    `  step ${String(e.step).padStart(6)} ${e.time.toFixed(3).padStart(10)} ms  ${
      e.kind === "fault" ? "fault" : "op   "
    } ${e.seq > 0 ? `#${e.seq} ` : ""}${e.text}`
  );
  if (shown.length < events.length) {
    out.unshift(`  (${events.length - shown.length} earlier events not shown)`);
  }
  return out;
}

/**
 * One line summarizing a run.
 *
 * @param r The run's result.
 * @returns The line.
 *
 * @example Summarize a run
 * ```ts
 * import { formatSummary, kvSimulation, runSimulation } from "@raft-ts/raft/testing";
 *
 * console.log(formatSummary(await runSimulation({ ...kvSimulation, seed: 1, steps: 300 })));
 * ```
 */
export function formatSummary(r: SimResult<unknown, unknown>): string {
  const s = r.stats;
  const faults = faultKinds.filter((k) => s.faults[k] > 0).map((k) => `${k}=${s.faults[k]}`)
    .join(" ");
  const verdict = r.violation !== undefined
    ? `VIOLATION ${r.violation.invariant}`
    : r.simError !== undefined
    ? "SIMULATOR ERROR"
    : `linearizability=${r.linearizability}`;
  return `seed ${r.seed}: ${r.profile.nodes} nodes, ${
    (s.virtualMs / 1000).toFixed(2)
  } s virtual, ${s.steps} steps, ` +
    `${s.ops.started} ops (${s.ops.completed} ok, ${s.ops.indeterminate} indeterminate), ` +
    `elections=${s.elections} checks=${s.invariantChecks} restarts=${s.restarts} snapshots=${s.snapshotsSent} ` +
    `faults[${faults}] failover[${s.failover.leaderChanges} changes: ${
      formatPercentiles(s.failover.firstSuccessMs)
    }] ${onceSummary(s.exactlyOnce)}${verdict} trace=${r.traceHash} (${s.wallMs.toFixed(0)} ms)`;
}

function onceSummary(o: ExactlyOnceStats | undefined): string {
  if (o === undefined) return "";
  return `once[${o.commands} appends, ${o.acknowledged} acknowledged, ${o.retried} retried, ${o.deduplicated} deduplicated, ${o.refused} refused, ${o.doubleApplications} double] `;
}

/**
 * The failure report of a run: seed, violated property (with the checker's
 * explanation for a linearizability violation) and the last trace lines.
 *
 * @param r A failed run's result.
 * @param replayCommand The command line that replays a token.
 * @returns Multi-line text.
 *
 * @example Report a failed run
 * ```ts
 * import { formatFailure, kvSimulation, runSimulation } from "@raft-ts/raft/testing";
 *
 * const r = await runSimulation({ ...kvSimulation, seed: 5, steps: 300 });
 * if (!r.ok) console.log(formatFailure(r));
 * ```
 */
export function formatFailure(
  r: SimResult<unknown, unknown>,
  replayCommand: (token: string) => string = (t) => `${replayEnv}=${t} deno test -A`,
): string {
  const lines = [
    `FAILED seed ${r.seed} (replay: ${replayCommand(replayToken(r))})`,
  ];
  if (r.violation !== undefined) lines.push(r.violation.message);
  if (r.simError !== undefined) lines.push(`simulator error: ${r.simError}`);
  lines.push("last events:", ...r.trace.map((l) => `  ${l}`));
  return lines.join("\n");
}
