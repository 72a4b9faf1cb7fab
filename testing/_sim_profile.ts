/**
 * What a simulation run's seed draws: the cluster (size, ticks, clock skew,
 * Raft's options), the network and the disks, the rate of each kind of
 * fault, and the clients' load.
 *
 * @module
 */

import { defaultSessionLimits } from "../core/node.ts";
import type { Prng } from "./_prng.ts";
import type { ExactlyOnceProfile } from "./exactly_once.ts";

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

/** The Raft options of every node, as a profile draws them. */
export type ProfileRaftOptions = {
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: true;
  requestTimeoutMs: number;
  snapshotEntries: number;
  snapshotCatchUpEntries: number;
};

/**
 * The Raft options a profile gives every node (CheckQuorum always on).
 *
 * @param p The profile.
 * @returns The options.
 */
export function profileRaftOptions(
  p: Pick<
    SimProfile,
    | "electionTick"
    | "heartbeatTick"
    | "preVote"
    | "requestTimeoutMs"
    | "snapshotEntries"
    | "catchUpEntries"
  >,
): ProfileRaftOptions {
  return {
    electionTick: p.electionTick,
    heartbeatTick: p.heartbeatTick,
    preVote: p.preVote,
    checkQuorum: true,
    requestTimeoutMs: p.requestTimeoutMs,
    snapshotEntries: p.snapshotEntries,
    snapshotCatchUpEntries: p.catchUpEntries,
  };
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
export function drawExactlyOnceProfile(rand: Prng): ExactlyOnceProfile {
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
