/**
 * The deterministic simulator: a whole Raft cluster (3, 5 or 7 nodes, plus
 * spares to add) in one process, on virtual time, running the real
 * `RaftNode` driver and the user's state machine over the real codec
 * (`MemoryNetwork` with `codec: true` encodes and decodes every message),
 * on simulated disks that lose unsynced writes in a crash
 * (`_sim_storage.ts`), under the user's client workload (`_clients.ts`)
 * and faults chosen by the run's seed: message loss,
 * duplication, delay and reordering, symmetric and one-way partitions,
 * isolating the leader, crashes and restarts, slow disks, clock skew,
 * membership changes and leadership transfers, log compaction and snapshot
 * transfer. Raft's safety properties, replica agreement and snapshot
 * fidelity are checked after every step (`_invariants.ts`,
 * `_checked_state_machine.ts`); at the end the faults heal and the cluster
 * must elect a leader and commit a proposal within a bounded virtual time;
 * then the clients' history is checked for linearizability against the
 * user's model, partition by partition.
 *
 * Every random choice (the network's, each node run's `rand`, the disks',
 * the clients', the faults') is drawn from one seed: a seed replays its run
 * event for event, which the run's trace hash shows.
 *
 * @module
 */

import { MemoryNetwork } from "../adapters/memory/mod.ts";
import { ConfChangeError, RaftError } from "../core/errors.ts";
import { collectSnapshotData } from "../core/node/snapshots.ts";
import {
  defaultSessionLimits,
  NodeError,
  type NodeStorage,
  RaftNode,
  type StateMachine,
  TimeoutError,
  type Transport,
  type TransportHandler,
} from "../core/node.ts";
import {
  ConfChangeType,
  type ConfState,
  type HardState,
  type Index,
  type Message,
  MessageType,
  type NodeId,
  StateType,
} from "../core/types.ts";
import { SimClock } from "./_clock.ts";
import { hashBytes, Hasher, Prng } from "./_prng.ts";
import { CheckedStateMachine, type StateMachineObserver } from "./_checked_state_machine.ts";
import {
  Clients,
  type ClientsOptions,
  type FailoverStats,
  type NodeHandle,
  type WorkloadStats,
} from "./_clients.ts";
import { InvariantChecker, type InvariantName, InvariantViolation } from "./_invariants.ts";
import { type DiskObserver, SimDisk, type SimStorage } from "./_sim_storage.ts";
import { SessionClients } from "./_session_clients.ts";
import type { ExactlyOnceProfile, ExactlyOnceSetup, ExactlyOnceStats } from "./exactly_once.ts";
import {
  checkOperations,
  type CheckResult,
  formatExplanation,
  type Model,
  type Operation,
  type Partition,
} from "./linearizability.ts";
import type { SimRand, Workload, WorkloadShape } from "./workload.ts";

export type { FailoverStats, InvariantName, WorkloadStats };

/** The kinds of fault the simulator injects. */
export type FaultKind =
  | "partition"
  | "one-way"
  | "isolate-leader"
  | "crash"
  | "crash-after-ack"
  | "power-loss"
  | "slow-disk"
  | "net-burst"
  | "membership"
  | "transfer";

/** Every fault kind. */
export const faultKinds: readonly FaultKind[] = [
  "partition",
  "one-way",
  "isolate-leader",
  "crash",
  "crash-after-ack",
  "power-loss",
  "slow-disk",
  "net-burst",
  "membership",
  "transfer",
];

/** Everything a run's seed decides about the cluster, the load and the faults. */
export interface SimProfile {
  /** Voters of the initial cluster (IDs 1..nodes). */
  nodes: number;
  /** Extra node IDs that membership changes may add. */
  spares: number;
  /** Base tick interval, in virtual ms. */
  tickMs: number;
  /** Whether nodes get different tick intervals. */
  tickVariety: boolean;
  /** Maximum relative clock-rate difference of a node (clock skew). */
  skew: number;
  /** Raft's election timeout in ticks. */
  electionTick: number;
  /** Raft's heartbeat interval in ticks. */
  heartbeatTick: number;
  /** Pre-vote on or off. */
  preVote: boolean;
  /** Entries applied between snapshots (small: compaction under load). */
  snapshotEntries: number;
  /** Entries kept behind a snapshot. */
  catchUpEntries: number;
  /** Bytes per append message. */
  maxSizePerMsg: number;
  /** Append messages in flight per follower. */
  maxInflightMsgs: number;
  /** Base network delay and jitter (jitter reorders), in ms. */
  delayMs: number;
  /** Random extra delay per message, in `[0, jitterMs)`. */
  jitterMs: number;
  /** Base message loss probability. */
  dropRate: number;
  /** Base message duplication probability. */
  duplicateRate: number;
  /** Synced write latency and jitter, in ms. */
  diskLatencyMs: number;
  /** Extra random latency per synced write. */
  diskJitterMs: number;
  /** Unsynced writes become durable within this, in ms. */
  flushIntervalMs: number;
  /** A crash keeps a random prefix of the unsynced writes. */
  crashKeepsPrefix: boolean;
  /** Faults are drawn every this many virtual ms. */
  faultTickMs: number;
  /**
   * Expected faults of each kind per virtual second; for `crash-after-ack`,
   * the probability that a node crashes right after it acknowledges entries
   * or grants a vote (and restarts at once).
   */
  rates: Record<FaultKind, number>;
  /** Concurrent clients. */
  clients: number;
  /** Keys in the key space. */
  keys: number;
  /** Maximum client think time, in ms. */
  thinkMs: number;
  /** Share of reads. */
  readShare: number;
  /** Timeout of one client request, in ms. */
  requestTimeoutMs: number;
  /** Time a client spends on one operation, in ms. */
  opTimeoutMs: number;
  /**
   * The exactly-once workload's draw, when it runs (`SimSetup.exactlyOnce`);
   * then nodes forward proposals and the key-value clients' writes carry
   * idempotency keys.
   */
  exactlyOnce?: ExactlyOnceProfile;
}

/**
 * Draws a profile from a seed's randomness.
 *
 * @param rand The randomness.
 * @param nodes Forces the cluster size.
 * @returns The profile.
 */
export function drawProfile(rand: Prng, nodes?: number): SimProfile {
  const on = (p: number, lo: number, hi: number): number =>
    rand.chance(p) ? rand.uniform(lo, hi) : 0;
  const size = nodes ?? rand.pick([3, 3, 5, 5, 7]);
  return {
    nodes: size,
    spares: 2,
    tickMs: 10,
    tickVariety: rand.chance(0.3),
    skew: rand.chance(0.5) ? rand.uniform(0, 0.1) : 0,
    electionTick: 10,
    heartbeatTick: rand.pick([1, 1, 2]),
    preVote: rand.chance(0.7),
    snapshotEntries: rand.pick([5, 10, 20, 50, 1000]),
    catchUpEntries: rand.pick([0, 2, 5, 20]),
    maxSizePerMsg: rand.pick([128, 1024, 1 << 20]),
    maxInflightMsgs: rand.pick([2, 8, 256]),
    delayMs: rand.uniform(0.5, 3),
    jitterMs: rand.pick([0, 1, 5, 15]),
    dropRate: rand.pick([0, 0, 0.01, 0.05]),
    duplicateRate: rand.pick([0, 0, 0.01, 0.05]),
    diskLatencyMs: rand.uniform(0.2, 3),
    diskJitterMs: rand.uniform(0, 2),
    flushIntervalMs: rand.pick([5, 30, 100]),
    crashKeepsPrefix: rand.chance(0.5),
    faultTickMs: 20,
    rates: {
      "partition": on(0.6, 0.3, 2),
      "one-way": on(0.4, 0.3, 2),
      "isolate-leader": on(0.5, 0.3, 1.5),
      "crash": on(0.7, 0.5, 3),
      "crash-after-ack": on(0.5, 0.002, 0.02),
      "power-loss": on(0.4, 0.1, 0.5),
      "slow-disk": on(0.5, 0.3, 2),
      "net-burst": on(0.5, 0.3, 2),
      "membership": on(0.5, 0.3, 2),
      "transfer": on(0.4, 0.3, 2),
    },
    clients: rand.range(2, 6),
    keys: rand.range(1, 6),
    thinkMs: rand.pick([0, 5, 20]),
    readShare: rand.uniform(0.2, 0.5),
    requestTimeoutMs: rand.pick([300, 600, 1200]),
    opTimeoutMs: 2500,
  };
}

/**
 * Draws the exactly-once workload's profile.
 *
 * @param rand The randomness (its own stream: the rest of the run draws as without it).
 * @returns The profile.
 */
function drawExactlyOnceProfile(rand: Prng): ExactlyOnceProfile {
  // The key-value clients' idempotency keys only need to outlive a
  // duplicated message (a few hundred ms; 256 keyed writes take seconds):
  // a small table keeps the driver's snapshots, which carry it, small.
  const sessionLimits = { ...defaultSessionLimits, keysMax: 256 };
  // Small tables evict sessions; short lifetimes expire them.
  if (rand.chance(0.4)) sessionLimits.sessionsMax = rand.range(1, 2);
  if (rand.chance(0.3)) sessionLimits.sessionTtlMs = rand.pick([300, 1000, 3000]);
  return {
    clients: rand.range(1, 3),
    keys: rand.range(1, 3),
    thinkMs: rand.pick([0, 5, 20]),
    reopenEvery: rand.pick([0, 0, 5, 20]),
    sessionLimits,
  };
}

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

type SlotState = "idle" | "running" | "down" | "retired";

interface Slot<S, R> {
  id: NodeId;
  disk: SimDisk;
  initial: boolean;
  state: SlotState;
  incarnation: number;
  raft: RaftNode<R> | undefined;
  sm: S | undefined;
  storage: SimStorage | undefined;
  transport: Transport | undefined;
  tickMs: number;
  rate: number;
  /** Restart due time while down. */
  restartAt: number;
  /** When a slow disk becomes normal again. */
  slowUntil: number;
}

interface LinkFault {
  until: number;
  apply(net: MemoryNetwork): void;
}

function isExpectedRequestError(e: unknown): boolean {
  return e instanceof NodeError || e instanceof RaftError || e instanceof ConfChangeError ||
    e instanceof RangeError;
}

const stateNames = ["follower", "candidate", "leader", "pre-candidate"] as const;

/** Partitions a history by a key function, keys sorted. */
function partitionBy<I, O>(
  key: (input: I) => string,
): (history: readonly Operation<I, O>[]) => Partition<I, O>[] {
  return (history) => {
    const byKey = new Map<string, Operation<I, O>[]>();
    for (const op of history) {
      const k = key(op.input);
      const list = byKey.get(k);
      if (list === undefined) byKey.set(k, [op]);
      else list.push(op);
    }
    return [...byKey.keys()].sort().map((k) => ({ key: k, operations: byKey.get(k)! }));
  };
}

/** One simulation run; use {@linkcode runSimulation}. */
export class Simulation<S extends StateMachine<R>, R, I, O, M> {
  readonly seed: number;
  readonly options: SimOptions<S, R, I, O, M>;
  readonly profile: SimProfile;
  readonly clock: SimClock = new SimClock();
  readonly net: MemoryNetwork;
  readonly inv: InvariantChecker;
  readonly workload: Clients<S, R, I, O>;
  /** The exactly-once clients, when they run. */
  readonly once: SessionClients<S, R> | undefined;
  #onceStats: ExactlyOnceStats | undefined = undefined;
  readonly slots: Map<NodeId, Slot<S, R>> = new Map();
  violation: InvariantViolation | undefined = undefined;
  #violationStep: number | undefined = undefined;
  simError: unknown = undefined;
  readonly faults: Record<FaultKind, number>;
  readonly #rand: Prng;
  readonly #faultRand: Prng;
  readonly #adminRand: Prng;
  #linkFaults: LinkFault[] = [];
  #burstUntil = 0;
  #faultsActive = true;
  #adminBusy = false;
  /** A membership change that timed out, to be tried again. */
  #adminRetry: { what: string; run: (raft: RaftNode<R>) => Promise<unknown> } | undefined;
  #latest: { index: Index; conf: ConfState };
  readonly #everMember = new Set<NodeId>();
  readonly #trace: string[] = [];
  readonly #traceMax: number;
  #restarts = 0;
  #membershipChanges = 0;
  #membershipRetries = 0;
  #snapshotsSent = 0;
  #compactions = 0;
  /** The highest term a leader was seen in (0: none yet). */
  #leaderTerm = 0;
  readonly #events: SimEvent[] = [];
  #faultSeq = 0;

  constructor(options: SimOptions<S, R, I, O, M>) {
    this.seed = options.seed;
    this.options = options;
    this.#traceMax = options.traceLines ?? 60;
    this.#rand = new Prng(options.seed);
    const profileRand = this.#rand.fork();
    this.profile = drawProfile(profileRand, options.nodes);
    // Drawn from a stream of its own, so that the profile is otherwise the same.
    const onceRand = options.exactlyOnce === undefined
      ? undefined
      : new Prng(new Hasher().str("exactly-once").num(options.seed).value);
    if (onceRand !== undefined) this.profile.exactlyOnce = drawExactlyOnceProfile(onceRand.fork());
    options.profile?.(this.profile);
    if (options.faults !== undefined) {
      for (const k of faultKinds) if (!options.faults.includes(k)) this.profile.rates[k] = 0;
    }
    this.#faultRand = this.#rand.fork();
    this.#adminRand = this.#rand.fork();
    const p = this.profile;
    this.faults = Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<FaultKind, number>;
    this.net = new MemoryNetwork({
      scheduler: this.clock.scheduler("net"),
      seed: this.#rand.u32(),
      codec: true,
      dropRate: p.dropRate,
      duplicateRate: p.duplicateRate,
      delayMs: p.delayMs,
      jitterMs: p.jitterMs,
    });
    this.inv = new InvariantChecker(() => this.clock.now, options.disabledInvariants);
    const initial = Array.from({ length: p.nodes }, (_, i) => i + 1);
    this.#latest = {
      index: 0,
      conf: {
        voters: initial,
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    };
    for (const id of initial) this.#everMember.add(id);
    const diskObserver: DiskObserver = {
      onWrite: (node, op, view) => this.#guard(() => this.inv.observeWrite(node, op, view)),
      onDurable: (node, ops, durable) =>
        this.#guard(() => this.inv.observeDurable(node, ops, durable)),
    };
    for (let id = 1; id <= p.nodes + p.spares; id++) {
      const tickMs = p.tickVariety ? this.#rand.pick([8, 10, 12]) : p.tickMs;
      const rate = 1 + (this.#rand.next() * 2 - 1) * p.skew;
      this.slots.set(id, {
        id,
        disk: new SimDisk(id, this.clock, this.#rand.fork(), {
          latencyMs: p.diskLatencyMs,
          jitterMs: p.diskJitterMs,
          flushIntervalMs: p.flushIntervalMs,
          crashKeepsPrefix: p.crashKeepsPrefix,
          syncSnapshots: options.syncSnapshotInstalls ?? false,
        }, diskObserver),
        initial: id <= p.nodes,
        state: "idle",
        incarnation: 0,
        raft: undefined,
        sm: undefined,
        storage: undefined,
        transport: undefined,
        tickMs,
        rate,
        restartAt: 0,
        slowUntil: 0,
      });
    }
    const model = options.model;
    const describe = options.describe ??
      (model === undefined
        ? (input: I): string => JSON.stringify(input) ?? String(input)
        : (input: I): string => model.describeOperation(input, undefined).replace(/ -> \?$/, ""));
    const clientsOptions: ClientsOptions = {
      clients: p.clients,
      thinkMs: p.thinkMs,
      requestTimeoutMs: p.requestTimeoutMs,
      opTimeoutMs: p.opTimeoutMs,
      idempotencyKeys: p.exactlyOnce !== undefined,
    };
    this.workload = new Clients<S, R, I, O>(
      {
        clock: this.clock,
        members: () => this.#members(),
        node: (id) => this.#handle(id),
        keepOp: (seq, client, what) => {
          const kept = options.keep?.ops?.has(seq) ?? true;
          if (kept) this.#event("op", seq, `client ${client}: ${what()}`);
          return kept;
        },
        probing: (what) => this.#event("op", 0, `liveness probe: ${what}`),
      },
      this.#rand.fork(),
      clientsOptions,
      options.workload({ clients: p.clients, keys: p.keys, readShare: p.readShare }),
      describe,
    );
    const once = options.exactlyOnce;
    this.once = once === undefined || onceRand === undefined || p.exactlyOnce === undefined
      ? undefined
      : new SessionClients<S, R>(
        {
          clock: this.clock,
          members: () => this.#members(),
          node: (id) => this.#handle(id),
          note: (line) => this.#note(line),
        },
        onceRand.fork(),
        p.exactlyOnce,
        once,
        { requestTimeoutMs: p.requestTimeoutMs, opTimeoutMs: p.opTimeoutMs },
      );
    const sessions = this.once;
    if (sessions !== undefined) this.inv.onCommittedEntry = (e) => sessions.committed(e.data);
  }

  /** Records a kept fault or operation. */
  #event(kind: "fault" | "op", seq: number, text: string): void {
    this.#events.push({ kind, seq, time: this.clock.now, step: this.clock.fired, text });
  }

  /** Numbers the next fault; records it and returns true when it is kept. */
  #take(text: string): boolean {
    const seq = ++this.#faultSeq;
    const kept = this.options.keep?.faults?.has(seq) ?? true;
    if (kept) this.#event("fault", seq, text);
    return kept;
  }

  // -------------------------------------------------------------------------
  // Bookkeeping

  #note(line: string): void {
    const l = `${this.clock.now.toFixed(3).padStart(10)} ${line}`;
    this.#trace.push(l);
    if (this.#trace.length > this.#traceMax) this.#trace.shift();
    this.options.log?.(l);
  }

  /** Runs `fn`, recording (not throwing) a violation or a simulator error. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof InvariantViolation) this.#violate(e);
      else this.simError ??= e;
    }
  }

  #violate(e: InvariantViolation): void {
    if (this.violation !== undefined) return;
    this.violation = e;
    this.#violationStep = this.clock.fired;
  }

  #fail(invariant: InvariantName, detail: string): void {
    this.#violate(new InvariantViolation(invariant, this.clock.now, detail));
  }

  #members(): NodeId[] {
    const c = this.#latest.conf;
    return [...new Set([...c.voters, ...c.learners, ...c.votersOutgoing])].sort((a, b) => a - b);
  }

  #isMember(id: NodeId): boolean {
    const c = this.#latest.conf;
    return c.voters.includes(id) || c.learners.includes(id) || c.votersOutgoing.includes(id) ||
      c.learnersNext.includes(id);
  }

  #handle(id: NodeId): NodeHandle<S, R> | undefined {
    const s = this.slots.get(id);
    if (s === undefined || s.state !== "running" || s.raft === undefined || s.sm === undefined) {
      return undefined;
    }
    return { raft: s.raft, sm: s.sm };
  }

  /** The running node that leads the highest term, if any. */
  #leader(): Slot<S, R> | undefined {
    let best: Slot<S, R> | undefined;
    let bestTerm = -1;
    for (const s of this.slots.values()) {
      if (s.state !== "running" || s.raft === undefined || s.raft.closed) continue;
      const st = s.raft.status();
      if (st.raftState === StateType.StateLeader && st.term > bestTerm) {
        best = s;
        bestTerm = st.term;
      }
    }
    return best;
  }

  // -------------------------------------------------------------------------
  // Node lifecycle

  #transport(s: Slot<S, R>, inc: number, storage: SimStorage): Transport {
    const ep = this.net.connect(s.id);
    const trace = this.clock.trace;
    const id = s.id;
    return {
      start: (h: TransportHandler): void => {
        ep.start({
          id: h.id,
          step: (m: Message): void => {
            trace.int(m.type).int(m.from).int(m.to).num(m.term).num(m.index).int(inc);
            if (m.type === MessageType.MsgSnap) this.#snapshotsSent++;
            h.step(m);
          },
          reportUnreachable: (id: NodeId): void => h.reportUnreachable(id),
          reportSnapshot: (id, status): void => h.reportSnapshot(id, status),
        });
      },
      send: (ms: readonly Message[]): void => {
        if (storage.dead) return;
        this.#guard(() => {
          for (const m of ms) this.inv.observeSend(id, m, s.disk.durable, storage.view);
        });
        ep.send(ms);
        this.#maybeCrashAfterAck(s, ms);
      },
      close: (): void | Promise<void> => ep.close(),
    };
  }

  #start(s: Slot<S, R>): void {
    if (s.state === "running" || s.state === "retired") return;
    const inc = ++s.incarnation;
    const id = s.id;
    const storage = s.disk.open();
    const clock = this.clock;
    const ctx: NodeContext = {
      nodeId: id,
      incarnation: inc,
      rand: this.#rand.fork(),
      now: () => clock.now,
    };
    const observer: StateMachineObserver = {
      applied: (index, term, digest, resultDigest): void =>
        this.#guard(() => this.inv.observeApplied(id, inc, index, term, digest, resultDigest)),
      restored: (index, lastCommand, digest): void =>
        this.#guard(() => this.inv.observeRestored(id, inc, index, lastCommand, digest)),
      unfaithful: (where, lastCommand, before, after): void =>
        this.#guard(() => this.inv.observeUnfaithful(id, where, lastCommand, before, after)),
    };
    const setup = this.options;
    const sm = setup.stateMachine(ctx);
    const checked = new CheckedStateMachine<R>(sm, () => setup.stateMachine(ctx), observer);
    const nodeStorage = setup.storage?.(storage, ctx) ?? storage;
    const durable: HardState = { ...s.disk.durable.hardState };
    const empty = durable.term === 0 && durable.vote === 0 && durable.commit === 0 &&
      s.disk.durable.lastIndex() === 0 && s.disk.durable.snap.metadata.index === 0;
    const peers = s.initial && empty
      ? Array.from({ length: this.profile.nodes }, (_, i) => i + 1)
      : [];
    this.#guard(() => this.inv.observeOpen(id, storage.view));
    this.inv.observeStart(id, inc);
    const transport = this.#transport(s, inc, storage);
    s.state = "running";
    s.storage = storage;
    s.sm = sm;
    s.transport = transport;
    if (inc > 1) this.#restarts++;
    this.#note(`start node ${id} (run ${inc}${peers.length > 0 ? ", bootstrap" : ""})`);
    const p = this.profile;
    const nodeRand = this.#rand.fork();
    RaftNode.start<R>({
      id,
      peers,
      storage: nodeStorage,
      transport,
      stateMachine: checked,
      scheduler: this.clock.scheduler(`n${id}`, s.rate),
      rand: nodeRand.next,
      tickMs: s.tickMs,
      electionTick: p.electionTick,
      heartbeatTick: p.heartbeatTick,
      preVote: p.preVote,
      checkQuorum: true,
      requestTimeoutMs: p.requestTimeoutMs,
      snapshotEntries: p.snapshotEntries,
      snapshotCatchUpEntries: p.catchUpEntries,
      maxSizePerMsg: p.maxSizePerMsg,
      maxInflightMsgs: p.maxInflightMsgs,
      yieldBeforeSave: this.options.yieldBeforeSave ?? true,
      ...(p.exactlyOnce === undefined
        ? {}
        : { forwardProposals: true, sessionLimits: p.exactlyOnce.sessionLimits }),
    }).then(
      (raft) => {
        if (s.incarnation !== inc || s.state !== "running") {
          void raft.close();
          return;
        }
        s.raft = raft;
        this.#guard(() => this.inv.observeRestart(raft.status(), durable));
        raft.on("leader", (e) => {
          this.#guard(() => this.inv.observeLeader(id, e.leaderId, e.term));
          if (e.leaderId === id) {
            this.#note(`node ${id} leads term ${e.term}`);
            this.#leaderElected(e.term);
          }
        });
        raft.on("membership", (e) => {
          const cs = e.confState;
          this.#guard(() =>
            this.inv.observeConfig(
              id,
              e.index,
              new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext]),
            )
          );
          if (e.index > this.#latest.index) {
            this.#latest = { index: e.index, conf: structuredClone(e.confState) };
            this.#note(
              `membership at ${e.index}: voters ${e.confState.voters} learners ${e.confState.learners}${
                e.confState.votersOutgoing.length > 0
                  ? ` outgoing ${e.confState.votersOutgoing}`
                  : ""
              }`,
            );
          }
        });
        raft.on("snapshot", () => {
          this.#compactions++;
        });
      },
      (e) => {
        this.#fail(
          "node-failure",
          `node ${id} failed to start: ${e instanceof Error ? e.message : e}`,
        );
      },
    );
  }

  /** A node leads `term`: a leader change, when it is a later term than any led before. */
  #leaderElected(term: number): void {
    if (term <= this.#leaderTerm) return;
    const first = this.#leaderTerm === 0;
    this.#leaderTerm = term;
    if (!first) this.workload.leaderChanged();
  }

  /** Crashes a node: unsynced writes are lost, in-flight requests fail. */
  #crash(s: Slot<S, R>, why: string): void {
    if (s.state !== "running") return;
    s.disk.crash();
    const raft = s.raft;
    s.transport?.close();
    s.state = "down";
    s.raft = undefined;
    s.sm = undefined;
    s.storage = undefined;
    s.transport = undefined;
    if (raft !== undefined) void raft.close();
    this.#note(`${why} node ${s.id}`);
  }

  // -------------------------------------------------------------------------
  // Faults

  #scheduleFaultTick(): void {
    this.clock.setTimeout(() => this.#faultTick(), this.profile.faultTickMs, "fault");
  }

  #faultTick(): void {
    if (!this.#faultsActive) return;
    this.#scheduleFaultTick();
    const now = this.clock.now;
    const r = this.#faultRand;
    // Expire link faults and network bursts.
    const before = this.#linkFaults.length;
    this.#linkFaults = this.#linkFaults.filter((f) => f.until > now);
    if (this.#linkFaults.length !== before) this.#applyLinks();
    if (this.#burstUntil > 0 && this.#burstUntil <= now) this.#endBurst();
    for (const s of this.slots.values()) {
      if (s.disk.slowFactor !== 1 && s.slowUntil <= now) s.disk.slowFactor = 1;
      if (s.state === "down" && s.restartAt <= now) this.#start(s);
    }
    const p = this.profile;
    for (const kind of faultKinds) {
      if (kind === "crash-after-ack") continue;
      const rate = p.rates[kind];
      if (rate > 0 && r.chance(rate * p.faultTickMs / 1000)) this.#inject(kind);
    }
  }

  #applyLinks(): void {
    this.net.heal();
    for (const f of this.#linkFaults) f.apply(this.net);
  }

  #endBurst(): void {
    const p = this.profile;
    this.#burstUntil = 0;
    this.net.setDropRate(p.dropRate);
    this.net.setDuplicateRate(p.duplicateRate);
    this.net.setDelay(p.delayMs, p.jitterMs);
    this.#note("network burst ends");
  }

  #liveIds(): NodeId[] {
    return [...this.slots.values()].filter((s) => s.state !== "retired" && s.state !== "idle")
      .map((s) => s.id);
  }

  #inject(kind: FaultKind): void {
    const r = this.#faultRand;
    const now = this.clock.now;
    const duration = r.uniform(100, 1500);
    switch (kind) {
      case "partition": {
        const ids = r.shuffle(this.#liveIds());
        if (ids.length < 2) return;
        const k = r.range(1, ids.length - 1);
        const a = ids.slice(0, k).sort((x, y) => x - y);
        const b = ids.slice(k).sort((x, y) => x - y);
        if (!this.#take(`partition [${a}] | [${b}] for ${duration.toFixed(0)} ms`)) return;
        this.#linkFaults.push({ until: now + duration, apply: (net) => net.partition(a, b) });
        this.#applyLinks();
        this.#note(`partition [${a}] | [${b}] for ${duration.toFixed(0)} ms`);
        break;
      }
      case "one-way": {
        const ids = this.#liveIds();
        if (ids.length < 2) return;
        const links: [NodeId, NodeId][] = [];
        const n = r.range(1, 3);
        for (let i = 0; i < n; i++) {
          const [x, y] = r.shuffle(ids);
          links.push([x!, y!]);
        }
        if (!this.#take(`cut links ${links.map(([x, y]) => `${x}->${y}`).join(" ")}`)) return;
        this.#linkFaults.push({
          until: now + duration,
          apply: (net) => {
            for (const [x, y] of links) net.cutLink(x, y);
          },
        });
        this.#applyLinks();
        this.#note(`cut links ${links.map(([x, y]) => `${x}->${y}`).join(" ")}`);
        break;
      }
      case "isolate-leader": {
        const l = this.#leader();
        if (l === undefined) return;
        if (!this.#take(`isolate leader ${l.id} for ${duration.toFixed(0)} ms`)) return;
        this.#linkFaults.push({ until: now + duration, apply: (net) => net.isolate(l.id) });
        this.#applyLinks();
        this.#note(`isolate leader ${l.id} for ${duration.toFixed(0)} ms`);
        break;
      }
      case "crash": {
        const voters = this.#latest.conf.voters;
        const down = voters.filter((id) => this.slots.get(id)?.state === "down").length;
        const running = [...this.slots.values()].filter((s) => s.state === "running");
        if (running.length === 0) return;
        const l = this.#leader();
        const victim = l !== undefined && r.chance(0.4) ? l : r.pick(running);
        if (voters.includes(victim.id) && down + 1 > Math.floor((voters.length - 1) / 2)) return;
        // Some restarts are immediate (a supervisor restarting the process).
        const bounce = r.chance(0.3);
        const restartAt = now + (bounce ? r.uniform(0.5, 5) : r.uniform(20, 1500));
        if (!this.#take(`${bounce ? "bounce" : "crash"} node ${victim.id}`)) return;
        this.#crash(victim, bounce ? "bounce" : "crash");
        victim.restartAt = restartAt;
        if (bounce) {
          this.clock.setTimeout(
            () => {
              if (victim.state === "down") this.#start(victim);
            },
            victim.restartAt - now,
            "fault",
          );
        }
        break;
      }
      case "power-loss": {
        // Every running node loses power at once; each comes back on its own.
        const running = [...this.slots.values()].filter((s) => s.state === "running");
        if (running.length === 0) return;
        const restartAt = running.map(() => now + r.uniform(20, 600));
        if (!this.#take("power loss")) return;
        this.#note("power loss");
        running.forEach((s, k) => {
          this.#crash(s, "power loss:");
          s.restartAt = restartAt[k]!;
        });
        break;
      }
      case "slow-disk": {
        const ids = this.#liveIds();
        if (ids.length === 0) return;
        const s = this.slots.get(r.pick(ids))!;
        const factor = r.uniform(10, 80);
        if (!this.#take(`slow disk on node ${s.id} (x${factor.toFixed(0)})`)) return;
        s.disk.slowFactor = factor;
        s.slowUntil = now + duration;
        this.#note(`slow disk on node ${s.id} (x${s.disk.slowFactor.toFixed(0)})`);
        break;
      }
      case "net-burst": {
        if (this.#burstUntil > 0) return;
        const what = r.int(3);
        const x = r.uniform(what === 2 ? 5 : 0.1, what === 2 ? 50 : 0.5);
        const jitter = what === 2 ? r.uniform(20, 150) : 0;
        if (!this.#take(`network burst (${["loss", "duplication", "delay"][what]})`)) return;
        this.#burstUntil = now + duration;
        if (what === 0) this.net.setDropRate(x);
        else if (what === 1) this.net.setDuplicateRate(x);
        else this.net.setDelay(x, jitter);
        this.#note(`network burst (${["loss", "duplication", "delay"][what]})`);
        break;
      }
      case "membership":
        if (!this.#membership()) return;
        break;
      case "transfer": {
        const l = this.#leader();
        if (l === undefined || l.raft === undefined) return;
        const others = this.#latest.conf.voters.filter((id) => id !== l.id);
        if (others.length === 0) return;
        const to = r.pick(others);
        if (!this.#take(`transfer leadership ${l.id} -> ${to}`)) return;
        this.#note(`transfer leadership ${l.id} -> ${to}`);
        l.raft.transferLeadership(to).catch((e) => this.#requestError(e));
        break;
      }
    }
    this.faults[kind]++;
  }

  /** The `crash-after-ack` fault: a node dies right after vouching for its state. */
  #maybeCrashAfterAck(s: Slot<S, R>, ms: readonly Message[]): void {
    const p = this.profile.rates["crash-after-ack"];
    if (p === 0 || !this.#faultsActive) return;
    // Votes are rare and the classic moment to lose state: crash there more often.
    let chance = 0;
    for (const m of ms) {
      if (m.reject) continue;
      if (m.type === MessageType.MsgVoteResp) chance = Math.max(chance, Math.min(0.9, p * 100));
      else if (m.type === MessageType.MsgAppResp) chance = Math.max(chance, p);
    }
    if (!this.#faultRand.chance(chance)) return;
    const voters = this.#latest.conf.voters;
    const down = voters.filter((id) => this.slots.get(id)?.state === "down").length;
    if (voters.includes(s.id) && down + 1 > Math.floor((voters.length - 1) / 2)) return;
    const inc = s.incarnation;
    const downMs = this.#faultRand.uniform(0.5, 5);
    if (!this.#take(`crash node ${s.id} right after it acknowledged`)) return;
    this.clock.setTimeout(
      () => {
        if (s.incarnation !== inc || s.state !== "running" || !this.#faultsActive) return;
        this.faults["crash-after-ack"]++;
        this.#crash(s, "crash after ack:");
        s.restartAt = this.clock.now + downMs;
        this.clock.setTimeout(
          () => {
            if (s.state === "down") this.#start(s);
          },
          downMs,
          "fault",
        );
      },
      0,
      "fault",
    );
  }

  #requestError(e: unknown): void {
    if (!isExpectedRequestError(e)) this.simError ??= e;
  }

  /** Starts a membership change through the leader; false when none fits now. */
  #membership(): boolean {
    if (this.#adminBusy) return false;
    const conf = this.#latest.conf;
    if (conf.votersOutgoing.length > 0) return false;
    const l = this.#leader();
    if (l === undefined || l.raft === undefined) return false;
    const r = this.#adminRand;
    const p = this.profile;
    const minVoters = Math.max(3, p.nodes - 1);
    const maxVoters = Math.min(7, p.nodes + 1);
    const spares = [...this.slots.values()].filter((s) =>
      !s.initial && !this.#everMember.has(s.id) && s.state !== "retired"
    );
    let what: string;
    let run: (raft: RaftNode<R>) => Promise<unknown>;
    let spare: Slot<S, R> | undefined;
    const retry = this.#adminRetry;
    const voterToReplace = retry === undefined && conf.voters.length >= minVoters &&
      spares.length > 0 && r.chance(0.25);
    if (retry !== undefined && r.chance(0.5)) {
      // The same intent again: it may meanwhile have been applied, or no longer hold.
      this.#adminRetry = undefined;
      this.#membershipRetries++;
      what = `retry ${retry.what}`;
      run = retry.run;
    } else if (voterToReplace) {
      // Two voter changes at once: through a joint configuration.
      const s = spares[0]!;
      spare = s;
      const out = r.pick(conf.voters);
      what = `replace voter ${out} by ${s.id} (joint)`;
      run = (raft) =>
        raft.changeMembership([
          { type: ConfChangeType.ConfChangeAddNode, nodeId: s.id },
          { type: ConfChangeType.ConfChangeRemoveNode, nodeId: out },
        ]);
    } else if (conf.voters.length > minVoters && r.chance(0.15)) {
      const id = r.pick(conf.voters);
      what = `demote voter ${id}`;
      run = (raft) =>
        raft.changeMembership([{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: id }]);
    } else if (conf.learners.length > 0 && r.chance(0.6)) {
      const id = r.pick(conf.learners);
      what = `promote ${id}`;
      run = (raft) => raft.promote(id);
    } else if (conf.voters.length < maxVoters && spares.length > 0 && r.chance(0.6)) {
      const s = spares[0]!;
      spare = s;
      const asLearner = r.chance(0.5);
      what = `add ${asLearner ? "learner" : "voter"} ${s.id}`;
      run = (raft) => asLearner ? raft.addLearner(s.id) : raft.addVoter(s.id);
    } else if (conf.voters.length > minVoters) {
      const id = r.pick(conf.voters);
      what = `remove voter ${id}`;
      run = (raft) => raft.removeNode(id);
    } else if (conf.learners.length > 0) {
      const id = r.pick(conf.learners);
      what = `remove learner ${id}`;
      run = (raft) => raft.removeNode(id);
    } else {
      return false;
    }
    if (!this.#take(`membership: ${what} (via leader ${l.id})`)) return false;
    if (spare !== undefined && spare.state !== "running") this.#start(spare);
    const change = run(l.raft);
    this.#note(`membership: ${what} (via leader ${l.id})`);
    this.#adminBusy = true;
    change.then(
      () => {
        this.#membershipChanges++;
        this.#note(`membership: ${what} done`);
      },
      (e) => {
        this.#requestError(e);
        this.#note(`membership: ${what} failed: ${e instanceof Error ? e.name : e}`);
        if (e instanceof TimeoutError && (this.options.membershipRetries ?? true)) {
          this.#adminRetry = { what: what.replace(/^retry /, ""), run };
        }
      },
    ).finally(() => {
      this.#adminBusy = false;
    });
    return true;
  }

  /** Stops nodes that left the configuration; records members. */
  #retire(): void {
    for (const id of this.#members()) this.#everMember.add(id);
    for (const s of this.slots.values()) {
      if (s.state === "retired" || !this.#everMember.has(s.id) || this.#isMember(s.id)) continue;
      if (s.state === "running") this.#crash(s, "retire removed");
      s.state = "retired";
    }
  }

  // -------------------------------------------------------------------------
  // Steps and checks

  async #step(): Promise<void> {
    const fired = await this.clock.step();
    if (fired === undefined) throw new Error("Cannot step the simulation: no timer left");
    this.#check();
    if (this.workload.error !== undefined) this.simError ??= this.workload.error;
    if (this.once?.error !== undefined) this.simError ??= this.once.error;
  }

  #check(): void {
    this.#guard(() => {
      const views = new Map<NodeId, { view: SimStorage["view"]; incarnation: number }>();
      for (const s of this.slots.values()) {
        if (s.state !== "running" || s.raft === undefined || s.storage === undefined) continue;
        if (s.raft.closed) {
          // Crashed nodes are no longer running: this one stopped on its own.
          const err = s.raft.error;
          this.#fail(
            "node-failure",
            `node ${s.id} stopped: ${err === undefined ? "closed" : `${err.name}: ${err.message}`}`,
          );
          continue;
        }
        this.inv.observeStatus(s.raft.status(), s.incarnation);
        views.set(s.id, { view: s.storage.view, incarnation: s.incarnation });
      }
      this.inv.checkLeaders(views);
      this.#retire();
    });
  }

  #stop(): boolean {
    return this.violation !== undefined || this.simError !== undefined;
  }

  /** Runs steps while `cont()` holds, for at most `ms` of virtual time; false on timeout. */
  async #runWhile(cont: () => boolean, ms: number): Promise<boolean> {
    const end = this.clock.now + ms;
    while (cont() && !this.#stop()) {
      const due = this.clock.peekDue();
      if (due === undefined || due > end) return false;
      await this.#step();
    }
    return !cont();
  }

  /** Heals every fault, then checks that the cluster recovers. */
  async #liveness(): Promise<void> {
    this.#faultsActive = false;
    this.#linkFaults = [];
    this.net.heal();
    this.net.setDropRate(0);
    this.net.setDuplicateRate(0);
    this.net.setDelay(this.profile.delayMs, this.profile.jitterMs);
    this.#burstUntil = 0;
    for (const s of this.slots.values()) {
      s.disk.slowFactor = 1;
      if (s.state === "down") this.#start(s);
    }
    this.#note("faults healed");
    const bound = this.options.livenessMs ?? (this.profile.preVote ? 10_000 : 30_000);
    // A probe whose outcome is unknown (a timeout, a crashed node) is not
    // retried as such (it might apply twice): the next try writes a new value.
    let result: boolean | undefined;
    const deadline = this.clock.now + bound;
    const probe = async (): Promise<boolean> => {
      for (let k = 1; this.clock.now < deadline; k++) {
        if (await this.workload.probe(k, deadline - this.clock.now)) return true;
      }
      return false;
    };
    probe().then((ok) => {
      result = ok;
    }, (e) => {
      this.simError ??= e;
    });
    const settled = await this.#runWhile(() => result === undefined, bound + 1000);
    if (this.#stop()) return;
    if (!settled || result !== true) {
      this.#fail(
        "liveness",
        `no proposal committed within ${bound} ms after the faults healed; ${this.#describeNodes()}`,
      );
      return;
    }
    this.#note("liveness: probe committed");
    const l = this.#leader();
    const target = l?.raft?.status().commit ?? this.inv.maxCommitted;
    const lagging = (): Slot<S, R>[] =>
      this.#members().map((id) => this.slots.get(id)!).filter((s) =>
        s.state !== "running" || s.raft === undefined || s.raft.status().applied < target
      );
    const caughtUp = await this.#runWhile(() => lagging().length > 0, bound);
    if (this.#stop()) return;
    if (!caughtUp) {
      const s = lagging()[0]!;
      this.#fail(
        "liveness",
        `member ${s.id} did not apply up to ${target} within ${bound} ms after the faults healed (${
          s.raft === undefined ? s.state : `applied ${s.raft.status().applied}`
        })`,
      );
    }
  }

  /** Each running node's view, for a failure message. */
  #describeNodes(): string {
    const views: string[] = [];
    for (const s of this.slots.values()) {
      if (s.state !== "running" || s.raft === undefined) continue;
      const st = s.raft.status();
      const cs = st.confState;
      views.push(
        `node ${s.id}: ${
          stateNames[st.raftState]
        } term ${st.term} vote ${st.vote} leader ${st.leaderId} commit ${st.commit} applied ${st.applied} last ${st.lastIndex} voters ${cs.voters} learners ${cs.learners}${
          cs.votersOutgoing.length > 0 ? ` outgoing ${cs.votersOutgoing}` : ""
        }`,
      );
    }
    return views.join("; ");
  }

  /** Stops the clients and waits for their operations to end. */
  async #drain(): Promise<void> {
    this.workload.stop();
    this.once?.stop();
    const bound = this.profile.opTimeoutMs + this.profile.requestTimeoutMs + 1000;
    const inFlight = (): number => this.workload.inFlight + (this.once?.inFlight ?? 0);
    const done = await this.#runWhile(() => inFlight() > 0, bound);
    if (!done && !this.#stop()) {
      this.#fail("liveness", `${inFlight()} client operations did not end within ${bound} ms`);
    }
  }

  /**
   * Once every member has applied all that is committed, checks the
   * exactly-once workload on the replicas' final state.
   */
  async #checkExactlyOnce(once: SessionClients<S, R>): Promise<void> {
    const bound = this.options.livenessMs ?? (this.profile.preVote ? 10_000 : 30_000);
    const members = (): Slot<S, R>[] => this.#members().map((id) => this.slots.get(id)!);
    const lagging = (): Slot<S, R>[] => {
      let commit = 0;
      for (const s of members()) commit = Math.max(commit, s.raft?.status().commit ?? 0);
      return members().filter((s) =>
        s.state !== "running" || s.raft === undefined || s.raft.status().applied < commit
      );
    };
    const caughtUp = await this.#runWhile(() => lagging().length > 0, bound);
    if (this.#stop()) return;
    if (!caughtUp) {
      this.#fail(
        "liveness",
        `member ${
          lagging()[0]!.id
        } did not apply all that is committed within ${bound} ms after the clients stopped`,
      );
      return;
    }
    const replicas = members().map((s) => ({ id: s.id, sm: s.sm! }));
    const { stats, violation } = once.check(replicas);
    this.#onceStats = stats;
    this.inv.checks++;
    if (violation !== undefined) this.#fail("exactly-once", violation);
  }

  #checkHistory(model: Model<M, I, O>): CheckResult {
    const key = this.options.partitionKey;
    const m = model.partition === undefined && key !== undefined
      ? { ...model, partition: partitionBy<I, O>(key) }
      : model;
    const report = checkOperations(m, this.workload.history, {
      stepsMax: this.options.checkerStepsMax ?? 50_000_000,
    });
    this.inv.checks++;
    if (report.result === "illegal" && report.explanation !== undefined) {
      this.#fail(
        "linearizability",
        `the history of ${
          report.explanation.key === "" ? "the clients" : `key ${report.explanation.key}`
        } is not linearizable:\n${formatExplanation(report.explanation)}`,
      );
    }
    return report.result;
  }

  /** Runs the whole simulation. */
  async run(): Promise<SimResult<I, O>> {
    const wall0 = performance.now();
    let lin: CheckResult | "skipped" = "skipped";
    try {
      const empty = this.options.stateMachine({
        nodeId: 0,
        incarnation: 0,
        rand: new Prng(0),
        now: () => this.clock.now,
      });
      this.inv.emptyDigest = hashBytes(await collectSnapshotData(await empty.snapshot()));
      for (const s of this.slots.values()) if (s.initial) this.#start(s);
      this.workload.start();
      this.once?.start();
      this.#scheduleFaultTick();
      while (this.clock.fired < this.options.steps && !this.#stop()) await this.#step();
      if (!this.#stop()) await this.#liveness();
      if (!this.#stop()) await this.#drain();
      if (!this.#stop() && this.once !== undefined) await this.#checkExactlyOnce(this.once);
      const model = this.options.model;
      if (!this.#stop() && !this.options.skipLinearizability && model !== undefined) {
        lin = this.#checkHistory(model);
      }
    } catch (e) {
      this.simError ??= e;
    } finally {
      for (const s of this.slots.values()) {
        if (s.state === "running") this.#crash(s, "shutdown");
      }
      this.net.close();
      this.clock.clear();
    }
    const wallMs = performance.now() - wall0;
    const ns = this.net.stats;
    let lostWrites = 0;
    for (const s of this.slots.values()) lostWrites += s.disk.stats.lostWrites;
    const v = this.violation;
    const result: SimResult<I, O> = {
      seed: this.seed,
      steps: this.options.steps,
      profile: this.profile,
      ok: v === undefined && this.simError === undefined && lin !== "illegal",
      linearizability: lin,
      traceHash: this.clock.trace.hex,
      stats: {
        virtualMs: this.clock.now,
        steps: this.clock.fired,
        wallMs,
        faults: this.faults,
        elections: this.inv.elections,
        invariantChecks: this.inv.checks,
        ops: { ...this.workload.stats },
        failover: this.workload.failover,
        ...(this.#onceStats === undefined ? {} : { exactlyOnce: this.#onceStats }),
        messages: ns,
        snapshotsSent: this.#snapshotsSent,
        compactions: this.#compactions,
        restarts: this.#restarts,
        membershipChanges: this.#membershipChanges,
        membershipRetries: this.#membershipRetries,
        lostWrites,
      },
      trace: this.#trace.slice(),
      history: this.workload.history,
      events: this.#events,
      keep: this.options.keep ?? {},
    };
    if (v !== undefined) {
      result.violation = {
        invariant: v.invariant,
        message: v.message,
        time: v.time,
        step: this.#violationStep ?? this.clock.fired,
      };
    }
    if (this.simError !== undefined) {
      const e = this.simError;
      result.simError = e instanceof Error
        ? `${e.name}: ${e.message}\n${e.stack ?? ""}`
        : String(e);
    }
    return result;
  }
}
