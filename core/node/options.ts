/**
 * The driver's options: {@linkcode RaftNodeOptions} and the per-request
 * ones, their validation and defaults, and the one check every numeric
 * option of the package goes through ({@linkcode checkNumberOption}).
 *
 * @module
 */

import type { ResultCodec } from "./result_codec.ts";
import type { SessionLimits } from "./sessions.ts";
import { discardLogger, type Logger } from "../logger.ts";
import type { Config } from "../raft.ts";
import type { MemoryStorage } from "../storage.ts";
import { type Index, type NodeId, ReadOnlyOption } from "../types.ts";
import type { NodeStorage, StateMachine, Transport } from "./seams.ts";
import type { Scheduler } from "./scheduler.ts";

/** Options of {@linkcode RaftNode.start}. */
export interface RaftNodeOptions<R = unknown> {
  /** This node's ID; not 0. */
  id: NodeId;
  /** The durable storage. A `MemoryStorage` is wrapped with {@linkcode memoryNodeStorage}. */
  storage: NodeStorage | MemoryStorage;
  /** Carries messages to and from the peers. */
  transport: Transport;
  /** The state machine commands are applied to. */
  stateMachine: StateMachine<R>;
  /**
   * The voters of a new cluster. Used only when the storage is empty: the
   * log is then bootstrapped with one membership change per voter. Leave it
   * out for a node that joins an existing cluster (it is added with
   * `addVoter`/`addLearner` from the cluster) and when restarting.
   * @default {[]}
   */
  peers?: readonly NodeId[];
  /**
   * Where time comes from.
   * @default {globalScheduler}
   */
  scheduler?: Scheduler;
  /**
   * Milliseconds between two Raft ticks.
   * @default {100}
   */
  tickMs?: number;
  /**
   * Ticks without a leader before a follower campaigns (randomized up to twice that).
   * @default {10}
   */
  electionTick?: number;
  /**
   * Ticks between the leader's heartbeats.
   * @default {1}
   */
  heartbeatTick?: number;
  /**
   * The default timeout of proposals, reads, membership changes,
   * leadership transfers and `waitForLeader`; measured in ticks
   * (`ceil(requestTimeoutMs / tickMs)`).
   * @default {5000}
   */
  requestTimeoutMs?: number;
  /**
   * Let followers forward proposals and membership changes to the leader
   * (Raft's proposal forwarding) instead of rejecting them with
   * {@linkcode NotLeaderError}. A forwarded proposal that the network
   * duplicates may be applied twice.
   * @default {false}
   */
  forwardProposals?: boolean;
  /**
   * Pending proposals and membership changes at most; beyond it requests
   * are rejected with {@linkcode BusyError}.
   * @default {1024}
   */
  maxPendingProposals?: number;
  /**
   * Pending reads, leadership transfers and `waitForLeader` calls at most;
   * beyond it requests are rejected with {@linkcode BusyError}.
   * @default {1024}
   */
  maxPendingReads?: number;
  /**
   * Bytes of proposals stepped into Raft as one message at most (proposals
   * that arrive while a write is in flight are batched).
   * @default {1048576}
   */
  maxProposalBatchBytes?: number;
  /**
   * Before taking a Ready that writes to storage (entries, a snapshot or a
   * new HardState), yield to pending I/O once through the scheduler's
   * {@linkcode Scheduler.yieldToIo} (`setImmediate` by default), then step
   * the proposals and reads that arrived meanwhile into that same Ready.
   *
   * Why: a synchronous `save()` (SQLite's, which fsyncs) blocks the event
   * loop for its whole duration, and the loop of Readies otherwise awaits
   * only promise continuations, so requests that arrived during a write
   * could run only after the loop ended; then the first of them started a
   * Ready of its own and paid a write of its own, and so on. With the yield
   * they share the next write: many proposals per fsync under concurrent
   * load. The cost is one macrotask hop (microseconds) per Ready that
   * writes; Readies that write nothing (heartbeats, read confirmations)
   * take no hop. Asynchronous storages gain little from it but lose
   * nothing either. A scheduler without `yieldToIo` never yields.
   * @default {true}
   */
  yieldBeforeSave?: boolean;
  /**
   * Take a snapshot and compact the log once this many entries were applied
   * since the last snapshot; `0` disables it.
   * @default {10000}
   */
  snapshotEntries?: number;
  /**
   * Take a snapshot once this many command bytes were applied since the
   * last snapshot; `0` disables it.
   * @default {0}
   */
  snapshotBytes?: number;
  /**
   * Entries kept in the log behind a snapshot, so that slow followers can
   * catch up without a snapshot.
   * @default {5000}
   */
  snapshotCatchUpEntries?: number;
  /**
   * Leaders step down without a quorum of active followers; followers that
   * hear from a leader ignore vote requests.
   * @default {true}
   */
  checkQuorum?: boolean;
  /**
   * Run a pre-election before campaigning.
   * @default {true}
   */
  preVote?: boolean;
  /**
   * How reads are confirmed: `ReadOnlySafe` (a heartbeat round) or
   * `ReadOnlyLeaseBased` (the leader's lease; needs `checkQuorum`).
   * @default {ReadOnlyOption.ReadOnlySafe}
   */
  readOnlyOption?: ReadOnlyOption;
  /**
   * Bytes of entries per append message at most.
   * @default {1048576}
   */
  maxSizePerMsg?: number;
  /**
   * Append messages in flight per follower at most.
   * @default {256}
   */
  maxInflightMsgs?: number;
  /**
   * Bytes of uncommitted entries a leader accepts at most; proposals beyond
   * it are rejected with `ProposalDroppedError`.
   * @default {67108864}
   */
  maxUncommittedEntriesSize?: number;
  /**
   * Bytes of committed entries applied per Ready at most.
   * @default {1048576}
   */
  maxCommittedSizePerReady?: number;
  /**
   * A leader removed from the configuration steps down.
   * @default {true}
   */
  stepDownOnRemoval?: boolean;
  /**
   * Where log lines go.
   * @default {discardLogger}
   */
  logger?: Logger;
  /**
   * Randomness in `[0, 1)`, for election timeouts and for this run's
   * incarnation number (which tells this run's proposals from an earlier
   * run's). Give each run of a node a differently seeded generator.
   * @default {a generator seeded from crypto.getRandomValues}
   */
  rand?: () => number;
  /**
   * Bounds of the replicated session table that makes commands exactly-once
   * (see `openSession()` and `ProposeOptions.idempotencyKey`). Every node
   * of a cluster must use the same bounds.
   * @default {defaultSessionLimits}
   */
  sessionLimits?: Partial<SessionLimits>;
  /**
   * How the results of exactly-once commands are kept for retries (they
   * travel in snapshots). Must be deterministic.
   * @default {jsonResultCodec}
   */
  resultCodec?: ResultCodec<R>;
}

/** Per-request options. */
export interface RequestOptions {
  /**
   * The request's timeout.
   * @default {the node's requestTimeoutMs}
   */
  timeoutMs?: number;
}

/** Options of a proposal. */
export interface ProposeOptions extends RequestOptions {
  /**
   * Names the command for exactly-once application (an HTTP request's
   * `Idempotency-Key`): the first command with this key applies; a later
   * one with the same key and fingerprint, on any node, gets the first
   * one's result without applying; one with another fingerprint is refused
   * with `SessionError` `key_reused`. Keys are kept for
   * `sessionLimits.keyTtlMs`.
   */
  idempotencyKey?: string;
  /**
   * What identifies the request under `idempotencyKey`.
   * @default {a 64-bit hash of the command's bytes}
   */
  fingerprint?: Uint8Array;
}

/** Options of a membership change. */
export interface ConfChangeOptions extends RequestOptions {
  /**
   * Opaque bytes stored with the change, handed to `Transport.addPeer` and
   * to `membership` listeners (for example the new member's address).
   * @default {empty}
   */
  context?: Uint8Array;
}

/**
 * What a numeric option must be: `"positive"` (a finite number above 0),
 * `"nonNegative"` (finite, at least 0), `"positiveInteger"` and
 * `"nonNegativeInteger"` (safe integers), `"fraction"` (in `[0, 1]`), or
 * `{ integerAtLeast: n }` (a safe integer of at least `n`).
 */
export type NumberRule =
  | "positive"
  | "nonNegative"
  | "positiveInteger"
  | "nonNegativeInteger"
  | "fraction"
  | { integerAtLeast: number };

const ruleTexts = {
  positive: "a positive number",
  nonNegative: "a non-negative number",
  positiveInteger: "a positive integer",
  nonNegativeInteger: "a non-negative integer",
  fraction: "in [0, 1]",
} as const;

function satisfies(v: number, rule: NumberRule): boolean {
  if (typeof v !== "number" || !Number.isFinite(v)) return false;
  if (typeof rule === "object") return Number.isSafeInteger(v) && v >= rule.integerAtLeast;
  switch (rule) {
    case "positive":
      return v > 0;
    case "nonNegative":
      return v >= 0;
    case "positiveInteger":
      return Number.isSafeInteger(v) && v > 0;
    case "nonNegativeInteger":
      return Number.isSafeInteger(v) && v >= 0;
    case "fraction":
      return v <= 1 && v >= 0;
  }
}

/**
 * Checks a numeric option against its rule.
 *
 * @param action What the option is for, as in "create RaftNode".
 * @param name The option's name.
 * @param v The option's value.
 * @param rule What the value must be.
 * @returns `v`.
 * @throws {RangeError} `v` breaks the rule, worded "Cannot <action> as
 *   '<name>' must be <rule>: current value <v>".
 */
export function checkNumberOption(
  action: string,
  name: string,
  v: number,
  rule: NumberRule,
): number {
  if (!satisfies(v, rule)) {
    throw new RangeError(
      `Cannot ${action} as '${name}' must be ${
        typeof rule === "object" ? `an integer of at least ${rule.integerAtLeast}` : ruleTexts[rule]
      }: current value ${v}`,
    );
  }
  return v;
}

/** The driver's numeric options, validated, defaults filled in. */
export interface Limits {
  tickMs: number;
  requestTimeoutMs: number;
  maxPendingProposals: number;
  maxPendingReads: number;
  maxProposalBatchBytes: number;
  snapshotEntries: number;
  snapshotBytes: number;
  snapshotCatchUpEntries: number;
}

/**
 * Validates the options `RaftNode.start` needs before it reads the storage.
 *
 * @param o The options.
 * @returns The numeric options, defaults filled in.
 * @throws {RangeError} A numeric option is out of range.
 * @throws {TypeError} The storage, transport or state machine is missing.
 */
export function resolveLimits(o: RaftNodeOptions<unknown>): Limits {
  const check = (name: string, v: number, rule: NumberRule): number =>
    checkNumberOption("create RaftNode", name, v, rule);
  check("id", o.id, "positiveInteger");
  for (const name of ["storage", "transport", "stateMachine"] as const) {
    if (o[name] === undefined || o[name] === null) {
      throw new TypeError(`Cannot create RaftNode as '${name}' is missing`);
    }
  }
  return {
    tickMs: check("tickMs", o.tickMs ?? 100, "positive"),
    requestTimeoutMs: check("requestTimeoutMs", o.requestTimeoutMs ?? 5000, "positive"),
    maxPendingProposals: check("maxPendingProposals", o.maxPendingProposals ?? 1024, "positive"),
    maxPendingReads: check("maxPendingReads", o.maxPendingReads ?? 1024, "positive"),
    maxProposalBatchBytes: check(
      "maxProposalBatchBytes",
      o.maxProposalBatchBytes ?? 1 << 20,
      "positive",
    ),
    snapshotEntries: check("snapshotEntries", o.snapshotEntries ?? 10_000, "nonNegative"),
    snapshotBytes: check("snapshotBytes", o.snapshotBytes ?? 0, "nonNegative"),
    snapshotCatchUpEntries: check(
      "snapshotCatchUpEntries",
      o.snapshotCatchUpEntries ?? 5000,
      "nonNegative",
    ),
  };
}

/**
 * The configuration of the node's `RawNode`, defaults filled in.
 *
 * @param options The node's options.
 * @param storage The node's storage.
 * @param applied The index Raft replays the log from (the latest snapshot's).
 * @param rand The node's randomness.
 * @returns The Raft configuration.
 */
export function raftConfig(
  options: RaftNodeOptions<unknown>,
  storage: NodeStorage,
  applied: Index,
  rand: () => number,
): Config {
  return {
    id: options.id,
    storage,
    applied,
    electionTick: options.electionTick ?? 10,
    heartbeatTick: options.heartbeatTick ?? 1,
    checkQuorum: options.checkQuorum ?? true,
    preVote: options.preVote ?? true,
    readOnlyOption: options.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe,
    maxSizePerMsg: options.maxSizePerMsg ?? 1 << 20,
    maxInflightMsgs: options.maxInflightMsgs ?? 256,
    maxUncommittedEntriesSize: options.maxUncommittedEntriesSize ?? 64 << 20,
    maxCommittedSizePerReady: options.maxCommittedSizePerReady ?? 1 << 20,
    disableProposalForwarding: !(options.forwardProposals ?? false),
    stepDownOnRemoval: options.stepDownOnRemoval ?? true,
    logger: options.logger ?? discardLogger,
    rand,
  };
}

/**
 * The default randomness of a node: a generator seeded from
 * `crypto.getRandomValues`.
 *
 * @returns Numbers in `[0, 1)`.
 */
export function defaultRand(): () => number {
  const seed = new Uint32Array(2);
  crypto.getRandomValues(seed);
  let a = seed[0]! | 0;
  const b = seed[1]! | 1;
  // A Weyl sequence scrambled like SplitMix32; seeded from the system.
  return function next(): number {
    a = (a + 0x9e3779b9 + b) | 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    z = z ^ (z >>> 15);
    return (z >>> 0) / 4294967296;
  };
}
