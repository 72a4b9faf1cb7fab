/**
 * The {@linkcode RaftNode} class: start and recovery, the public API, the
 * Ready loop (persist, send, install snapshots, apply, advance) and the
 * snapshot trigger. Request bookkeeping, applying, the snapshot policy and
 * the events live in their own modules beside it.
 *
 * @module
 */

import { ConfChangeError, NodeClosedError, NotLeaderError, PausedError } from "../errors.ts";
import { discardLogger, type Logger } from "../logger.ts";
import { RawNode } from "../raw_node.ts";
import { cloneConfState } from "../storage.ts";
import {
  type ConfChangeSingle,
  ConfChangeTransition,
  type ConfChangeV2,
  type ConfState,
  emptyBytes,
  type HardState,
  type Index,
  isEmptyHardState,
  type Message,
  type NodeId,
  None,
  ReadOnlyOption,
  type SnapshotStatus,
  StateType,
} from "../types.ts";
import { type AppliedState, Applier, type ApplyContext } from "./apply.ts";
import { envelopeHeader, intentEnvelopeHeader, type MembershipIntent, wrap } from "./envelope.ts";
import {
  Listeners,
  memberProgress,
  type RaftNodeEventName,
  type RaftNodeEvents,
  type RaftNodeStatus,
} from "./events.ts";
import { changeTypeOf, intentOf } from "./membership.ts";
import { decodeSnapshotData, emptyReplicatedState } from "./replicated.ts";
import { ClientSession, type SessionHost } from "./client_session.ts";
import { jsonResultCodec, type ResultCodec } from "./result_codec.ts";
import { defaultSessionLimits, fingerprintOf, type SessionLimits } from "./sessions.ts";
import { sessionEnvelopeHeader, type SessionTag } from "./envelope.ts";
import {
  type ConfChangeOptions,
  defaultRand,
  type Limits,
  type ProposeOptions,
  raftConfig,
  type RaftNodeOptions,
  type RequestOptions,
  resolveLimits,
} from "./options.ts";
import type { HostedNode } from "./hosted.ts";
import { ReadyLoop } from "./ready_loop.ts";
import { Requests, type Waiter } from "./requests.ts";
import { globalScheduler, type Scheduler, type TimerHandle } from "./scheduler.ts";
import {
  type NodeStorage,
  type StateMachine,
  toNodeStorage,
  type Transport,
  type TransportHandler,
} from "./seams.ts";
import { restoreStateMachine, SnapshotPolicy } from "./snapshots.ts";
import {
  inlineSnapshotBytesMax,
  NodeSnapshotStreams,
  restoreStoredSnapshot,
} from "./snapshot_streams.ts";

/** A pause at least this long (ms) makes a leader answer the requests it held. */
const pauseAnswerMs = 1000;

export type { HostedNode };

let openHosted: <R>(
  options: RaftNodeOptions<R>,
  onRequest: () => void,
) => Promise<HostedNode<R>>;

/**
 * Starts a node that owns no tick timer: its host ticks it, with every
 * other group it runs, from one timer. Otherwise the same as
 * `RaftNode.start` (recovery, bootstrap, the transport started). Internal
 * to the package: `RaftHost` is the public way to run hosted nodes.
 *
 * @typeParam R The result of applying one command.
 * @param options The node's options (`tickMs` is the host's).
 * @param onRequest Called as each request starts (proposal, read, membership change, transfer, campaign).
 * @returns The node and its tick.
 */
export function startHostedNode<R>(
  options: RaftNodeOptions<R>,
  onRequest: () => void = (): void => {},
): Promise<HostedNode<R>> {
  return openHosted(options, onRequest);
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
 * import { MemoryStorage, RaftNode, type StateMachine, type Transport } from "@raft-ts/raft";
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
  readonly #transport: Transport;
  /** Snapshot data in chunks, for a transport that streams it. */
  readonly #snapshotStreams: NodeSnapshotStreams;
  readonly #sm: StateMachine<R>;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #tickMs: number;
  readonly #electionTick: number;
  readonly #forward: boolean;
  readonly #incarnation: number;
  readonly #requestTimeoutMs: number;
  /** Ticked by a host (`RaftHost`) instead of a tick timer of its own. */
  readonly #hosted: boolean;
  /** Called as each request starts: a host wakes a resting group. */
  #onRequest: () => void = (): void => {};
  /** The scheduler's clock at the last tick, to notice a pause. */
  #lastTickAtMs: number | undefined = undefined;
  /** The session table's clock as last seen, and the tick it was seen at. */
  #stampBase = { clockMs: 0, tick: 0 };

  #tickTimer: TimerHandle = undefined;

  #closed = false;
  #closing: Promise<void> | undefined = undefined;
  /**
   * The log's last index once the node stopped, for `status()` (the
   * storage may be closed after the node); `undefined` while it runs.
   */
  #lastIndexAtClose: Index | undefined = undefined;
  #error: Error | undefined = undefined;

  /** Requests waiting for their outcome, and the clock of their deadlines. */
  readonly #requests: Requests<R>;
  /** When to take a snapshot. */
  readonly #snapshots: SnapshotPolicy;
  readonly #events: Listeners;
  /** The applied state, and applying. */
  readonly #applier: Applier<R>;
  readonly #loop: ReadyLoop<R>;

  private constructor(
    opts: RaftNodeOptions<R>,
    limits: Limits,
    storage: NodeStorage,
    rn: RawNode,
    init: AppliedState & { incarnation: number; hardState: HardState },
    hosted: boolean,
  ) {
    this.#id = opts.id;
    this.#hosted = hosted;
    this.#rn = rn;
    this.#transport = opts.transport;
    this.#sm = opts.stateMachine;
    this.#scheduler = opts.scheduler ?? globalScheduler;
    this.#logger = opts.logger ?? discardLogger;
    this.#tickMs = limits.tickMs;
    this.#electionTick = opts.electionTick ?? 10;
    this.#requestTimeoutMs = limits.requestTimeoutMs;
    this.#forward = opts.forwardProposals ?? false;
    this.#incarnation = init.incarnation;
    this.#requests = new Requests<R>(limits);
    this.#snapshots = new SnapshotPolicy(limits, init.applied);
    this.#events = new Listeners(this.#id, this.#logger);
    const sched = this.#scheduler;
    const parts: ApplyContext<R> = {
      id: this.#id,
      incarnation: this.#incarnation,
      rn,
      sm: this.#sm,
      storage,
      transport: this.#transport,
      logger: this.#logger,
      requests: this.#requests,
      snapshots: this.#snapshots,
      events: this.#events,
      resultCodec: opts.resultCodec ?? (jsonResultCodec as ResultCodec<R>),
      sessionLimits: { ...defaultSessionLimits, ...opts.sessionLimits },
      closed: (): boolean => this.#closed,
    };
    this.#applier = new Applier<R>(parts, init);
    this.#snapshotStreams = new NodeSnapshotStreams(
      storage,
      parts.sessionLimits,
      inlineSnapshotBytesMax,
    );
    this.#loop = new ReadyLoop<R>({
      ...parts,
      scheduler: sched,
      applier: this.#applier,
      forward: this.#forward,
      maxBatchBytes: limits.maxProposalBatchBytes,
      yieldToIo: (opts.yieldBeforeSave ?? true) && typeof sched.yieldToIo === "function"
        ? (fn: () => void): TimerHandle => sched.yieldToIo!(fn)
        : undefined,
      fail: (e: unknown): void => this.#fail(e),
      readOnlyOption: opts.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe,
    }, init.hardState);
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
  static start<R>(options: RaftNodeOptions<R>): Promise<RaftNode<R>> {
    return RaftNode.#open(options, false);
  }

  /** Lets `startHostedNode` open a node without a timer and tick it. */
  static {
    openHosted = async <R>(o: RaftNodeOptions<R>, onRequest: () => void) => {
      const node = await RaftNode.#open(o, true);
      node.#onRequest = onRequest;
      const r = node.#requests;
      return {
        node,
        tick: (): void => node.#onTick(),
        rawNode: node.#rn,
        confState: (): ConfState => node.#applier.confState,
        wasRemoved: (id: NodeId): boolean => node.#applier.replicated.removed.has(id),
        idle: (): boolean => r.proposalCount === 0 && r.readCount === 0 && !r.hasQueuedConfChanges,
        wake: (forgetLeader: boolean): void => {
          node.#lastTickAtMs = undefined; // a rest is no pause
          node.#rn.resetElectionClock(forgetLeader);
          if (node.#rn.basicStatus().raftState === StateType.StateLeader) {
            node.#loop.recheckQuorum(node.#electionTick);
          }
        },
      };
    };
  }

  static async #open<R>(options: RaftNodeOptions<R>, hosted: boolean): Promise<RaftNode<R>> {
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
    const sessionLimits: SessionLimits = { ...defaultSessionLimits, ...options.sessionLimits };
    const fromSnapshot = snapIndex > 0 ? decodeSnapshotData(snap.data, sessionLimits) : undefined;
    if (smApplied === undefined || smApplied < snapIndex) {
      // Start from the latest snapshot and replay the log after it.
      const meta = { index: snapIndex, term: snap.metadata.term };
      if (fromSnapshot?.stored !== undefined) {
        await restoreStoredSnapshot(sm, storage, fromSnapshot.stored, meta);
      } else if (fromSnapshot !== undefined) {
        await restoreStateMachine(sm, fromSnapshot.data, meta);
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

    // Raft replays from the snapshot: membership changes after it must be
    // applied to Raft again; commands at or below smApplied are skipped by
    // the driver.
    const rn = new RawNode(raftConfig(options, storage, snapIndex, rand));
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
      replicated: fromSnapshot?.state ?? emptyReplicatedState(sessionLimits),
      hardState: { term: hardState.term, vote: hardState.vote, commit: hardState.commit },
    }, hosted);
    node.#begin();
    return node;
  }

  #begin(): void {
    const handler: TransportHandler = {
      id: this.#id,
      step: (m: Message): void => this.#loop.step(m),
      reportUnreachable: (id: NodeId): void => {
        if (this.#closed) return;
        this.#rn.reportUnreachable(id);
        this.#loop.kick();
      },
      reportSnapshot: (id: NodeId, status: SnapshotStatus): void => {
        if (this.#closed) return;
        this.#rn.reportSnapshot(id, status);
        this.#loop.kick();
      },
      ...(this.#transport.streamsSnapshots === true
        ? {
          snapshotStreams: this.#snapshotStreams,
        }
        : {}),
    };
    this.#transport.start(handler);
    // Members added at run time whose changes were compacted into the
    // snapshot are known to the transport through the replicated state.
    this.#applier.announcePeers();
    this.#armTick();
    this.#loop.kick();
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
   * With `idempotencyKey`, the command applies once: a retry with the
   * same key (and the same bytes), on this node or another, after a
   * timeout or a leader change, resolves with the first result.
   *
   * @param data The command.
   * @param options The request's timeout; the command's idempotency key.
   * @returns The result of applying the command.
   * @throws {NotLeaderError} This node is not the leader (and forwarding is off).
   * @throws {ProposalDroppedError} Raft dropped it (leadership transfer in
   *   progress, size limit), or another entry was committed in its place.
   * @throws {TimeoutError} No outcome in time; it may still be applied.
   * @throws {LeaderChangedError} It was forwarded to a leader that was
   *   replaced; it may still be applied.
   * @throws {SessionError} Its idempotency key names another request
   *   (`key_reused`), or its first result was not kept (`session_stale`).
   * @throws {BusyError} Too many proposals are pending.
   * @throws {NodeClosedError} The node is closed.
   * @throws {TypeError} `data` is not a Uint8Array.
   */
  propose(data: Uint8Array, options: ProposeOptions = {}): Promise<R> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new TypeError("Cannot propose: 'data' must be a Uint8Array"));
    }
    const key = options.idempotencyKey;
    if (key === undefined) return this.#propose(data, undefined, options);
    if (typeof key !== "string" || key.length === 0 || key.length > 255) {
      return Promise.reject(
        new TypeError("Cannot propose: 'idempotencyKey' must be a string of 1 to 255 characters"),
      );
    }
    return this.#propose(data, {
      kind: "key",
      stampMs: this.#stampMs(),
      key,
      fingerprint: options.fingerprint ?? fingerprintOf(data),
    }, options);
  }

  /**
   * Opens a client session (Raft thesis §6.3): its commands apply once
   * each, however often they are retried, across leader changes, restarts
   * and snapshots. Registering it takes a log entry.
   *
   * @param options The registration's timeout.
   * @returns The session.
   * @throws {NotLeaderError} This node is a follower and does not forward proposals.
   * @throws {TimeoutError} The registration did not complete in time.
   * @throws {NodeClosedError} The node is closed.
   */
  async openSession(options: RequestOptions = {}): Promise<ClientSession<R>> {
    const id = await this.#propose(
      new Uint8Array(0),
      { kind: "register", stampMs: this.#stampMs() },
      options,
    ) as unknown as number;
    return new ClientSession<R>(this.#sessionHost(), id);
  }

  /**
   * A handle on a session opened earlier (through this node or another,
   * before a restart): its commands go on from sequence number `nextSeq`.
   * For new commands it must be above every number the session used;
   * resuming at the number of a command whose outcome is unknown retries
   * that command (it applies once, and the retry gets its result).
   *
   * @param id The session's ID.
   * @param nextSeq The next sequence number.
   * @returns The session.
   * @throws {RangeError} `id` or `nextSeq` is not a positive integer.
   */
  resumeSession(id: number, nextSeq: number): ClientSession<R> {
    for (const [name, v] of [["id", id], ["nextSeq", nextSeq]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new RangeError(
          `Cannot resume the session as '${name}' must be a positive integer: current value ${v}`,
        );
      }
    }
    return new ClientSession<R>(this.#sessionHost(), id, nextSeq);
  }

  #sessionHost(): SessionHost<R> {
    return {
      requestTimeoutMs: this.#requestTimeoutMs,
      nowMs: (): number => this.#requests.ticks * this.#tickMs,
      delay: (ms: number): Promise<void> =>
        new Promise((resolve) => this.#scheduler.setTimeout(resolve, ms)),
      proposeInSession: (sid, seq, ackBelow, data, opts): Promise<R> =>
        this.#propose(
          data,
          { kind: "session", stampMs: this.#stampMs(), id: sid, seq, ackBelow },
          opts,
        ),
      endSession: async (sid, opts): Promise<void> => {
        await this.#propose(
          new Uint8Array(0),
          { kind: "unregister", stampMs: this.#stampMs(), id: sid },
          opts,
        );
      },
    };
  }

  /** A voter to add that the transport cannot reach is refused: it would count toward the quorum. */
  #checkReachable(
    changes: readonly { intent: MembershipIntent; nodeId: NodeId }[],
    options: ConfChangeOptions,
  ): ConfChangeError | undefined {
    for (const c of changes) {
      if (c.intent !== "addVoter") continue;
      const why = this.#transport.checkPeer?.(c.nodeId, options.context ?? emptyBytes);
      if (why !== undefined) {
        return new ConfChangeError(`Cannot add node ${c.nodeId} as a voter: ${why}`, "unreachable");
      }
    }
    return undefined;
  }

  /** Queues a proposal, with its exactly-once name if any. */
  #propose(data: Uint8Array, tag: SessionTag | undefined, options: RequestOptions): Promise<R> {
    const refused = this.#refuseProposal("proposal");
    if (refused !== undefined) return Promise.reject(refused);
    const seq = this.#requests.nextSeq();
    const header = tag === undefined
      ? envelopeHeader(this.#id, this.#incarnation, seq)
      : sessionEnvelopeHeader(this.#id, this.#incarnation, seq, tag);
    return this.#start<R>(options, (w) => {
      this.#requests.queueProposal(w, seq, wrap(header, data));
      this.#loop.kick();
    });
  }

  /**
   * The time an exactly-once entry is stamped with: the session table's
   * clock as last applied, moved on by this node's ticks since (no wall
   * clock: the cluster's time goes on from node to node).
   */
  #stampMs(): number {
    const clockMs = this.#applier.replicated.sessions.clockMs;
    if (clockMs !== this.#stampBase.clockMs) {
      this.#stampBase = { clockMs, tick: this.#requests.ticks };
    }
    return this.#stampBase.clockMs + (this.#requests.ticks - this.#stampBase.tick) * this.#tickMs;
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
    const refused = this.#refuse("reads", "read");
    if (refused !== undefined) return Promise.reject(refused);
    return this.#start<T>(options, (w) => {
      this.#requests.queueRead(w as Waiter<unknown>, query);
      this.#loop.kick();
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
      const intent = intentOf(this.#applier.confState, c);
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
    const refused = this.#refuseProposal("membership change");
    if (refused !== undefined) return Promise.reject(refused);
    const seq = this.#requests.nextSeq();
    const intents = changes.map((c) => c.intent);
    const cc: ConfChangeV2 = {
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: changes.map((c) => ({ type: changeTypeOf(c.intent), nodeId: c.nodeId })),
      context: wrap(
        intentEnvelopeHeader(this.#id, this.#incarnation, seq, intents),
        options.context ?? emptyBytes,
      ),
    };
    const invalid = this.#applier.checkChange(cc, intents) ??
      this.#checkReachable(changes, options);
    if (invalid !== undefined) return Promise.reject(invalid);
    return this.#start<ConfState>(options, (w) => {
      this.#requests.queueConfChange(w, seq, cc, intents);
      this.#loop.kick();
    });
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
    const refused = this.#refuse("reads", "transfer");
    if (refused !== undefined) return Promise.reject(refused);
    if (!this.#applier.confState.voters.includes(to)) {
      return Promise.reject(
        new RangeError(`Cannot transfer leadership to node ${to}: it is not a voter`),
      );
    }
    if (this.#rn.basicStatus().lead === to) return Promise.resolve();
    return this.#start<void>(options, (w) => {
      this.#requests.addTransfer(w, to);
      this.#rn.transferLeader(to);
      this.#loop.kick();
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
    const refused = this.#refuse("reads", "leader wait");
    if (refused !== undefined) return Promise.reject(refused);
    const lead = this.#rn.basicStatus().lead;
    if (lead !== None) return Promise.resolve(lead);
    return this.#start<NodeId>(options, (w) => {
      this.#requests.addLeaderWaiter(w);
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
    this.#onRequest();
    this.#rn.campaign();
    this.#loop.kick();
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
    const closed = this.#closed;
    const progress = st.raftState === StateType.StateLeader && !closed
      ? memberProgress(this.#rn)
      : [];
    const leaderId = closed ? None : st.lead;
    return {
      id: this.#id,
      leaderId,
      raftState: closed ? StateType.StateFollower : st.raftState,
      leaderContactAgeMs: leaderId === None
        ? undefined
        : (this.#requests.ticks - this.#loop.leaderContactTick) * this.#tickMs,
      electionTimeoutMs: this.#electionTick * this.#tickMs,
      term: st.term,
      vote: st.vote,
      commit: st.commit,
      applied: this.#applier.applied,
      snapshotIndex: this.#snapshots.index,
      confState: cloneConfState(this.#applier.confState),
      pendingProposals: this.#requests.proposalCount,
      pendingReads: this.#requests.readCount,
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
    return this.#events.on(event, fn);
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
  // Requests

  /** Starts a request (a host wakes a resting group first). */
  #start<T>(options: RequestOptions, enqueue: (w: Waiter<T>) => void): Promise<T> {
    this.#onRequest();
    return this.#requests.start<T>(options, enqueue);
  }

  /** The error that refuses a request now: the node is closed, or too many are pending. */
  #refuse(kind: "proposals" | "reads", what: string): Error | undefined {
    if (this.#closed) return new NodeClosedError(this.#id, this.#error);
    return this.#requests.busy(kind, what);
  }

  /**
   * The error that refuses a proposal or membership change now: closed,
   * busy, or a follower with forwarding off; `undefined` if allowed.
   */
  #refuseProposal(what: string): Error | undefined {
    return this.#refuse("proposals", what) ?? this.#notLeaderUnlessForwarding();
  }

  /** The error for a proposal on a follower when forwarding is off; `undefined` if allowed. */
  /** A follower that knows its leader and does not forward refuses at once; without a leader, requests wait for one. */
  #notLeaderUnlessForwarding(): NotLeaderError | undefined {
    if (this.#forward) return undefined;
    const ss = this.#rn.basicStatus();
    return ss.raftState === StateType.StateLeader || ss.lead === None
      ? undefined
      : new NotLeaderError(this.#id, ss.lead);
  }

  // -------------------------------------------------------------------------
  // Inputs: ticks and messages

  #armTick(): void {
    if (this.#hosted) return;
    this.#tickTimer = this.#scheduler.setTimeout(() => this.#onTick(), this.#tickMs);
  }

  #onTick(): void {
    if (this.#closed) return;
    const now = this.#scheduler.nowMs?.();
    if (now !== undefined) {
      const last = this.#lastTickAtMs;
      this.#lastTickAtMs = now;
      // One tick of slack: a timer fires late on a busy event loop.
      if (last !== undefined && now - last > (this.#electionTick + 1) * this.#tickMs) {
        this.#onPause(now - last);
      }
    }
    this.#requests.tick();
    try {
      this.#rn.tick();
    } catch (e) {
      this.#fail(e);
      return;
    }
    this.#requests.expire();
    // A ReadIndex request unanswered for an election timeout went to a
    // leader that is gone or cut off: ask the current one again.
    this.#requests.requeueReadIndexes({ ageTicks: this.#electionTick });
    this.#armTick();
    this.#loop.kick();
  }

  /**
   * The node was paused for longer than an election timeout. A leader may
   * have been replaced meanwhile: it checks its quorum again before it
   * serves lease-based reads. After a pause of a second or more (a stopped
   * process, not a busy event loop), what waited in its queues is answered
   * at once rather than served late.
   */
  #onPause(pausedMs: number): void {
    const leading = this.#rn.basicStatus().raftState === StateType.StateLeader;
    const long = pausedMs >= pauseAnswerMs;
    const log = long ? this.#logger.warning : this.#logger.debug;
    log.call(
      this.#logger,
      `${this.#id} was paused for ${Math.round(pausedMs)} ms, longer than its election timeout${
        leading ? "; it checks its quorum again" : ""
      }${leading && long ? " and answers the requests it held" : ""}`,
    );
    if (!leading) return;
    this.#loop.recheckQuorum(2 * this.#electionTick);
    if (long) this.#requests.rejectQueued((what) => new PausedError(what, this.#id, pausedMs));
  }

  // -------------------------------------------------------------------------
  // Shutdown

  /** Closes the node after a fatal error (storage, state machine, invariant). */
  #fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.#logger.error(`${this.#id} stopped after a fatal error: ${err.message}`);
    if (this.#closing !== undefined) return;
    this.#closing = this.#shutdown(err);
    this.#events.emit("fatal", { error: err });
  }

  async #shutdown(error: Error | undefined): Promise<void> {
    this.#closed = true;
    this.#error = error;
    this.#scheduler.clearTimeout(this.#tickTimer);
    this.#requests.rejectAll((): NodeClosedError => new NodeClosedError(this.#id, error));
    // A loop waiting to take a Ready takes none now; let an in-flight
    // write finish before the transport goes away.
    await this.#loop.stop();
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
    this.#events.emit("close", { error });
    this.#events.clear();
  }
}
