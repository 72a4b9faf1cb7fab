/**
 * The simulated cluster: every node's slot (its simulated disk and, while
 * it runs, its `RaftNode`, state machine and transport), the network, the
 * virtual clock and the invariant checker; starting, crashing and retiring
 * nodes; and the run's record (trace lines, kept events, the first
 * violation).
 *
 * @module
 */

import { MemoryNetwork } from "../adapters/memory/mod.ts";
import { RaftNode, type Transport, type TransportHandler } from "../core/node.ts";
import type { StateMachine } from "../core/node.ts";
import {
  type ConfState,
  type HardState,
  type Index,
  type Message,
  MessageType,
  type NodeId,
  StateType,
} from "../core/types.ts";
import { SimClock } from "./_clock.ts";
import type { Prng } from "./_prng.ts";
import { CheckedStateMachine, type StateMachineObserver } from "./_checked_state_machine.ts";
import type { NodeHandle } from "./_clients.ts";
import { InvariantChecker, type InvariantName, InvariantViolation } from "./_invariants.ts";
import { type DiskObserver, SimDisk, type SimStorage } from "./_sim_storage.ts";
import type { NodeContext, SimEvent, SimOptions } from "./_sim_options.ts";
import { profileRaftOptions, type SimProfile } from "./_sim_profile.ts";

type SlotState = "idle" | "running" | "down" | "retired";

/** A node of the cluster: its disk, and what runs on it while it runs. */
export interface Slot<S, R> {
  id: NodeId;
  disk: SimDisk;
  initial: boolean;
  state: SlotState;
  incarnation: number;
  raft: RaftNode<R> | undefined;
  sm: S | undefined;
  storage: SimStorage | undefined;
  transport: Transport | undefined;
  tickMs: number;
  rate: number;
  /** Restart due time while down. */
  restartAt: number;
  /** When a slow disk becomes normal again. */
  slowUntil: number;
}

/** The options of a run the cluster uses. */
export type ClusterOptions<S extends StateMachine<R>, R> = Pick<
  SimOptions<S, R, never, never>,
  | "stateMachine"
  | "storage"
  | "keep"
  | "traceLines"
  | "log"
  | "syncSnapshotInstalls"
  | "disabledInvariants"
  | "yieldBeforeSave"
>;

const stateNames = ["follower", "candidate", "leader", "pre-candidate"] as const;

/** The nodes of one simulation run, their network and clock, and the run's record. */
export class SimCluster<S extends StateMachine<R>, R> {
  readonly options: ClusterOptions<S, R>;
  readonly profile: SimProfile;
  readonly clock: SimClock = new SimClock();
  readonly net: MemoryNetwork;
  readonly inv: InvariantChecker;
  readonly slots: Map<NodeId, Slot<S, R>> = new Map();
  violation: InvariantViolation | undefined = undefined;
  /** The step the violation was seen at. */
  violationStep: number | undefined = undefined;
  simError: unknown = undefined;
  /** The latest configuration a node applied. */
  latest: { index: Index; conf: ConfState };
  /** Every node that was ever a member. */
  readonly everMember: Set<NodeId> = new Set<NodeId>();
  /** The faults and client operations kept, in order. */
  readonly events: SimEvent[] = [];
  restarts = 0;
  snapshotsSent = 0;
  compactions = 0;
  /** Called when a later term than any before gets a leader (not for the first). */
  onLeaderChange: () => void = () => {};
  /** Called after a node sent messages (the `crash-after-ack` fault). */
  afterSend: (s: Slot<S, R>, ms: readonly Message[]) => void = () => {};
  readonly #rand: Prng;
  readonly #trace: string[] = [];
  readonly #traceMax: number;
  /** The highest term a leader was seen in (0: none yet). */
  #leaderTerm = 0;
  #faultSeq = 0;

  /**
   * Creates the network, the invariant checker and every node's slot; no node runs yet.
   *
   * @param options The run's options.
   * @param profile The run's profile.
   * @param rand The run's randomness, drawn from in the simulator's order.
   */
  constructor(options: ClusterOptions<S, R>, profile: SimProfile, rand: Prng) {
    this.options = options;
    this.profile = profile;
    this.#rand = rand;
    this.#traceMax = options.traceLines ?? 60;
    const p = profile;
    this.net = new MemoryNetwork({
      scheduler: this.clock.scheduler("net"),
      seed: this.#rand.u32(),
      codec: true,
      dropRate: p.dropRate,
      duplicateRate: p.duplicateRate,
      delayMs: p.delayMs,
      jitterMs: p.jitterMs,
    });
    this.inv = new InvariantChecker(() => this.clock.now, options.disabledInvariants);
    const initial = Array.from({ length: p.nodes }, (_, i) => i + 1);
    this.latest = {
      index: 0,
      conf: {
        voters: initial,
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    };
    for (const id of initial) this.everMember.add(id);
    const diskObserver: DiskObserver = {
      onWrite: (node, op, view) => this.guard(() => this.inv.observeWrite(node, op, view)),
      onDurable: (node, ops, durable) =>
        this.guard(() => this.inv.observeDurable(node, ops, durable)),
    };
    for (let id = 1; id <= p.nodes + p.spares; id++) {
      const tickMs = p.tickVariety ? this.#rand.pick([8, 10, 12]) : p.tickMs;
      const rate = 1 + (this.#rand.next() * 2 - 1) * p.skew;
      this.slots.set(id, {
        id,
        disk: new SimDisk(id, this.clock, this.#rand.fork(), {
          latencyMs: p.diskLatencyMs,
          jitterMs: p.diskJitterMs,
          flushIntervalMs: p.flushIntervalMs,
          crashKeepsPrefix: p.crashKeepsPrefix,
          syncSnapshots: options.syncSnapshotInstalls ?? false,
        }, diskObserver),
        initial: id <= p.nodes,
        state: "idle",
        incarnation: 0,
        raft: undefined,
        sm: undefined,
        storage: undefined,
        transport: undefined,
        tickMs,
        rate,
        restartAt: 0,
        slowUntil: 0,
      });
    }
  }

  /** Records a kept fault or operation. */
  event(kind: "fault" | "op", seq: number, text: string): void {
    this.events.push({ kind, seq, time: this.clock.now, step: this.clock.fired, text });
  }

  /** Numbers the next fault; records it and returns true when it is kept. */
  take(text: string): boolean {
    const seq = ++this.#faultSeq;
    const kept = this.options.keep?.faults?.has(seq) ?? true;
    if (kept) this.event("fault", seq, text);
    return kept;
  }

  // -------------------------------------------------------------------------
  // Bookkeeping

  /** The last trace lines. */
  trace(): string[] {
    return this.#trace.slice();
  }

  note(line: string): void {
    const l = `${this.clock.now.toFixed(3).padStart(10)} ${line}`;
    this.#trace.push(l);
    if (this.#trace.length > this.#traceMax) this.#trace.shift();
    this.options.log?.(l);
  }

  /** Runs `fn`, recording (not throwing) a violation or a simulator error. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof InvariantViolation) this.violate(e);
      else this.simError ??= e;
    }
  }

  violate(e: InvariantViolation): void {
    if (this.violation !== undefined) return;
    this.violation = e;
    this.violationStep = this.clock.fired;
  }

  fail(invariant: InvariantName, detail: string): void {
    this.violate(new InvariantViolation(invariant, this.clock.now, detail));
  }

  members(): NodeId[] {
    const c = this.latest.conf;
    return [...new Set([...c.voters, ...c.learners, ...c.votersOutgoing])].sort((a, b) => a - b);
  }

  isMember(id: NodeId): boolean {
    const c = this.latest.conf;
    return c.voters.includes(id) || c.learners.includes(id) || c.votersOutgoing.includes(id) ||
      c.learnersNext.includes(id);
  }

  handle(id: NodeId): NodeHandle<S, R> | undefined {
    const s = this.slots.get(id);
    if (s === undefined || s.state !== "running" || s.raft === undefined || s.sm === undefined) {
      return undefined;
    }
    return { raft: s.raft, sm: s.sm };
  }

  /** The running node that leads the highest term, if any. */
  leader(): Slot<S, R> | undefined {
    let best: Slot<S, R> | undefined;
    let bestTerm = -1;
    for (const s of this.slots.values()) {
      if (s.state !== "running" || s.raft === undefined || s.raft.closed) continue;
      const st = s.raft.status();
      if (st.raftState === StateType.StateLeader && st.term > bestTerm) {
        best = s;
        bestTerm = st.term;
      }
    }
    return best;
  }

  // -------------------------------------------------------------------------
  // Node lifecycle

  #transport(s: Slot<S, R>, inc: number, storage: SimStorage): Transport {
    const ep = this.net.connect(s.id);
    const trace = this.clock.trace;
    const id = s.id;
    return {
      start: (h: TransportHandler): void => {
        ep.start({
          id: h.id,
          step: (m: Message): void => {
            trace.int(m.type).int(m.from).int(m.to).num(m.term).num(m.index).int(inc);
            if (m.type === MessageType.MsgSnap) this.snapshotsSent++;
            h.step(m);
          },
          reportUnreachable: (id: NodeId): void => h.reportUnreachable(id),
          reportSnapshot: (id, status): void => h.reportSnapshot(id, status),
        });
      },
      send: (ms: readonly Message[]): void => {
        if (storage.dead) return;
        this.guard(() => {
          for (const m of ms) this.inv.observeSend(id, m, s.disk.durable, storage.view);
        });
        ep.send(ms);
        this.afterSend(s, ms);
      },
      close: (): void | Promise<void> => ep.close(),
    };
  }

  start(s: Slot<S, R>): void {
    if (s.state === "running" || s.state === "retired") return;
    const inc = ++s.incarnation;
    const id = s.id;
    const storage = s.disk.open();
    const clock = this.clock;
    const ctx: NodeContext = {
      nodeId: id,
      incarnation: inc,
      rand: this.#rand.fork(),
      now: () => clock.now,
    };
    const observer: StateMachineObserver = {
      applied: (index, term, digest, resultDigest): void =>
        this.guard(() => this.inv.observeApplied(id, inc, index, term, digest, resultDigest)),
      restored: (index, lastCommand, digest): void =>
        this.guard(() => this.inv.observeRestored(id, inc, index, lastCommand, digest)),
      unfaithful: (where, lastCommand, before, after): void =>
        this.guard(() => this.inv.observeUnfaithful(id, where, lastCommand, before, after)),
    };
    const setup = this.options;
    const sm = setup.stateMachine(ctx);
    const checked = new CheckedStateMachine<R>(sm, () => setup.stateMachine(ctx), observer);
    const nodeStorage = setup.storage?.(storage, ctx) ?? storage;
    const durable: HardState = { ...s.disk.durable.hardState };
    const empty = durable.term === 0 && durable.vote === 0 && durable.commit === 0 &&
      s.disk.durable.lastIndex() === 0 && s.disk.durable.snap.metadata.index === 0;
    const peers = s.initial && empty
      ? Array.from({ length: this.profile.nodes }, (_, i) => i + 1)
      : [];
    this.guard(() => this.inv.observeOpen(id, storage.view));
    this.inv.observeStart(id, inc);
    const transport = this.#transport(s, inc, storage);
    s.state = "running";
    s.storage = storage;
    s.sm = sm;
    s.transport = transport;
    if (inc > 1) this.restarts++;
    this.note(`start node ${id} (run ${inc}${peers.length > 0 ? ", bootstrap" : ""})`);
    const p = this.profile;
    const nodeRand = this.#rand.fork();
    RaftNode.start<R>({
      id,
      peers,
      storage: nodeStorage,
      transport,
      stateMachine: checked,
      scheduler: this.clock.scheduler(`n${id}`, s.rate),
      rand: nodeRand.next,
      tickMs: s.tickMs,
      ...profileRaftOptions(p),
      maxSizePerMsg: p.maxSizePerMsg,
      maxInflightMsgs: p.maxInflightMsgs,
      yieldBeforeSave: this.options.yieldBeforeSave ?? true,
      ...(p.exactlyOnce === undefined
        ? {}
        : { forwardProposals: true, sessionLimits: p.exactlyOnce.sessionLimits }),
    }).then(
      (raft) => {
        if (s.incarnation !== inc || s.state !== "running") {
          void raft.close();
          return;
        }
        s.raft = raft;
        this.guard(() => this.inv.observeRestart(raft.status(), durable));
        raft.on("leader", (e) => {
          this.guard(() => this.inv.observeLeader(id, e.leaderId, e.term));
          if (e.leaderId === id) {
            this.note(`node ${id} leads term ${e.term}`);
            this.#leaderElected(e.term);
          }
        });
        raft.on("membership", (e) => {
          const cs = e.confState;
          this.guard(() =>
            this.inv.observeConfig(
              id,
              e.index,
              new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext]),
            )
          );
          if (e.index > this.latest.index) {
            this.latest = { index: e.index, conf: structuredClone(e.confState) };
            this.note(
              `membership at ${e.index}: voters ${e.confState.voters} learners ${e.confState.learners}${
                e.confState.votersOutgoing.length > 0
                  ? ` outgoing ${e.confState.votersOutgoing}`
                  : ""
              }`,
            );
          }
        });
        raft.on("snapshot", () => {
          this.compactions++;
        });
      },
      (e) => {
        this.fail(
          "node-failure",
          `node ${id} failed to start: ${e instanceof Error ? e.message : e}`,
        );
      },
    );
  }

  /** A node leads `term`: a leader change, when it is a later term than any led before. */
  #leaderElected(term: number): void {
    if (term <= this.#leaderTerm) return;
    const first = this.#leaderTerm === 0;
    this.#leaderTerm = term;
    if (!first) this.onLeaderChange();
  }

  /** Crashes a node: unsynced writes are lost, in-flight requests fail. */
  crash(s: Slot<S, R>, why: string): void {
    if (s.state !== "running") return;
    s.disk.crash();
    const raft = s.raft;
    s.transport?.close();
    s.state = "down";
    s.raft = undefined;
    s.sm = undefined;
    s.storage = undefined;
    s.transport = undefined;
    if (raft !== undefined) void raft.close();
    this.note(`${why} node ${s.id}`);
  }

  liveIds(): NodeId[] {
    return [...this.slots.values()].filter((s) => s.state !== "retired" && s.state !== "idle")
      .map((s) => s.id);
  }

  /** Stops nodes that left the configuration; records members. */
  #retire(): void {
    for (const id of this.members()) this.everMember.add(id);
    for (const s of this.slots.values()) {
      if (s.state === "retired" || !this.everMember.has(s.id) || this.isMember(s.id)) continue;
      if (s.state === "running") this.crash(s, "retire removed");
      s.state = "retired";
    }
  }

  check(): void {
    this.guard(() => {
      const views = new Map<NodeId, { view: SimStorage["view"]; incarnation: number }>();
      for (const s of this.slots.values()) {
        if (s.state !== "running" || s.raft === undefined || s.storage === undefined) continue;
        if (s.raft.closed) {
          // Crashed nodes are no longer running: this one stopped on its own.
          const err = s.raft.error;
          this.fail(
            "node-failure",
            `node ${s.id} stopped: ${err === undefined ? "closed" : `${err.name}: ${err.message}`}`,
          );
          continue;
        }
        this.inv.observeStatus(s.raft.status(), s.incarnation);
        views.set(s.id, { view: s.storage.view, incarnation: s.incarnation });
      }
      this.inv.checkLeaders(views);
      this.#retire();
    });
  }

  stop(): boolean {
    return this.violation !== undefined || this.simError !== undefined;
  }

  /** Each running node's view, for a failure message. */
  describeNodes(): string {
    const views: string[] = [];
    for (const s of this.slots.values()) {
      if (s.state !== "running" || s.raft === undefined) continue;
      const st = s.raft.status();
      const cs = st.confState;
      views.push(
        `node ${s.id}: ${
          stateNames[st.raftState]
        } term ${st.term} vote ${st.vote} leader ${st.leaderId} commit ${st.commit} applied ${st.applied} last ${st.lastIndex} voters ${cs.voters} learners ${cs.learners}${
          cs.votersOutgoing.length > 0 ? ` outgoing ${cs.votersOutgoing}` : ""
        }`,
      );
    }
    return views.join("; ");
  }
}
