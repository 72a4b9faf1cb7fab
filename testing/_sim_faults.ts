/**
 * The simulator's faults: every fault tick draws, for each kind, whether
 * to inject one (partitions, one-way cuts, isolating the leader, crashes
 * and power loss, slow disks, network bursts, membership changes,
 * leadership transfers); link faults and bursts expire, crashed nodes
 * restart on time; a node may also crash right after it acknowledged
 * entries or granted a vote. `heal()` ends them all for the liveness check.
 *
 * @module
 */

import type { MemoryNetwork } from "../adapters/memory/mod.ts";
import { ConfChangeError, RaftError } from "../core/errors.ts";
import { NodeError, type RaftNode, type StateMachine, TimeoutError } from "../core/node.ts";
import { ConfChangeType, type Message, MessageType, type NodeId } from "../core/types.ts";
import type { Prng } from "./_prng.ts";
import type { SimCluster, Slot } from "./_sim_cluster.ts";
import { type FaultKind, faultKinds } from "./_sim_profile.ts";

interface LinkFault {
  until: number;
  apply(net: MemoryNetwork): void;
}

function isExpectedRequestError(e: unknown): boolean {
  return e instanceof NodeError || e instanceof RaftError || e instanceof ConfChangeError ||
    e instanceof RangeError;
}

/** Injects a run's faults into its cluster, as its profile's rates say. */
export class FaultInjector<S extends StateMachine<R>, R> {
  /** Faults injected, by kind. */
  readonly counts: Record<FaultKind, number>;
  /** Membership changes that completed. */
  membershipChanges = 0;
  /** Membership changes tried again after a timeout. */
  membershipRetries = 0;
  readonly #cluster: SimCluster<S, R>;
  readonly #rand: Prng;
  readonly #adminRand: Prng;
  readonly #retries: boolean;
  #linkFaults: LinkFault[] = [];
  #burstUntil = 0;
  #active = true;
  #adminBusy = false;
  /** A membership change that timed out, to be tried again. */
  #adminRetry: { what: string; run: (raft: RaftNode<R>) => Promise<unknown> } | undefined;

  /**
   * Creates the injector; nothing happens before `scheduleTick()`.
   *
   * @param cluster The cluster.
   * @param rand The faults' randomness.
   * @param adminRand The membership changes' randomness.
   * @param retries Whether a membership change that timed out is sometimes tried again.
   */
  constructor(cluster: SimCluster<S, R>, rand: Prng, adminRand: Prng, retries: boolean) {
    this.#cluster = cluster;
    this.#rand = rand;
    this.#adminRand = adminRand;
    this.#retries = retries;
    this.counts = Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<FaultKind, number>;
  }

  /** Ends every fault and restarts the nodes that are down; no fault follows. */
  heal(): void {
    this.#active = false;
    this.#linkFaults = [];
    this.#cluster.net.heal();
    this.#cluster.net.setDropRate(0);
    this.#cluster.net.setDuplicateRate(0);
    this.#cluster.net.setDelay(this.#cluster.profile.delayMs, this.#cluster.profile.jitterMs);
    this.#burstUntil = 0;
    for (const s of this.#cluster.slots.values()) {
      s.disk.slowFactor = 1;
      if (s.state === "down") this.#cluster.start(s);
    }
    this.#cluster.note("faults healed");
  }

  scheduleTick(): void {
    this.#cluster.clock.setTimeout(() => this.#tick(), this.#cluster.profile.faultTickMs, "fault");
  }

  #tick(): void {
    if (!this.#active) return;
    this.scheduleTick();
    const now = this.#cluster.clock.now;
    const r = this.#rand;
    // Expire link faults and network bursts.
    const before = this.#linkFaults.length;
    this.#linkFaults = this.#linkFaults.filter((f) => f.until > now);
    if (this.#linkFaults.length !== before) this.#applyLinks();
    if (this.#burstUntil > 0 && this.#burstUntil <= now) this.#endBurst();
    for (const s of this.#cluster.slots.values()) {
      if (s.disk.slowFactor !== 1 && s.slowUntil <= now) s.disk.slowFactor = 1;
      if (s.state === "down" && s.restartAt <= now) this.#cluster.start(s);
    }
    const p = this.#cluster.profile;
    for (const kind of faultKinds) {
      if (kind === "crash-after-ack") continue;
      const rate = p.rates[kind];
      if (rate > 0 && r.chance(rate * p.faultTickMs / 1000)) this.#inject(kind);
    }
  }

  #applyLinks(): void {
    this.#cluster.net.heal();
    for (const f of this.#linkFaults) f.apply(this.#cluster.net);
  }

  #endBurst(): void {
    const p = this.#cluster.profile;
    this.#burstUntil = 0;
    this.#cluster.net.setDropRate(p.dropRate);
    this.#cluster.net.setDuplicateRate(p.duplicateRate);
    this.#cluster.net.setDelay(p.delayMs, p.jitterMs);
    this.#cluster.note("network burst ends");
  }

  /** Injects a fault of a kind, when one fits now; counts it. */
  #inject(kind: FaultKind): void {
    const now = this.#cluster.clock.now;
    const duration = this.#rand.uniform(100, 1500);
    if (this.#injectKind(kind, now, duration)) this.counts[kind]++;
  }

  /** Injects a fault of a kind; false when none fits now or it is not kept. */
  #injectKind(kind: FaultKind, now: number, duration: number): boolean {
    switch (kind) {
      case "partition":
        return this.#partition(now, duration);
      case "one-way":
        return this.#cutLinks(now, duration);
      case "isolate-leader":
        return this.#isolateLeader(now, duration);
      case "crash":
        return this.#crash(now);
      case "power-loss":
        return this.#powerLoss(now);
      case "slow-disk":
        return this.#slowDisk(now, duration);
      case "net-burst":
        return this.#netBurst(now, duration);
      case "membership":
        return this.#membership();
      case "transfer":
        return this.#transfer();
      case "crash-after-ack":
        return false;
    }
  }

  /** Splits the live nodes in two groups that cannot reach each other. */
  #partition(now: number, duration: number): boolean {
    const r = this.#rand;
    const ids = r.shuffle(this.#cluster.liveIds());
    if (ids.length < 2) return false;
    const k = r.range(1, ids.length - 1);
    const a = ids.slice(0, k).sort((x, y) => x - y);
    const b = ids.slice(k).sort((x, y) => x - y);
    if (!this.#cluster.take(`partition [${a}] | [${b}] for ${duration.toFixed(0)} ms`)) {
      return false;
    }
    this.#linkFaults.push({ until: now + duration, apply: (net) => net.partition(a, b) });
    this.#applyLinks();
    this.#cluster.note(`partition [${a}] | [${b}] for ${duration.toFixed(0)} ms`);
    return true;
  }

  /** Cuts one to three links in one direction. */
  #cutLinks(now: number, duration: number): boolean {
    const r = this.#rand;
    const ids = this.#cluster.liveIds();
    if (ids.length < 2) return false;
    const links: [NodeId, NodeId][] = [];
    const n = r.range(1, 3);
    for (let i = 0; i < n; i++) {
      const [x, y] = r.shuffle(ids);
      links.push([x!, y!]);
    }
    if (!this.#cluster.take(`cut links ${links.map(([x, y]) => `${x}->${y}`).join(" ")}`)) {
      return false;
    }
    this.#linkFaults.push({
      until: now + duration,
      apply: (net) => {
        for (const [x, y] of links) net.cutLink(x, y);
      },
    });
    this.#applyLinks();
    this.#cluster.note(`cut links ${links.map(([x, y]) => `${x}->${y}`).join(" ")}`);
    return true;
  }

  /** Cuts the leader off from every other node. */
  #isolateLeader(now: number, duration: number): boolean {
    const l = this.#cluster.leader();
    if (l === undefined) return false;
    if (!this.#cluster.take(`isolate leader ${l.id} for ${duration.toFixed(0)} ms`)) return false;
    this.#linkFaults.push({ until: now + duration, apply: (net) => net.isolate(l.id) });
    this.#applyLinks();
    this.#cluster.note(`isolate leader ${l.id} for ${duration.toFixed(0)} ms`);
    return true;
  }

  /** Crashes a running node (the leader more often), unless too many voters are down; some come back at once. */
  #crash(now: number): boolean {
    const r = this.#rand;
    const voters = this.#cluster.latest.conf.voters;
    const down = voters.filter((id) => this.#cluster.slots.get(id)?.state === "down").length;
    const running = [...this.#cluster.slots.values()].filter((s) => s.state === "running");
    if (running.length === 0) return false;
    const l = this.#cluster.leader();
    const victim = l !== undefined && r.chance(0.4) ? l : r.pick(running);
    if (voters.includes(victim.id) && down + 1 > Math.floor((voters.length - 1) / 2)) return false;
    // Some restarts are immediate (a supervisor restarting the process).
    const bounce = r.chance(0.3);
    const restartAt = now + (bounce ? r.uniform(0.5, 5) : r.uniform(20, 1500));
    if (!this.#cluster.take(`${bounce ? "bounce" : "crash"} node ${victim.id}`)) return false;
    this.#cluster.crash(victim, bounce ? "bounce" : "crash");
    victim.restartAt = restartAt;
    if (bounce) {
      this.#cluster.clock.setTimeout(
        () => {
          if (victim.state === "down") this.#cluster.start(victim);
        },
        victim.restartAt - now,
        "fault",
      );
    }
    return true;
  }

  /** Crashes every running node at once; each restarts on its own. */
  #powerLoss(now: number): boolean {
    const r = this.#rand;
    // Every running node loses power at once; each comes back on its own.
    const running = [...this.#cluster.slots.values()].filter((s) => s.state === "running");
    if (running.length === 0) return false;
    const restartAt = running.map(() => now + r.uniform(20, 600));
    if (!this.#cluster.take("power loss")) return false;
    this.#cluster.note("power loss");
    running.forEach((s, k) => {
      this.#cluster.crash(s, "power loss:");
      s.restartAt = restartAt[k]!;
    });
    return true;
  }

  /** Slows a live node's disk down. */
  #slowDisk(now: number, duration: number): boolean {
    const r = this.#rand;
    const ids = this.#cluster.liveIds();
    if (ids.length === 0) return false;
    const s = this.#cluster.slots.get(r.pick(ids))!;
    const factor = r.uniform(10, 80);
    if (!this.#cluster.take(`slow disk on node ${s.id} (x${factor.toFixed(0)})`)) return false;
    s.disk.slowFactor = factor;
    s.slowUntil = now + duration;
    this.#cluster.note(`slow disk on node ${s.id} (x${s.disk.slowFactor.toFixed(0)})`);
    return true;
  }

  /** Raises message loss, duplication or delay for a while. */
  #netBurst(now: number, duration: number): boolean {
    const r = this.#rand;
    if (this.#burstUntil > 0) return false;
    const what = r.int(3);
    const x = r.uniform(what === 2 ? 5 : 0.1, what === 2 ? 50 : 0.5);
    const jitter = what === 2 ? r.uniform(20, 150) : 0;
    if (!this.#cluster.take(`network burst (${["loss", "duplication", "delay"][what]})`)) {
      return false;
    }
    this.#burstUntil = now + duration;
    if (what === 0) this.#cluster.net.setDropRate(x);
    else if (what === 1) this.#cluster.net.setDuplicateRate(x);
    else this.#cluster.net.setDelay(x, jitter);
    this.#cluster.note(`network burst (${["loss", "duplication", "delay"][what]})`);
    return true;
  }

  /** Asks the leader to hand leadership to another voter. */
  #transfer(): boolean {
    const r = this.#rand;
    const l = this.#cluster.leader();
    if (l === undefined || l.raft === undefined) return false;
    const others = this.#cluster.latest.conf.voters.filter((id) => id !== l.id);
    if (others.length === 0) return false;
    const to = r.pick(others);
    if (!this.#cluster.take(`transfer leadership ${l.id} -> ${to}`)) return false;
    this.#cluster.note(`transfer leadership ${l.id} -> ${to}`);
    l.raft.transferLeadership(to).catch((e) => this.#requestError(e));
    return true;
  }

  /** The `crash-after-ack` fault: a node dies right after vouching for its state. */
  maybeCrashAfterAck(s: Slot<S, R>, ms: readonly Message[]): void {
    const p = this.#cluster.profile.rates["crash-after-ack"];
    if (p === 0 || !this.#active) return;
    // Votes are rare and the classic moment to lose state: crash there more often.
    let chance = 0;
    for (const m of ms) {
      if (m.reject) continue;
      if (m.type === MessageType.MsgVoteResp) chance = Math.max(chance, Math.min(0.9, p * 100));
      else if (m.type === MessageType.MsgAppResp) chance = Math.max(chance, p);
    }
    if (!this.#rand.chance(chance)) return;
    const voters = this.#cluster.latest.conf.voters;
    const down = voters.filter((id) => this.#cluster.slots.get(id)?.state === "down").length;
    if (voters.includes(s.id) && down + 1 > Math.floor((voters.length - 1) / 2)) return;
    const inc = s.incarnation;
    const downMs = this.#rand.uniform(0.5, 5);
    if (!this.#cluster.take(`crash node ${s.id} right after it acknowledged`)) return;
    this.#cluster.clock.setTimeout(
      () => {
        if (s.incarnation !== inc || s.state !== "running" || !this.#active) return;
        this.counts["crash-after-ack"]++;
        this.#cluster.crash(s, "crash after ack:");
        s.restartAt = this.#cluster.clock.now + downMs;
        this.#cluster.clock.setTimeout(
          () => {
            if (s.state === "down") this.#cluster.start(s);
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
    if (!isExpectedRequestError(e)) this.#cluster.simError ??= e;
  }

  /** Starts a membership change through the leader; false when none fits now. */
  #membership(): boolean {
    if (this.#adminBusy) return false;
    const conf = this.#cluster.latest.conf;
    if (conf.votersOutgoing.length > 0) return false;
    const l = this.#cluster.leader();
    if (l === undefined || l.raft === undefined) return false;
    const r = this.#adminRand;
    const p = this.#cluster.profile;
    const minVoters = Math.max(3, p.nodes - 1);
    const maxVoters = Math.min(7, p.nodes + 1);
    const spares = [...this.#cluster.slots.values()].filter((s) =>
      !s.initial && !this.#cluster.everMember.has(s.id) && s.state !== "retired"
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
      this.membershipRetries++;
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
    if (!this.#cluster.take(`membership: ${what} (via leader ${l.id})`)) return false;
    if (spare !== undefined && spare.state !== "running") this.#cluster.start(spare);
    const change = run(l.raft);
    this.#cluster.note(`membership: ${what} (via leader ${l.id})`);
    this.#adminBusy = true;
    change.then(
      () => {
        this.membershipChanges++;
        this.#cluster.note(`membership: ${what} done`);
      },
      (e) => {
        this.#requestError(e);
        this.#cluster.note(`membership: ${what} failed: ${e instanceof Error ? e.name : e}`);
        if (e instanceof TimeoutError && this.#retries) {
          this.#adminRetry = { what: what.replace(/^retry /, ""), run };
        }
      },
    ).finally(() => {
      this.#adminBusy = false;
    });
    return true;
  }
}
