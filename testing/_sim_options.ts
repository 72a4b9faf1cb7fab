/**
 * The simulator's interface: what is simulated (`SimSetup`), the options of
 * a run, and what a run reports (`SimResult`).
 *
 * @module
 */

import type { NodeStorage, StateMachine } from "../core/node.ts";
import type { NodeId } from "../core/types.ts";
import type { FailoverStats, WorkloadStats } from "./_clients.ts";
import type { InvariantName } from "./_invariants.ts";
import type { FaultKind, SimProfile } from "./_sim_profile.ts";
import type { ExactlyOnceSetup, ExactlyOnceStats } from "./exactly_once.ts";
import type { CheckResult, Model, Operation } from "./linearizability.ts";
import type { SimRand, Workload, WorkloadShape } from "./workload.ts";

/** The node run a state machine or storage is created for. */
export interface NodeContext {
  /** The node. */
  readonly nodeId: NodeId;
  /** Which run of the node (1 for the first). */
  readonly incarnation: number;
  /** Randomness for the state machine's or storage's own choices (drawn from the run's seed). */
  readonly rand: SimRand;
  /** The virtual time, in ms. */
  now(): number;
}

/**
 * What is simulated: the user's state machine, the clients' workload and,
 * optionally, the model their history must be linearizable against.
 */
export interface SimSetup<S extends StateMachine<R>, R, I, O, M = unknown> {
  /**
   * Creates a node run's state machine, empty. Each run of a node gets a
   * new one (a crash loses an in-memory state machine; the driver restores
   * the latest snapshot and replays the log), and so does each fidelity
   * check.
   *
   * @param node The node run.
   * @returns The state machine.
   */
  stateMachine(node: NodeContext): S;
  /**
   * Creates the run's workload.
   *
   * @param shape The load the seed drew.
   * @returns The workload.
   */
  workload(shape: WorkloadShape): Workload<S, R, I, O>;
  /**
   * The sequential specification the clients' history must be linearizable
   * against. Omitted: no linearizability check.
   */
  model?: Model<M, I, O> | undefined;
  /**
   * Runs the exactly-once workload besides the clients' (see
   * `kvExactlyOnce`): clients append unique tokens through client
   * sessions, with retries, and the final state must hold every
   * acknowledged append once and every other at most once. Nodes then
   * forward proposals, and the clients' writes carry idempotency keys.
   * Omitted: not run.
   */
  exactlyOnce?: ExactlyOnceSetup<S, R> | undefined;
  /**
   * Splits the history into independent objects (the key of a key-value
   * operation), each checked on its own, when `model` has no `partition`.
   *
   * @param input An operation.
   * @returns The object it acts on.
   */
  partitionKey?: ((input: I) => string) | undefined;
  /**
   * Describes an operation for the event trace.
   * Omitted: `model.describeOperation`, else `JSON.stringify`.
   *
   * @param input An operation.
   * @returns A short description.
   */
  describe?: ((input: I) => string) | undefined;
  /**
   * Wraps the storage of a node run: the simulated disk (it loses what was
   * not synced in a crash) as a `NodeStorage`, under a layer of the user's
   * (a cache, a write buffer, an encoding).
   * Omitted: nodes run on the simulated disk itself.
   *
   * @param disk The node run's storage on its simulated disk.
   * @param node The node run.
   * @returns The storage the node runs on.
   */
  storage?: ((disk: NodeStorage, node: NodeContext) => NodeStorage) | undefined;
}

/**
 * Which events of a run happen: faults and client operations are numbered
 * from 1 in the order the run draws them; one not kept is drawn (so the
 * randomness of the others is unchanged) and dropped. Used to shrink a
 * failing run. Omitted: all happen.
 */
export interface SimKeep {
  /** The faults that happen. */
  readonly faults?: ReadonlySet<number> | undefined;
  /** The client operations that happen. */
  readonly ops?: ReadonlySet<number> | undefined;
}

/** Options of one simulation run. */
export interface SimOptions<S extends StateMachine<R>, R, I, O, M = unknown>
  extends SimSetup<S, R, I, O, M> {
  /** The seed: it decides everything. */
  seed: number;
  /** Steps (fired timers) under faults before the faults heal. */
  steps: number;
  /** Forces the cluster size (3, 5 or 7). */
  nodes?: number | undefined;
  /**
   * The kinds of fault injected.
   * @default {faultKinds}
   */
  faults?: readonly FaultKind[] | undefined;
  /** Which faults and operations happen. */
  keep?: SimKeep | undefined;
  /**
   * Adjusts the drawn profile.
   *
   * @param profile The profile, to modify in place.
   */
  profile?: ((profile: SimProfile) => void) | undefined;
  /**
   * Virtual time allowed, after healing, to elect a leader and commit a
   * proposal (and again for every member to catch up). Without PreVote,
   * elections rest on randomized timeouts alone, and a voter that missed a
   * membership change can keep a new voter from winning for a long while:
   * it campaigns with terms that voter never hears, because it does not
   * know the voter, and rejects the voter's campaigns at lower terms (seed
   * 800320: 17 s). Such runs get three times the bound.
   * @default 10000 with PreVote, 30000 without
   */
  livenessMs?: number;
  /**
   * Search steps allowed to the linearizability checker per key.
   * @default 50000000
   */
  checkerStepsMax?: number;
  /**
   * Lines of recent events kept for the failure report.
   * @default 60
   */
  traceLines?: number;
  /** Receives every trace line as it happens (verbose runs). */
  log?: (line: string) => void;
  /** Skip the linearizability check (planted-bug tests that assert an invariant). */
  skipLinearizability?: boolean;
  /**
   * Disks sync a save that installs a snapshot even when the driver passes
   * `mustSync: false` (as etcd's applications and the SQLite adapter do).
   * Off, the disks honour `mustSync` to the letter, which exposed the
   * driver acknowledging a snapshot that a crash then lost (fixed; see
   * regressions_test.ts).
   * @default false
   */
  syncSnapshotInstalls?: boolean;
  /** Properties not to check (a planted-bug test shows the others catch the bug too). */
  disabledInvariants?: readonly InvariantName[];
  /**
   * The nodes' `yieldBeforeSave`. `false` gives the event order of the
   * simulator before the driver yielded to I/O before its writes, in which
   * the seeds of regressions_test.ts found their bugs.
   * @default true
   */
  yieldBeforeSave?: boolean;
  /**
   * The membership workload sometimes retries a change that timed out
   * (the same intent again, through the leader of the moment), while the
   * first attempt may still be in a leader's log. Off, it never retries:
   * the event order of the simulator in which the seeds of
   * regressions_test.ts found their first bugs.
   * @default true
   */
  membershipRetries?: boolean;
}

/** Counters of one run. */
export interface SimStats {
  /** Virtual time at the end, in ms. */
  virtualMs: number;
  /** Steps (fired timers). */
  steps: number;
  /** Wall-clock time of the run, in ms. */
  wallMs: number;
  /** Faults injected, by kind. */
  faults: Record<FaultKind, number>;
  /** Terms with a leader seen. */
  elections: number;
  /** Invariant checks made. */
  invariantChecks: number;
  /** Client operations. */
  ops: WorkloadStats;
  /** The clients' time to first success after each leader change. */
  failover: FailoverStats;
  /** The exactly-once workload's counters, when it ran. */
  exactlyOnce?: ExactlyOnceStats;
  /** Network counters. */
  messages: { sent: number; delivered: number; dropped: number; duplicated: number };
  /** Snapshots delivered to followers. */
  snapshotsSent: number;
  /** Snapshots taken by nodes (log compactions). */
  compactions: number;
  /** Node restarts. */
  restarts: number;
  /** Membership changes that completed. */
  membershipChanges: number;
  /** Membership changes tried again after a timeout. */
  membershipRetries: number;
  /** Unsynced writes lost in crashes. */
  lostWrites: number;
}

/** A fault or a client operation of a run, for the failure report. */
export interface SimEvent {
  /** What it is. */
  readonly kind: "fault" | "op";
  /** Its number among the run's faults or operations (see {@linkcode SimKeep}); 0 for a liveness probe. */
  readonly seq: number;
  /** The virtual time it happened at, in ms. */
  readonly time: number;
  /** The step it happened at. */
  readonly step: number;
  /** A description. */
  readonly text: string;
}

/** The outcome of one run. */
export interface SimResult<I = unknown, O = unknown> {
  /** The seed. */
  seed: number;
  /** The steps under faults asked for. */
  steps: number;
  /** The profile the seed drew. */
  profile: SimProfile;
  /** No violation, and the history is not illegal. */
  ok: boolean;
  /** The first violated property, if any, with the virtual time and the step it was seen at. */
  violation?: { invariant: InvariantName; message: string; time: number; step: number };
  /** A failure of the simulator itself (a bug to fix in tests/sim). */
  simError?: string;
  /** The linearizability verdict (`skipped` after a violation, or without a model). */
  linearizability: CheckResult | "skipped";
  /** Hash of every event of the run: equal for equal seeds. */
  traceHash: string;
  /** Counters. */
  stats: SimStats;
  /** The last trace lines. */
  trace: readonly string[];
  /** The clients' recorded history. */
  history: readonly Operation<I, O>[];
  /** The faults and client operations that happened, in order. */
  events: readonly SimEvent[];
  /** Which faults and operations were kept (as asked). */
  keep: SimKeep;
}
