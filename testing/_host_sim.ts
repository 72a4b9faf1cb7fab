/**
 * The multi-group host simulation: N `RaftHost`s × G key-value groups on
 * virtual time (`_host_sim_world.ts`), a key-value workload whose keys map
 * to groups by hash (each group's clients run the single-group
 * simulator's clients, `_clients.ts`, on the keys of that group), and the
 * faults of `_host_sim_faults.ts`. Each group's Raft invariants are
 * checked after every step; at the end every fault heals and a write to
 * every group must succeed within a bound; then, the clients stopped, the
 * groups rest and the host leading most of them crashes: each group that
 * rested on every replica must elect within the bound of quiescence;
 * last, each group's history is checked for linearizability key by key
 * (`kvModel`).
 *
 * Every random choice is drawn from the seed: a seed replays its run, which
 * the trace hash shows.
 *
 * @module
 */

import type { GroupId } from "../core/host.ts";
import { Clients } from "./_clients.ts";
import { HostFaults } from "./_host_sim_faults.ts";
import {
  type HostFaultKind,
  type HostSimProfile,
  type HostSlot,
  type HostViolation,
  HostWorld,
} from "./_host_sim_world.ts";
import type { InvariantName } from "./_invariants.ts";
import { hashBytes, Prng } from "./_prng.ts";
import type { KvInput, KvOutput } from "./kv_model.ts";
import { kvModel } from "./kv_model.ts";
import { type KvResult, KvStateMachine } from "./kv_state_machine.ts";
import { kvWorkload } from "./kv_workload.ts";
import { checkOperations, type CheckResult, formatExplanation } from "./linearizability.ts";
import type { Workload } from "./workload.ts";

/** Options of {@linkcode runHostSimulation}. */
export interface HostSimOptions {
  /** The seed: every random choice of the run. */
  seed: number;
  /** Steps (fired timers) under faults. */
  steps: number;
  /** Hosts; omitted: 3 or 5, drawn. */
  hosts?: number | undefined;
  /** Groups; omitted: 16. */
  groups?: number;
  /** Properties not to check. */
  disabledInvariants?: readonly InvariantName[];
  /** Changes the drawn profile before the run. */
  profile?: (p: HostSimProfile) => void;
  /** Receives trace lines. */
  log?: (line: string) => void;
  /** A planted bug, to show the checks catch it: the host storage acknowledges batches before they are durable. */
  ackBeforeDurable?: boolean;
}

/** What one run found and measured. */
export interface HostSimResult {
  seed: number;
  /** The options the run had (a replay passes the same). */
  options: { hosts: number; groups: number; steps: number };
  ok: boolean;
  traceHash: string;
  profile: HostSimProfile;
  violation?: HostViolation;
  simError?: string;
  linearizability: CheckResult | "skipped";
  stats: {
    virtualMs: number;
    steps: number;
    wallMs: number;
    ops: { started: number; completed: number; indeterminate: number };
    /** Operations the linearizability checker took in (every group's history). */
    opsChecked: number;
    faults: Record<HostFaultKind, number>;
    membershipChanges: number;
    elections: number;
    invariantChecks: number;
    restarts: number;
    /** Storage batches a crash lost (written, not yet durable). */
    lostBatches: number;
    snapshotsSent: number;
    /** Per group whose leader host crashed: the time to a later term's leader, in ms. */
    reelectMs: number[];
    /**
     * Groups that rested on every replica when their leader host crashed,
     * with nothing interfering, that elected within the bound of
     * quiescence (a later one fails the run); their times in ms.
     */
    quiescedReelectMs: number[];
    /** The bound of quiescence of this run, in ms (`quiescedReelectBoundMs`). */
    quiescedBoundMs: number;
    /** From healing to a write acknowledged in every group, in ms. */
    livenessMs: number;
    messages: { frames: number; messages: number; delivered: number; dropped: number };
  };
  /** The last trace lines. */
  trace: string[];
}

const enc = new TextEncoder();

/**
 * The group a key belongs to: a hash of the key, modulo the groups.
 *
 * @param key The key.
 * @param groups The number of groups.
 * @returns Its group, in `1..groups`.
 */
export function groupOfKey(key: string, groups: number): GroupId {
  return (hashBytes(enc.encode(key)) >>> 0) % groups + 1;
}

/**
 * Draws a run's profile.
 *
 * @param rand The profile's randomness.
 * @param options Forced hosts and groups.
 * @returns The profile.
 */
export function drawHostProfile(
  rand: Prng,
  options: { hosts?: number | undefined; groups?: number | undefined },
): HostSimProfile {
  // Drawn even when forced, so that forcing the drawn value replays the run.
  const drawnHosts = rand.pick([3, 3, 5]);
  const hosts = options.hosts ?? drawnHosts;
  const groups = options.groups ?? 16;
  const lossy = rand.chance(0.7);
  return {
    hosts,
    groups,
    replicas: Math.min(hosts, 3),
    tickMs: 10,
    electionTick: 10,
    heartbeatTick: rand.pick([1, 2, 3]),
    preVote: rand.chance(0.5),
    snapshotEntries: rand.pick([20, 50, 200]),
    catchUpEntries: rand.pick([0, 5, 20]),
    delayMs: rand.range(1, 5),
    jitterMs: rand.pick([0, 3, 10]),
    dropRate: lossy ? rand.uniform(0, 0.05) : 0,
    duplicateRate: lossy ? rand.uniform(0, 0.03) : 0,
    diskLatencyMs: rand.range(1, 4),
    diskJitterMs: rand.range(0, 4),
    faultTickMs: 100,
    rates: {
      crash: rand.uniform(0.5, 2),
      partition: rand.uniform(0.3, 1.5),
      "one-way": rand.uniform(0.3, 1.5),
      heal: rand.uniform(0.5, 2),
      transfer: rand.uniform(1, 5),
      membership: hosts > 3 ? rand.uniform(1, 3) : 0,
    },
    clientsPerGroup: rand.range(1, 2),
    keys: groups * rand.range(2, 4),
    thinkMs: rand.pick([5, 20, 50]),
    readShare: rand.uniform(0.2, 0.5),
    requestTimeoutMs: 300,
    opTimeoutMs: 1500,
  };
}

/**
 * The key-value workload of one group: `kvWorkload` over the group's own
 * keys (`k<i>` from the base workload names `keys[i]`).
 */
function groupWorkload(
  keys: readonly string[],
  readShare: number,
  clients: number,
): Workload<KvStateMachine, KvResult, KvInput, KvOutput> {
  const base = kvWorkload({ clients, keys: keys.length, readShare });
  const local = new Map(keys.map((k, i) => [k, `k${i}`]));
  return {
    next: (rand, client) => {
      const input = base.next(rand, client);
      return { ...input, key: keys[Number(input.key.slice(1))]! };
    },
    request: (input) => base.request(input),
    done: (client, input, output) =>
      base.done?.(client, { ...input, key: local.get(input.key) ?? input.key }, output),
    probe: (attempt) => base.probe!(attempt),
  };
}

/** One run; use {@linkcode runHostSimulation}. */
class HostSimulation {
  readonly options: HostSimOptions;
  readonly profile: HostSimProfile;
  readonly world: HostWorld;
  readonly faults: HostFaults;
  readonly clients = new Map<GroupId, Clients<KvStateMachine, KvResult, KvInput, KvOutput>>();
  readonly #trace: string[] = [];
  #livenessMs = 0;

  constructor(options: HostSimOptions) {
    this.options = options;
    const rand = new Prng(options.seed);
    this.profile = drawHostProfile(rand.fork(), options);
    options.profile?.(this.profile);
    const p = this.profile;
    this.world = new HostWorld(p, rand.fork(), options.disabledInvariants);
    this.world.ackBeforeDurable = options.ackBeforeDurable ?? false;
    this.world.log = (line): void => {
      this.#trace.push(line);
      if (this.#trace.length > 60) this.#trace.shift();
      options.log?.(line);
    };
    this.faults = new HostFaults(this.world, rand.fork(), 20 * p.electionTick * p.tickMs);
    const byGroup = new Map<GroupId, string[]>();
    for (let g = 1; g <= p.groups; g++) byGroup.set(g, []);
    for (let i = 0; i < p.keys; i++) byGroup.get(groupOfKey(`key${i}`, p.groups))!.push(`key${i}`);
    const w = this.world;
    for (let g = 1; g <= p.groups; g++) {
      const keys = byGroup.get(g)!;
      const n = keys.length === 0 ? 0 : p.clientsPerGroup;
      const clients = new Clients<KvStateMachine, KvResult, KvInput, KvOutput>(
        {
          clock: w.clock,
          members: () => w.group(g).members,
          node: (id) => {
            // A request wakes the replica: no bound of quiescence holds for the group.
            this.faults.touched(g);
            return w.replica(id, g);
          },
          keepOp: () => true,
          probing: (what) => w.note(`group ${g} liveness probe: ${what}`),
        },
        rand.fork(),
        {
          clients: n,
          thinkMs: p.thinkMs,
          requestTimeoutMs: p.requestTimeoutMs,
          opTimeoutMs: p.opTimeoutMs,
        },
        groupWorkload(keys, p.readShare, n),
        (input) => kvModel.describeOperation(input, undefined),
      );
      this.clients.set(g, clients);
    }
    const onLeader = w.onLeader;
    w.onLeader = (g, leader, term): void => {
      onLeader(g, leader, term);
      this.clients.get(g)!.leaderChanged();
    };
  }

  async #step(): Promise<void> {
    const fired = await this.world.clock.step();
    if (fired === undefined) throw new Error("Cannot step the host simulation: no timer left");
    this.world.check();
    this.faults.checkReelections();
    for (const c of this.clients.values()) {
      if (c.error !== undefined) this.world.simError ??= c.error;
    }
  }

  async #runWhile(cont: () => boolean, ms: number): Promise<boolean> {
    const end = this.world.clock.now + ms;
    while (cont() && !this.world.stop()) {
      const due = this.world.clock.peekDue();
      if (due === undefined || due > end) return false;
      await this.#step();
    }
    return !cont();
  }

  /** Heals every fault; then a write to every group must succeed within the bound. */
  async #liveness(): Promise<void> {
    const w = this.world;
    this.faults.healAll();
    const bound = this.profile.preVote ? 10_000 : 30_000;
    const start = w.clock.now;
    const deadline = start + bound;
    const pending = new Set(this.clients.keys());
    for (const [g, c] of this.clients) {
      void (async (): Promise<void> => {
        for (let k = 1; w.clock.now < deadline; k++) {
          if (await c.probe(k, deadline - w.clock.now)) {
            pending.delete(g);
            return;
          }
        }
      })().catch((e) => {
        w.simError ??= e;
      });
    }
    await this.#runWhile(() => pending.size > 0, bound + 1000);
    if (w.stop()) return;
    if (pending.size > 0) {
      w.fail(
        [...pending][0]!,
        "liveness",
        `groups ${[...pending]} committed no write within ${bound} ms after the faults healed`,
      );
      return;
    }
    this.#livenessMs = Math.round(w.clock.now - start);
    w.note(`liveness: a write committed in every group after ${this.#livenessMs} ms`);
  }

  /**
   * With every fault healed and the clients stopped, lets the groups rest,
   * then crashes the running host that leads the most groups: each that
   * rested on every replica must have a new leader within the bound of
   * quiescence (`checkReelections`). The host restarts afterwards.
   */
  async #quiescedCrash(): Promise<void> {
    const w = this.world;
    const p = this.profile;
    await this.#runWhile(() => true, 2 * p.electionTick * p.tickMs);
    if (w.stop()) return;
    let lead: HostSlot | undefined;
    let most = 0;
    for (const h of w.hosts.values()) {
      const n = h.host?.status().leading.length ?? 0;
      if (n > most) [lead, most] = [h, n];
    }
    if (lead === undefined) return;
    const held = this.faults.crashLeaderHost(lead);
    const waitMs = this.faults.quiescedBoundMs + p.electionTick * p.tickMs;
    await this.#runWhile(() => this.faults.quiescedPending > 0, waitMs);
    if (w.stop()) return;
    w.note(`${held} groups resting at the crash of host ${lead.id} elected within the bound`);
    void this.faults.restart(lead);
    await this.#runWhile(() => true, 5 * p.electionTick * p.tickMs);
  }

  async #drain(): Promise<void> {
    for (const c of this.clients.values()) c.stop();
    const bound = this.profile.opTimeoutMs + this.profile.requestTimeoutMs + 1000;
    const inFlight = (): number => [...this.clients.values()].reduce((n, c) => n + c.inFlight, 0);
    const done = await this.#runWhile(() => inFlight() > 0, bound);
    if (!done && !this.world.stop()) {
      this.world.fail(
        0,
        "liveness",
        `${inFlight()} client operations did not end within ${bound} ms`,
      );
    }
  }

  #checkHistories(): CheckResult {
    let result: CheckResult = "ok";
    for (const [g, c] of this.clients) {
      const report = checkOperations(kvModel, c.history, { stepsMax: 50_000_000 });
      if (report.result === "unknown" && result === "ok") result = "unknown";
      if (report.result === "illegal") {
        const ex = report.explanation!;
        this.world.fail(
          g,
          "linearizability",
          `the history of key ${ex.key} (group ${g}) is not linearizable:\n${
            formatExplanation(ex)
          }`,
        );
        return "illegal";
      }
    }
    return result;
  }

  async run(): Promise<HostSimResult> {
    const wall0 = performance.now();
    const w = this.world;
    let lin: CheckResult | "skipped" = "skipped";
    try {
      const emptyDigest = hashBytes(new KvStateMachine().snapshot());
      for (const t of w.groups.values()) t.inv.emptyDigest = emptyDigest;
      for (const h of w.hosts.values()) {
        void w.start(h).catch((e) => {
          w.simError ??= e;
        });
      }
      for (const c of this.clients.values()) c.start();
      this.faults.scheduleTick();
      while (w.clock.fired < this.options.steps && !w.stop()) await this.#step();
      if (!w.stop()) await this.#liveness();
      if (!w.stop()) await this.#drain();
      if (!w.stop()) await this.#quiescedCrash();
      if (!w.stop()) lin = this.#checkHistories();
    } catch (e) {
      w.simError ??= e;
    } finally {
      for (const h of w.hosts.values()) w.crash(h, "shutdown");
      w.net.close();
      w.clock.clear();
    }
    return this.#result(lin, performance.now() - wall0);
  }

  #result(lin: CheckResult | "skipped", wallMs: number): HostSimResult {
    const w = this.world;
    const all = [...this.clients.values()];
    const sum = (f: (c: (typeof all)[number]) => number): number =>
      all.reduce((n, c) => n + f(c), 0);
    let elections = 0;
    let checks = 0;
    for (const t of w.groups.values()) {
      elections += t.inv.elections;
      checks += t.inv.checks;
    }
    const result: HostSimResult = {
      seed: this.options.seed,
      options: {
        hosts: this.profile.hosts,
        groups: this.profile.groups,
        steps: this.options.steps,
      },
      ok: w.violation === undefined && w.simError === undefined && lin !== "illegal",
      traceHash: w.clock.trace.hex,
      profile: this.profile,
      linearizability: lin,
      stats: {
        virtualMs: w.clock.now,
        steps: w.clock.fired,
        wallMs,
        ops: {
          started: sum((c) => c.stats.started),
          completed: sum((c) => c.stats.completed),
          indeterminate: sum((c) => c.stats.indeterminate),
        },
        opsChecked: lin === "skipped" ? 0 : sum((c) => c.history.length),
        faults: { ...this.faults.counts },
        membershipChanges: this.faults.membershipChanges,
        elections,
        invariantChecks: checks,
        restarts: w.restarts,
        lostBatches: w.lostBatches,
        snapshotsSent: w.snapshotsSent,
        reelectMs: this.faults.reelectMs.slice(),
        quiescedReelectMs: this.faults.quiescedReelectMs.slice(),
        quiescedBoundMs: this.faults.quiescedBoundMs,
        livenessMs: this.#livenessMs,
        messages: w.net.stats,
      },
      trace: this.#trace.slice(),
    };
    if (w.violation !== undefined) result.violation = w.violation;
    if (w.simError !== undefined) {
      const e = w.simError;
      result.simError = e instanceof Error
        ? `${e.name}: ${e.message}\n${e.stack ?? ""}`
        : String(e);
    }
    return result;
  }
}

/**
 * Runs one seed of the multi-group host simulation.
 *
 * @param options The seed, steps and shape.
 * @returns What the run found and measured.
 */
export function runHostSimulation(options: HostSimOptions): Promise<HostSimResult> {
  return new HostSimulation(options).run();
}

/**
 * One line about a run.
 *
 * @param r The run.
 * @returns The line.
 */
export function formatHostSummary(r: HostSimResult): string {
  const s = r.stats;
  const p = r.profile;
  const faults = Object.entries(s.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`);
  return `seed ${r.seed} ${
    r.ok ? "ok" : "FAILED"
  } hash ${r.traceHash}: ${p.hosts} hosts × ${p.groups} groups, ${
    (s.virtualMs / 1000).toFixed(1)
  } s virtual, ${s.steps} steps, ops ${s.ops.completed}/${s.ops.started} (${s.ops.indeterminate} indeterminate), faults ${
    faults.join(" ") || "none"
  }, moves ${s.membershipChanges}, elections ${s.elections}, restarts ${s.restarts}, lost batches ${s.lostBatches}, snapshots ${s.snapshotsSent}, liveness ${s.livenessMs} ms, quiesced re-elections ${s.quiescedReelectMs.length} (bound ${s.quiescedBoundMs} ms), lin ${r.linearizability}`;
}

/**
 * What failed in a run, and its last trace lines.
 *
 * @param r The run.
 * @returns The text.
 */
export function formatHostFailure(r: HostSimResult): string {
  const lines = [
    `seed ${r.seed} failed (replay: deno task sim --hosts ${r.profile.hosts} --groups ${r.profile.groups} --seed ${r.seed} --steps ${r.options.steps})`,
  ];
  if (r.violation !== undefined) {
    lines.push(`group ${r.violation.group}: ${r.violation.message}`);
  }
  if (r.simError !== undefined) lines.push(`simulator error: ${r.simError}`);
  lines.push("last events:", ...r.trace.map((l) => `  ${l}`));
  return lines.join("\n");
}
