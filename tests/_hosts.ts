/**
 * Hosts on virtual time for the RaftHost tests: several `RaftHost`s over
 * one `MemoryHostNetwork`, each group's state machine a log of the
 * commands it applied.
 *
 * @module
 */

import { MemoryHostNetwork, VirtualScheduler } from "../adapters/memory/mod.ts";
import type { RaftNodeOptions, Scheduler, TimerHandle } from "../core/node.ts";
import { newRand } from "../core/rand.ts";
import { StateType } from "../core/types.ts";
import { MemoryHostStorage } from "../core/host/memory_host_storage.ts";
import { RaftHost } from "../core/host/raft_host.ts";
import { logMachine } from "./_util.ts";
import type { GroupId, HostId, HostTransport } from "../core/host/seams.ts";

/** A scheduler that counts its live timers (set, not yet fired or cleared). */
export function countingScheduler(
  inner: VirtualScheduler,
): Scheduler & { readonly live: number; readonly hops: number } {
  const live = new Set<TimerHandle>();
  let hops = 0;
  return {
    get live(): number {
      return live.size;
    },
    /** Calls to `yieldToIo`. */
    get hops(): number {
      return hops;
    },
    setTimeout(fn: () => void, delayMs: number): TimerHandle {
      const h = inner.setTimeout(() => {
        live.delete(h);
        fn();
      }, delayMs);
      live.add(h);
      return h;
    },
    clearTimeout(h: TimerHandle): void {
      live.delete(h);
      inner.clearTimeout(h);
    },
    yieldToIo: (fn: () => void): TimerHandle => {
      hops++;
      return inner.yieldToIo(fn);
    },
    nowMs: (): number => inner.nowMs(),
  };
}

/** What every host of a {@linkcode Hosts} starts with. */
export interface HostsOptions {
  /** The hosts' `quiesce` option. @default {true} */
  quiesce?: boolean;
  /** Group options besides `electionTick: 10` and a seeded `rand`. */
  groupDefaults?: Partial<RaftNodeOptions<number>>;
  /** Wraps each host's transport (to watch what it sends). */
  wrapTransport?: (id: HostId, t: HostTransport) => HostTransport;
}

export interface Site {
  host: RaftHost<number>;
  storage: MemoryHostStorage;
  scheduler: Scheduler & { readonly live: number; readonly hops: number };
  /** Applied commands by group. */
  logs: Map<GroupId, string[]>;
}

export class Hosts {
  readonly clock = new VirtualScheduler();
  readonly net = new MemoryHostNetwork({ scheduler: this.clock, delayMs: 1 });
  readonly sites = new Map<HostId, Site>();
  readonly ids: HostId[];
  #runs = 0;

  readonly options: HostsOptions;

  constructor(ids: HostId[], options: HostsOptions = {}) {
    this.ids = ids;
    this.options = options;
  }

  /** Starts host `id` on the storage it had (a restart) or a new one. */
  async startHost(id: HostId, storage = new MemoryHostStorage()): Promise<Site> {
    const scheduler = countingScheduler(this.clock);
    const inner = this.net.connect(id);
    const wrap = this.options.wrapTransport;
    const host = await RaftHost.start<number>({
      hostId: id,
      transport: wrap === undefined ? inner : wrap(id, inner),
      storage,
      scheduler,
      tickMs: 10,
      quiesce: this.options.quiesce ?? true,
      groupDefaults: {
        electionTick: 10,
        rand: newRand(1000 * ++this.#runs + id),
        ...this.options.groupDefaults,
      },
    });
    const site: Site = { host, storage, scheduler, logs: new Map() };
    this.sites.set(id, site);
    return site;
  }

  site(id: HostId): Site {
    return this.sites.get(id)!;
  }

  async addGroup(id: HostId, groupId: GroupId, peers: HostId[] | undefined): Promise<void> {
    const s = this.site(id);
    const log: string[] = [];
    s.logs.set(groupId, log);
    await s.host.addGroup({
      groupId,
      stateMachine: logMachine(log),
      ...(peers === undefined ? {} : { peers }),
    });
  }

  /** The host that leads `groupId`, once every running host runs it and agrees on that leader. */
  leaderOf(groupId: GroupId): HostId | undefined {
    let lead: HostId | undefined;
    for (const s of this.sites.values()) {
      if (s.host.closed) continue;
      if (!s.host.hasGroup(groupId)) return undefined;
      const st = s.host.group(groupId).status();
      if (st.leaderId === 0 || (lead !== undefined && st.leaderId !== lead)) return undefined;
      lead = st.leaderId;
    }
    // Not a leader that is gone and that the others still believe in.
    const l = lead === undefined ? undefined : this.sites.get(lead);
    if (l === undefined || l.host.closed) return undefined;
    return l.host.group(groupId).status().raftState === StateType.StateLeader ? lead : undefined;
  }

  async allLed(groupIds: GroupId[]): Promise<Map<GroupId, HostId>> {
    await this.clock.until(() => groupIds.every((g) => this.leaderOf(g) !== undefined), 5_000);
    return new Map(groupIds.map((g) => [g, this.leaderOf(g)!]));
  }

  async close(): Promise<void> {
    await this.clock.run(Promise.all([...this.sites.values()].map((s) => s.host.close())));
    this.net.close();
  }
}

/**
 * Starts hosts `ids`, each running a replica of every group of `groupIds`.
 *
 * @param ids The hosts.
 * @param groupIds The groups.
 * @param options The hosts' `quiesce` option and group defaults.
 * @returns The hosts.
 */
export async function startHosts(
  ids: HostId[],
  groupIds: readonly GroupId[],
  options: HostsOptions = {},
): Promise<Hosts> {
  const h = new Hosts(ids, options);
  for (const id of h.ids) await h.startHost(id);
  for (const g of groupIds) {
    for (const id of h.ids) await h.addGroup(id, g, h.ids);
  }
  return h;
}
