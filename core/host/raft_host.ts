/**
 * The {@linkcode RaftHost} class: many Raft groups in one process, each a
 * `RaftNode` with its own state machine, ticked by one timer, talking to
 * peer hosts through one {@linkcode HostTransport} and writing through one
 * {@linkcode HostStorage} in batches.
 *
 * @module
 */

import { GroupNotFoundError, NodeClosedError } from "../errors.ts";
import { discardLogger, type Logger, prefixedLogger } from "../logger.ts";
import type { RaftNodeOptions } from "../node/options.ts";
import { checkNumberOption } from "../node/options.ts";
import { type HostedNode, type RaftNode, startHostedNode } from "../node/raft_node.ts";
import { globalScheduler, type Scheduler, type TimerHandle } from "../node/scheduler.ts";
import { forwardStorage, type StorageUpdate } from "../node/seams.ts";
import { type Message, StateType } from "../types.ts";
import { GroupMux, type GroupMuxStats } from "./mux.ts";
import { Quiescence, type QuiescenceStats } from "./quiesce.ts";
import { SaveBatcher, type SaveBatchStats } from "./save_batcher.ts";
import type { GroupId, HostId, HostStorage, HostTransport } from "./seams.ts";
import { groupScheduler } from "./turn.ts";

/**
 * The options of one group, as `RaftNode`'s, less what the host gives
 * every group: its ID (the host's), storage, transport, scheduler and
 * tick.
 */
export type GroupOptions<R = unknown> =
  & Omit<RaftNodeOptions<R>, "id" | "storage" | "transport" | "scheduler" | "tickMs">
  & {
    /** The group's ID on every host that runs a replica of it; a positive integer. */
    groupId: GroupId;
  };

/** Options of {@linkcode RaftHost.start}. */
export interface RaftHostOptions<R = unknown> {
  /** This host's ID, which is also its replicas' Raft ID in every group; not 0. */
  hostId: HostId;
  /** Carries every group's messages to and from the peer hosts. */
  transport: HostTransport;
  /** Holds every group's state; the groups' writes reach it in batches. */
  storage: HostStorage;
  /**
   * Where time comes from; the host sets one tick timer on it.
   * @default {globalScheduler}
   */
  scheduler?: Scheduler;
  /**
   * Milliseconds between two ticks, of every group.
   * @default {100}
   */
  tickMs?: number;
  /**
   * Where log lines go; also each group's logger unless its options name one.
   * @default {discardLogger}
   */
  logger?: Logger;
  /**
   * Options every group starts with, under its own `addGroup` options
   * (Raft timing, limits, snapshot policy, randomness).
   * @default {{}}
   */
  groupDefaults?: Partial<Omit<GroupOptions<R>, "groupId" | "stateMachine" | "peers">>;
  /**
   * Whether idle groups rest (quiescence, docs/multi-raft.md): they stop
   * ticking and heartbeating, and the host sends one host-level heartbeat
   * per heartbeat interval to each peer host it shares a group with. The
   * intervals are `groupDefaults`' (`heartbeatTick`, and `electionTick` as
   * the liveness timeout). The heartbeats (and responses) the awake groups
   * send to one peer host in one turn leave folded into one host-level
   * message (coalesced heartbeats). Off: every group ticks always, sends
   * its own heartbeats, and the host sends no host-level traffic.
   * @default {true}
   */
  quiesce?: boolean;
}

/** A host's state, from {@linkcode RaftHost.status}. */
export interface RaftHostStatus {
  /** The host's ID. */
  hostId: HostId;
  /** Whether the host is closed. */
  closed: boolean;
  /** The groups it runs, ascending. */
  groupIds: GroupId[];
  /** The groups whose leader is this host, ascending. */
  leading: GroupId[];
  /** How many of its groups know no leader. */
  withoutLeader: number;
  /** How many of its groups each host leads, as this host knows their leaders (hosts leading none left out). */
  leadersPerHost: Record<HostId, number>;
  /** How many of its groups stopped after a fatal error (they stay listed until removed). */
  failed: number;
  /** Ticks given to the groups so far (one timer per host: each tick ticks every group). */
  ticks: number;
  /** The storage batches written and the saves they held. */
  storage: SaveBatchStats;
  /** What went through the host transport, and the messages dropped for unknown groups. */
  transport: GroupMuxStats;
  /** How many of its groups rest (quiescence). */
  quiesced: number;
  /** Host-level heartbeats, and groups going to rest and waking. */
  quiescence: QuiescenceStats;
}

/**
 * Runs many Raft groups in one process: creates, runs and removes them at
 * run time. Each group is a {@linkcode RaftNode} with its own state machine
 * and the node's whole promise API and typed errors:
 * `host.group(id).propose()`, `read()`, the membership calls,
 * `transferLeadership()`, `status()`.
 *
 * What the groups share:
 * - **one tick timer**: each tick of the host ticks every group (groups
 *   own no timer);
 * - **one transport**: every group's messages go through one
 *   {@linkcode HostTransport}, tagged with their group; what the groups
 *   send in one turn of the event loop leaves as one batch. Messages for
 *   a group this host does not run are dropped and counted;
 * - **one storage**: the saves the groups issue in one turn become one
 *   {@linkcode HostStorage.writeBatch} (one transaction, one sync), and
 *   each group's save settles once its batch is durable;
 * - **rest when idle** (quiescence, on by default): an idle group stops
 *   ticking and heartbeating; one host-level heartbeat per peer host
 *   tells the hosts apart that are live, and a resting group wakes for any
 *   request or message, or when its leader's host falls silent; the awake
 *   groups' heartbeats to one peer host leave folded into one message.
 *
 * A group's members are hosts: the replica of a group on host `h` has Raft
 * ID `h` (so `addVoter(3)` adds a replica on host 3). Every host of a group
 * adds the group with the same ID; a new group's hosts pass the same
 * `peers`, as `RaftNode.start` does.
 *
 * After a restart the application adds its groups again (with their state
 * machines): `storage.groupIds()` lists the groups that have state.
 * `SqliteHostStorage` (`@raft-ts/raft/sqlite`) keeps them in one file.
 *
 * Over the network, `WebSocketHostTransport` (`@raft-ts/raft/websocket`)
 * carries every group on one connection per peer host.
 *
 * Still to come (docs/multi-raft.md): a sharded KV example.
 *
 * @typeParam R The result of applying one command, in every group.
 *
 * @example Two groups on one host
 * ```ts
 * import { MemoryHostStorage, RaftHost, type StateMachine } from "@raft-ts/raft";
 * import { MemoryHostNetwork, VirtualScheduler } from "@raft-ts/raft/memory";
 *
 * const clock = new VirtualScheduler();
 * const net = new MemoryHostNetwork({ scheduler: clock });
 * const storage = new MemoryHostStorage();
 * const host = await RaftHost.start<number>({
 *   hostId: 1,
 *   transport: net.connect(1),
 *   storage,
 *   scheduler: clock,
 *   tickMs: 10,
 * });
 * // A counter per group: each command adds its first byte.
 * const counter = (): StateMachine<number> => {
 *   let total = 0;
 *   return {
 *     apply: (cmds) => cmds.map((c) => (total += c.data[0]!)),
 *     snapshot: () => new Uint8Array([total]),
 *     restore: (data) => {
 *       total = data[0] ?? 0;
 *     },
 *   };
 * };
 * for (const groupId of [1, 2]) {
 *   await host.addGroup({ groupId, peers: [1], stateMachine: counter() });
 * }
 * await clock.run(host.group(1).waitForLeader());
 * await clock.run(host.group(2).waitForLeader());
 * const [a, b] = await clock.run(Promise.all([
 *   host.group(1).propose(new Uint8Array([2])),
 *   host.group(2).propose(new Uint8Array([5])),
 * ]));
 * if (a !== 2 || b !== 5) throw new Error("unexpected");
 * if (host.status().leading.length !== 2) throw new Error("unexpected");
 * await clock.run(host.close());
 * net.close();
 * ```
 */
export class RaftHost<R = unknown> {
  readonly #hostId: HostId;
  readonly #scheduler: Scheduler;
  /** The groups' scheduler: the host's without hops to pending I/O (the batcher takes one for all). */
  readonly #groupScheduler: Scheduler;
  readonly #logger: Logger;
  readonly #tickMs: number;
  readonly #storage: HostStorage;
  readonly #defaults: Partial<Omit<GroupOptions<R>, "groupId" | "stateMachine" | "peers">>;
  readonly #mux: GroupMux;
  readonly #batcher: SaveBatcher;
  /** Ticks the groups, lets idle ones rest, tracks the peer hosts' liveness. */
  readonly #quiet: Quiescence;
  /** The running groups, in the order they were added (the order they are ticked in). */
  readonly #groups = new Map<GroupId, HostedNode<R>>();
  /** Groups being added or removed: no second call for them meanwhile. */
  readonly #busy = new Set<GroupId>();
  #tickTimer: TimerHandle = undefined;
  #ticks = 0;
  #closing: Promise<void> | undefined = undefined;

  private constructor(options: RaftHostOptions<R>, tickMs: number) {
    this.#hostId = options.hostId;
    this.#scheduler = options.scheduler ?? globalScheduler;
    this.#groupScheduler = groupScheduler(this.#scheduler);
    this.#logger = options.logger ?? discardLogger;
    this.#tickMs = tickMs;
    this.#storage = options.storage;
    this.#defaults = { ...options.groupDefaults };
    this.#batcher = new SaveBatcher(options.storage, this.#scheduler);
    this.#mux = new GroupMux(options.hostId, options.transport, this.#scheduler, this.#logger);
    const mux = this.#mux;
    this.#quiet = new Quiescence({
      hostId: options.hostId,
      groups: this.#groups as ReadonlyMap<GroupId, HostedNode<unknown>>,
      enabled: options.quiesce ?? true,
      heartbeatTick: this.#defaults.heartbeatTick ?? 1,
      livenessTick: this.#defaults.electionTick ?? 10,
      send: (m: Message): void => mux.sendHost(m),
      deliver: (groupId: GroupId, m: Message): void => mux.deliver(groupId, m),
      logger: this.#logger,
    });
    // Without quiescence, no host-level traffic: heartbeats go as they are.
    mux.setTraffic(this.#quiet, options.quiesce ?? true);
  }

  /**
   * Starts a host with no groups: starts the transport and the tick timer.
   *
   * @typeParam R The result of applying one command, in every group.
   * @param options The host's options.
   * @returns The running host.
   * @throws {RangeError} `hostId` or `tickMs` is invalid.
   * @throws {TypeError} The transport or storage is missing.
   */
  static start<R = unknown>(options: RaftHostOptions<R>): Promise<RaftHost<R>> {
    try {
      return Promise.resolve(RaftHost.#open(options));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  static #open<R>(options: RaftHostOptions<R>): RaftHost<R> {
    checkNumberOption("start RaftHost", "hostId", options.hostId, "positiveInteger");
    const tickMs = checkNumberOption("start RaftHost", "tickMs", options.tickMs ?? 100, "positive");
    for (const name of ["transport", "storage"] as const) {
      if (options[name] === undefined || options[name] === null) {
        throw new TypeError(`Cannot start RaftHost as '${name}' is missing`);
      }
    }
    const host = new RaftHost<R>(options, tickMs);
    host.#armTick();
    return host;
  }

  /** This host's ID (its replicas' Raft ID). */
  get hostId(): HostId {
    return this.#hostId;
  }

  /** Whether the host is closed. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The IDs of the groups this host runs, in the order they were added. */
  get groupIds(): GroupId[] {
    return [...this.#groups.keys()];
  }

  /**
   * Adds a group and starts its replica here: recovers it from the host's
   * storage, or bootstraps it when the storage holds nothing for it and
   * `peers` is given (every host of a new group passes the same `peers`).
   *
   * @param options The group's ID, state machine and options.
   * @returns The group's node.
   * @throws {RangeError} The group ID is invalid, the host runs the group
   *   already, or an option is invalid.
   * @throws {NodeClosedError} The host is closed.
   */
  async addGroup(options: GroupOptions<R>): Promise<RaftNode<R>> {
    const groupId = options.groupId;
    checkNumberOption("add a group", "groupId", groupId, "positiveInteger");
    if (this.closed) throw new NodeClosedError(this.#hostId);
    if (this.#groups.has(groupId) || this.#busy.has(groupId)) {
      throw new RangeError(`Cannot add group ${groupId}: host ${this.#hostId} runs it already`);
    }
    this.#busy.add(groupId);
    try {
      const isNew = !this.#storage.groupIds().includes(groupId);
      // Reads from the group's own storage, writes through the host's batcher.
      const storage = forwardStorage(this.#storage.openGroup(groupId), {
        save: (u: StorageUpdate): Promise<void> => this.#batcher.save(groupId, u),
      });
      let hosted: HostedNode<R>;
      try {
        hosted = await startHostedNode<R>({
          logger: prefixedLogger(this.#logger, `[group ${groupId}] `),
          ...this.#defaults,
          ...options,
          id: this.#hostId,
          storage,
          transport: this.#mux.view(groupId),
          scheduler: this.#groupScheduler,
          tickMs: this.#tickMs,
        }, (): void => this.#quiet.onRequest(groupId));
      } catch (e) {
        // It never ran (bad options, a state machine that failed to
        // recover): a group created for it leaves nothing behind.
        if (isNew) await this.#storage.deleteGroup(groupId);
        throw e;
      }
      if (this.closed) {
        await hosted.node.close();
        throw new NodeClosedError(this.#hostId);
      }
      this.#groups.set(groupId, hosted);
      this.#quiet.added(groupId);
      hosted.node.on("membership", (): void => this.#quiet.membershipChanged());
      return hosted.node;
    } finally {
      this.#busy.delete(groupId);
    }
  }

  /**
   * The node of a group this host runs.
   *
   * @param groupId The group.
   * @returns Its node.
   * @throws {GroupNotFoundError} The host does not run the group.
   */
  group(groupId: GroupId): RaftNode<R> {
    const g = this.#groups.get(groupId);
    if (g === undefined) throw new GroupNotFoundError(this.#hostId, groupId);
    return g.node;
  }

  /**
   * Whether this host runs a group.
   *
   * @param groupId The group.
   * @returns `true` when it does.
   */
  hasGroup(groupId: GroupId): boolean {
    return this.#groups.has(groupId);
  }

  /**
   * Whether this host's replica of a group rests (quiescence): it is not
   * ticked and sends no heartbeats until a request or message wakes it.
   *
   * @param groupId The group.
   * @returns `true` when it rests; `false` when it is ticked or the host does not run it.
   */
  isQuiesced(groupId: GroupId): boolean {
    return this.#quiet.isQuiesced(groupId);
  }

  /**
   * Stops this host's replica of a group (its pending requests fail with
   * `NodeClosedError`) and forgets it; messages for it are dropped from
   * then on. The group's membership is the application's to change first
   * (`removeNode` on its leader), so that the other replicas do not count
   * on this one.
   *
   * @param groupId The group.
   * @param options `deleteData`: also delete its state from the host's storage.
   * @returns A Promise that settles once the replica is stopped.
   * @throws {GroupNotFoundError} The host does not run the group.
   */
  async removeGroup(groupId: GroupId, options: { deleteData?: boolean } = {}): Promise<void> {
    const g = this.#groups.get(groupId);
    if (g === undefined || this.#busy.has(groupId)) {
      throw new GroupNotFoundError(this.#hostId, groupId);
    }
    this.#busy.add(groupId);
    this.#groups.delete(groupId);
    this.#quiet.remove(groupId);
    try {
      await g.node.close();
      if (options.deleteData === true) await this.#storage.deleteGroup(groupId);
    } finally {
      this.#busy.delete(groupId);
    }
  }

  /**
   * The host's state: its groups, those it leads, those without a leader,
   * the storage batches and the transport counters. Each group's own
   * state is `group(id).status()`.
   *
   * @returns A fresh status object.
   */
  status(): RaftHostStatus {
    const leading: GroupId[] = [];
    let withoutLeader = 0;
    let failed = 0;
    const leadersPerHost: Record<HostId, number> = {};
    for (const [groupId, g] of this.#groups) {
      if (g.node.error !== undefined) {
        failed++;
        continue;
      }
      // The Raft state alone (a group's whole status copies its membership and progress).
      const st = g.rawNode.basicStatus();
      const lead = g.node.closed ? 0 : st.lead;
      if (lead === 0) withoutLeader++;
      else leadersPerHost[lead] = (leadersPerHost[lead] ?? 0) + 1;
      if (lead === this.#hostId && st.raftState === StateType.StateLeader) leading.push(groupId);
    }
    return {
      hostId: this.#hostId,
      closed: this.closed,
      groupIds: [...this.#groups.keys()].sort((a, b) => a - b),
      leading: leading.sort((a, b) => a - b),
      withoutLeader,
      leadersPerHost,
      failed,
      ticks: this.#ticks,
      storage: this.#batcher.stats,
      transport: this.#mux.stats,
      quiesced: this.#quiet.quiescedCount,
      quiescence: this.#quiet.stats,
    };
  }

  /**
   * Stops the host: stops the tick timer, closes every group (their
   * in-flight writes finish), then the transport. Idempotent.
   *
   * @returns A Promise that settles once the host is stopped.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) this.#closing = this.#shutdown();
    return this.#closing;
  }

  #armTick(): void {
    this.#tickTimer = this.#scheduler.setTimeout(() => this.#onTick(), this.#tickMs);
  }

  #onTick(): void {
    if (this.closed) return;
    this.#ticks++;
    this.#quiet.tick();
    this.#armTick();
  }

  async #shutdown(): Promise<void> {
    this.#scheduler.clearTimeout(this.#tickTimer);
    const groups = [...this.#groups.values()];
    this.#groups.clear();
    await Promise.all(groups.map((g) => g.node.close()));
    await this.#batcher.drain();
    try {
      await this.#mux.close();
    } catch (e) {
      this.#logger.warning(
        `host ${this.#hostId} transport failed to close: ${e instanceof Error ? e.message : e}`,
      );
    }
  }
}
