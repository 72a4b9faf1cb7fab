/**
 * The parts of `sharded_kv.ts` that do not touch the world: how keys map
 * to groups (hash sharding), the leader balancer (each group has a
 * preferred host; its leader hands leadership to it), and the HTTP app (the
 * key-value routes of `kv_server.ts` over many groups, on a host app).
 *
 * @module
 */

import type { GroupId, HostId, RaftHost, RaftNodeStatus } from "../mod.ts";
import type { Logger } from "../core/logger.ts";
import { discardLogger } from "../core/logger.ts";
import type { Scheduler, TimerHandle } from "../core/node/scheduler.ts";
import { globalScheduler } from "../core/node/scheduler.ts";
import {
  createRaftHostApp,
  type LeaderRouting,
  leaderRoutingOptions,
  type MemberDirectory,
  type RaftApp,
  RaftMetrics,
} from "../adapters/hono/mod.ts";
import { addKvRoutes, type KvShard } from "./_kv_app.ts";
import type { KvResult, KvState } from "./_kv_store.ts";

const utf8 = new TextEncoder();

/**
 * The group that holds a key: FNV-1a (32 bits) of the key's UTF-8 bytes,
 * modulo the number of groups, plus one (groups are numbered from 1).
 * Hash sharding spreads keys evenly; a range listing reads every group.
 *
 * @param key The key.
 * @param groups How many groups the key space is split into.
 * @returns The group, from 1 to `groups`.
 */
export function groupOfKey(key: string, groups: number): GroupId {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(key)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h % groups) + 1;
}

/**
 * The host that should lead a group: the group's voters in ascending order,
 * taken round-robin by group ID, so that G groups over H hosts give each
 * host G/H leaders.
 *
 * @param groupId The group.
 * @param voters The group's voters.
 * @returns The preferred host, or 0 when the group has no voters.
 */
export function preferredLeader(groupId: GroupId, voters: readonly HostId[]): HostId {
  if (voters.length === 0) return 0;
  const sorted = [...voters].sort((a, b) => a - b);
  return sorted[(groupId - 1) % sorted.length]!;
}

/** What the balancer uses of a host (a `RaftHost` has it). */
export interface BalancedHost {
  /** The host's ID. */
  readonly hostId: HostId;
  /** The groups it runs. */
  readonly groupIds: GroupId[];
  /** A group's node. */
  group(groupId: GroupId): {
    status(): RaftNodeStatus;
    transferLeadership(to: HostId): Promise<void>;
    /** Subscribes to the group's leader and membership changes (the balancer looks again soon after one). */
    on?(event: "leader" | "membership", fn: () => void): () => void;
  };
}

/** Options of {@linkcode LeaderBalancer}. */
export interface LeaderBalancerOptions {
  /**
   * How often the groups led here are looked at, in ms.
   * @default {1000}
   */
  intervalMs?: number;
  /**
   * The longest interval, in ms: while a look moves nothing and no group
   * of the host changed leader or membership, the interval doubles up to
   * it; a change brings it back to `intervalMs`.
   * @default {16 × intervalMs}
   */
  maxIntervalMs?: number;
  /**
   * Transfers in flight at most.
   * @default {4}
   */
  maxTransfers?: number;
  /** Where time comes from. @default {globalScheduler} */
  scheduler?: Scheduler;
  /** Where transfers are logged. @default {discardLogger} */
  logger?: Logger;
}

/**
 * Spreads leaders over the hosts: every `intervalMs`, each group this host
 * leads but does not prefer is handed to its preferred host
 * ({@linkcode preferredLeader}) once that host's replica is caught up
 * (replicating, its match at the commit index). A preferred host that is
 * down keeps no leadership from anyone; when it is back and caught up, its
 * groups come back to it. Every host runs one; each moves only groups it
 * leads. While a look moves nothing and no group of the host changes
 * leader or membership, the looks space out (up to `maxIntervalMs`), so a
 * balanced host at rest spends next to nothing on them.
 */
export class LeaderBalancer {
  readonly #host: BalancedHost;
  readonly #intervalMs: number;
  readonly #maxIntervalMs: number;
  /** The interval of the next look: doubles while nothing changes. */
  #delayMs: number;
  /** A group changed leader or membership since the last look. */
  #changed = false;
  /** The groups subscribed to, with their unsubscribe functions. */
  readonly #watched = new Map<GroupId, () => void>();
  readonly #maxTransfers: number;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #inFlight = new Set<GroupId>();
  #timer: TimerHandle = undefined;
  #stopped = false;
  /** Transfers started so far, and those that failed. */
  readonly stats: { transfers: number; failed: number } = { transfers: 0, failed: 0 };

  /**
   * Starts balancing the groups of a host.
   *
   * @param host The host.
   * @param options Interval, concurrency, scheduler, logger.
   */
  constructor(host: BalancedHost, options: LeaderBalancerOptions = {}) {
    this.#host = host;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#maxIntervalMs = Math.max(
      this.#intervalMs,
      options.maxIntervalMs ?? 16 * this.#intervalMs,
    );
    this.#delayMs = this.#intervalMs;
    this.#maxTransfers = options.maxTransfers ?? 4;
    this.#scheduler = options.scheduler ?? globalScheduler;
    this.#logger = options.logger ?? discardLogger;
    this.#arm();
  }

  /** Stops balancing (transfers in flight finish on their own). */
  stop(): void {
    this.#stopped = true;
    this.#scheduler.clearTimeout(this.#timer);
    for (const off of this.#watched.values()) off();
    this.#watched.clear();
  }

  /** The interval before the next look, in ms (it grows while nothing changes). */
  get intervalMs(): number {
    return this.#delayMs;
  }

  /**
   * Looks at every group led here once, starting the transfers it can.
   *
   * @returns How many transfers it started.
   */
  balanceOnce(): number {
    let started = 0;
    const groupIds = this.#host.groupIds;
    this.#watch(groupIds);
    for (const groupId of groupIds) {
      if (this.#inFlight.size >= this.#maxTransfers) break;
      if (this.#inFlight.has(groupId)) continue;
      const to = this.#target(groupId);
      if (to === 0) continue;
      started++;
      this.#transfer(groupId, to);
    }
    return started;
  }

  /** The host to hand a group led here to, or 0. */
  #target(groupId: GroupId): HostId {
    let node;
    try {
      node = this.#host.group(groupId);
    } catch {
      return 0;
    }
    const st = node.status();
    if (st.closed || st.leaderId !== this.#host.hostId || st.progress.length === 0) return 0;
    const preferred = preferredLeader(groupId, st.confState.voters);
    if (preferred === 0 || preferred === this.#host.hostId) return 0;
    const p = st.progress.find((m) => m.id === preferred);
    if (p === undefined || p.state !== "replicate" || p.match < st.commit || !p.recentActive) {
      return 0;
    }
    return preferred;
  }

  #transfer(groupId: GroupId, to: HostId): void {
    this.#inFlight.add(groupId);
    this.stats.transfers++;
    this.#host.group(groupId).transferLeadership(to).then(
      () => this.#logger.info(`group ${groupId}: leadership handed to host ${to}`),
      (e) => {
        this.stats.failed++;
        this.#logger.info(
          `group ${groupId}: handing leadership to host ${to} failed: ${
            e instanceof Error ? e.message : e
          }`,
        );
      },
    ).finally(() => {
      this.#inFlight.delete(groupId);
      // The next group's turn now, not a whole interval later.
      if (!this.#stopped) this.balanceOnce();
    });
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#scheduler.setTimeout(() => {
      const changed = this.#changed;
      this.#changed = false;
      const started = this.balanceOnce();
      this.#delayMs = started > 0 || changed
        ? this.#intervalMs
        : Math.min(2 * this.#delayMs, this.#maxIntervalMs);
      this.#arm();
    }, this.#delayMs);
  }

  /** Subscribes to the changes of groups new to the host; forgets the groups it no longer runs. */
  #watch(groupIds: readonly GroupId[]): void {
    if (this.#stopped) return;
    for (const groupId of groupIds) {
      if (this.#watched.has(groupId)) continue;
      let node;
      try {
        node = this.#host.group(groupId);
      } catch {
        continue;
      }
      if (node.on === undefined) continue;
      const onChange = (): void => this.#onChange();
      const offLeader = node.on("leader", onChange);
      const offMembership = node.on("membership", onChange);
      this.#watched.set(groupId, () => {
        offLeader();
        offMembership();
      });
    }
    if (this.#watched.size > groupIds.length) {
      const running = new Set(groupIds);
      for (const [groupId, off] of this.#watched) {
        if (running.has(groupId)) continue;
        off();
        this.#watched.delete(groupId);
      }
    }
  }

  /** A group changed leader or membership: look again within `intervalMs`. */
  #onChange(): void {
    this.#changed = true;
    if (this.#stopped || this.#delayMs === this.#intervalMs) return;
    this.#delayMs = this.#intervalMs;
    this.#scheduler.clearTimeout(this.#timer);
    this.#arm();
  }
}

/** Options of {@linkcode createShardedKvApp}. */
export interface ShardedKvAppOptions {
  /** Every host's HTTP API URL, by host ID (where writes on a follower are sent). */
  directory: MemberDirectory;
  /** This host's API URL as the others reach it. */
  selfUrl?: string;
  /** How a write that reaches a follower of its group is answered. @default {"redirect"} */
  leaderRouting?: LeaderRouting;
  /** The largest value, in UTF-8 bytes. @default {65536} */
  maxValueBytes?: number;
  /** The largest key, in UTF-8 bytes. @default {1024} */
  maxKeyBytes?: number;
  /** The host names the app answers to. @default {local names and `selfUrl`'s} */
  allowedHosts?: readonly string[] | false;
  /** Where unexpected errors are logged. @default {discardLogger} */
  logger?: Logger;
}

/**
 * The sharded key-value API of one host: `/kv` routes as `kv_server.ts`'s
 * (each key served by its group, {@linkcode groupOfKey}; a listing merges
 * every group's), on the host app (`/raft/status` and `/raft/groups` show
 * the groups, leaders per host and quiesced groups; `/` is the live page).
 *
 * @param host The host; it runs groups 1 to `stores.size`.
 * @param stores Each group's state machine, by group ID.
 * @param options The directory and limits.
 * @returns The app.
 */
export function createShardedKvApp(
  host: RaftHost<KvResult>,
  stores: ReadonlyMap<GroupId, KvState>,
  options: ShardedKvAppOptions,
): RaftApp {
  const app = createRaftHostApp(host, {
    ...(options.selfUrl !== undefined ? { selfUrl: options.selfUrl } : {}),
    ...(options.allowedHosts !== undefined ? { allowedHosts: options.allowedHosts } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    page: { title: "raft-ts sharded key-value store" },
  });
  const groups = stores.size;
  const shards: KvShard[] = [];
  for (let g = 1; g <= groups; g++) {
    const store = stores.get(g);
    if (store === undefined) throw new RangeError(`Cannot serve group ${g}: no store for it`);
    shards.push({ node: host.group(g), store });
  }
  addKvRoutes(app, {
    shardOf: (key) => shards[groupOfKey(key, groups) - 1]!,
    shards,
    routing: leaderRoutingOptions(
      options.leaderRouting !== undefined ? { leaderRouting: options.leaderRouting } : {},
      options.directory,
    ),
    maxValueBytes: options.maxValueBytes ?? 65536,
    maxKeyBytes: options.maxKeyBytes ?? 1024,
    metrics: new RaftMetrics(),
  });
  return app;
}
