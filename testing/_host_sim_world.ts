/**
 * The world of a multi-group host simulation: N `RaftHost`s, each running
 * a replica of G key-value groups, on the simulator's virtual clock, over
 * a `MemoryHostNetwork` (with the codec) behind a fault layer of this file
 * (loss, duplication, jitter that reorders, symmetric and one-way cuts),
 * on simulated host disks ({@linkcode HostDisk}).
 *
 * A host disk keeps every group's durable state; each `writeBatch` is one
 * atomic transaction that becomes durable after a latency. A crash stops
 * the host's run at once (its timers, transport and pending promises die
 * with it) and loses the batches not yet durable: whole batches, never
 * part of one, as a transactional store loses them. The host restarts
 * from what its disk holds.
 *
 * Each group has its own `InvariantChecker` (`_invariants.ts`), fed as the
 * single-group simulator feeds it: durable writes, every message sent,
 * every command applied and snapshot restored, each replica's status after
 * every step, leaders and configurations.
 *
 * @module
 */

import { MemoryHostNetwork } from "../adapters/memory/mod.ts";
import { RaftHost } from "../core/host.ts";
import type { GroupId, GroupMessage, GroupSave, HostId } from "../core/host/seams.ts";
import { hostGroupId } from "../core/host/host_wire.ts";
import type { HostStorage, HostTransport, HostTransportHandler } from "../core/host/seams.ts";
import {
  memoryNodeStorage,
  type RaftNode,
  type Scheduler,
  type TimerHandle,
} from "../core/node.ts";
import { forwardStorage } from "../core/node/seams.ts";
import { MemoryStorage } from "../core/storage.ts";
import { type HardState, MessageType, SnapshotStatus, StateType } from "../core/types.ts";
import { CheckedStateMachine, type StateMachineObserver } from "./_checked_state_machine.ts";
import { SimClock } from "./_clock.ts";
import { InvariantChecker, type InvariantName, InvariantViolation } from "./_invariants.ts";
import type { Prng } from "./_prng.ts";
import { profileRaftOptions, type SimProfile } from "./_sim_profile.ts";
import { applyOp, type JournalOp } from "./_sim_storage.ts";
import type { KvResult, KvStateMachine } from "./kv_state_machine.ts";
import { KvStateMachine as Kv } from "./kv_state_machine.ts";

/**
 * What one seed of the host simulation draws: the single-group profile's
 * Raft timing, network, disk and client fields (a `MsgSnap` is never lost
 * at random; `diskLatencyMs` is the latency of one storage batch), and the
 * shape of the hosts and groups.
 */
export type HostSimProfile =
  & Pick<
    SimProfile,
    | "tickMs"
    | "electionTick"
    | "heartbeatTick"
    | "preVote"
    | "snapshotEntries"
    | "catchUpEntries"
    | "delayMs"
    | "jitterMs"
    | "dropRate"
    | "duplicateRate"
    | "diskLatencyMs"
    | "diskJitterMs"
    | "faultTickMs"
    | "keys"
    | "thinkMs"
    | "readShare"
    | "requestTimeoutMs"
    | "opTimeoutMs"
  >
  & {
    /** Hosts (IDs 1..hosts). */
    hosts: number;
    /** Groups (IDs 1..groups). */
    groups: number;
    /** Replicas of each group, on consecutive hosts from `(g - 1) % hosts + 1`. */
    replicas: number;
    /** Expected faults of each kind per virtual second. */
    rates: Record<HostFaultKind, number>;
    /** Clients of each group. */
    clientsPerGroup: number;
  };

/** The faults of the host simulation. */
export const hostFaultKinds = [
  "crash",
  "partition",
  "one-way",
  "heal",
  "transfer",
  "membership",
] as const;

/** A kind of fault. */
export type HostFaultKind = typeof hostFaultKinds[number];

/** A broken property, with the group it broke in (0: the whole run). */
export interface HostViolation {
  group: GroupId;
  invariant: InvariantName;
  message: string;
  time: number;
}

/** One run of a host: dead once it crashed. */
interface Run {
  readonly inc: number;
  dead: boolean;
  /** Live timers of this run (cancelled by a crash). */
  readonly timers: Set<TimerHandle>;
  /** Storage batches written but not yet durable. */
  pendingBatches: number;
  /** Closes the run's network endpoint. */
  disconnect: () => void;
}

/** One host: its disk, and what runs on it while it runs. */
export interface HostSlot {
  readonly id: HostId;
  /** Every group's durable state, by group. */
  readonly disk: Map<GroupId, MemoryStorage>;
  state: "running" | "down";
  inc: number;
  run: Run | undefined;
  host: RaftHost<KvResult> | undefined;
  /** The state machines of the current run, by group. */
  readonly sms: Map<GroupId, KvStateMachine>;
}

/** One group: its members and its checker. */
export interface GroupTrack {
  readonly id: GroupId;
  /** Its members as of the latest configuration applied anywhere. */
  members: HostId[];
  /** The hosts it was created on: the only ones that bootstrap it, with these as peers. */
  readonly initial: readonly HostId[];
  /** Every host that ever held a replica (a removed one never returns). */
  readonly ever: Set<HostId>;
  latestConfIndex: number;
  readonly inv: InvariantChecker;
  /** The highest term a leader was seen in. */
  leaderTerm: number;
}

/** The hosts, groups, network and clock of one run, and its record. */
export class HostWorld {
  readonly profile: HostSimProfile;
  readonly clock: SimClock = new SimClock();
  readonly net: MemoryHostNetwork;
  readonly hosts: Map<HostId, HostSlot> = new Map();
  readonly groups: Map<GroupId, GroupTrack> = new Map();
  violation: HostViolation | undefined = undefined;
  simError: unknown = undefined;
  /** Cut links, as "from>to". */
  readonly cut: Set<string> = new Set();
  dropRate: number;
  duplicateRate: number;
  restarts = 0;
  lostBatches = 0;
  snapshotsSent = 0;
  /** Called when a group gets a leader in a later term than any before. */
  onLeader: (group: GroupId, leader: HostId, term: number) => void = () => {};
  /** Called when a host crashes. */
  onCrash: (host: HostId) => void = () => {};
  /** A planted bug for tests: storage batches settle before they are durable. */
  ackBeforeDurable = false;
  /** Receives trace lines, when set. */
  log: ((line: string) => void) | undefined = undefined;
  readonly #rand: Prng;
  readonly #netRand: Prng;
  readonly #disabled: readonly InvariantName[];

  constructor(profile: HostSimProfile, rand: Prng, disabled: readonly InvariantName[] = []) {
    this.profile = profile;
    this.#rand = rand;
    this.#netRand = rand.fork();
    this.#disabled = disabled;
    this.dropRate = profile.dropRate;
    this.duplicateRate = profile.duplicateRate;
    this.net = new MemoryHostNetwork({
      scheduler: this.clock.scheduler("net"),
      delayMs: profile.delayMs,
      codec: true,
    });
    for (let id = 1; id <= profile.hosts; id++) {
      this.hosts.set(id, {
        id,
        disk: new Map(),
        state: "down",
        inc: 0,
        run: undefined,
        host: undefined,
        sms: new Map(),
      });
    }
    for (let g = 1; g <= profile.groups; g++) {
      const members: HostId[] = [];
      for (let i = 0; i < profile.replicas; i++) members.push((g - 1 + i) % profile.hosts + 1);
      members.sort((a, b) => a - b);
      const inv = new InvariantChecker(() => this.clock.now, disabled);
      this.groups.set(g, {
        id: g,
        members,
        initial: [...members],
        ever: new Set(members),
        latestConfIndex: 0,
        inv,
        leaderTerm: 0,
      });
    }
  }

  note(line: string): void {
    this.log?.(`${this.clock.now.toFixed(3).padStart(10)} ${line}`);
  }

  /** Runs `fn`, recording (not throwing) a violation of `group` or a simulator error. */
  guard(group: GroupId, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof InvariantViolation) this.fail(group, e.invariant, e.message);
      else this.simError ??= e;
    }
  }

  fail(group: GroupId, invariant: InvariantName, message: string): void {
    if (this.#disabled.includes(invariant)) return;
    this.violation ??= { group, invariant, message, time: this.clock.now };
  }

  stop(): boolean {
    return this.violation !== undefined || this.simError !== undefined;
  }

  group(g: GroupId): GroupTrack {
    return this.groups.get(g)!;
  }

  /** The running replica of group `g` on host `id`. */
  replica(id: HostId, g: GroupId): { raft: RaftNode<KvResult>; sm: KvStateMachine } | undefined {
    const h = this.hosts.get(id);
    const sm = h?.sms.get(g);
    if (h?.state !== "running" || h.host === undefined || sm === undefined) return undefined;
    if (!h.host.hasGroup(g)) return undefined;
    return { raft: h.host.group(g), sm };
  }

  /** The host leading group `g` in the highest term, if any runs. */
  leaderOf(g: GroupId): HostId | undefined {
    let best: HostId | undefined;
    let bestTerm = -1;
    for (const id of this.group(g).members) {
      const r = this.replica(id, g);
      if (r === undefined || r.raft.closed) continue;
      const st = r.raft.status();
      if (st.raftState === StateType.StateLeader && st.term > bestTerm) {
        best = id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** The groups host `id` holds a replica of, by the latest configurations, and those on its disk. */
  groupsOn(id: HostId): GroupId[] {
    const out: GroupId[] = [];
    for (const t of this.groups.values()) {
      if (t.members.includes(id) || this.hosts.get(id)!.disk.has(t.id)) out.push(t.id);
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // A host's run: its scheduler, storage and transport, all dead after a crash

  #scheduler(h: HostSlot, run: Run): Scheduler {
    const inner = this.clock.scheduler(`h${h.id}`);
    const wrap = (fn: () => void, handle: () => TimerHandle): () => void => () => {
      run.timers.delete(handle());
      if (!run.dead) fn();
    };
    return {
      setTimeout: (fn: () => void, delayMs: number): TimerHandle => {
        if (run.dead) return undefined;
        const t: TimerHandle = inner.setTimeout(wrap(fn, () => t), delayMs);
        run.timers.add(t);
        return t;
      },
      clearTimeout: (t: TimerHandle): void => {
        run.timers.delete(t);
        inner.clearTimeout(t);
      },
      yieldToIo: (fn: () => void): TimerHandle => {
        if (run.dead) return undefined;
        const t: TimerHandle = inner.yieldToIo!(wrap(fn, () => t));
        run.timers.add(t);
        return t;
      },
    };
  }

  #storage(h: HostSlot, run: Run, scheduler: Scheduler): HostStorage {
    const open = (g: GroupId): MemoryStorage => {
      let ms = h.disk.get(g);
      if (ms === undefined) h.disk.set(g, ms = new MemoryStorage());
      return ms;
    };
    return {
      groupIds: (): GroupId[] => [...h.disk.keys()].sort((a, b) => a - b),
      openGroup: (g: GroupId) => {
        const ms = open(g);
        return forwardStorage(memoryNodeStorage(ms), {
          createSnapshot: (index, cs, data): void => {
            if (!run.dead) ms.createSnapshot(index, cs, data);
          },
          compact: (index): void => {
            if (!run.dead) ms.compact(index);
          },
        });
      },
      writeBatch: (batch: readonly GroupSave[]): Promise<void> => {
        run.pendingBatches++;
        const ms = this.profile.diskLatencyMs + this.#rand.uniform(0, this.profile.diskJitterMs);
        return new Promise<void>((resolve) => {
          // The planted bug: the batch is acknowledged before it is durable.
          if (this.ackBeforeDurable) resolve();
          scheduler.setTimeout(() => {
            run.pendingBatches--;
            this.#durable(h, batch, open);
            resolve();
          }, ms);
        });
      },
      deleteGroup: (g: GroupId): void => {
        if (!run.dead) h.disk.delete(g);
      },
    };
  }

  /** A batch became durable on host `h`'s disk: applies it and tells each group's checker. */
  #durable(h: HostSlot, batch: readonly GroupSave[], open: (g: GroupId) => MemoryStorage): void {
    for (const s of batch) {
      const ms = open(s.groupId);
      const u = s.update;
      const op: JournalOp = {
        kind: "save",
        hardState: u.hardState,
        entries: u.entries,
        snapshot: u.snapshot !== undefined && u.snapshot.metadata.index > 0
          ? u.snapshot
          : undefined,
      };
      applyOp(ms, op);
      const inv = this.group(s.groupId).inv;
      this.guard(s.groupId, () => inv.observeWrite(h.id, op, ms));
      this.guard(s.groupId, () => inv.observeDurable(h.id, [op], ms));
    }
  }

  #transport(h: HostSlot, run: Run, scheduler: Scheduler): HostTransport {
    const inner = this.net.connect(h.id);
    run.disconnect = (): void => void inner.close();
    let handler: HostTransportHandler | undefined;
    const trace = this.clock.trace;
    return {
      start: (hd: HostTransportHandler): void => {
        handler = hd;
        inner.start({
          hostId: hd.hostId,
          receive: (from: HostId, batch: readonly GroupMessage[]): void => {
            if (run.dead) return;
            // A link cut while the frame was in flight loses it.
            if (this.cut.has(`${from}>${h.id}`)) return;
            for (const { groupId, message: m } of batch) {
              trace.int(groupId).int(m.type).int(m.from).int(m.to).num(m.term).num(m.index);
              if (m.type === MessageType.MsgSnap) this.snapshotsSent++;
            }
            hd.receive(from, batch);
          },
          reportUnreachable: (g, to): void => {
            if (!run.dead) hd.reportUnreachable(g, to);
          },
          reportSnapshot: (g, to, status): void => {
            if (!run.dead) hd.reportSnapshot(g, to, status);
          },
        });
      },
      send: (batch: readonly GroupMessage[]): void => {
        if (run.dead) return;
        for (const p of batch) {
          // Host-level traffic (group 0: liveness, quiescence) belongs to no group.
          if (p.groupId === hostGroupId) continue;
          const inv = this.group(p.groupId).inv;
          const ms = h.disk.get(p.groupId) ?? new MemoryStorage();
          this.guard(p.groupId, () => inv.observeSend(h.id, p.message, ms, ms));
        }
        this.#route(h.id, batch, inner, () => handler, scheduler);
      },
      close: (): void | Promise<void> => inner.close(),
    };
  }

  /** Sends a batch through the faults: cuts, loss, duplication and jitter. */
  #route(
    from: HostId,
    batch: readonly GroupMessage[],
    inner: HostTransport,
    handler: () => HostTransportHandler | undefined,
    scheduler: Scheduler,
  ): void {
    const r = this.#netRand;
    const byDelay = new Map<number, GroupMessage[]>();
    const add = (d: number, p: GroupMessage): void => {
      const list = byDelay.get(d);
      if (list === undefined) byDelay.set(d, [p]);
      else list.push(p);
    };
    const jitter = (): number => this.profile.jitterMs > 0 ? r.int(this.profile.jitterMs) : 0;
    for (const p of batch) {
      const m = p.message;
      const snap = m.type === MessageType.MsgSnap;
      if (this.cut.has(`${from}>${m.to}`)) {
        // A cut link is noticed (the connection is down), as a real transport does.
        scheduler.setTimeout(() => {
          const hd = handler();
          if (snap) hd?.reportSnapshot(p.groupId, m.to, SnapshotStatus.SnapshotFailure);
          else hd?.reportUnreachable(p.groupId, m.to);
        }, 0);
        continue;
      }
      if (!snap && r.chance(this.dropRate)) continue;
      add(jitter(), p);
      if (r.chance(this.duplicateRate)) add(jitter() + 1, p);
    }
    for (const [d, pairs] of [...byDelay].sort((a, b) => a[0] - b[0])) {
      if (d === 0) inner.send(pairs);
      else scheduler.setTimeout(() => inner.send(pairs), d);
    }
  }

  // -------------------------------------------------------------------------
  // Starting and crashing hosts

  /** Starts host `h` on what its disk holds, and adds its groups. */
  async start(h: HostSlot): Promise<void> {
    if (h.state === "running") return;
    const run: Run = {
      inc: ++h.inc,
      dead: false,
      timers: new Set(),
      pendingBatches: 0,
      disconnect: () => {},
    };
    h.run = run;
    h.state = "running";
    if (run.inc > 1) this.restarts++;
    this.note(`start host ${h.id} (run ${run.inc})`);
    const scheduler = this.#scheduler(h, run);
    const p = this.profile;
    const host = await RaftHost.start<KvResult>({
      hostId: h.id,
      transport: this.#transport(h, run, scheduler),
      storage: this.#storage(h, run, scheduler),
      scheduler,
      tickMs: p.tickMs,
      groupDefaults: profileRaftOptions(p),
    });
    if (run.dead) return;
    h.host = host;
    for (const g of this.groupsOn(h.id)) {
      // A replica added later joins empty: it must never bootstrap, or it
      // would start a second history of the group.
      const initial = this.group(g).initial;
      await this.addReplica(h, g, initial.includes(h.id) ? initial : []);
      if (run.dead) return;
    }
  }

  /**
   * Starts host `h`'s replica of group `g`: bootstrapped with `peers` when
   * its disk holds nothing of it, else recovered (or joining, empty).
   */
  async addReplica(h: HostSlot, g: GroupId, peers: readonly HostId[]): Promise<void> {
    const run = h.run;
    const host = h.host;
    if (run === undefined || host === undefined || host.hasGroup(g)) return;
    const t = this.group(g);
    const ms = h.disk.get(g);
    const durable: HardState = { ...(ms?.hardState ?? { term: 0, vote: 0, commit: 0 }) };
    const empty = ms === undefined ||
      (durable.term === 0 && ms.lastIndex() === 0 && ms.snapshot().metadata.index === 0);
    if (ms !== undefined) this.guard(g, () => t.inv.observeOpen(h.id, ms));
    t.inv.observeStart(h.id, run.inc);
    const id = h.id;
    const inc = run.inc;
    const observer: StateMachineObserver = {
      applied: (index, term, digest, resultDigest): void => {
        if (!run.dead) {
          this.guard(g, () => t.inv.observeApplied(id, inc, index, term, digest, resultDigest));
        }
      },
      restored: (index, lastCommand, digest): void => {
        if (!run.dead) {
          this.guard(g, () => t.inv.observeRestored(id, inc, index, lastCommand, digest));
        }
      },
      unfaithful: (where, lastCommand, before, after): void =>
        this.guard(g, () => t.inv.observeUnfaithful(id, where, lastCommand, before, after)),
    };
    const sm = new Kv();
    const checked = new CheckedStateMachine<KvResult>(sm, () => new Kv(), observer);
    let raft: RaftNode<KvResult>;
    try {
      raft = await host.addGroup({
        groupId: g,
        stateMachine: checked,
        rand: this.#rand.fork().next,
        ...(empty && peers.length > 0 ? { peers: [...peers] } : {}),
      });
    } catch (e) {
      if (!run.dead) this.fail(g, "node-failure", `host ${id} could not add group ${g}: ${e}`);
      return;
    }
    if (run.dead) return;
    h.sms.set(g, sm);
    this.guard(g, () => t.inv.observeRestart(raft.status(), durable));
    this.#watch(h, g, raft, run);
  }

  #watch(h: HostSlot, g: GroupId, raft: RaftNode<KvResult>, run: Run): void {
    const t = this.group(g);
    const id = h.id;
    raft.on("leader", (e) => {
      if (run.dead) return;
      this.guard(g, () => t.inv.observeLeader(id, e.leaderId, e.term));
      if (e.leaderId === id && e.term > t.leaderTerm) {
        t.leaderTerm = e.term;
        this.note(`host ${id} leads group ${g} in term ${e.term}`);
        this.onLeader(g, id, e.term);
      }
    });
    raft.on("membership", (e) => {
      if (run.dead) return;
      const cs = e.confState;
      const all = new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext]);
      this.guard(g, () => t.inv.observeConfig(id, e.index, all));
      if (e.index > t.latestConfIndex) {
        t.latestConfIndex = e.index;
        const members = [...all].sort((a, b) => a - b);
        if (members.join() !== t.members.join()) {
          this.note(`group ${g} membership at ${e.index}: ${members}`);
        }
        t.members = members;
        for (const m of all) t.ever.add(m);
      }
    });
  }

  /** Crashes a host: its run stops at once; batches not yet durable are lost. */
  crash(h: HostSlot, why: string): void {
    const run = h.run;
    if (h.state !== "running" || run === undefined) return;
    run.dead = true;
    for (const t of run.timers) this.clock.clearTimeout(t);
    run.timers.clear();
    if (why !== "shutdown") this.lostBatches += run.pendingBatches;
    run.disconnect();
    // Its clients' requests fail as on a dropped connection; nothing it
    // does from now on reaches the disk or the network.
    void h.host?.close().catch(() => {});
    h.state = "down";
    h.run = undefined;
    h.host = undefined;
    h.sms.clear();
    this.note(`${why} host ${h.id}`);
    this.onCrash(h.id);
  }

  /** Checks every group's replicas after a step. */
  check(): void {
    for (const t of this.groups.values()) {
      this.guard(t.id, () => {
        const views = new Map<HostId, { view: MemoryStorage; incarnation: number }>();
        for (const h of this.hosts.values()) {
          const r = this.replica(h.id, t.id);
          if (r === undefined) continue;
          if (r.raft.closed) {
            // A crash closes the host's replicas after taking them off the
            // running hosts: this one stopped on its own.
            const why = r.raft.error?.message ?? "closed";
            this.fail(t.id, "node-failure", `host ${h.id}'s replica stopped: ${why}`);
            continue;
          }
          t.inv.observeStatus(r.raft.status(), h.inc);
          const view = h.disk.get(t.id);
          if (view !== undefined) views.set(h.id, { view, incarnation: h.inc });
        }
        t.inv.checkLeaders(views);
      });
    }
  }
}
