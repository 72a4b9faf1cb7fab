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
 * when nothing else failed meanwhile, checks it against a bound. A group
 * that rested (quiescence) on every replica when its leader's host
 * crashed is held to the bound of quiescence
 * ({@linkcode quiescedReelectBoundMs}) when nothing interferes: every
 * host ran and no link was cut at the crash, the network lost no message,
 * and until the new leader no other host crashed or restarted, no link
 * was cut, and no client request, transfer or membership change touched
 * the group.
 *
 * @module
 */

import type { GroupId, HostId } from "../core/host.ts";
import type { Prng } from "./_prng.ts";
import {
  type HostFaultKind,
  hostFaultKinds,
  type HostSimProfile,
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

/** A group that rested when its leader's host crashed, held to the bound of quiescence. */
interface QuiescedReelection {
  /** The crashed host. */
  host: HostId;
  since: number;
  term: number;
  /** Nothing interfered since (the bound applies). */
  clean: boolean;
}

/**
 * The bound, in ms, on a new leader after the leader host of a group that
 * rests on every replica crashes (docs/multi-raft.md, "Quiescence: the
 * rules"): the last frame of the crashed host may reach the voter that
 * campaigns one message delay after the crash; the liveness timeout
 * (`electionTick` ticks from that frame); `heartbeatTick` + 2 ticks before
 * that voter campaigns; then a PreVote and a vote round trip, each of
 * whose two messages may wait for one storage batch (durable before send)
 * and takes at most the longest message delay (`delayMs` + `jitterMs`,
 * a duplicate's one more ms included).
 *
 * @param p The run's profile.
 * @returns The bound, in ms.
 */
export function quiescedReelectBoundMs(p: HostSimProfile): number {
  const delayMaxMs = p.delayMs + p.jitterMs;
  const diskMaxMs = p.diskLatencyMs + p.diskJitterMs;
  const hopMs = delayMaxMs + diskMaxMs;
  return delayMaxMs + (p.electionTick + p.heartbeatTick + 2) * p.tickMs + 2 * 2 * hopMs;
}

/** Draws and applies the faults of one run. */
export class HostFaults {
  readonly counts: Record<HostFaultKind, number>;
  membershipChanges = 0;
  /** Time from a leader host's crash to a later term's leader, per group led, in ms. */
  readonly reelectMs: number[] = [];
  /** The same, for the groups held to the bound of quiescence (every one within it). */
  readonly quiescedReelectMs: number[] = [];
  /** The bound of quiescence of this run, in ms. */
  readonly quiescedBoundMs: number;
  readonly #world: HostWorld;
  readonly #rand: Prng;
  readonly #reelectBoundMs: number;
  readonly #pending = new Map<GroupId, PendingReelection>();
  readonly #quiesced = new Map<GroupId, QuiescedReelection>();
  #stopped = false;
  #changing = false;

  constructor(world: HostWorld, rand: Prng, reelectBoundMs: number) {
    this.#world = world;
    this.#rand = rand;
    this.#reelectBoundMs = reelectBoundMs;
    this.quiescedBoundMs = quiescedReelectBoundMs(world.profile);
    this.counts = Object.fromEntries(hostFaultKinds.map((k) => [k, 0])) as Record<
      HostFaultKind,
      number
    >;
    world.onLeader = (g, _leader, term): void => {
      const q = this.#quiesced.get(g);
      if (q !== undefined && term > q.term) {
        this.#quiesced.delete(g);
        if (q.clean && !this.#overBound(g, q)) {
          this.quiescedReelectMs.push(world.clock.now - q.since);
        }
      }
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

  /** Re-elections held to the bound of quiescence still waiting for a leader. */
  get quiescedPending(): number {
    return this.#quiesced.size;
  }

  /**
   * A client reaches a replica of a group: a request interferes with a
   * re-election under the bound of quiescence (it wakes the replica).
   *
   * @param g The group.
   */
  touched(g: GroupId): void {
    const q = this.#quiesced.get(g);
    if (q !== undefined) q.clean = false;
  }

  /** Fails the run when a group whose leader host crashed has no new leader within the bound. */
  checkReelections(): void {
    const w = this.#world;
    for (const [g, q] of this.#quiesced) {
      if (!q.clean) this.#quiesced.delete(g);
      else if (this.#overBound(g, q)) this.#quiesced.delete(g);
    }
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

  /** Fails the run when a clean quiesced re-election took longer than the bound. */
  #overBound(g: GroupId, q: QuiescedReelection): boolean {
    const w = this.#world;
    const elapsedMs = w.clock.now - q.since;
    if (elapsedMs <= this.quiescedBoundMs) return false;
    w.fail(
      g,
      "liveness",
      `group ${g} rested on every replica when its leader host ${q.host} crashed at ${
        q.since.toFixed(3)
      } ms (term ${q.term}); no other fault interfered, yet it has no new leader at ${
        w.clock.now.toFixed(3)
      } ms, ${elapsedMs.toFixed(3)} ms later (bound of quiescence ${this.quiescedBoundMs} ms)`,
    );
    return true;
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
    for (const q of this.#quiesced.values()) q.clean = false;
  }

  #crash(): boolean {
    const w = this.#world;
    const running = [...w.hosts.values()].filter((h) => h.state === "running");
    // At most a minority of the hosts down at once.
    if (w.profile.hosts - running.length >= Math.floor((w.profile.hosts - 1) / 2)) return false;
    const h = this.#rand.pick(running);
    this.crashLeaderHost(h);
    const downMs = this.#rand.uniform(50, 2000);
    w.clock.setTimeout(() => void this.#restart(h), downMs, "fault");
    return true;
  }

  /**
   * Crashes a host and starts timing the re-election of every group it
   * leads; those that rest on every replica, with every host running, no
   * link cut and no message lost, are held to the bound of quiescence.
   *
   * @param h The host, running.
   * @returns How many groups it led that are held to the bound of quiescence.
   */
  crashLeaderHost(h: HostSlot): number {
    const w = this.#world;
    this.#disturb();
    const running = [...w.hosts.values()].filter((x) => x.state === "running");
    const clean = w.cut.size === 0 && running.length === w.profile.hosts;
    let held = 0;
    for (const g of w.groups.keys()) {
      if (w.leaderOf(g) !== h.id) continue;
      const term = w.group(g).leaderTerm;
      this.#pending.set(g, { since: w.clock.now, term, clean });
      const own = w.replica(h.id, g)!.raft.status().term;
      if (clean && w.dropRate === 0 && this.#restsUnder(g, h.id, own)) {
        this.#quiesced.set(g, { host: h.id, since: w.clock.now, term: own, clean: true });
        held++;
      }
    }
    if (held > 0) w.note(`host ${h.id} leads ${held} groups resting on every replica`);
    w.crash(h, "crash");
    return held;
  }

  /** Whether every replica of group `g` runs and rests under leader `lead` in `term`. */
  #restsUnder(g: GroupId, lead: HostId, term: number): boolean {
    const w = this.#world;
    for (const id of w.group(g).members) {
      const host = w.hosts.get(id)?.host;
      if (w.replica(id, g) === undefined || host === undefined || !host.isQuiesced(g)) {
        return false;
      }
      const st = host.group(g).status();
      if (st.term !== term || st.leaderId !== lead) return false;
    }
    return true;
  }

  /** Restarts a crashed host (a fault: it interferes with the re-elections in progress). */
  restart(h: HostSlot): Promise<void> {
    return this.#restart(h);
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
    this.touched(g);
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
    this.touched(g);
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
    this.touched(g);
    try {
      await w.replica(lead, g)?.raft.addVoter(add.id);
    } catch {
      return; // Not added (or not known): a later change may try again elsewhere.
    }
    const leader = w.leaderOf(g);
    if (leader === undefined) return;
    this.touched(g);
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
