/**
 * The simulated clients: each runs a loop of operations drawn by the
 * user's {@linkcode Workload}, as a real client would: it sends a request
 * to the node it believes leads, follows `NotLeaderError` hints, retries
 * requests that certainly did not take effect, and gives up on a write
 * whose outcome it cannot know (a timeout, a crashed node), recording it as
 * indeterminate. Every operation is recorded with its call and return
 * times for the linearizability checker.
 *
 * @module
 */

import {
  BusyError,
  LeaderChangedError,
  NodeClosedError,
  NotLeaderError,
  type RaftNode,
  type StateMachine,
  TimeoutError,
} from "../core/node.ts";
import { ProposalDroppedError } from "../core/errors.ts";
import type { NodeId } from "../core/types.ts";
import type { SimClock } from "./_clock.ts";
import type { Prng } from "./_prng.ts";
import type { Operation } from "./linearizability.ts";
import type { Workload, WorkloadRequest } from "./workload.ts";

/** A running node, as the clients reach it. */
export interface NodeHandle<S, R> {
  /** The driver. */
  readonly raft: RaftNode<R>;
  /** Its state machine (what reads query). */
  readonly sm: S;
}

/** What the clients need from the simulated cluster. */
export interface ClusterAccess<S, R> {
  /** The virtual clock. */
  readonly clock: SimClock;
  /** The members a client may contact (as from its configuration). */
  members(): readonly NodeId[];
  /**
   * The running node `id`, if it runs (a request to a node that is down
   * fails at once, like a refused connection).
   */
  node(id: NodeId): NodeHandle<S, R> | undefined;
  /**
   * Whether the client operation numbered `seq` (from 1, in the order the
   * clients draw them) is carried out; a skipped one is drawn and dropped.
   */
  keepOp(seq: number, client: number, describe: () => string): boolean;
  /** A liveness probe (always carried out) is about to run. */
  probing(describe: string): void;
}

/** Options of {@linkcode Clients}. */
export interface ClientsOptions {
  /** Concurrent clients. */
  clients: number;
  /** Maximum pause between two operations of a client, in ms. */
  thinkMs: number;
  /** Timeout of one request to a node, in ms. */
  requestTimeoutMs: number;
  /** Time a client spends on one operation, retries included, in ms. */
  opTimeoutMs: number;
  /**
   * Each write carries an idempotency key of its own (kept across the
   * write's retries), so that a duplicated forwarded proposal applies once.
   * @default false
   */
  idempotencyKeys?: boolean;
}

/**
 * How long clients wait for service after a leader change: for each change
 * (a leader in a new term, after the run's first leader) and each client,
 * the time from the change to the end of the client's next successful
 * operation.
 */
export interface FailoverStats {
  /** Leader changes seen while the clients ran. */
  leaderChanges: number;
  /** One per change and client that succeeded after it, in ms, in the order they ended. */
  firstSuccessMs: number[];
  /** Pairs of a change and a client that had no success before the clients stopped. */
  unserved: number;
}

/** Counters of the clients. */
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

type Outcome<O> =
  | { kind: "ok"; output: O }
  | { kind: "indeterminate" }
  | { kind: "not-applied" };

/**
 * Clients that each run a loop of operations until stopped: the
 * simulation waits for the operations in flight and learns the first
 * unexpected error a loop ended with.
 */
export abstract class ClientLoops {
  /** A client-side error that is not an expected request outcome. */
  error: unknown = undefined;
  #stopped = false;
  #inFlight = 0;

  /** Operations in progress. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Whether the clients were told to stop. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Lets each client finish its current operation and start no other. */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Starts the loops of clients 1..`count`, each with a fork of `rand`.
   *
   * @param count The clients.
   * @param rand Forked once per client, in order.
   */
  protected startLoops(count: number, rand: Prng): void {
    for (let c = 1; c <= count; c++) {
      this.loop(c, rand.fork()).catch((e) => {
        this.error ??= e;
      });
    }
  }

  /** An operation started. */
  protected opStarted(): void {
    this.#inFlight++;
  }

  /** An operation ended. */
  protected opEnded(): void {
    this.#inFlight--;
  }

  /**
   * One client's loop.
   *
   * @param client The client's ID, from 1.
   * @param rand The client's randomness.
   */
  protected abstract loop(client: number, rand: Prng): Promise<void>;
}

/** How often a workload may draw a read while looking for a probe write. */
const probeDrawsMax = 1000;

/** The clients of one simulation run and the history they record. */
export class Clients<S extends StateMachine<R>, R, I, O> extends ClientLoops {
  /** The recorded operations. */
  readonly history: Operation<I, O>[] = [];
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
  readonly #access: ClusterAccess<S, R>;
  readonly #rand: Prng;
  readonly #options: ClientsOptions;
  readonly #workload: Workload<S, R, I, O>;
  readonly #describe: (input: I) => string;
  /** Per client (index = ID): times of the leader changes since its last success. */
  readonly #awaiting: number[][];
  #leaderChanges = 0;
  readonly #firstSuccessMs: number[] = [];
  #opSeq = 0;
  /** Writes started, probes included: names their idempotency keys. */
  #writeSeq = 0;

  /**
   * Creates the clients; {@linkcode Clients.start} starts them.
   *
   * @param access The cluster.
   * @param rand The clients' randomness.
   * @param options Shape of the load.
   * @param workload What the clients do.
   * @param describe Describes an operation for the event trace.
   */
  constructor(
    access: ClusterAccess<S, R>,
    rand: Prng,
    options: ClientsOptions,
    workload: Workload<S, R, I, O>,
    describe: (input: I) => string,
  ) {
    super();
    this.#access = access;
    this.#rand = rand;
    this.#options = options;
    this.#workload = workload;
    this.#describe = describe;
    this.#awaiting = Array.from({ length: options.clients + 1 }, () => []);
  }

  /** The time to first success after each leader change, so far. */
  get failover(): FailoverStats {
    let unserved = 0;
    for (let c = 1; c < this.#awaiting.length; c++) unserved += this.#awaiting[c]!.length;
    return {
      leaderChanges: this.#leaderChanges,
      firstSuccessMs: this.#firstSuccessMs.slice(),
      unserved,
    };
  }

  /** A new leader was elected: every client now waits for its first success after it. */
  leaderChanged(): void {
    if (this.stopped) return;
    this.#leaderChanges++;
    const now = this.#access.clock.now;
    for (let c = 1; c < this.#awaiting.length; c++) this.#awaiting[c]!.push(now);
  }

  /** Starts every client's loop. */
  start(): void {
    this.startLoops(this.#options.clients, this.#rand);
  }

  /**
   * Runs one write as client 0, for the liveness check.
   *
   * @param attempt 1 for the first try, then 2, 3, ...
   * @param timeoutMs Time allowed, retries included.
   * @returns Whether the write was acknowledged.
   */
  async probe(attempt: number, timeoutMs: number): Promise<boolean> {
    const rand = this.#rand.fork();
    const w = this.#workload;
    let input: I | undefined = w.probe?.(attempt);
    for (let k = 0; input === undefined && k < probeDrawsMax; k++) {
      const drawn = w.next(rand, 0);
      if ("propose" in w.request(drawn)) input = drawn;
    }
    if (input === undefined) {
      throw new TypeError(
        `Cannot probe liveness: the workload drew no write in ${probeDrawsMax} operations`,
      );
    }
    this.#access.probing(this.#describe(input));
    const out = await this.#run(0, rand, input, timeoutMs, { leader: 0 });
    return out.kind === "ok";
  }

  protected override async loop(client: number, rand: Prng): Promise<void> {
    const clock = this.#access.clock;
    const label = `client${client}`;
    const belief = { leader: 0 as NodeId };
    while (!this.stopped) {
      await clock.sleep(rand.uniform(0, this.#options.thinkMs), label);
      if (this.stopped) break;
      const input = this.#workload.next(rand, client);
      const seq = ++this.#opSeq;
      if (!this.#access.keepOp(seq, client, () => this.#describe(input))) continue;
      const out = await this.#run(client, rand, input, this.#options.opTimeoutMs, belief);
      if (out.kind === "ok") this.#workload.done?.(client, input, out.output);
    }
  }

  /** Runs one operation to its end and records it. */
  async #run(
    client: number,
    rand: Prng,
    input: I,
    opTimeoutMs: number,
    belief: { leader: NodeId },
  ): Promise<Outcome<O>> {
    const clock = this.#access.clock;
    const call = clock.now;
    const req = this.#workload.request(input);
    this.stats.started++;
    this.opStarted();
    let out: Outcome<O>;
    try {
      out = "read" in req
        ? await this.#read(client, rand, req.read, call + opTimeoutMs, belief)
        : await this.#write(client, rand, req, call + opTimeoutMs, belief);
    } finally {
      this.opEnded();
    }
    if (out.kind === "ok") {
      this.stats.completed++;
      this.history.push({ clientId: client, call, return: clock.now, input, output: out.output });
      // Client 0 (the liveness probe) never waits: its list stays empty.
      const waiting = this.#awaiting[client]!;
      for (const t of waiting) this.#firstSuccessMs.push(clock.now - t);
      waiting.length = 0;
    } else if (out.kind === "indeterminate") {
      if ("read" in req) this.stats.readsAbandoned++;
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
    req: Extract<WorkloadRequest<S, R, O>, { propose: Uint8Array }>,
    deadline: number,
    belief: { leader: NodeId },
  ): Promise<Outcome<O>> {
    const clock = this.#access.clock;
    const data = req.propose;
    const key = this.#options.idempotencyKeys === true ? `w${++this.#writeSeq}` : undefined;
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
        const r = await node.raft.propose(
          data,
          key === undefined ? { timeoutMs } : { timeoutMs, idempotencyKey: key },
        );
        return { kind: "ok", output: req.output(r) };
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
        if (
          e instanceof TimeoutError || e instanceof NodeClosedError ||
          e instanceof LeaderChangedError
        ) {
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
    query: (sm: S) => O,
    deadline: number,
    belief: { leader: NodeId },
  ): Promise<Outcome<O>> {
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
        const output = await node.raft.read(() => query(sm), { timeoutMs });
        return { kind: "ok", output };
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
