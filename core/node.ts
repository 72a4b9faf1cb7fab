/**
 * `RaftNode`: the driver that turns a {@linkcode RawNode} into a replicated
 * state machine. It owns the tick timer and the Ready loop (persist, send,
 * install snapshots, apply, advance), matches applied entries to the
 * promises of the proposals that made them, serves linearizable reads
 * through ReadIndex, changes the membership, takes snapshots and compacts
 * the log.
 *
 * What it needs from the application:
 * - a {@linkcode NodeStorage} (the synchronous `Storage` read side plus one
 *   `save` call per Ready, which may return a Promise), or a `MemoryStorage`;
 * - a {@linkcode Transport} that carries messages between nodes;
 * - a {@linkcode StateMachine} that applies commands and takes snapshots.
 *
 * Time enters only through a {@linkcode Scheduler}; the default uses the
 * global timers, and a simulation can pass a virtual one. This is the only
 * file in `core/` that schedules anything.
 *
 * @module
 */

import { decodeConfChange, decodeConfChangeV2 } from "./codec.ts";
import {
  type ConfChangeError,
  ProposalDroppedError,
  StepLocalMsgError,
  StepPeerNotFoundError,
} from "./errors.ts";
import { discardLogger, type Logger } from "./logger.ts";
import type { Config } from "./raft.ts";
import { RawNode } from "./raw_node.ts";
import { checkPeerMessage } from "./node/inbound.ts";
import {
  type Envelope,
  envelopeHeader,
  intentEnvelopeHeader,
  type MembershipIntent,
  readEnvelope,
  wrap,
} from "./node/envelope.ts";
import {
  changeTypeOf,
  checkIntents,
  decodeSnapshotData,
  encodeSnapshotData,
  intentOf,
} from "./node/membership.ts";
import { cloneConfState, MemoryStorage, type Storage } from "./storage.ts";
import {
  confChangeAsV2,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  emptyBytes,
  type Entry,
  EntryType,
  type HardState,
  type Index,
  isEmptyHardState,
  isEmptySnap,
  type Message,
  MessageType,
  messageTypeNames,
  newMessage,
  type NodeId,
  None,
  ReadOnlyOption,
  type Ready,
  type Snapshot,
  type SnapshotStatus,
  type SoftState,
  StateType,
  type Term,
} from "./types.ts";

// ---------------------------------------------------------------------------
// Errors

/** Codes of the errors the driver rejects requests with. */
export type NodeErrorCode = "not_leader" | "timeout" | "node_closed" | "busy";

/** Base class of the driver's errors. Each carries a literal `code`. */
export class NodeError extends Error {
  /** Literal code for programmatic checks. */
  readonly code: NodeErrorCode;
  /**
   * Creates a driver error.
   *
   * @param code The error's code.
   * @param message The error's message.
   * @param options The error's cause, if any.
   */
  constructor(code: NodeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NodeError";
    this.code = code;
  }
}

/** The request needs the leader and this node is not it. */
export class NotLeaderError extends NodeError {
  /** The leader this node knows of, or `0` (None) when it knows none. */
  readonly leaderId: NodeId;
  /**
   * Creates the error.
   *
   * @param nodeId This node's ID.
   * @param leaderId The known leader, or `0`.
   */
  constructor(nodeId: NodeId, leaderId: NodeId) {
    super(
      "not_leader",
      `Cannot serve the request: node ${nodeId} is not the leader (${
        leaderId === None ? "no leader known" : `leader is ${leaderId}`
      })`,
    );
    this.name = "NotLeaderError";
    this.leaderId = leaderId;
  }
}

/**
 * The request did not complete in time. For proposals and membership
 * changes the outcome is unknown: the entry may still be applied later.
 */
export class TimeoutError extends NodeError {
  /**
   * Creates the error.
   *
   * @param what The request that timed out.
   * @param timeoutMs Its timeout.
   */
  constructor(what: string, timeoutMs: number) {
    super("timeout", `Cannot complete ${what}: timed out after ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

/** The node is closed (by `close()`, or by a fatal error, then in `cause`). */
export class NodeClosedError extends NodeError {
  /**
   * Creates the error.
   *
   * @param nodeId The node's ID.
   * @param cause The fatal error that closed the node, if any.
   */
  constructor(nodeId: NodeId, cause?: unknown) {
    super(
      "node_closed",
      cause === undefined
        ? `Cannot serve the request: node ${nodeId} is closed`
        : `Cannot serve the request: node ${nodeId} is closed after a fatal error: ${
          cause instanceof Error ? cause.message : String(cause)
        }`,
      cause === undefined ? undefined : { cause },
    );
    this.name = "NodeClosedError";
  }
}

/** Too many requests of this kind are pending; try again later. */
export class BusyError extends NodeError {
  /**
   * Creates the error.
   *
   * @param what The kind of request.
   * @param limit The limit that was reached.
   */
  constructor(what: string, limit: number) {
    super("busy", `Cannot accept the ${what}: ${limit} already pending`);
    this.name = "BusyError";
  }
}

// ---------------------------------------------------------------------------
// Seams

/** An opaque timer handle returned by {@linkcode Scheduler.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Where the driver's time comes from: a `setTimeout`/`clearTimeout` pair,
 * plus an optional `yieldToIo` for the hop the driver takes before a
 * storage write. Pass a virtual scheduler to run nodes on simulated time.
 */
export interface Scheduler {
  /**
   * Calls `fn` once, after `delayMs` milliseconds.
   *
   * @param fn The callback.
   * @param delayMs The delay.
   * @returns A handle for `clearTimeout`.
   */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  /**
   * Cancels a pending callback; a no-op for one that already ran.
   *
   * @param handle The handle `setTimeout` returned.
   */
  clearTimeout(handle: TimerHandle): void;
  /**
   * Calls `fn` once, as a new macrotask: after the callbacks of I/O that
   * is already pending (requests that arrived, messages from peers) had a
   * chance to run. On a real event loop that is `setImmediate`; a virtual
   * scheduler runs it as a timer of zero delay, in the order it was asked
   * for among the timers due at the same time.
   *
   * The driver calls it before it takes a Ready that writes to storage
   * (see {@linkcode RaftNodeOptions.yieldBeforeSave}): a synchronous write
   * (SQLite's fsync) blocks the event loop, so the requests that arrive
   * meanwhile can only run once the driver yields; yielding before the
   * next Ready lets them join it and share its write, instead of each
   * paying a write of its own.
   *
   * Optional: without it the driver never yields before a write, as if
   * `yieldBeforeSave` were `false` (a scheduler that only knows timers
   * could offer a zero-delay timer, but real timers of 0 ms are clamped to
   * 1 to 4 ms, far more than the hop is worth).
   *
   * @param fn The callback.
   * @returns A handle that `clearTimeout` cancels.
   */
  yieldToIo?(fn: () => void): TimerHandle;
}

type ImmediateGlobals = {
  setImmediate?: (fn: () => void) => unknown;
  clearImmediate?: (handle: unknown) => void;
};

/** A `setImmediate` handle, told apart from timer handles by `clearTimeout`. */
class ImmediateHandle {
  readonly immediate: unknown;
  constructor(immediate: unknown) {
    this.immediate = immediate;
  }
}

/**
 * The scheduler that uses the runtime's global timers. The default.
 * `yieldToIo` uses `setImmediate` where the runtime has it (Node, Bun,
 * Deno), else `setTimeout(fn, 0)`.
 */
export const globalScheduler: Scheduler = {
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return setTimeout(fn, delayMs);
  },
  clearTimeout(handle: TimerHandle): void {
    if (handle instanceof ImmediateHandle) {
      (globalThis as ImmediateGlobals).clearImmediate?.(handle.immediate);
      return;
    }
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
  yieldToIo(fn: () => void): TimerHandle {
    const g = globalThis as ImmediateGlobals;
    if (typeof g.setImmediate === "function") return new ImmediateHandle(g.setImmediate(fn));
    return setTimeout(fn, 0);
  },
};

/** What a transport hands inbound traffic and delivery outcomes to. */
export interface TransportHandler {
  /** The local node's ID. */
  readonly id: NodeId;
  /**
   * Steps a message received from a peer. Never throws.
   *
   * @param m The message (owned by the node from now on).
   */
  step(m: Message): void;
  /**
   * Reports that a message to a peer could not be delivered.
   *
   * @param id The peer.
   */
  reportUnreachable(id: NodeId): void;
  /**
   * Reports the outcome of sending a snapshot (a `MsgSnap`) to a peer.
   *
   * @param id The peer.
   * @param status `SnapshotFinish` or `SnapshotFailure`.
   */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void;
}

/**
 * Carries messages between nodes. Delivery is best effort: messages may be
 * lost, duplicated or reordered; Raft copes with all of these.
 */
export interface Transport {
  /**
   * Starts delivering inbound messages to the node. Called once, before
   * any other method.
   *
   * @param handler Where to deliver messages and reports.
   */
  start(handler: TransportHandler): void;
  /**
   * Sends messages; must not block. The messages must not be modified.
   *
   * @param messages The messages, each addressed by its `to` field.
   */
  send(messages: readonly Message[]): void;
  /**
   * Learns of a new member (called when the membership change is applied).
   *
   * @param id The member.
   * @param context The context of the change, for example an address.
   */
  addPeer?(id: NodeId, context: Uint8Array): void;
  /**
   * Forgets a removed member.
   *
   * @param id The member.
   */
  removePeer?(id: NodeId): void;
  /** Stops delivering and sending; may return a Promise. */
  close(): void | Promise<void>;
}

/** One Ready's worth of durable state, written by {@linkcode NodeStorage.save}. */
export interface StorageUpdate {
  /** The new HardState, or `undefined` when it did not change. */
  hardState: HardState | undefined;
  /** Entries to append; they replace stored entries at the same indexes and after. */
  entries: readonly Entry[];
  /** A snapshot to install (replacing the log) before the entries, or `undefined`. */
  snapshot: Snapshot | undefined;
  /**
   * Whether the write must be synced to disk before returning: true when
   * there are entries, the term or vote changed, or a snapshot is installed.
   */
  mustSync: boolean;
}

/**
 * The durable storage the driver reads and writes: the synchronous Raft
 * `Storage` read side, plus the write side. Writes may return a Promise;
 * the driver awaits it before sending the messages that depend on it.
 *
 * `initialState().confState` must be the ConfState of the latest snapshot
 * (membership changes after it are replayed from the log at restart).
 */
export interface NodeStorage extends Storage {
  /**
   * Makes one Ready's state durable, atomically if the storage can: first
   * the snapshot (if any), then the entries, then the HardState.
   *
   * @param update What to write.
   * @returns Nothing, or a Promise that settles once the write is durable.
   */
  save(update: StorageUpdate): void | Promise<void>;
  /**
   * Records a snapshot of the state machine at `index`, which later
   * `snapshot()` calls return.
   *
   * @param index The applied index the data reflects.
   * @param confState The membership at `index`.
   * @param data The state machine's snapshot.
   * @returns Anything; a Promise is awaited.
   */
  createSnapshot(index: Index, confState: ConfState, data: Uint8Array): unknown;
  /**
   * Discards the entries up to and including `index` (which stays the
   * position the log starts after).
   *
   * @param index At most the latest snapshot's index.
   * @returns Anything; a Promise is awaited.
   */
  compact(index: Index): unknown;
}

/** A command handed to the state machine. */
export interface Command {
  /** Its log index. */
  index: Index;
  /** The term it was proposed in. */
  term: Term;
  /** The data given to `propose()`; must not be modified. */
  data: Uint8Array;
}

/**
 * The application's state machine. Apply must be deterministic: every node
 * applies the same commands in the same order and must reach the same state.
 *
 * @typeParam R The result of applying one command, returned by `propose()`.
 */
export interface StateMachine<R = unknown> {
  /**
   * Applies committed commands, in log order. A command the application
   * refuses should still be "applied" and produce a result saying so;
   * throwing is a fatal error that closes the node.
   *
   * @param commands The commands; never empty.
   * @returns One result per command, in the same order (or a Promise of them).
   */
  apply(commands: readonly Command[]): readonly R[] | Promise<readonly R[]>;
  /**
   * Serializes the state as of the last applied command. Called between
   * Ready batches (nothing is applied meanwhile); should be quick.
   *
   * @returns The snapshot's bytes (or a Promise of them).
   */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /**
   * Replaces the whole state with a snapshot's.
   *
   * @param data The snapshot's bytes.
   * @param meta Where the snapshot sits in the log.
   * @returns Nothing, or a Promise.
   */
  restore(data: Uint8Array, meta: { index: Index; term: Term }): void | Promise<void>;
  /**
   * Only for state machines that keep their state across restarts: the
   * index of the last command applied (or snapshot restored). At restart,
   * commands up to it are not applied again. Without this method the
   * driver restores the latest snapshot and replays the log after it.
   *
   * @returns The index (or a Promise of it).
   */
  appliedIndex?(): Index | Promise<Index>;
}

// ---------------------------------------------------------------------------
// Options, status, events

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
}

/** Per-request options. */
export interface RequestOptions {
  /**
   * The request's timeout.
   * @default {the node's requestTimeoutMs}
   */
  timeoutMs?: number;
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

/** A snapshot of the driver's state. */
export interface RaftNodeStatus {
  /** This node's ID. */
  id: NodeId;
  /** The leader this node knows of, or 0. */
  leaderId: NodeId;
  /** This node's role. */
  raftState: StateType;
  /** The current term. */
  term: Term;
  /** The vote in the current term, or 0. */
  vote: NodeId;
  /** The commit index. */
  commit: Index;
  /** The index of the last entry applied by this driver. */
  applied: Index;
  /** The index of the latest snapshot in storage. */
  snapshotIndex: Index;
  /** The membership as of `applied`. */
  confState: ConfState;
  /** Proposals and membership changes waiting for their outcome. */
  pendingProposals: number;
  /** Reads, transfers and leader waits waiting for their outcome. */
  pendingReads: number;
  /** Whether the node is closed. */
  closed: boolean;
  /**
   * The index of the last entry in this node's log, counting entries not
   * yet persisted: `commit <= lastIndex`. After `close()`, the value at
   * close.
   */
  lastIndex: Index;
  /**
   * On the leader, its replication progress for every member (itself
   * included), by ascending ID; empty on any other node, whose progress
   * records are not kept up to date.
   */
  progress: MemberProgress[];
}

/** How the leader replicates to a member (etcd's `ProgressState`, named). */
export type MemberProgressState = "probe" | "replicate" | "snapshot";

/**
 * The leader's view of one member's log, from its progress tracker (the
 * fields of etcd's `tracker.Progress`).
 */
export interface MemberProgress {
  /** The member's ID. */
  id: NodeId;
  /** The highest index known to match the leader's log: `match < next`. */
  match: Index;
  /** The index of the next entry the leader sends to the member. */
  next: Index;
  /**
   * `"probe"`: the member's last index is being looked for, one append at a
   * time; `"replicate"`: appends are streamed; `"snapshot"`: replication
   * waits for a snapshot the member needs.
   */
  state: MemberProgressState;
  /**
   * Whether the member was heard from recently. Set by each message from
   * it; reset once per election timeout only when `checkQuorum` is on.
   */
  recentActive: boolean;
  /** Whether the member is a learner. */
  isLearner: boolean;
  /** Whether sending entries to the member is throttled (always in `"snapshot"`). */
  paused: boolean;
  /** In `"snapshot"`, the index of the snapshot being sent; otherwise 0. */
  pendingSnapshot: Index;
  /** Appends sent to the member and not yet acknowledged: at most `maxInflightMsgs`. */
  inflight: number;
}

const memberProgressStates: readonly MemberProgressState[] = ["probe", "replicate", "snapshot"];

/** The events a node emits, by name, with their payloads. */
export interface RaftNodeEvents {
  /** The known leader changed (`leaderId` 0: none known). */
  leader: { leaderId: NodeId; term: Term };
  /** Entries up to `index` were applied. */
  applied: { index: Index };
  /** A membership change was applied. */
  membership: {
    confState: ConfState;
    changes: readonly ConfChangeSingle[];
    context: Uint8Array;
    index: Index;
  };
  /** A snapshot was taken and the log compacted. */
  snapshot: { index: Index };
  /** The node closed; `error` is the fatal error, if any. */
  close: { error: Error | undefined };
}

/** The name of an event. */
export type RaftNodeEventName = keyof RaftNodeEvents;

// ---------------------------------------------------------------------------
// Storage wrapper

/**
 * Adds the driver's write side to a {@linkcode MemoryStorage}: `save`
 * applies the snapshot, appends the entries and sets the HardState.
 * `RaftNode.start` does this on its own when handed a `MemoryStorage`.
 *
 * @param ms The memory storage.
 * @returns A NodeStorage backed by `ms`.
 *
 * @example Usage
 * ```ts
 * import { memoryNodeStorage } from "./node.ts";
 * import { MemoryStorage } from "./storage.ts";
 * import { newEntry } from "./types.ts";
 * const ms = new MemoryStorage();
 * memoryNodeStorage(ms).save({
 *   hardState: { term: 1, vote: 1, commit: 1 },
 *   entries: [newEntry({ term: 1, index: 1 })],
 *   snapshot: undefined,
 *   mustSync: true,
 * });
 * if (ms.lastIndex() !== 1 || ms.hardState.commit !== 1) throw new Error("unexpected");
 * ```
 */
export function memoryNodeStorage(ms: MemoryStorage): NodeStorage {
  return {
    initialState(): { hardState: HardState; confState: ConfState } {
      return ms.initialState();
    },
    entries(lo: Index, hi: Index, maxSize: number): Entry[] {
      return ms.entries(lo, hi, maxSize);
    },
    term(i: Index): Term {
      return ms.term(i);
    },
    lastIndex(): Index {
      return ms.lastIndex();
    },
    firstIndex(): Index {
      return ms.firstIndex();
    },
    snapshot(): Snapshot {
      return ms.snapshot();
    },
    save(u: StorageUpdate): void {
      if (u.snapshot !== undefined && !isEmptySnap(u.snapshot)) ms.applySnapshot(u.snapshot);
      if (u.entries.length > 0) ms.append(u.entries);
      if (u.hardState !== undefined) ms.setHardState(u.hardState);
    },
    createSnapshot(index: Index, confState: ConfState, data: Uint8Array): void {
      ms.createSnapshot(index, confState, data);
    },
    compact(index: Index): void {
      ms.compact(index);
    },
  };
}

function toNodeStorage(s: NodeStorage | MemoryStorage): NodeStorage {
  if (typeof (s as Partial<NodeStorage>).save === "function") return s as NodeStorage;
  if (s instanceof MemoryStorage) return memoryNodeStorage(s);
  throw new TypeError("Cannot create RaftNode as 'storage' has no save() method");
}

// ---------------------------------------------------------------------------
// Membership helpers

function isJoint(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0;
}

// ---------------------------------------------------------------------------
// The node

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
  /** The tick at which the request times out. */
  deadline: number;
  timeoutMs: number;
}

interface PendingProposal<R> extends Waiter<R> {
  seq: number;
  /** The entry data, envelope included. */
  data: Uint8Array;
  /** The index the entry was appended at, once seen in a Ready. */
  index: Index | undefined;
}

interface PendingConfChange extends Waiter<ConfState> {
  seq: number;
  cc: ConfChangeV2;
  intents: readonly MembershipIntent[];
  index: Index | undefined;
}

interface ReadWaiter extends Waiter<unknown> {
  query: (() => unknown) | undefined;
  /** The read index, once known. */
  index: Index | undefined;
}

interface TransferWaiter extends Waiter<void> {
  target: NodeId;
}

/** Rejects the waiters past their deadline with a TimeoutError; returns the others. */
function expireWaiters<W extends Waiter<never>>(ws: W[], now: number, what: string): W[] {
  if (!ws.some((w) => w.deadline <= now)) return ws;
  const keep: W[] = [];
  for (const w of ws) {
    if (w.deadline <= now) w.reject(new TimeoutError(what, w.timeoutMs));
    else keep.push(w);
  }
  return keep;
}

type Listener<K extends RaftNodeEventName> = (event: RaftNodeEvents[K]) => void;

/** How many snapshot messages wait for an outstanding Ready; older ones are dropped. */
const heldSnapshotsMax = 4;
/** Readies handled in one run of the loop before it yields. */
const maxReadiesPerRun = 64;

function positive(name: string, v: number): number {
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
    throw new RangeError(
      `Cannot create RaftNode as '${name}' must be a positive number: current value ${v}`,
    );
  }
  return v;
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) {
    throw new RangeError(
      `Cannot create RaftNode as '${name}' must be a non-negative number: current value ${v}`,
    );
  }
  return v;
}

/** The driver's numeric options, validated, defaults filled in. */
interface Limits {
  tickMs: number;
  requestTimeoutMs: number;
  maxPendingProposals: number;
  maxPendingReads: number;
  maxProposalBatchBytes: number;
  snapshotEntries: number;
  snapshotBytes: number;
  snapshotCatchUpEntries: number;
}

function resolveLimits(o: RaftNodeOptions<unknown>): Limits {
  if (!Number.isSafeInteger(o.id) || o.id <= 0) {
    throw new RangeError(
      `Cannot create RaftNode as 'id' must be a positive integer: current value ${o.id}`,
    );
  }
  for (const name of ["storage", "transport", "stateMachine"] as const) {
    if (o[name] === undefined || o[name] === null) {
      throw new TypeError(`Cannot create RaftNode as '${name}' is missing`);
    }
  }
  return {
    tickMs: positive("tickMs", o.tickMs ?? 100),
    requestTimeoutMs: positive("requestTimeoutMs", o.requestTimeoutMs ?? 5000),
    maxPendingProposals: positive("maxPendingProposals", o.maxPendingProposals ?? 1024),
    maxPendingReads: positive("maxPendingReads", o.maxPendingReads ?? 1024),
    maxProposalBatchBytes: positive("maxProposalBatchBytes", o.maxProposalBatchBytes ?? 1 << 20),
    snapshotEntries: nonNegative("snapshotEntries", o.snapshotEntries ?? 10_000),
    snapshotBytes: nonNegative("snapshotBytes", o.snapshotBytes ?? 0),
    snapshotCatchUpEntries: nonNegative("snapshotCatchUpEntries", o.snapshotCatchUpEntries ?? 5000),
  };
}

function defaultRand(): () => number {
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

/**
 * A Raft node that replicates a state machine: the driver around
 * {@linkcode RawNode}.
 *
 * Proposals are accepted on the leader (followers reject them with
 * {@linkcode NotLeaderError}, unless `forwardProposals` is set), batched
 * while a write is in flight (also a synchronous one: before each Ready
 * that writes, the driver yields to pending I/O once, see
 * `yieldBeforeSave`), and resolved with the state machine's result once
 * applied on this node. Reads are linearizable (ReadIndex). Entries and
 * the HardState are persisted before the messages that depend on them are
 * sent (a leader sends its appends while it writes); committed entries are
 * applied in order, exactly once, also across restarts.
 *
 * How results find their promise: the driver prefixes each proposal's
 * data (and each membership change's context, and each ReadIndex request's
 * context) with a small envelope naming this node, this run of it (a random
 * incarnation number, so a restarted node never mistakes an earlier run's
 * entries for its own) and a sequence number. The state machine sees only
 * the bytes given to `propose()`; storages and the wire carry the envelope.
 * When an entry is applied, the node that proposed it settles the promise;
 * when another entry is committed at the index a proposal was appended at,
 * the proposal is rejected with `ProposalDroppedError`. Proposals whose fate
 * is unknown (the node lost track of them) end with `TimeoutError`.
 *
 * @typeParam R The result of applying one command.
 *
 * @example A single-node cluster
 * ```ts
 * import { RaftNode, type StateMachine, type Transport } from "./node.ts";
 * import { MemoryStorage } from "./storage.ts";
 *
 * // A counter: each command adds its first byte; the result is the new total.
 * let total = 0;
 * const counter: StateMachine<number> = {
 *   apply: (cmds) => cmds.map((c) => (total += c.data[0]!)),
 *   snapshot: () => new Uint8Array([total]),
 *   restore: (data) => {
 *     total = data[0] ?? 0;
 *   },
 * };
 * // A single node sends nothing.
 * const transport: Transport = { start() {}, send() {}, close() {} };
 *
 * const node = await RaftNode.start({
 *   id: 1,
 *   peers: [1],
 *   storage: new MemoryStorage(),
 *   transport,
 *   stateMachine: counter,
 *   tickMs: 5,
 * });
 * await node.waitForLeader();
 * const result = await node.propose(new Uint8Array([5]));
 * await node.read();
 * await node.close();
 * if (result !== 5 || total !== 5) throw new Error("unexpected");
 * ```
 */
export class RaftNode<R = unknown> {
  readonly #id: NodeId;
  readonly #rn: RawNode;
  /** Whether a Ready was taken and not yet advanced. */
  #readyOutstanding = false;
  /** MsgSnap messages received while a Ready was outstanding (at most `heldSnapshotsMax`). */
  #heldSnapshots: Message[] = [];
  readonly #storage: NodeStorage;
  readonly #transport: Transport;
  readonly #sm: StateMachine<R>;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #tickMs: number;
  readonly #requestTimeoutMs: number;
  readonly #forward: boolean;
  readonly #maxPendingProposals: number;
  readonly #maxPendingReads: number;
  readonly #maxBatchBytes: number;
  /** The scheduler's `yieldToIo`, taken before a Ready that writes; `undefined`: never yield. */
  readonly #yieldToIo: ((fn: () => void) => TimerHandle) | undefined;
  readonly #snapshotEntries: number;
  readonly #snapshotBytes: number;
  readonly #catchUpEntries: number;
  readonly #incarnation: number;

  /** Ticks since start; the clock of the request deadlines. */
  #ticks = 0;
  /** The tick at which a dropped peer message was last logged. */
  #refusedLoggedAt = -1;
  #tickTimer: TimerHandle = undefined;
  #seq = 0;

  #closed = false;
  #closing: Promise<void> | undefined = undefined;
  /**
   * The log's last index once the node stopped, for `status()` (the
   * storage may be closed after the node); `undefined` while it runs.
   */
  #lastIndexAtClose: Index | undefined = undefined;
  #error: Error | undefined = undefined;

  #loopActive = false;
  #kickQueued = false;
  /** Settles when the running loop ends; `undefined` when none runs. */
  #loopDone: Promise<void> | undefined = undefined;
  /** While the loop waits in `yieldToIo`: the callback's handle and what wakes the loop. */
  #yielding: { handle: TimerHandle; wake: () => void } | undefined = undefined;
  /**
   * The log's last index when the last Ready was taken (its entries and
   * snapshot were handed to storage then); at start, the stored log's.
   * Raft's last index moving away from it means the next Ready has
   * entries or a snapshot to write.
   */
  #lastIndexTaken: Index;

  /** The last index applied by this driver (commands, no-ops, membership changes). */
  #applied: Index;
  /** Commands at or below this index are in the state machine already. */
  #smApplied: Index;
  #lastAppliedTerm: Term;
  #confState: ConfState;
  /** IDs removed from the cluster, as of the applied index: never admitted again. */
  #removed: Set<NodeId>;
  #snapshotIndex: Index;
  #entriesSinceSnapshot = 0;
  #bytesSinceSnapshot = 0;
  /**
   * A member was added after the latest snapshot: the next snapshot is
   * taken at once, because a snapshot whose ConfState lacks a member is
   * refused by that member, which could then never catch up.
   */
  #snapshotStale = false;
  /** The HardState known to be durable. */
  #hardState: HardState;
  #lead: NodeId = None;
  #raftState: StateType = StateType.StateFollower;

  /** Proposals and membership changes by sequence number, until settled. */
  readonly #pending = new Map<number, PendingProposal<R> | PendingConfChange>();
  /** Proposals not yet stepped into Raft, oldest first. */
  #proposalQueue: PendingProposal<R>[] = [];
  /** Membership changes not yet proposed, oldest first. */
  #confQueue: PendingConfChange[] = [];
  /** The membership change proposed and not yet applied. */
  #confInFlight: PendingConfChange | undefined = undefined;
  /** Changes applied into a joint configuration, settled when it is left. */
  #jointWaiters: PendingConfChange[] = [];
  /** Sequence numbers of this run's entries, by the index they were appended at. */
  readonly #indexed = new Map<Index, number>();

  /** Reads not yet requested from Raft. */
  #readQueue: ReadWaiter[] = [];
  /** Reads by the sequence number of their ReadIndex request. */
  readonly #readRequests = new Map<number, ReadWaiter[]>();
  /** Reads with a known read index, waiting for it to be applied. */
  #readsWaiting: ReadWaiter[] = [];
  #transfers: TransferWaiter[] = [];
  #leaderWaiters: Waiter<NodeId>[] = [];

  readonly #listeners = new Map<RaftNodeEventName, Set<Listener<RaftNodeEventName>>>();

  private constructor(
    opts: RaftNodeOptions<R>,
    limits: Limits,
    storage: NodeStorage,
    rn: RawNode,
    init: {
      incarnation: number;
      applied: Index;
      smApplied: Index;
      lastAppliedTerm: Term;
      confState: ConfState;
      removed: Set<NodeId>;
      hardState: HardState;
    },
  ) {
    this.#id = opts.id;
    this.#rn = rn;
    this.#storage = storage;
    this.#transport = opts.transport;
    this.#sm = opts.stateMachine;
    this.#scheduler = opts.scheduler ?? globalScheduler;
    this.#logger = opts.logger ?? discardLogger;
    this.#tickMs = limits.tickMs;
    this.#requestTimeoutMs = limits.requestTimeoutMs;
    this.#forward = opts.forwardProposals ?? false;
    this.#maxPendingProposals = limits.maxPendingProposals;
    this.#maxPendingReads = limits.maxPendingReads;
    this.#maxBatchBytes = limits.maxProposalBatchBytes;
    const sched = this.#scheduler;
    this.#yieldToIo = (opts.yieldBeforeSave ?? true) && typeof sched.yieldToIo === "function"
      ? (fn): TimerHandle => sched.yieldToIo!(fn)
      : undefined;
    this.#snapshotEntries = limits.snapshotEntries;
    this.#snapshotBytes = limits.snapshotBytes;
    this.#catchUpEntries = limits.snapshotCatchUpEntries;
    this.#incarnation = init.incarnation;
    this.#applied = init.applied;
    this.#smApplied = init.smApplied;
    this.#lastAppliedTerm = init.lastAppliedTerm;
    this.#confState = init.confState;
    this.#removed = init.removed;
    this.#snapshotIndex = init.applied;
    this.#hardState = init.hardState;
    this.#lastIndexTaken = storage.lastIndex();
    const ss = rn.basicStatus();
    this.#lead = ss.lead;
    this.#raftState = ss.raftState;
  }

  /**
   * Opens a node on its storage and starts it: recovers the applied state
   * (from the state machine's `appliedIndex()`, or by restoring the latest
   * snapshot and replaying the log after it), bootstraps a new cluster
   * when the storage is empty and `peers` is given, starts the transport
   * and the tick timer.
   *
   * @typeParam R The result of applying one command.
   * @param options The node's options.
   * @returns The running node.
   * @throws {RangeError} When an option is invalid, or the state machine
   *   claims to have applied entries the log does not hold as committed.
   * @throws {TypeError} When the storage has no write side.
   */
  static async start<R>(options: RaftNodeOptions<R>): Promise<RaftNode<R>> {
    const limits = resolveLimits(options);
    const storage = toNodeStorage(options.storage);
    const sm = options.stateMachine;
    const { hardState, confState } = storage.initialState();
    const snap = storage.snapshot();
    const snapIndex = snap.metadata.index;

    let smApplied = sm.appliedIndex !== undefined ? await sm.appliedIndex() : undefined;
    if (smApplied !== undefined && (!Number.isSafeInteger(smApplied) || smApplied < 0)) {
      throw new RangeError(
        `Cannot start RaftNode as the state machine's applied index is invalid: current value ${smApplied}`,
      );
    }
    // The driver's replicated state in the snapshot; the state machine's
    // own is restored unless it kept what it applied.
    const fromSnapshot = snapIndex > 0 ? decodeSnapshotData(snap.data) : undefined;
    if (smApplied === undefined || smApplied < snapIndex) {
      // Start from the latest snapshot and replay the log after it.
      if (fromSnapshot !== undefined) {
        await sm.restore(fromSnapshot.data, { index: snapIndex, term: snap.metadata.term });
      }
      smApplied = snapIndex;
    }
    if (smApplied > Math.max(hardState.commit, snapIndex)) {
      throw new RangeError(
        `Cannot start RaftNode as the state machine has applied index ${smApplied}, past the commit index ${hardState.commit} in storage`,
      );
    }

    const rand = options.rand ?? defaultRand();
    const incarnation = Math.floor(rand() * 2 ** 32) * 2 ** 20 + Math.floor(rand() * 2 ** 20);

    const config: Config = {
      id: options.id,
      storage,
      // Raft replays from the snapshot: membership changes after it must be
      // applied to Raft again; commands at or below smApplied are skipped
      // by the driver.
      applied: snapIndex,
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
    const rn = new RawNode(config);
    const peers = options.peers ?? [];
    if (
      peers.length > 0 && snapIndex === 0 && storage.lastIndex() === 0 &&
      isEmptyHardState(hardState)
    ) {
      rn.bootstrap(peers.map((id) => ({ id })));
    }

    const node = new RaftNode<R>(options, limits, storage, rn, {
      incarnation,
      applied: snapIndex,
      smApplied,
      lastAppliedTerm: snap.metadata.term,
      confState: cloneConfState(confState),
      removed: fromSnapshot?.removed ?? new Set(),
      hardState: { term: hardState.term, vote: hardState.vote, commit: hardState.commit },
    });
    node.#begin();
    return node;
  }

  #begin(): void {
    const handler: TransportHandler = {
      id: this.#id,
      step: (m: Message): void => this.#onMessage(m),
      reportUnreachable: (id: NodeId): void => {
        if (this.#closed) return;
        this.#rn.reportUnreachable(id);
        this.#kick();
      },
      reportSnapshot: (id: NodeId, status: SnapshotStatus): void => {
        if (this.#closed) return;
        this.#rn.reportSnapshot(id, status);
        this.#kick();
      },
    };
    this.#transport.start(handler);
    this.#armTick();
    this.#kick();
  }

  // -------------------------------------------------------------------------
  // Public API

  /** This node's ID. */
  get id(): NodeId {
    return this.#id;
  }

  /** Whether the node is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The fatal error that closed the node, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  /**
   * Proposes a command. Resolves with the state machine's result once the
   * command is applied on this node.
   *
   * @param data The command.
   * @param options The request's timeout.
   * @returns The result of applying the command.
   * @throws {NotLeaderError} This node is not the leader (and forwarding is off).
   * @throws {ProposalDroppedError} Raft dropped it (leadership transfer in
   *   progress, size limit), or another entry was committed in its place.
   * @throws {TimeoutError} No outcome in time; it may still be applied.
   * @throws {BusyError} Too many proposals are pending.
   * @throws {NodeClosedError} The node is closed.
   * @throws {TypeError} `data` is not a Uint8Array.
   */
  propose(data: Uint8Array, options: RequestOptions = {}): Promise<R> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new TypeError("Cannot propose: 'data' must be a Uint8Array"));
    }
    const refused = this.#refuse(this.#pending.size, this.#maxPendingProposals, "proposal");
    if (refused !== undefined) return Promise.reject(refused);
    const notLeader = this.#notLeaderUnlessForwarding();
    if (notLeader !== undefined) return Promise.reject(notLeader);
    const seq = ++this.#seq;
    const header = envelopeHeader(this.#id, this.#incarnation, seq);
    return this.#request<R>(options, (w) => {
      const p: PendingProposal<R> = { ...w, seq, data: wrap(header, data), index: undefined };
      this.#pending.set(seq, p);
      this.#proposalQueue.push(p);
      this.#kick();
    });
  }

  /**
   * Waits for a linearizable read point: resolves once this node has
   * applied everything committed when the read was requested (ReadIndex,
   * confirmed by a heartbeat round or, with `ReadOnlyLeaseBased`, by the
   * leader's lease). Followers ask the leader. With `query`, runs it at that
   * point and resolves with its result.
   *
   * @typeParam T The query's result.
   * @param query Reads the state machine; runs before anything else is applied.
   * @param options The request's timeout.
   * @returns The query's result, or `undefined` without a query.
   * @throws {NotLeaderError} No leader is known.
   * @throws {TimeoutError} No read point in time.
   * @throws {BusyError} Too many reads are pending.
   * @throws {NodeClosedError} The node is closed.
   */
  read<T = undefined>(query?: () => T, options: RequestOptions = {}): Promise<T> {
    const refused = this.#refuse(this.#pendingReadCount(), this.#maxPendingReads, "read");
    if (refused !== undefined) return Promise.reject(refused);
    return this.#request<T>(options, (w) => {
      this.#readQueue.push({
        ...w,
        resolve: w.resolve as (v: unknown) => void,
        query,
        index: undefined,
      });
      this.#kick();
    });
  }

  /**
   * Adds a voter. Resolves with the new membership once the change is
   * applied on this node.
   *
   * @param id The new voter (a learner is promoted).
   * @param options Context and timeout.
   * @returns The membership after the change.
   * @throws {ConfChangeError} The change is invalid for the membership.
   * @throws {NotLeaderError} This node is not the leader.
   * @throws {TimeoutError} No outcome in time.
   * @throws {BusyError} Too many proposals are pending.
   * @throws {NodeClosedError} The node is closed.
   */
  addVoter(id: NodeId, options: ConfChangeOptions = {}): Promise<ConfState> {
    return this.#changeMembership([{ intent: "addVoter", nodeId: id }], options);
  }

  /**
   * Adds a learner (a non-voting member that receives the log).
   *
   * @param id The new learner.
   * @param options Context and timeout.
   * @returns The membership after the change.
   * @throws {ConfChangeError} The change is invalid (for example `id` is a voter).
   * @throws {NotLeaderError} This node is not the leader.
   * @throws {TimeoutError} No outcome in time.
   * @throws {BusyError} Too many proposals are pending.
   * @throws {NodeClosedError} The node is closed.
   */
  addLearner(id: NodeId, options: ConfChangeOptions = {}): Promise<ConfState> {
    return this.#changeMembership([{ intent: "addLearner", nodeId: id }], options);
  }

  /**
   * Promotes a learner to a voter.
   *
   * @param id The learner.
   * @param options Context and timeout.
   * @returns The membership after the change.
   * @throws {ConfChangeError} `id` is not a learner.
   * @throws {NotLeaderError} This node is not the leader.
   * @throws {TimeoutError} No outcome in time.
   * @throws {BusyError} Too many proposals are pending.
   * @throws {NodeClosedError} The node is closed.
   */
  promote(id: NodeId, options: ConfChangeOptions = {}): Promise<ConfState> {
    return this.#changeMembership([{ intent: "promote", nodeId: id }], options);
  }

  /**
   * Demotes a voter to a learner (it keeps receiving the log but no longer
   * votes or counts toward the quorum).
   *
   * @param id The voter.
   * @param options Context and timeout.
   * @returns The membership after the change.
   * @throws {ConfChangeError} `id` is not a voter (reason `not_voter`), or
   *   the change is invalid (for example it demotes the last voter).
   * @throws {NotLeaderError} This node is not the leader.
   * @throws {TimeoutError} No outcome in time.
   * @throws {BusyError} Too many proposals are pending.
   * @throws {NodeClosedError} The node is closed.
   */
  demote(id: NodeId, options: ConfChangeOptions = {}): Promise<ConfState> {
    return this.#changeMembership([{ intent: "demote", nodeId: id }], options);
  }

  /**
   * Removes a voter or learner. Removing the leader makes it step down once
   * the change is applied.
   *
   * @param id The member.
   * @param options Context and timeout.
   * @returns The membership after the change.
   * @throws {ConfChangeError} The change is invalid (for example it removes the last voter).
   * @throws {NotLeaderError} This node is not the leader.
   * @throws {TimeoutError} No outcome in time.
   * @throws {BusyError} Too many proposals are pending.
   * @throws {NodeClosedError} The node is closed.
   */
  removeNode(id: NodeId, options: ConfChangeOptions = {}): Promise<ConfState> {
    return this.#changeMembership([{ intent: "remove", nodeId: id }], options);
  }

  /**
   * Applies several membership changes at once. More than one voter change
   * goes through a joint configuration, which Raft leaves on its own; the
   * promise resolves once it has been left. Changes are proposed one at a
   * time, once the leader has applied every earlier change.
   *
   * @param changes The changes.
   * @param options Context and timeout.
   * @returns The membership after the change.
   * @throws {ConfChangeError} The changes are invalid for the membership.
   * @throws {NotLeaderError} This node is not the leader.
   * @throws {TimeoutError} No outcome in time.
   * @throws {BusyError} Too many proposals are pending.
   * @throws {NodeClosedError} The node is closed.
   * @throws {RangeError} `changes` is empty.
   */
  changeMembership(
    changes: readonly ConfChangeSingle[],
    options: ConfChangeOptions = {},
  ): Promise<ConfState> {
    const intended: { intent: MembershipIntent; nodeId: NodeId }[] = [];
    for (const c of changes) {
      const intent = intentOf(this.#confState, c);
      if (intent === undefined) {
        return Promise.reject(
          new RangeError(
            `Cannot change the membership: change type ${c.type} for node ${c.nodeId} is not supported`,
          ),
        );
      }
      intended.push({ intent, nodeId: c.nodeId });
    }
    return this.#changeMembership(intended, options);
  }

  #changeMembership(
    changes: readonly { intent: MembershipIntent; nodeId: NodeId }[],
    options: ConfChangeOptions,
  ): Promise<ConfState> {
    if (changes.length === 0) {
      return Promise.reject(new RangeError("Cannot change the membership: 'changes' is empty"));
    }
    const refused = this.#refuse(
      this.#pending.size,
      this.#maxPendingProposals,
      "membership change",
    );
    if (refused !== undefined) return Promise.reject(refused);
    const notLeader = this.#notLeaderUnlessForwarding();
    if (notLeader !== undefined) return Promise.reject(notLeader);
    const seq = ++this.#seq;
    const intents = changes.map((c) => c.intent);
    const cc: ConfChangeV2 = {
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: changes.map((c) => ({ type: changeTypeOf(c.intent), nodeId: c.nodeId })),
      context: wrap(
        intentEnvelopeHeader(this.#id, this.#incarnation, seq, intents),
        options.context ?? emptyBytes,
      ),
    };
    const invalid = this.#checkChange(cc, intents);
    if (invalid !== undefined) return Promise.reject(invalid);
    return this.#request<ConfState>(options, (w) => {
      const p: PendingConfChange = { ...w, seq, cc, intents, index: undefined };
      this.#pending.set(seq, p);
      this.#confQueue.push(p);
      this.#kick();
    });
  }

  /** Whether a change holds against the current membership: its intents, then Raft's rules. */
  #checkChange(
    cc: ConfChangeV2,
    intents: readonly MembershipIntent[] | undefined,
  ): ConfChangeError | undefined {
    return checkIntents(this.#confState, this.#removed, cc.changes, intents) ??
      this.#rn.checkConfChange(cc, this.#confState);
  }

  /**
   * Asks the leader to hand leadership to `to`; resolves once this node
   * sees `to` as the leader.
   *
   * @param to The new leader (a voter).
   * @param options The request's timeout.
   * @returns Nothing.
   * @throws {RangeError} `to` is not a voter.
   * @throws {TimeoutError} `to` did not become the leader in time.
   * @throws {BusyError} Too many requests are pending.
   * @throws {NodeClosedError} The node is closed.
   */
  transferLeadership(to: NodeId, options: RequestOptions = {}): Promise<void> {
    const refused = this.#refuse(this.#pendingReadCount(), this.#maxPendingReads, "transfer");
    if (refused !== undefined) return Promise.reject(refused);
    if (!this.#confState.voters.includes(to)) {
      return Promise.reject(
        new RangeError(`Cannot transfer leadership to node ${to}: it is not a voter`),
      );
    }
    if (this.#rn.basicStatus().lead === to) return Promise.resolve();
    return this.#request<void>(options, (w) => {
      this.#transfers.push({ ...w, target: to });
      this.#rn.transferLeader(to);
      this.#kick();
    });
  }

  /**
   * Waits until this node knows a leader.
   *
   * @param options The request's timeout.
   * @returns The leader's ID.
   * @throws {TimeoutError} No leader in time.
   * @throws {BusyError} Too many requests are pending.
   * @throws {NodeClosedError} The node is closed.
   */
  waitForLeader(options: RequestOptions = {}): Promise<NodeId> {
    const refused = this.#refuse(this.#pendingReadCount(), this.#maxPendingReads, "leader wait");
    if (refused !== undefined) return Promise.reject(refused);
    const lead = this.#rn.basicStatus().lead;
    if (lead !== None) return Promise.resolve(lead);
    return this.#request<NodeId>(options, (w) => {
      this.#leaderWaiters.push(w);
    });
  }

  /**
   * Starts an election now instead of waiting for the election timeout.
   * Useful for a single-node cluster and for tests.
   *
   * @throws {NodeClosedError} The node is closed.
   */
  campaign(): void {
    if (this.#closed) throw new NodeClosedError(this.#id, this.#error);
    this.#rn.campaign();
    this.#kick();
  }

  /**
   * The node's state: role, term, indexes, membership, pending requests
   * and, on the leader, every member's replication progress. Cheap enough
   * to call on every scrape: it copies one record per member.
   *
   * @returns A fresh status object.
   */
  status(): RaftNodeStatus {
    const st = this.#rn.basicStatus();
    const progress: MemberProgress[] = [];
    if (st.raftState === StateType.StateLeader) {
      this.#rn.withProgress((id, _typ, pr) => {
        progress.push({
          id,
          match: pr.match,
          next: pr.next,
          state: memberProgressStates[pr.state]!,
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
          paused: pr.isPaused(),
          pendingSnapshot: pr.pendingSnapshot,
          inflight: pr.inflights.count(),
        });
      });
    }
    return {
      id: this.#id,
      leaderId: st.lead,
      raftState: st.raftState,
      term: st.term,
      vote: st.vote,
      commit: st.commit,
      applied: this.#applied,
      snapshotIndex: this.#snapshotIndex,
      confState: cloneConfState(this.#confState),
      pendingProposals: this.#pending.size,
      pendingReads: this.#pendingReadCount(),
      closed: this.#closed,
      lastIndex: this.#lastIndexAtClose ?? this.#rn.lastIndex(),
      progress,
    };
  }

  /**
   * Subscribes to an event. Listeners run synchronously inside the driver
   * and must not throw (a throwing listener is logged and ignored).
   *
   * @param event The event's name.
   * @param fn The listener.
   * @returns A function that unsubscribes.
   */
  on<K extends RaftNodeEventName>(event: K, fn: (e: RaftNodeEvents[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    const l = fn as Listener<RaftNodeEventName>;
    set.add(l);
    return (): void => {
      set.delete(l);
    };
  }

  /**
   * Stops the node: stops the tick timer, rejects every pending request
   * with {@linkcode NodeClosedError}, lets an in-flight write finish, then
   * closes the transport. Idempotent.
   *
   * @returns A Promise that settles once the node is fully stopped.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) this.#closing = this.#shutdown(undefined);
    return this.#closing;
  }

  // -------------------------------------------------------------------------
  // Requests bookkeeping

  #refuse(count: number, limit: number, what: string): Error | undefined {
    if (this.#closed) return new NodeClosedError(this.#id, this.#error);
    if (count >= limit) return new BusyError(what, limit);
    return undefined;
  }

  #pendingReadCount(): number {
    let n = this.#readQueue.length + this.#readsWaiting.length + this.#transfers.length +
      this.#leaderWaiters.length;
    for (const ws of this.#readRequests.values()) n += ws.length;
    return n;
  }

  /** The error for a proposal on a follower when forwarding is off; `undefined` if allowed. */
  #notLeaderUnlessForwarding(): NotLeaderError | undefined {
    if (this.#forward) return undefined;
    const ss = this.#rn.basicStatus();
    return ss.raftState === StateType.StateLeader
      ? undefined
      : new NotLeaderError(this.#id, ss.lead);
  }

  #timeoutOf(options: RequestOptions): number {
    const t = options.timeoutMs ?? this.#requestTimeoutMs;
    if (!(t > 0) || !Number.isFinite(t)) {
      throw new RangeError(
        `Cannot start the request as 'timeoutMs' must be a positive number: current value ${t}`,
      );
    }
    return t;
  }

  #deadline(timeoutMs: number): number {
    return this.#ticks + Math.max(1, Math.ceil(timeoutMs / this.#tickMs));
  }

  /**
   * Starts a request with the caller's timeout (checked now, so a bad one
   * throws at once): `enqueue` files the waiter where the loop settles it.
   */
  #request<T>(options: RequestOptions, enqueue: (w: Waiter<T>) => void): Promise<T> {
    const timeoutMs = this.#timeoutOf(options);
    return new Promise<T>((resolve, reject) => {
      enqueue({ resolve, reject, deadline: this.#deadline(timeoutMs), timeoutMs });
    });
  }

  #settleProposal(seq: number, settle: (p: PendingProposal<R> | PendingConfChange) => void): void {
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    this.#pending.delete(seq);
    if (p.index !== undefined && this.#indexed.get(p.index) === seq) this.#indexed.delete(p.index);
    if (this.#confInFlight === p) this.#confInFlight = undefined;
    settle(p);
  }

  /** Rejects requests past their deadline. */
  #expire(): void {
    const now = this.#ticks;
    let expired = false;
    for (const [seq, p] of this.#pending) {
      if (p.deadline > now) continue;
      expired = true;
      const what = "cc" in p ? "membership change" : "proposal";
      this.#settleProposal(seq, (q) => q.reject(new TimeoutError(what, q.timeoutMs)));
    }
    if (expired) {
      this.#proposalQueue = this.#proposalQueue.filter((p) => this.#pending.has(p.seq));
      this.#confQueue = this.#confQueue.filter((p) => this.#pending.has(p.seq));
      this.#jointWaiters = this.#jointWaiters.filter((p) => this.#pending.has(p.seq));
    }
    this.#readQueue = expireWaiters(this.#readQueue, now, "read");
    this.#readsWaiting = expireWaiters(this.#readsWaiting, now, "read");
    for (const [seq, ws] of this.#readRequests) {
      const keep = expireWaiters(ws, now, "read");
      if (keep.length === 0) this.#readRequests.delete(seq);
      else this.#readRequests.set(seq, keep);
    }
    this.#transfers = expireWaiters(this.#transfers, now, "leadership transfer");
    this.#leaderWaiters = expireWaiters(this.#leaderWaiters, now, "wait for a leader");
  }

  // -------------------------------------------------------------------------
  // Inputs: ticks and messages

  #armTick(): void {
    this.#tickTimer = this.#scheduler.setTimeout(() => this.#onTick(), this.#tickMs);
  }

  #onTick(): void {
    if (this.#closed) return;
    this.#ticks++;
    try {
      this.#rn.tick();
    } catch (e) {
      this.#fail(e);
      return;
    }
    this.#expire();
    this.#armTick();
    this.#kick();
  }

  #onMessage(m: Message): void {
    if (this.#closed) return;
    const refused = checkPeerMessage(m, {
      term: this.#rn.basicStatus().term,
      lastIndex: this.#rn.lastIndex(),
    });
    if (refused !== undefined) {
      // At most one line per tick: a misbehaving peer cannot flood the log.
      if (this.#refusedLoggedAt !== this.#ticks) {
        this.#refusedLoggedAt = this.#ticks;
        this.#logger.warning(
          `${this.#id} dropped a ${messageTypeNames[m.type] ?? m.type} from ${m.from}: ${refused}`,
        );
      }
      return;
    }
    if (m.type === MessageType.MsgSnap && this.#readyOutstanding) {
      // Restoring a snapshot replaces the configuration; the Ready being
      // handled may still hold older membership changes to apply. Step the
      // snapshot once that Ready is advanced. Raft resends a lost one.
      if (this.#heldSnapshots.length >= heldSnapshotsMax) this.#heldSnapshots.shift();
      this.#heldSnapshots.push(m);
      return;
    }
    try {
      this.#rn.step(m);
    } catch (e) {
      if (
        e instanceof StepPeerNotFoundError || e instanceof StepLocalMsgError ||
        e instanceof ProposalDroppedError
      ) {
        this.#logger.debug(`${this.#id} ignored a message from ${m.from}: ${e.message}`);
        return;
      }
      this.#fail(e);
      return;
    }
    this.#kick();
  }

  // -------------------------------------------------------------------------
  // The Ready loop

  #kick(): void {
    if (this.#closed || this.#kickQueued) return;
    this.#kickQueued = true;
    queueMicrotask(() => {
      this.#kickQueued = false;
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    if (this.#loopActive || this.#closed) return;
    this.#loopActive = true;
    let done!: () => void;
    this.#loopDone = new Promise<void>((r) => {
      done = r;
    });
    try {
      for (let i = 0; i < maxReadiesPerRun && !this.#closed; i++) {
        this.#flushRequests();
        if (!this.#rn.hasReady()) break;
        if (this.#yieldToIo !== undefined && this.#willWrite()) {
          // Let requests that arrived during the previous (synchronous)
          // write run, and join this Ready: see `yieldBeforeSave`.
          await this.#yield(this.#yieldToIo);
          if (this.#closed) break;
          this.#flushRequests();
          if (!this.#rn.hasReady()) break;
        }
        const rd = this.#rn.ready();
        this.#lastIndexTaken = this.#rn.lastIndex();
        this.#readyOutstanding = true;
        const complete = await this.#handleReady(rd);
        if (!complete || this.#closed) break;
        this.#rn.advance(rd);
        this.#readyOutstanding = false;
        this.#stepHeldSnapshots();
        await this.#maybeSnapshot();
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#loopActive = false;
      this.#loopDone = undefined;
      done();
    }
    if (!this.#closed && this.#hasWork()) this.#kick();
  }

  /**
   * Whether the next Ready writes to storage: the HardState differs from
   * the last one taken, or the log's last index moved since the last Ready
   * (new entries, a snapshot). Judged from RawNode's public state without
   * building the Ready. It misses the rare Ready whose new entries end
   * where the log ended (a new leader's entries replacing a conflicting
   * tail of the same length); that Ready is then taken without a yield.
   */
  #willWrite(): boolean {
    return this.#rn.hardStateChanged() || this.#rn.lastIndex() !== this.#lastIndexTaken;
  }

  /** Waits for one `yieldToIo` callback; `close()` wakes the loop early and cancels it. */
  #yield(yieldToIo: (fn: () => void) => TimerHandle): Promise<void> {
    return new Promise<void>((resolve) => {
      let woken = false;
      const y: { handle: TimerHandle; wake: () => void } = {
        handle: undefined,
        wake: (): void => {
          if (woken) return;
          woken = true;
          if (this.#yielding === y) this.#yielding = undefined;
          resolve();
        },
      };
      this.#yielding = y;
      y.handle = yieldToIo(y.wake);
    });
  }

  #stepHeldSnapshots(): void {
    if (this.#heldSnapshots.length === 0) return;
    const held = this.#heldSnapshots;
    this.#heldSnapshots = [];
    for (const m of held) this.#onMessage(m);
  }

  #hasWork(): boolean {
    return this.#rn.hasReady() || this.#proposalQueue.length > 0 || this.#readQueue.length > 0 ||
      (this.#confQueue.length > 0 && this.#confReady());
  }

  /** Steps queued proposals, membership changes and read requests into Raft. */
  #flushRequests(): void {
    const st = this.#rn.basicStatus();
    const isLeader = st.raftState === StateType.StateLeader;
    const lead = st.lead;
    const canPropose = isLeader || (this.#forward && lead !== None);

    if (this.#proposalQueue.length > 0) {
      const queue = this.#proposalQueue;
      this.#proposalQueue = [];
      if (!canPropose) {
        for (const p of queue) {
          this.#settleProposal(p.seq, (q) => q.reject(new NotLeaderError(this.#id, lead)));
        }
      } else {
        let batch: PendingProposal<R>[] = [];
        let bytes = 0;
        for (const p of queue) {
          if (batch.length > 0 && bytes + p.data.length > this.#maxBatchBytes) {
            this.#stepProposals(batch);
            batch = [];
            bytes = 0;
          }
          batch.push(p);
          bytes += p.data.length;
        }
        if (batch.length > 0) this.#stepProposals(batch);
      }
    }

    while (this.#confQueue.length > 0) {
      if (!canPropose) {
        const queue = this.#confQueue;
        this.#confQueue = [];
        for (const p of queue) {
          this.#settleProposal(p.seq, (q) => q.reject(new NotLeaderError(this.#id, lead)));
        }
        break;
      }
      if (!this.#confReady()) break;
      const p = this.#confQueue.shift()!;
      // The membership may have changed since the request was made.
      const invalid = this.#checkChange(p.cc, p.intents);
      if (invalid !== undefined) {
        this.#settleProposal(p.seq, (q) => q.reject(invalid));
        continue;
      }
      this.#confInFlight = p;
      try {
        this.#rn.proposeConfChange(p.cc);
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
        this.#settleProposal(p.seq, (q) => q.reject(e));
      }
    }

    if (this.#readQueue.length > 0) {
      const queue = this.#readQueue;
      this.#readQueue = [];
      if (lead === None) {
        for (const w of queue) w.reject(new NotLeaderError(this.#id, None));
      } else {
        // One ReadIndex request serves every read queued meanwhile.
        const seq = ++this.#seq;
        this.#readRequests.set(seq, queue);
        this.#rn.readIndex(new Uint8Array(envelopeHeader(this.#id, this.#incarnation, seq)));
      }
    }
  }

  #stepProposals(batch: PendingProposal<R>[]): void {
    const entries: Entry[] = batch.map((p) => ({
      term: 0,
      index: 0,
      type: EntryType.EntryNormal,
      data: p.data,
    }));
    try {
      this.#rn.step(newMessage({ type: MessageType.MsgProp, from: this.#id, entries }));
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      for (const p of batch) {
        this.#settleProposal(p.seq, (q) => q.reject(new ProposalDroppedError()));
      }
    }
  }

  /**
   * Whether the leader may propose a membership change without Raft
   * turning it into an empty entry: no change proposed and unapplied, not
   * in a joint configuration, and an entry of the current term applied
   * (so that every change from earlier terms is applied).
   */
  #confReady(): boolean {
    if (this.#forward && this.#rn.basicStatus().raftState !== StateType.StateLeader) {
      return this.#confInFlight === undefined;
    }
    return this.#confInFlight === undefined && !isJoint(this.#confState) &&
      this.#lastAppliedTerm === this.#rn.basicStatus().term;
  }

  /**
   * Handles one Ready up to (not including) `advance()`.
   *
   * @returns `false` when the node closed meanwhile and the Ready must be abandoned.
   */
  async #handleReady(rd: Ready): Promise<boolean> {
    const hs = isEmptyHardState(rd.hardState) ? undefined : rd.hardState;
    if (rd.softState !== undefined) this.#onSoftState(rd.softState, hs?.term);
    this.#noteAppended(rd.entries);

    // A leader's appends may go out while it writes (Raft thesis 10.2.1),
    // as long as its term and vote are durable already; responses that
    // acknowledge state of this Ready always wait for the write.
    let messages = rd.messages;
    if (
      this.#raftState === StateType.StateLeader && messages.length > 0 &&
      (hs === undefined || (hs.term === this.#hardState.term && hs.vote === this.#hardState.vote))
    ) {
      const early: Message[] = [];
      const late: Message[] = [];
      for (const m of messages) {
        if (
          m.type === MessageType.MsgAppResp || m.type === MessageType.MsgVoteResp ||
          m.type === MessageType.MsgPreVoteResp
        ) {
          late.push(m);
        } else {
          early.push(m);
        }
      }
      this.#send(early);
      messages = late;
    }

    const snap = rd.snapshot !== undefined && !isEmptySnap(rd.snapshot) ? rd.snapshot : undefined;
    // Valid before durable: a state machine rebuilt from snapshots at each
    // start restores a received snapshot before it is saved, so that one it
    // cannot restore stops the node without being kept (a restart recovers
    // from the previous state). One that keeps its own state (appliedIndex)
    // restores it after, so that it is never ahead of the storage.
    const restoreFirst = snap !== undefined && this.#sm.appliedIndex === undefined;
    if (restoreFirst) {
      await this.#installSnapshot(snap);
      if (this.#closed) return false;
    }
    if (hs !== undefined || rd.entries.length > 0 || snap !== undefined) {
      await this.#storage.save({
        hardState: hs,
        entries: rd.entries,
        snapshot: snap,
        // Ready.mustSync (etcd's MustSync) looks only at entries, term and
        // vote; an installed snapshot is acknowledged by the MsgAppResp that
        // follows, so it must be durable too.
        mustSync: rd.mustSync || snap !== undefined,
      });
      if (hs !== undefined) this.#hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
      if (this.#closed) return false;
    }

    if (snap !== undefined && !restoreFirst) await this.#installSnapshot(snap);
    if (this.#closed) return false;

    this.#send(messages);

    if (rd.committedEntries.length > 0) {
      await this.#applyCommitted(rd.committedEntries);
      if (this.#closed) return false;
    }

    for (const rs of rd.readStates) this.#onReadState(rs.index, rs.requestCtx);
    return true;
  }

  #onSoftState(ss: SoftState, term: Term | undefined): void {
    const prevLead = this.#lead;
    this.#lead = ss.lead;
    this.#raftState = ss.raftState;
    if (prevLead === ss.lead) return;
    this.#emit("leader", {
      leaderId: ss.lead,
      term: term ?? this.#rn.basicStatus().term,
    });
    if (ss.lead === None) return;
    for (const w of this.#leaderWaiters) w.resolve(ss.lead);
    this.#leaderWaiters = [];
    const keep: TransferWaiter[] = [];
    for (const t of this.#transfers) {
      if (t.target === ss.lead) t.resolve();
      else keep.push(t);
    }
    this.#transfers = keep;
  }

  /** Learns where this run's proposals were appended. */
  #noteAppended(entries: readonly Entry[]): void {
    for (const e of entries) {
      let env: Envelope | undefined;
      if (e.type === EntryType.EntryNormal) {
        env = readEnvelope(e.data);
      } else if (e.type === EntryType.EntryConfChangeV2 && this.#confInFlight !== undefined) {
        env = readEnvelope(decodeConfChangeV2(e.data).context);
      }
      if (env === undefined || env.origin !== this.#id || env.incarnation !== this.#incarnation) {
        continue;
      }
      const p = this.#pending.get(env.seq);
      if (p === undefined) continue;
      p.index = e.index;
      this.#indexed.set(e.index, env.seq);
    }
  }

  #send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    try {
      this.#transport.send(messages);
    } catch (e) {
      // Messages may be lost; Raft retries. Tell it the peers are unreachable.
      this.#logger.warning(
        `${this.#id} could not send ${messages.length} messages: ${
          e instanceof Error ? e.message : e
        }`,
      );
      for (const m of messages) this.#rn.reportUnreachable(m.to);
    }
  }

  async #installSnapshot(snap: Snapshot): Promise<void> {
    const { index, term } = snap.metadata;
    const { removed, data } = decodeSnapshotData(snap.data);
    await this.#sm.restore(data, { index, term });
    this.#removed = removed;
    this.#applied = index;
    this.#smApplied = index;
    this.#lastAppliedTerm = term;
    this.#snapshotIndex = index;
    this.#entriesSinceSnapshot = 0;
    this.#bytesSinceSnapshot = 0;
    this.#snapshotStale = false;
    this.#confState = cloneConfState(snap.metadata.confState);
    for (const i of [...this.#indexed.keys()]) if (i <= index) this.#indexed.delete(i);
    this.#emit("membership", {
      confState: cloneConfState(this.#confState),
      changes: [],
      context: emptyBytes,
      index,
    });
    this.#afterApplied();
  }

  /** Applies committed entries in order: commands in batches, membership changes one by one. */
  async #applyCommitted(ents: readonly Entry[]): Promise<void> {
    let cmds: Command[] = [];
    let owners: (number | undefined)[] = [];
    let segmentEnd = this.#applied;
    const flush = async (): Promise<void> => {
      if (cmds.length > 0) {
        const batch = cmds;
        const seqs = owners;
        cmds = [];
        owners = [];
        const results = await this.#sm.apply(batch);
        if (!Array.isArray(results) || results.length !== batch.length) {
          throw new TypeError(
            `Cannot apply commands: the state machine returned ${
              Array.isArray(results) ? results.length : "no"
            } results for ${batch.length} commands`,
          );
        }
        this.#smApplied = batch[batch.length - 1]!.index;
        for (let k = 0; k < seqs.length; k++) {
          const seq = seqs[k];
          if (seq === undefined) continue;
          const result = results[k] as R;
          this.#settleProposal(seq, (p) => (p as PendingProposal<R>).resolve(result));
        }
      }
      if (segmentEnd > this.#applied) {
        this.#applied = segmentEnd;
        this.#afterApplied();
      }
    };

    let expected = this.#applied + 1;
    for (const e of ents) {
      if (e.index !== expected) {
        throw new RangeError(
          `Cannot apply entry ${e.index}: expected entry ${expected} (entries must be applied in order)`,
        );
      }
      expected++;
      if (e.type === EntryType.EntryNormal) {
        let owner: number | undefined;
        if (e.data.length > 0) {
          const env = readEnvelope(e.data);
          if (env === undefined) {
            throw new RangeError(`Cannot apply entry ${e.index}: its data has no driver envelope`);
          }
          if (env.origin === this.#id && env.incarnation === this.#incarnation) owner = env.seq;
          if (e.index > this.#smApplied) {
            cmds.push({ index: e.index, term: e.term, data: e.data.subarray(env.offset) });
            owners.push(owner !== undefined && this.#pending.has(owner) ? owner : undefined);
          }
          this.#bytesSinceSnapshot += e.data.length;
        }
        this.#checkLost(e.index, owner);
        segmentEnd = e.index;
      } else {
        await flush();
        if (this.#closed) return;
        this.#applyConfChangeEntry(e);
        segmentEnd = e.index;
        this.#applied = e.index;
        this.#afterApplied();
      }
      this.#lastAppliedTerm = e.term;
      this.#entriesSinceSnapshot++;
    }
    await flush();
    if (!this.#closed) this.#emit("applied", { index: this.#applied });
  }

  /** A different entry was committed where one of this run's was appended: it is lost. */
  #checkLost(index: Index, seq: number | undefined): void {
    const s = this.#indexed.get(index);
    if (s === undefined) return;
    this.#indexed.delete(index);
    if (s !== seq) this.#settleProposal(s, (p) => p.reject(new ProposalDroppedError()));
  }

  #applyConfChangeEntry(e: Entry): void {
    const cc = e.type === EntryType.EntryConfChange
      ? confChangeAsV2(decodeConfChange(e.data))
      : decodeConfChangeV2(e.data);
    const env = readEnvelope(cc.context);
    const context = env === undefined ? cc.context : cc.context.subarray(env.offset);
    const owner = env !== undefined && env.origin === this.#id &&
        env.incarnation === this.#incarnation
      ? env.seq
      : undefined;
    this.#checkLost(e.index, owner);
    const p = owner === undefined ? undefined : this.#pending.get(owner) as PendingConfChange;
    if (p !== undefined && this.#confInFlight === p) this.#confInFlight = undefined;

    const invalid = this.#checkChange(cc, env?.intents);
    if (invalid !== undefined) {
      // Every node refuses it the same way: it is not applied to Raft.
      this.#logger.warning(`${this.#id} refused conf change at ${e.index}: ${invalid.message}`);
      if (owner !== undefined) this.#settleProposal(owner, (q) => q.reject(invalid));
      return;
    }
    const cs = this.#rn.applyConfChange(cc);
    this.#confState = cloneConfState(cs);
    for (const c of cc.changes) {
      if (c.type === ConfChangeType.ConfChangeRemoveNode) this.#removed.add(c.nodeId);
    }
    if (
      this.#snapshotIndex > 0 &&
      cc.changes.some((c) =>
        c.type === ConfChangeType.ConfChangeAddNode ||
        c.type === ConfChangeType.ConfChangeAddLearnerNode
      )
    ) {
      this.#snapshotStale = true;
    }
    for (const c of cc.changes) {
      if (c.nodeId === this.#id || c.nodeId === None) continue;
      try {
        if (c.type === ConfChangeType.ConfChangeRemoveNode) this.#transport.removePeer?.(c.nodeId);
        else if (c.type !== ConfChangeType.ConfChangeUpdateNode) {
          this.#transport.addPeer?.(c.nodeId, context);
        }
      } catch (err) {
        this.#logger.warning(
          `${this.#id} transport failed to update peer ${c.nodeId}: ${
            err instanceof Error ? err.message : err
          }`,
        );
      }
    }
    this.#emit("membership", {
      confState: cloneConfState(cs),
      changes: cc.changes,
      context,
      index: e.index,
    });
    if (p !== undefined) {
      if (isJoint(cs)) {
        this.#jointWaiters.push(p);
      } else {
        this.#settleProposal(p.seq, (q) => (q as PendingConfChange).resolve(cloneConfState(cs)));
      }
    }
    if (!isJoint(cs) && this.#jointWaiters.length > 0) {
      const ws = this.#jointWaiters;
      this.#jointWaiters = [];
      for (const w of ws) {
        this.#settleProposal(w.seq, (q) => (q as PendingConfChange).resolve(cloneConfState(cs)));
      }
    }
  }

  #onReadState(index: Index, ctx: Uint8Array): void {
    const env = readEnvelope(ctx);
    if (env === undefined || env.origin !== this.#id || env.incarnation !== this.#incarnation) {
      return;
    }
    const ws = this.#readRequests.get(env.seq);
    if (ws === undefined) return;
    this.#readRequests.delete(env.seq);
    for (const w of ws) w.index = index;
    this.#readsWaiting.push(...ws);
    this.#afterApplied();
  }

  /** Settles the reads whose read index is applied. */
  #afterApplied(): void {
    if (this.#readsWaiting.length === 0) return;
    const keep: ReadWaiter[] = [];
    for (const w of this.#readsWaiting) {
      if (w.index === undefined || w.index > this.#applied) {
        keep.push(w);
        continue;
      }
      try {
        w.resolve(w.query === undefined ? undefined : w.query());
      } catch (e) {
        w.reject(e);
      }
    }
    this.#readsWaiting = keep;
  }

  /** Takes a snapshot and compacts the log when enough was applied since the last one. */
  async #maybeSnapshot(): Promise<void> {
    const byEntries = this.#snapshotEntries > 0 &&
      this.#entriesSinceSnapshot >= this.#snapshotEntries;
    const byBytes = this.#snapshotBytes > 0 && this.#bytesSinceSnapshot >= this.#snapshotBytes;
    if (!byEntries && !byBytes && !this.#snapshotStale) return;
    const index = this.#applied;
    if (index <= this.#snapshotIndex) return;
    const data = encodeSnapshotData(this.#removed, await this.#sm.snapshot());
    if (this.#closed) return;
    await this.#storage.createSnapshot(index, cloneConfState(this.#confState), data);
    this.#snapshotIndex = index;
    this.#entriesSinceSnapshot = 0;
    this.#bytesSinceSnapshot = 0;
    this.#snapshotStale = false;
    const compactTo = index - this.#catchUpEntries;
    if (compactTo >= this.#storage.firstIndex()) await this.#storage.compact(compactTo);
    this.#emit("snapshot", { index });
  }

  // -------------------------------------------------------------------------
  // Events and shutdown

  #emit<K extends RaftNodeEventName>(event: K, payload: RaftNodeEvents[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (e) {
        this.#logger.error(
          `${this.#id} ${event} listener threw: ${e instanceof Error ? e.message : e}`,
        );
      }
    }
  }

  /** Closes the node after a fatal error (storage, state machine, invariant). */
  #fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.#logger.error(`${this.#id} stopped after a fatal error: ${err.message}`);
    if (this.#closing === undefined) this.#closing = this.#shutdown(err);
  }

  async #shutdown(error: Error | undefined): Promise<void> {
    this.#closed = true;
    this.#error = error;
    this.#scheduler.clearTimeout(this.#tickTimer);
    const closedError = (): NodeClosedError => new NodeClosedError(this.#id, error);
    for (const seq of [...this.#pending.keys()]) {
      this.#settleProposal(seq, (p) => p.reject(closedError()));
    }
    this.#proposalQueue = [];
    this.#confQueue = [];
    this.#jointWaiters = [];
    const waiters: Waiter<never>[] = [
      ...this.#readQueue,
      ...this.#readsWaiting,
      ...[...this.#readRequests.values()].flat(),
      ...this.#transfers,
      ...this.#leaderWaiters,
    ] as Waiter<never>[];
    this.#readQueue = [];
    this.#readsWaiting = [];
    this.#readRequests.clear();
    this.#transfers = [];
    this.#leaderWaiters = [];
    for (const w of waiters) w.reject(closedError());
    // A loop waiting to take a Ready takes none now; wake it at once.
    const y = this.#yielding;
    if (y !== undefined) {
      this.#scheduler.clearTimeout(y.handle);
      y.wake();
    }
    // Let an in-flight write finish before the transport goes away.
    if (this.#loopDone !== undefined) await this.#loopDone;
    // The log no longer changes; remember its end before the application
    // closes the storage that `lastIndex()` may read.
    try {
      this.#lastIndexAtClose = this.#rn.lastIndex();
    } catch (e) {
      this.#lastIndexAtClose = this.#rn.basicStatus().commit;
      this.#logger.warning(
        `${this.#id} cannot read the last index at close: ${e instanceof Error ? e.message : e}`,
      );
    }
    try {
      await this.#transport.close();
    } catch (e) {
      this.#logger.warning(
        `${this.#id} transport failed to close: ${e instanceof Error ? e.message : e}`,
      );
    }
    this.#emit("close", { error });
    this.#listeners.clear();
  }
}
