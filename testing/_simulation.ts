/**
 * The deterministic simulator: a whole Raft cluster (3, 5 or 7 nodes, plus
 * spares to add) in one process, on virtual time, running the real
 * `RaftNode` driver and the user's state machine over the real codec
 * (`MemoryNetwork` with `codec: true` encodes and decodes every message),
 * on simulated disks that lose unsynced writes in a crash
 * (`_sim_storage.ts`), under the user's client workload (`_clients.ts`)
 * and faults chosen by the run's seed (`_sim_faults.ts`): message loss,
 * duplication, delay and reordering, symmetric and one-way partitions,
 * isolating the leader, crashes and restarts, slow disks, clock skew,
 * membership changes and leadership transfers, log compaction and snapshot
 * transfer. Raft's safety properties, replica agreement and snapshot
 * fidelity are checked after every step (`_invariants.ts`,
 * `_checked_state_machine.ts`); at the end the faults heal and the cluster
 * must elect a leader and commit a proposal within a bounded virtual time;
 * then the clients' history is checked for linearizability against the
 * user's model, partition by partition.
 *
 * Every random choice (the network's, each node run's `rand`, the disks',
 * the clients', the faults') is drawn from one seed: a seed replays its run
 * event for event, which the run's trace hash shows.
 *
 * The cluster and its nodes are in `_sim_cluster.ts`, what a seed draws in
 * `_sim_profile.ts`, the options and results in `_sim_options.ts`.
 *
 * @module
 */

import type { StateMachine } from "../core/node.ts";
import { collectSnapshotData } from "../core/node/snapshots.ts";
import { hashBytes, Hasher, Prng } from "./_prng.ts";
import { Clients, type ClientsOptions } from "./_clients.ts";
import { SimCluster, type Slot } from "./_sim_cluster.ts";
import { FaultInjector } from "./_sim_faults.ts";
import type { SimOptions, SimResult } from "./_sim_options.ts";
import {
  drawExactlyOnceProfile,
  drawProfile,
  faultKinds,
  type SimProfile,
} from "./_sim_profile.ts";
import { SessionClients } from "./_session_clients.ts";
import type { ExactlyOnceStats } from "./exactly_once.ts";
import {
  checkOperations,
  type CheckResult,
  formatExplanation,
  type Model,
  type Operation,
  type Partition,
} from "./linearizability.ts";

/** Partitions a history by a key function, keys sorted. */
function partitionBy<I, O>(
  key: (input: I) => string,
): (history: readonly Operation<I, O>[]) => Partition<I, O>[] {
  return (history) => {
    const byKey = new Map<string, Operation<I, O>[]>();
    for (const op of history) {
      const k = key(op.input);
      const list = byKey.get(k);
      if (list === undefined) byKey.set(k, [op]);
      else list.push(op);
    }
    return [...byKey.keys()].sort().map((k) => ({ key: k, operations: byKey.get(k)! }));
  };
}

/** One simulation run; use {@linkcode runSimulation}. */
export class Simulation<S extends StateMachine<R>, R, I, O, M> {
  readonly seed: number;
  readonly options: SimOptions<S, R, I, O, M>;
  readonly profile: SimProfile;
  readonly workload: Clients<S, R, I, O>;
  /** The exactly-once clients, when they run. */
  readonly once: SessionClients<S, R> | undefined;
  readonly #cluster: SimCluster<S, R>;
  readonly #faults: FaultInjector<S, R>;
  #onceStats: ExactlyOnceStats | undefined = undefined;

  constructor(options: SimOptions<S, R, I, O, M>) {
    this.seed = options.seed;
    this.options = options;
    const rand = new Prng(options.seed);
    const profileRand = rand.fork();
    this.profile = drawProfile(profileRand, options.nodes);
    const onceRand = options.exactlyOnce === undefined
      ? undefined
      : new Prng(new Hasher().str("exactly-once").num(options.seed).value);
    if (onceRand !== undefined) this.profile.exactlyOnce = drawExactlyOnceProfile(onceRand.fork());
    options.profile?.(this.profile);
    if (options.faults !== undefined) {
      for (const k of faultKinds) if (!options.faults.includes(k)) this.profile.rates[k] = 0;
    }
    const faultRand = rand.fork();
    const adminRand = rand.fork();
    const p = this.profile;
    const cluster = new SimCluster<S, R>(options, p, rand);
    this.#cluster = cluster;
    this.#faults = new FaultInjector(
      cluster,
      faultRand,
      adminRand,
      options.membershipRetries ?? true,
    );
    const model = options.model;
    const describe = options.describe ??
      (model === undefined
        ? (input: I): string => JSON.stringify(input) ?? String(input)
        : (input: I): string => model.describeOperation(input, undefined).replace(/ -> \?$/, ""));
    const clientsOptions: ClientsOptions = {
      clients: p.clients,
      thinkMs: p.thinkMs,
      requestTimeoutMs: p.requestTimeoutMs,
      opTimeoutMs: p.opTimeoutMs,
      idempotencyKeys: p.exactlyOnce !== undefined,
    };
    this.workload = new Clients<S, R, I, O>(
      {
        clock: cluster.clock,
        members: () => cluster.members(),
        node: (id) => cluster.handle(id),
        keepOp: (seq, client, what) => {
          const kept = options.keep?.ops?.has(seq) ?? true;
          if (kept) cluster.event("op", seq, `client ${client}: ${what()}`);
          return kept;
        },
        probing: (what) => cluster.event("op", 0, `liveness probe: ${what}`),
      },
      rand.fork(),
      clientsOptions,
      options.workload({ clients: p.clients, keys: p.keys, readShare: p.readShare }),
      describe,
    );
    const once = options.exactlyOnce;
    this.once = once === undefined || onceRand === undefined || p.exactlyOnce === undefined
      ? undefined
      : new SessionClients<S, R>(
        {
          clock: cluster.clock,
          members: () => cluster.members(),
          node: (id) => cluster.handle(id),
          note: (line) => cluster.note(line),
        },
        onceRand.fork(),
        p.exactlyOnce,
        once,
        { requestTimeoutMs: p.requestTimeoutMs, opTimeoutMs: p.opTimeoutMs },
      );
    const sessions = this.once;
    if (sessions !== undefined) cluster.inv.onCommittedEntry = (e) => sessions.committed(e.data);
    cluster.onLeaderChange = () => this.workload.leaderChanged();
    cluster.afterSend = (s: Slot<S, R>, ms) => this.#faults.maybeCrashAfterAck(s, ms);
  }

  async #step(): Promise<void> {
    const fired = await this.#cluster.clock.step();
    if (fired === undefined) throw new Error("Cannot step the simulation: no timer left");
    this.#cluster.check();
    if (this.workload.error !== undefined) this.#cluster.simError ??= this.workload.error;
    if (this.once?.error !== undefined) this.#cluster.simError ??= this.once.error;
  }

  /** Runs steps while `cont()` holds, for at most `ms` of virtual time; false on timeout. */
  async #runWhile(cont: () => boolean, ms: number): Promise<boolean> {
    const end = this.#cluster.clock.now + ms;
    while (cont() && !this.#cluster.stop()) {
      const due = this.#cluster.clock.peekDue();
      if (due === undefined || due > end) return false;
      await this.#step();
    }
    return !cont();
  }

  /** Heals every fault, then checks that the cluster recovers. */
  async #liveness(): Promise<void> {
    this.#faults.heal();
    const bound = this.options.livenessMs ?? (this.profile.preVote ? 10_000 : 30_000);
    // A probe whose outcome is unknown (a timeout, a crashed node) is not
    // retried as such (it might apply twice): the next try writes a new value.
    let result: boolean | undefined;
    const deadline = this.#cluster.clock.now + bound;
    const probe = async (): Promise<boolean> => {
      for (let k = 1; this.#cluster.clock.now < deadline; k++) {
        if (await this.workload.probe(k, deadline - this.#cluster.clock.now)) return true;
      }
      return false;
    };
    probe().then((ok) => {
      result = ok;
    }, (e) => {
      this.#cluster.simError ??= e;
    });
    const settled = await this.#runWhile(() => result === undefined, bound + 1000);
    if (this.#cluster.stop()) return;
    if (!settled || result !== true) {
      this.#cluster.fail(
        "liveness",
        `no proposal committed within ${bound} ms after the faults healed; ${this.#cluster.describeNodes()}`,
      );
      return;
    }
    this.#cluster.note("liveness: probe committed");
    const l = this.#cluster.leader();
    const target = l?.raft?.status().commit ?? this.#cluster.inv.maxCommitted;
    const lagging = (): Slot<S, R>[] =>
      this.#cluster.members().map((id) => this.#cluster.slots.get(id)!).filter((s) =>
        s.state !== "running" || s.raft === undefined || s.raft.status().applied < target
      );
    const caughtUp = await this.#runWhile(() => lagging().length > 0, bound);
    if (this.#cluster.stop()) return;
    if (!caughtUp) {
      const s = lagging()[0]!;
      this.#cluster.fail(
        "liveness",
        `member ${s.id} did not apply up to ${target} within ${bound} ms after the faults healed (${
          s.raft === undefined ? s.state : `applied ${s.raft.status().applied}`
        })`,
      );
    }
  }

  /** Stops the clients and waits for their operations to end. */
  async #drain(): Promise<void> {
    this.workload.stop();
    this.once?.stop();
    const bound = this.profile.opTimeoutMs + this.profile.requestTimeoutMs + 1000;
    const inFlight = (): number => this.workload.inFlight + (this.once?.inFlight ?? 0);
    const done = await this.#runWhile(() => inFlight() > 0, bound);
    if (!done && !this.#cluster.stop()) {
      this.#cluster.fail(
        "liveness",
        `${inFlight()} client operations did not end within ${bound} ms`,
      );
    }
  }

  /**
   * Once every member has applied all that is committed, checks the
   * exactly-once workload on the replicas' final state.
   */
  async #checkExactlyOnce(once: SessionClients<S, R>): Promise<void> {
    const bound = this.options.livenessMs ?? (this.profile.preVote ? 10_000 : 30_000);
    const members = (): Slot<S, R>[] =>
      this.#cluster.members().map((id) => this.#cluster.slots.get(id)!);
    const lagging = (): Slot<S, R>[] => {
      let commit = 0;
      for (const s of members()) commit = Math.max(commit, s.raft?.status().commit ?? 0);
      return members().filter((s) =>
        s.state !== "running" || s.raft === undefined || s.raft.status().applied < commit
      );
    };
    const caughtUp = await this.#runWhile(() => lagging().length > 0, bound);
    if (this.#cluster.stop()) return;
    if (!caughtUp) {
      this.#cluster.fail(
        "liveness",
        `member ${
          lagging()[0]!.id
        } did not apply all that is committed within ${bound} ms after the clients stopped`,
      );
      return;
    }
    const replicas = members().map((s) => ({ id: s.id, sm: s.sm! }));
    const { stats, violation } = once.check(replicas);
    this.#onceStats = stats;
    this.#cluster.inv.checks++;
    if (violation !== undefined) this.#cluster.fail("exactly-once", violation);
  }

  #checkHistory(model: Model<M, I, O>): CheckResult {
    const key = this.options.partitionKey;
    const m = model.partition === undefined && key !== undefined
      ? { ...model, partition: partitionBy<I, O>(key) }
      : model;
    const report = checkOperations(m, this.workload.history, {
      stepsMax: this.options.checkerStepsMax ?? 50_000_000,
    });
    this.#cluster.inv.checks++;
    if (report.result === "illegal" && report.explanation !== undefined) {
      this.#cluster.fail(
        "linearizability",
        `the history of ${
          report.explanation.key === "" ? "the clients" : `key ${report.explanation.key}`
        } is not linearizable:\n${formatExplanation(report.explanation)}`,
      );
    }
    return report.result;
  }

  /** Runs the whole simulation. */
  async run(): Promise<SimResult<I, O>> {
    const wall0 = performance.now();
    let lin: CheckResult | "skipped" = "skipped";
    try {
      const empty = this.options.stateMachine({
        nodeId: 0,
        incarnation: 0,
        rand: new Prng(0),
        now: () => this.#cluster.clock.now,
      });
      this.#cluster.inv.emptyDigest = hashBytes(
        await collectSnapshotData(await empty.snapshot()),
      );
      for (const s of this.#cluster.slots.values()) if (s.initial) this.#cluster.start(s);
      this.workload.start();
      this.once?.start();
      this.#faults.scheduleTick();
      while (this.#cluster.clock.fired < this.options.steps && !this.#cluster.stop()) {
        await this.#step();
      }
      if (!this.#cluster.stop()) await this.#liveness();
      if (!this.#cluster.stop()) await this.#drain();
      if (!this.#cluster.stop() && this.once !== undefined) await this.#checkExactlyOnce(this.once);
      const model = this.options.model;
      if (!this.#cluster.stop() && !this.options.skipLinearizability && model !== undefined) {
        lin = this.#checkHistory(model);
      }
    } catch (e) {
      this.#cluster.simError ??= e;
    } finally {
      for (const s of this.#cluster.slots.values()) {
        if (s.state === "running") this.#cluster.crash(s, "shutdown");
      }
      this.#cluster.net.close();
      this.#cluster.clock.clear();
    }
    const wallMs = performance.now() - wall0;
    const ns = this.#cluster.net.stats;
    let lostWrites = 0;
    for (const s of this.#cluster.slots.values()) lostWrites += s.disk.stats.lostWrites;
    const v = this.#cluster.violation;
    const result: SimResult<I, O> = {
      seed: this.seed,
      steps: this.options.steps,
      profile: this.profile,
      ok: v === undefined && this.#cluster.simError === undefined && lin !== "illegal",
      linearizability: lin,
      traceHash: this.#cluster.clock.trace.hex,
      stats: {
        virtualMs: this.#cluster.clock.now,
        steps: this.#cluster.clock.fired,
        wallMs,
        faults: this.#faults.counts,
        elections: this.#cluster.inv.elections,
        invariantChecks: this.#cluster.inv.checks,
        ops: { ...this.workload.stats },
        failover: this.workload.failover,
        ...(this.#onceStats === undefined ? {} : { exactlyOnce: this.#onceStats }),
        messages: ns,
        snapshotsSent: this.#cluster.snapshotsSent,
        compactions: this.#cluster.compactions,
        restarts: this.#cluster.restarts,
        membershipChanges: this.#faults.membershipChanges,
        membershipRetries: this.#faults.membershipRetries,
        lostWrites,
      },
      trace: this.#cluster.trace(),
      history: this.workload.history,
      events: this.#cluster.events,
      keep: this.options.keep ?? {},
    };
    if (v !== undefined) {
      result.violation = {
        invariant: v.invariant,
        message: v.message,
        time: v.time,
        step: this.#cluster.violationStep ?? this.#cluster.clock.fired,
      };
    }
    if (this.#cluster.simError !== undefined) {
      const e = this.#cluster.simError;
      result.simError = e instanceof Error
        ? `${e.name}: ${e.message}\n${e.stack ?? ""}`
        : String(e);
    }
    return result;
  }
}
