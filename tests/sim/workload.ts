/**
 * The simulated clients: each runs a loop of `get`, `put`, `delete` and
 * `cas` operations on a small key space, as a real client would: it sends
 * a request to the node it believes leads, follows `NotLeaderError` hints,
 * retries requests that certainly did not take effect, and gives up on a
 * write whose outcome it cannot know (a timeout, a crashed node), recording
 * it as indeterminate. Every operation is recorded with its call and return
 * times for the linearizability checker.
 *
 * @module
 */

import {
  BusyError,
  NodeClosedError,
  NotLeaderError,
  type RaftNode,
  TimeoutError,
} from "../../core/node.ts";
import { ProposalDroppedError } from "../../core/errors.ts";
import type { NodeId } from "../../core/types.ts";
import type { SimClock } from "./_clock.ts";
import type { Prng } from "./_prng.ts";
import type { KvInput, KvOperation, KvOutput } from "./kv_model.ts";
import {
  encodeKvCommand,
  type KvCommand,
  type KvResult,
  type KvStateMachine,
} from "./kv_state_machine.ts";

/** A running node, as the clients reach it. */
export interface NodeHandle {
  /** The driver. */
  readonly raft: RaftNode<KvResult>;
  /** Its state machine (what reads query). */
  readonly sm: KvStateMachine;
}

/** What the clients need from the simulated cluster. */
export interface ClusterAccess {
  /** The virtual clock. */
  readonly clock: SimClock;
  /** The members a client may contact (as from its configuration). */
  members(): readonly NodeId[];
  /**
   * The running node `id`, if it runs (a request to a node that is down
   * fails at once, like a refused connection).
   */
  node(id: NodeId): NodeHandle | undefined;
}

/** Options of a {@linkcode Workload}. */
export interface WorkloadOptions {
  /** Concurrent clients. */
  clients: number;
  /** Keys in the key space. */
  keys: number;
  /** Maximum pause between two operations of a client, in ms. */
  thinkMs: number;
  /** Timeout of one request to a node, in ms. */
  requestTimeoutMs: number;
  /** Time a client spends on one operation, retries included, in ms. */
  opTimeoutMs: number;
  /** Share of reads among operations, in `[0, 1]`. */
  readShare: number;
}

/** Counters of a {@linkcode Workload}. */
export interface WorkloadStats {
  /** Operations started. */
  started: number;
  /** Operations that returned an outcome. */
  completed: number;
  /** Writes whose outcome is unknown (timeout, crashed node). */
  indeterminate: number;
  /** Reads given up on. */
  readsAbandoned: number;
  /** Writes that certainly did not take effect after every retry. */
  writesNotApplied: number;
  /** Requests sent to a node, retries included. */
  requests: number;
  /** `NotLeaderError` answers followed. */
  redirects: number;
}

type Outcome =
  | { kind: "ok"; output: KvOutput }
  | { kind: "indeterminate" }
  | { kind: "not-applied" };

/** The clients of one simulation run and the history they record. */
export class Workload {
  /** The recorded operations. */
  readonly history: KvOperation[] = [];
  /** Counters. */
  readonly stats: WorkloadStats = {
    started: 0,
    completed: 0,
    indeterminate: 0,
    readsAbandoned: 0,
    writesNotApplied: 0,
    requests: 0,
    redirects: 0,
  };
  readonly #access: ClusterAccess;
  readonly #rand: Prng;
  readonly #options: WorkloadOptions;
  #stopped = false;
  #inFlight = 0;
  /** A client-side error that is not an expected request outcome. */
  error: unknown = undefined;

  /**
   * Creates the clients; {@linkcode Workload.start} starts them.
   *
   * @param access The cluster.
   * @param rand The clients' randomness.
   * @param options Shape of the load.
   */
  constructor(access: ClusterAccess, rand: Prng, options: WorkloadOptions) {
    this.#access = access;
    this.#rand = rand;
    this.#options = options;
  }

  /** Operations in progress. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Starts every client's loop. */
  start(): void {
    for (let c = 1; c <= this.#options.clients; c++) {
      const rand = this.#rand.fork();
      this.#loop(c, rand).catch((e) => {
        this.error ??= e;
      });
    }
  }

  /** Lets each client finish its current operation and start no other. */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Runs one `put` as client 0, for the liveness check.
   *
   * @param key The key.
   * @param value The value.
   * @param timeoutMs Time allowed, retries included.
   * @returns Whether the put was acknowledged.
   */
  async probe(key: string, value: string, timeoutMs: number): Promise<boolean> {
    const rand = this.#rand.fork();
    const out = await this.#run(0, rand, { op: "put", key, value }, timeoutMs, {
      leader: 0,
    });
    return out.kind === "ok";
  }

  async #loop(client: number, rand: Prng): Promise<void> {
    const clock = this.#access.clock;
    const label = `client${client}`;
    const belief = { leader: 0 as NodeId };
    const seen = new Map<string, string | null>();
    let seq = 0;
    while (!this.#stopped) {
      await clock.sleep(rand.uniform(0, this.#options.thinkMs), label);
      if (this.#stopped) break;
      const key = `k${rand.int(this.#options.keys)}`;
      const r = rand.next();
      let input: KvInput;
      if (r < this.#options.readShare) {
        input = { op: "get", key };
      } else if (r < this.#options.readShare + (1 - this.#options.readShare) * 0.45) {
        input = { op: "put", key, value: `${client}.${++seq}` };
      } else if (r < this.#options.readShare + (1 - this.#options.readShare) * 0.85) {
        const expected = rand.chance(0.7) ? (seen.get(key) ?? null) : `${client}.${seq}`;
        input = { op: "cas", key, expected, value: `${client}.${++seq}` };
      } else {
        input = { op: "delete", key };
      }
      const out = await this.#run(client, rand, input, this.#options.opTimeoutMs, belief);
      if (out.kind === "ok") {
        const o = out.output;
        if ("value" in o) seen.set(key, o.value);
        else if (o.ok && input.op === "put") seen.set(key, input.value);
        else if (o.ok && input.op === "cas") seen.set(key, input.value);
        else if (o.ok && input.op === "delete") seen.set(key, null);
      }
    }
  }

  /** Runs one operation to its end and records it. */
  async #run(
    client: number,
    rand: Prng,
    input: KvInput,
    opTimeoutMs: number,
    belief: { leader: NodeId },
  ): Promise<Outcome> {
    const clock = this.#access.clock;
    const call = clock.now;
    this.stats.started++;
    this.#inFlight++;
    let out: Outcome;
    try {
      out = input.op === "get"
        ? await this.#read(client, rand, input.key, call + opTimeoutMs, belief)
        : await this.#write(client, rand, input, call + opTimeoutMs, belief);
    } finally {
      this.#inFlight--;
    }
    if (out.kind === "ok") {
      this.stats.completed++;
      this.history.push({ clientId: client, call, return: clock.now, input, output: out.output });
    } else if (out.kind === "indeterminate") {
      if (input.op === "get") this.stats.readsAbandoned++;
      else this.stats.indeterminate++;
      this.history.push({ clientId: client, call, input });
    } else {
      // Certainly never took effect: it constrains nothing.
      this.stats.writesNotApplied++;
    }
    return out;
  }

  /** The node to send the next request to: the believed leader, or a random member. */
  #target(rand: Prng, belief: { leader: NodeId }): NodeId | undefined {
    const members = this.#access.members();
    if (belief.leader !== 0 && members.includes(belief.leader)) return belief.leader;
    if (members.length === 0) return undefined;
    belief.leader = rand.pick(members);
    return belief.leader;
  }

  /** A network round trip to follow a redirect. */
  #hop(client: number, rand: Prng): Promise<void> {
    return this.#access.clock.sleep(rand.uniform(0.2, 2), `client${client}`);
  }

  #backoff(client: number, rand: Prng): Promise<void> {
    return this.#access.clock.sleep(rand.uniform(5, 40), `client${client}`);
  }

  async #write(
    client: number,
    rand: Prng,
    input: Exclude<KvInput, { op: "get" }>,
    deadline: number,
    belief: { leader: NodeId },
  ): Promise<Outcome> {
    const clock = this.#access.clock;
    const cmd: KvCommand = input;
    const data = encodeKvCommand(cmd);
    while (clock.now < deadline) {
      const id = this.#target(rand, belief);
      const node = id === undefined ? undefined : this.#access.node(id);
      if (node === undefined || node.raft.closed) {
        // Refused connection: nothing was sent.
        belief.leader = 0;
        await this.#backoff(client, rand);
        continue;
      }
      this.stats.requests++;
      const timeoutMs = Math.max(1, Math.min(this.#options.requestTimeoutMs, deadline - clock.now));
      try {
        const r = await node.raft.propose(data, { timeoutMs });
        return { kind: "ok", output: { ok: r.ok } };
      } catch (e) {
        if (e instanceof NotLeaderError) {
          this.stats.redirects++;
          belief.leader = e.leaderId;
          if (e.leaderId === 0 || e.leaderId === id) await this.#backoff(client, rand);
          else await this.#hop(client, rand);
          continue;
        }
        if (e instanceof ProposalDroppedError || e instanceof BusyError) {
          await this.#backoff(client, rand);
          continue;
        }
        if (e instanceof TimeoutError || e instanceof NodeClosedError) {
          return { kind: "indeterminate" };
        }
        throw e;
      }
    }
    return { kind: "not-applied" };
  }

  async #read(
    client: number,
    rand: Prng,
    key: string,
    deadline: number,
    belief: { leader: NodeId },
  ): Promise<Outcome> {
    const clock = this.#access.clock;
    while (clock.now < deadline) {
      const id = this.#target(rand, belief);
      const node = id === undefined ? undefined : this.#access.node(id);
      if (node === undefined || node.raft.closed) {
        belief.leader = 0;
        await this.#backoff(client, rand);
        continue;
      }
      this.stats.requests++;
      const timeoutMs = Math.max(1, Math.min(this.#options.requestTimeoutMs, deadline - clock.now));
      const sm = node.sm;
      try {
        const value = await node.raft.read(() => sm.get(key), { timeoutMs });
        return { kind: "ok", output: { value } };
      } catch (e) {
        if (e instanceof NotLeaderError) {
          this.stats.redirects++;
          belief.leader = e.leaderId;
          if (e.leaderId === 0 || e.leaderId === id) await this.#backoff(client, rand);
          else await this.#hop(client, rand);
          continue;
        }
        if (
          e instanceof TimeoutError || e instanceof NodeClosedError || e instanceof BusyError ||
          e instanceof ProposalDroppedError
        ) {
          // A read changes nothing: try again, elsewhere.
          belief.leader = 0;
          await this.#backoff(client, rand);
          continue;
        }
        throw e;
      }
    }
    return { kind: "indeterminate" };
  }
}
