/**
 * An in-process network for `RaftNode`s, with fault injection (loss,
 * delay, reordering, duplication, partitions), and a virtual-time
 * scheduler to run nodes and network on simulated time.
 *
 * @module
 */

import { decodeMessage, encodeMessage } from "../../core/codec.ts";
import {
  globalScheduler,
  type Scheduler,
  type TimerHandle,
  type Transport,
  type TransportHandler,
} from "../../core/node.ts";
import { checkNumberOption } from "../../core/node/options.ts";
import { newRand } from "../../core/rand.ts";
import {
  type Entry,
  type Message,
  MessageType,
  type NodeId,
  type Snapshot,
  SnapshotStatus,
} from "../../core/types.ts";
import { nextMacrotask, TimerQueue } from "./_timer_queue.ts";

// ---------------------------------------------------------------------------
// Virtual time

/**
 * A {@linkcode Scheduler} on virtual time: timers fire only when the test
 * advances the clock, in due-time order (ties in the order they were set).
 * After each timer it lets every pending microtask (promise continuation)
 * run, so the asynchronous work a timer starts completes before the next
 * timer fires. Runs are deterministic given deterministic inputs.
 *
 * A node's hop to pending I/O before each Ready that writes to storage
 * ({@linkcode VirtualScheduler.yieldToIo}) is a zero-delay timer too: a
 * node on this clock makes writes only while the clock is driven
 * (`advance(0)` fires what is due now).
 *
 * @example Usage
 * ```ts
 * import { VirtualScheduler } from "@raft-ts/raft/memory";
 * const clock = new VirtualScheduler();
 * const fired: number[] = [];
 * clock.setTimeout(() => fired.push(clock.now), 50);
 * clock.setTimeout(() => fired.push(clock.now), 10);
 * await clock.advance(100);
 * if (fired.join() !== "10,50" || clock.now !== 100) throw new Error("unexpected");
 * ```
 */
export class VirtualScheduler implements Scheduler {
  #now = 0;
  readonly #timers = new TimerQueue();

  /** The current virtual time in milliseconds. */
  get now(): number {
    return this.#now;
  }

  /**
   * The current virtual time in milliseconds (the driver's clock: see
   * `Scheduler.nowMs`).
   *
   * @returns The time.
   */
  nowMs(): number {
    return this.#now;
  }

  /** The number of timers waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Schedules `fn` at `now + delayMs`.
   *
   * @param fn The callback.
   * @param delayMs The delay; negative or non-finite values count as 0.
   * @returns The timer's handle.
   */
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const d = Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0;
    return this.#timers.add(this.#now + d, fn);
  }

  /**
   * Cancels a timer.
   *
   * @param handle A handle from `setTimeout` or `yieldToIo`.
   */
  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === "number") this.#timers.cancel(handle);
  }

  /**
   * Schedules `fn` as a timer of zero delay: it fires at the current
   * virtual time, after the timers already due by then (including other
   * zero-delay ones set earlier), like `setImmediate` after pending I/O.
   * A node yields here before each Ready that writes to storage.
   *
   * @param fn The callback.
   * @returns The timer's handle, for `clearTimeout`.
   */
  yieldToIo(fn: () => void): TimerHandle {
    return this.#timers.add(this.#now, fn);
  }

  /**
   * Advances the clock by `ms`, firing every timer due meanwhile.
   *
   * @param ms The time to advance, in milliseconds.
   * @returns A Promise that settles once the clock reached `now + ms`.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + Math.max(0, ms);
    await nextMacrotask();
    for (;;) {
      const t = this.#timers.peek();
      if (t === undefined || t.due > end) break;
      this.#fire();
      await nextMacrotask();
    }
    this.#now = end;
  }

  /**
   * Advances the clock until `promise` settles, and returns its outcome.
   *
   * @typeParam T The promise's value.
   * @param promise The promise to wait for.
   * @param maxMs The most virtual time to spend.
   * @returns The promise's value.
   * @throws {Error} When the promise does not settle within `maxMs`
   *   (or no timer is left to make progress); or the promise's rejection.
   */
  async run<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    await this.#runWhile(() => !settled, maxMs, "the promise to settle");
    return promise;
  }

  /**
   * Advances the clock until `pred()` holds (checked after each timer).
   *
   * @param pred The condition.
   * @param maxMs The most virtual time to spend.
   * @returns A Promise that settles once `pred()` holds.
   * @throws {Error} When `pred()` does not hold within `maxMs`.
   */
  async until(pred: () => boolean, maxMs = 60_000): Promise<void> {
    await this.#runWhile(() => !pred(), maxMs, "the condition to hold");
  }

  async #runWhile(cont: () => boolean, maxMs: number, what: string): Promise<void> {
    const end = this.#now + maxMs;
    await nextMacrotask();
    while (cont()) {
      const t = this.#timers.peek();
      if (t === undefined || t.due > end) {
        throw new Error(`Cannot wait for ${what}: not reached within ${maxMs} ms of virtual time`);
      }
      this.#fire();
      await nextMacrotask();
    }
  }

  #fire(): void {
    const t = this.#timers.take()!;
    if (t.due > this.#now) this.#now = t.due;
    t.fn();
  }
}

// ---------------------------------------------------------------------------
// Copies

function cloneEntry(e: Entry): Entry {
  return { term: e.term, index: e.index, type: e.type, data: e.data.slice() };
}

function cloneSnapshot(s: Snapshot): Snapshot {
  const cs = s.metadata.confState;
  return {
    data: s.data.slice(),
    metadata: {
      index: s.metadata.index,
      term: s.metadata.term,
      confState: {
        voters: cs.voters.slice(),
        learners: cs.learners.slice(),
        votersOutgoing: cs.votersOutgoing.slice(),
        learnersNext: cs.learnersNext.slice(),
        autoLeave: cs.autoLeave,
      },
    },
  };
}

/**
 * Deep-copies a message, so that sender and receiver share nothing.
 *
 * @param m The message.
 * @returns An independent copy.
 *
 * @example Usage
 * ```ts
 * import { cloneMessage } from "@raft-ts/raft/memory";
 * import { MessageType, newMessage } from "@raft-ts/raft";
 * const m = newMessage({ type: MessageType.MsgApp, entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array([1]) }] });
 * const c = cloneMessage(m);
 * c.entries[0]!.data[0] = 9;
 * if (m.entries[0]!.data[0] !== 1) throw new Error("shared");
 * ```
 */
export function cloneMessage(m: Message): Message {
  return {
    type: m.type,
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map(cloneEntry),
    commit: m.commit,
    vote: m.vote,
    snapshot: m.snapshot === undefined ? undefined : cloneSnapshot(m.snapshot),
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context.slice(),
    responses: m.responses.map(cloneMessage),
  };
}

// ---------------------------------------------------------------------------
// The network

/** Options of {@linkcode MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /**
   * Where delays are scheduled (use the nodes' scheduler).
   * @default {globalScheduler}
   */
  scheduler?: Scheduler;
  /**
   * Seed of the network's random choices (loss, duplication, jitter).
   * @default {1}
   */
  seed?: number;
  /**
   * Probability in `[0, 1]` that a message is lost.
   * @default {0}
   */
  dropRate?: number;
  /**
   * Probability in `[0, 1]` that a delivered message is delivered twice.
   * @default {0}
   */
  duplicateRate?: number;
  /**
   * Delay of every message, in milliseconds. With the global scheduler, `0`
   * delivers on the next microtask, without a timer; with another
   * scheduler every delivery is a timer, so virtual time sees every hop.
   * @default {0}
   */
  delayMs?: number;
  /**
   * Extra random delay in `[0, jitterMs)` per message; reorders messages.
   * @default {0}
   */
  jitterMs?: number;
  /**
   * Round-trip each message through the binary codec (`core/codec.ts`)
   * instead of deep-copying it, as a real transport would.
   * @default {false}
   */
  codec?: boolean;
  /**
   * Messages in flight at most; more are dropped (counted as dropped).
   * @default {100000}
   */
  maxInFlight?: number;
}

/** Counters of a {@linkcode MemoryNetwork}. */
export interface NetworkStats {
  /** Messages handed to the network. */
  sent: number;
  /** Messages handed to a receiver (duplicates included). */
  delivered: number;
  /** Messages lost: random loss, partitions, filters, unknown or closed receivers. */
  dropped: number;
  /** Extra copies delivered. */
  duplicated: number;
}

/** A predicate that keeps (`true`) or drops (`false`) a message. */
export type MessageFilter = (m: Message) => boolean;

function checkRate(name: string, v: number): number {
  return checkNumberOption("configure MemoryNetwork", name, v, "fraction");
}

function checkDelay(name: string, v: number): number {
  return checkNumberOption("configure MemoryNetwork", name, v, "nonNegative");
}

function ids(x: NodeId | readonly NodeId[]): readonly NodeId[] {
  return typeof x === "number" ? [x] : x;
}

/**
 * Connects nodes in one process. Each node gets a {@linkcode Transport}
 * from `connect(id)`. Messages are copied (or encoded and decoded), so nodes
 * never share mutable objects. Faults are under the test's control:
 * random loss, duplication, delay and jitter (seeded), partitions between
 * groups of nodes, isolation of a node, and a filter for anything else.
 * A message to a node that is not connected, or across a partition, is
 * dropped and reported unreachable to its sender; a lost `MsgSnap` is
 * reported as a failed snapshot, a delivered one as finished.
 *
 * @example Two endpoints
 * ```ts
 * import { MemoryNetwork } from "@raft-ts/raft/memory";
 * import { MessageType, newMessage, type Message } from "@raft-ts/raft";
 * const net = new MemoryNetwork();
 * const got: Message[] = [];
 * const handler = (id: number, sink: Message[]) => ({
 *   id,
 *   step: (m: Message) => sink.push(m),
 *   reportUnreachable: () => {},
 *   reportSnapshot: () => {},
 * });
 * const a = net.connect(1);
 * const b = net.connect(2);
 * a.start(handler(1, []));
 * b.start(handler(2, got));
 * a.send([newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 1 })]);
 * await new Promise((r) => setTimeout(r, 0));
 * if (got.length !== 1 || got[0]!.term !== 1) throw new Error("not delivered");
 * a.close();
 * b.close();
 * ```
 */
export class MemoryNetwork {
  readonly #scheduler: Scheduler;
  readonly #rand: () => number;
  readonly #codec: boolean;
  readonly #maxInFlight: number;
  #dropRate: number;
  #duplicateRate: number;
  #delayMs: number;
  #jitterMs: number;
  #filter: MessageFilter | undefined = undefined;
  readonly #endpoints = new Map<NodeId, MemoryEndpoint>();
  /** Cut links, as "from>to". */
  readonly #cut = new Set<string>();
  readonly #isolated = new Set<NodeId>();
  /** Pending delayed deliveries. */
  readonly #timers = new Set<TimerHandle>();
  #inFlight = 0;
  readonly #stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };

  /**
   * Creates a network with no nodes.
   *
   * @param options Faults, delays and the scheduler.
   */
  constructor(options: MemoryNetworkOptions = {}) {
    this.#scheduler = options.scheduler ?? globalScheduler;
    this.#rand = newRand(options.seed ?? 1);
    this.#codec = options.codec ?? false;
    this.#maxInFlight = options.maxInFlight ?? 100_000;
    this.#dropRate = checkRate("dropRate", options.dropRate ?? 0);
    this.#duplicateRate = checkRate("duplicateRate", options.duplicateRate ?? 0);
    this.#delayMs = checkDelay("delayMs", options.delayMs ?? 0);
    this.#jitterMs = checkDelay("jitterMs", options.jitterMs ?? 0);
  }

  /** A copy of the counters. */
  get stats(): NetworkStats {
    return { ...this.#stats };
  }

  /** The IDs of the connected nodes, ascending. */
  get nodes(): NodeId[] {
    return [...this.#endpoints.keys()].sort((a, b) => a - b);
  }

  /**
   * Creates the transport of node `id`. A node restarted after its
   * transport was closed connects again with the same ID.
   *
   * @param id The node's ID.
   * @returns The node's transport.
   * @throws {Error} When a transport for `id` is open already.
   */
  connect(id: NodeId): Transport {
    if (this.#endpoints.has(id)) {
      throw new Error(`Cannot connect node ${id}: it is connected already`);
    }
    const ep = new MemoryEndpoint(id, {
      route: (from, messages) => this.#route(from, messages),
      detach: (from) => this.#detach(from),
    });
    this.#endpoints.set(id, ep);
    return ep;
  }

  /**
   * Cuts every link between a node of `a` and a node of `b`, both ways.
   *
   * @param a A node or group of nodes.
   * @param b Another node or group.
   */
  partition(a: NodeId | readonly NodeId[], b: NodeId | readonly NodeId[]): void {
    for (const x of ids(a)) {
      for (const y of ids(b)) {
        if (x === y) continue;
        this.#cut.add(`${x}>${y}`);
        this.#cut.add(`${y}>${x}`);
      }
    }
  }

  /**
   * Cuts the link from `from` to `to` only (an asymmetric fault).
   *
   * @param from The sender.
   * @param to The receiver.
   */
  cutLink(from: NodeId, to: NodeId): void {
    this.#cut.add(`${from}>${to}`);
  }

  /**
   * Cuts every link to and from a node.
   *
   * @param id The node.
   */
  isolate(id: NodeId): void {
    this.#isolated.add(id);
  }

  /** Restores every link: undoes `partition`, `cutLink` and `isolate`. */
  heal(): void {
    this.#cut.clear();
    this.#isolated.clear();
  }

  /**
   * Tells whether messages from `from` reach `to` (ignoring random loss).
   *
   * @param from The sender.
   * @param to The receiver.
   * @returns `true` when the link is up.
   */
  linked(from: NodeId, to: NodeId): boolean {
    return !this.#isolated.has(from) && !this.#isolated.has(to) && !this.#cut.has(`${from}>${to}`);
  }

  /**
   * Sets the probability that a message is lost.
   *
   * @param rate In `[0, 1]`.
   */
  setDropRate(rate: number): void {
    this.#dropRate = checkRate("dropRate", rate);
  }

  /**
   * Sets the probability that a message is delivered twice.
   *
   * @param rate In `[0, 1]`.
   */
  setDuplicateRate(rate: number): void {
    this.#duplicateRate = checkRate("duplicateRate", rate);
  }

  /**
   * Sets the delay of messages sent from now on.
   *
   * @param delayMs The fixed delay.
   * @param jitterMs The extra random delay bound.
   */
  setDelay(delayMs: number, jitterMs = 0): void {
    this.#delayMs = checkDelay("delayMs", delayMs);
    this.#jitterMs = checkDelay("jitterMs", jitterMs);
  }

  /**
   * Installs a filter run on every message before delivery (`false` drops
   * it), or removes it.
   *
   * @param filter The filter, or `undefined`.
   */
  setFilter(filter: MessageFilter | undefined): void {
    this.#filter = filter;
  }

  /** Cancels every message in flight and disconnects every node. */
  close(): void {
    for (const t of this.#timers) this.#scheduler.clearTimeout(t);
    this.#timers.clear();
    this.#inFlight = 0;
    for (const ep of [...this.#endpoints.values()]) ep.close();
  }

  #detach(ep: MemoryEndpoint): void {
    if (this.#endpoints.get(ep.id) === ep) this.#endpoints.delete(ep.id);
  }

  #route(from: MemoryEndpoint, messages: readonly Message[]): void {
    for (const m of messages) {
      this.#stats.sent++;
      if (!this.linked(from.id, m.to) || !this.#endpoints.has(m.to)) {
        this.#lose(from, m, true);
        continue;
      }
      if (
        (this.#dropRate > 0 && this.#rand() < this.#dropRate) ||
        (this.#filter !== undefined && !this.#filter(m)) ||
        this.#inFlight >= this.#maxInFlight
      ) {
        this.#lose(from, m, false);
        continue;
      }
      this.#dispatch(from, m);
      if (this.#duplicateRate > 0 && this.#rand() < this.#duplicateRate) {
        this.#stats.duplicated++;
        this.#dispatch(from, m);
      }
    }
  }

  #copy(m: Message): Message {
    return this.#codec ? decodeMessage(encodeMessage(m)) : cloneMessage(m);
  }

  #dispatch(from: MemoryEndpoint, m: Message): void {
    const copy = this.#copy(m);
    const delay = this.#delayMs + (this.#jitterMs > 0 ? this.#rand() * this.#jitterMs : 0);
    this.#inFlight++;
    if (delay === 0 && this.#scheduler === globalScheduler) {
      // No timer: real timers of 0 ms are clamped to a few milliseconds.
      queueMicrotask(() => this.#deliver(from, copy));
      return;
    }
    const handle = this.#scheduler.setTimeout(() => {
      this.#timers.delete(handle);
      this.#deliver(from, copy);
    }, delay);
    this.#timers.add(handle);
  }

  #deliver(from: MemoryEndpoint, m: Message): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    const to = this.#endpoints.get(m.to);
    // The link may have been cut, or the receiver closed, meanwhile.
    if (to === undefined || !this.linked(from.id, m.to)) {
      this.#lose(from, m, true);
      return;
    }
    this.#stats.delivered++;
    to.deliver(m);
    if (m.type === MessageType.MsgSnap) from.report(m.to, SnapshotStatus.SnapshotFinish);
  }

  #lose(from: MemoryEndpoint, m: Message, unreachable: boolean): void {
    this.#stats.dropped++;
    if (m.type === MessageType.MsgSnap) {
      queueMicrotask(() => from.report(m.to, SnapshotStatus.SnapshotFailure));
    } else if (unreachable) {
      queueMicrotask(() => from.report(m.to, undefined));
    }
  }
}

/** What an endpoint calls its network for. */
interface EndpointHooks {
  route(from: MemoryEndpoint, messages: readonly Message[]): void;
  detach(from: MemoryEndpoint): void;
}

/** One node's end of a {@linkcode MemoryNetwork}. */
class MemoryEndpoint implements Transport {
  readonly id: NodeId;
  readonly #net: EndpointHooks;
  #handler: TransportHandler | undefined = undefined;
  #closed = false;

  constructor(id: NodeId, net: EndpointHooks) {
    this.#net = net;
    this.id = id;
  }

  start(handler: TransportHandler): void {
    if (handler.id !== this.id) {
      throw new Error(`Cannot start the transport of node ${this.id} for node ${handler.id}`);
    }
    this.#handler = handler;
  }

  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    this.#net.route(this, messages);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    this.#net.detach(this);
  }

  /** Hands a message to the node. */
  deliver(m: Message): void {
    if (!this.#closed) this.#handler?.step(m);
  }

  /** Reports a delivery outcome to the node: a snapshot status, or unreachable. */
  report(to: NodeId, status: SnapshotStatus | undefined): void {
    const h = this.#handler;
    if (this.#closed || h === undefined) return;
    if (status === undefined) h.reportUnreachable(to);
    else h.reportSnapshot(to, status);
  }
}
