/**
 * The faults of the multi-group host simulation, drawn from the run's
 * seed at a fixed interval: host crashes (and restarts), symmetric
 * partitions between sets of hosts, one-way cuts, healing, leadership
 * transfers within a group, and membership changes that move a group's
 * replica to a host that never held it. Message loss, duplication and
 * jitter are rates of the network (`_host_sim_world.ts`).
 *
 * It also times re-elections: after a host that led groups crashes, the
 * time until each of those groups has a leader in a later term, and,
 * when nothing else failed meanwhile, checks it against a bound.
 *
 * @module
 */

import type { GroupId, HostId } from "../core/host.ts";
import type { Prng } from "./_prng.ts";
import {
  type HostFaultKind,
  hostFaultKinds,
  type HostSlot,
  type HostWorld,
} from "./_host_sim_world.ts";

/** A group whose leader host crashed, waiting for a new leader. */
interface PendingReelection {
  since: number;
  term: number;
  /** No other fault happened since (the bound applies). */
  clean: boolean;
}

/** Draws and applies the faults of one run. */
export class HostFaults {
  readonly counts: Record<HostFaultKind, number>;
  membershipChanges = 0;
  /** Time from a leader host's crash to a later term's leader, per group led, in ms. */
  readonly reelectMs: number[] = [];
  readonly #world: HostWorld;
  readonly #rand: Prng;
  readonly #reelectBoundMs: number;
  readonly #pending = new Map<GroupId, PendingReelection>();
  #stopped = false;
  #changing = false;

  constructor(world: HostWorld, rand: Prng, reelectBoundMs: number) {
    this.#world = world;
    this.#rand = rand;
    this.#reelectBoundMs = reelectBoundMs;
    this.counts = Object.fromEntries(hostFaultKinds.map((k) => [k, 0])) as Record<
      HostFaultKind,
      number
    >;
    world.onLeader = (g, _leader, term): void => {
      const p = this.#pending.get(g);
      if (p === undefined || term <= p.term) return;
      this.reelectMs.push(world.clock.now - p.since);
      this.#pending.delete(g);
    };
  }

  /** Starts drawing faults. */
  scheduleTick(): void {
    const w = this.#world;
    w.clock.setTimeout(
      () => {
        if (this.#stopped) return;
        this.#tick();
        this.scheduleTick();
      },
      w.profile.faultTickMs,
      "fault",
    );
  }

  /** Stops drawing, heals every cut and the lossy network, restarts every host. */
  healAll(): void {
    this.#stopped = true;
    const w = this.#world;
    w.cut.clear();
    w.dropRate = 0;
    w.duplicateRate = 0;
    for (const h of w.hosts.values()) if (h.state === "down") void this.#restart(h);
    w.note("heal every fault");
  }

  /** Fails the run when a group whose leader host crashed has no new leader within the bound. */
  checkReelections(): void {
    const w = this.#world;
    for (const [g, p] of this.#pending) {
      if (p.clean && w.clock.now - p.since > this.#reelectBoundMs) {
        w.fail(
          g,
          "liveness",
          `group ${g} has no leader after term ${p.term} ${
            w.clock.now - p.since
          } ms after its leader host crashed (bound ${this.#reelectBoundMs} ms)`,
        );
        this.#pending.delete(g);
      }
    }
  }

  #tick(): void {
    const w = this.#world;
    const p = w.profile;
    for (const k of hostFaultKinds) {
      if (!this.#rand.chance(p.rates[k] * p.faultTickMs / 1000)) continue;
      if (this.#apply(k)) this.counts[k]++;
    }
  }

  #apply(kind: HostFaultKind): boolean {
    switch (kind) {
      case "crash":
        return this.#crash();
      case "partition":
        return this.#partition();
      case "one-way":
        return this.#oneWay();
      case "heal":
        if (this.#world.cut.size === 0) return false;
        this.#world.cut.clear();
        this.#world.note("heal the partitions");
        return true;
      case "transfer":
        return this.#transfer();
      case "membership":
        return this.#membership();
    }
  }

  /** Any other fault voids the bound of the re-elections in progress. */
  #disturb(): void {
    for (const p of this.#pending.values()) p.clean = false;
  }

  #crash(): boolean {
    const w = this.#world;
    const running = [...w.hosts.values()].filter((h) => h.state === "running");
    // At most a minority of the hosts down at once.
    if (w.profile.hosts - running.length >= Math.floor((w.profile.hosts - 1) / 2)) return false;
    const h = this.#rand.pick(running);
    this.#disturb();
    const clean = w.cut.size === 0 && running.length === w.profile.hosts;
    for (const g of w.groups.keys()) {
      if (w.leaderOf(g) === h.id) {
        this.#pending.set(g, { since: w.clock.now, term: w.group(g).leaderTerm, clean });
      }
    }
    w.crash(h, "crash");
    const downMs = this.#rand.uniform(50, 2000);
    w.clock.setTimeout(() => void this.#restart(h), downMs, "fault");
    return true;
  }

  async #restart(h: HostSlot): Promise<void> {
    if (h.state === "running") return;
    this.#disturb();
    try {
      await this.#world.start(h);
    } catch (e) {
      this.#world.simError ??= e;
    }
  }

  #partition(): boolean {
    const w = this.#world;
    const ids = this.#rand.shuffle([...w.hosts.keys()]);
    const side = ids.slice(0, this.#rand.range(1, Math.floor(ids.length / 2)));
    const rest = ids.filter((id) => !side.includes(id));
    for (const a of side) {
      for (const b of rest) {
        w.cut.add(`${a}>${b}`);
        w.cut.add(`${b}>${a}`);
      }
    }
    this.#disturb();
    w.note(`partition hosts ${side} from ${rest}`);
    this.#healLater(side.flatMap((a) => rest.flatMap((b) => [`${a}>${b}`, `${b}>${a}`])));
    return true;
  }

  #oneWay(): boolean {
    const w = this.#world;
    const [a, b] = this.#rand.shuffle([...w.hosts.keys()]) as [HostId, HostId];
    w.cut.add(`${a}>${b}`);
    this.#disturb();
    w.note(`cut host ${a} -> host ${b}`);
    this.#healLater([`${a}>${b}`]);
    return true;
  }

  #healLater(links: readonly string[]): void {
    const w = this.#world;
    w.clock.setTimeout(
      () => {
        for (const l of links) w.cut.delete(l);
      },
      this.#rand.uniform(100, 3000),
      "fault",
    );
  }

  #transfer(): boolean {
    const w = this.#world;
    const g = this.#rand.range(1, w.profile.groups);
    const lead = w.leaderOf(g);
    if (lead === undefined) return false;
    const others = w.group(g).members.filter((id) => id !== lead);
    if (others.length === 0) return false;
    const to = this.#rand.pick(others);
    w.note(`transfer group ${g} from host ${lead} to host ${to}`);
    w.replica(lead, g)!.raft.transferLeadership(to).catch(() => {});
    return true;
  }

  /**
   * Moves one replica of a group to a host that never held one: the new
   * host starts an empty replica, the leader adds it as a voter, then
   * removes another member, whose host then drops the group and its data.
   */
  #membership(): boolean {
    const w = this.#world;
    if (this.#changing) return false;
    const g = this.#rand.range(1, w.profile.groups);
    const t = w.group(g);
    const lead = w.leaderOf(g);
    const fresh = [...w.hosts.values()].filter((h) => !t.ever.has(h.id) && h.state === "running");
    if (lead === undefined || fresh.length === 0) return false;
    const add = this.#rand.pick(fresh);
    const drop = this.#rand.pick(t.members);
    this.#changing = true;
    t.ever.add(add.id);
    w.note(`group ${g}: move a replica from host ${drop} to host ${add.id}`);
    void this.#move(g, lead, add, drop).finally(() => {
      this.#changing = false;
    });
    return true;
  }

  async #move(g: GroupId, lead: HostId, add: HostSlot, drop: HostId): Promise<void> {
    const w = this.#world;
    await w.addReplica(add, g, []);
    try {
      await w.replica(lead, g)?.raft.addVoter(add.id);
    } catch {
      return; // Not added (or not known): a later change may try again elsewhere.
    }
    const leader = w.leaderOf(g);
    if (leader === undefined) return;
    try {
      await w.replica(leader, g)?.raft.removeNode(drop);
    } catch {
      return;
    }
    this.membershipChanges++;
    const h = w.hosts.get(drop)!;
    if (h.state !== "running" || h.host === undefined || !h.host.hasGroup(g)) return;
    // Only once this host applied its removal: then it serves no one.
    if (h.host.group(g).status().confState.voters.includes(drop)) return;
    h.sms.delete(g);
    await h.host.removeGroup(g, { deleteData: true }).catch(() => {});
  }
}
