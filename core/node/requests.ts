/**
 * The driver's request bookkeeping: every promise handed to a caller of
 * `RaftNode` waits here until the Ready loop settles it. Proposals and
 * membership changes by sequence number (and by the log index they were
 * appended at), queues of requests not yet stepped into Raft, ReadIndex
 * requests and the reads waiting for their index to be applied,
 * leadership transfers and leader waits. Requests expire by ticks of the
 * node's clock, and all are rejected when the node closes.
 *
 * @module
 */

import { BusyError, ProposalDroppedError, TimeoutError } from "../errors.ts";
import { cloneConfState } from "../storage.ts";
import type { ConfChangeV2, ConfState, Index, NodeId } from "../types.ts";
import type { MembershipIntent } from "./envelope.ts";
import { isJoint } from "./membership.ts";
import { checkNumberOption, type RequestOptions } from "./options.ts";

/** A caller's promise and when it times out. */
export interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
  /** The tick at which the request times out. */
  deadline: number;
  timeoutMs: number;
}

/** A proposal, from `propose()` until its outcome. */
export interface PendingProposal<R> extends Waiter<R> {
  seq: number;
  /** The leader a follower forwarded it to; `undefined` until forwarded. */
  forwardedTo: NodeId | undefined;
  /** The entry data, envelope included. */
  data: Uint8Array;
  /** The index the entry was appended at, once seen in a Ready. */
  index: Index | undefined;
}

/** A membership change, from the request until its outcome. */
export interface PendingConfChange extends Waiter<ConfState> {
  seq: number;
  /** The leader a follower forwarded it to; `undefined` until forwarded. */
  forwardedTo: NodeId | undefined;
  cc: ConfChangeV2;
  intents: readonly MembershipIntent[];
  index: Index | undefined;
}

/** A linearizable read. */
export interface ReadWaiter extends Waiter<unknown> {
  query: (() => unknown) | undefined;
  /** The read index, once known. */
  index: Index | undefined;
}

/** A leadership transfer, settled when `target` is seen as the leader. */
export interface TransferWaiter extends Waiter<void> {
  target: NodeId;
}

/** Rejects the waiters past their deadline with a TimeoutError; returns the others. */
function expireWaiters<W extends Waiter<never>>(ws: W[], now: number, what: string): W[] {
  if (!ws.some((w) => w.deadline <= now)) return ws;
  const keep: W[] = [];
  for (const w of ws) {
    if (w.deadline <= now) w.reject(new TimeoutError(what, w.timeoutMs));
    else keep.push(w);
  }
  return keep;
}

/** The bounds and clock of the bookkeeping. */
export interface RequestLimits {
  /** Milliseconds per tick: deadlines are counted in ticks. */
  tickMs: number;
  /** The timeout of a request that names none. */
  requestTimeoutMs: number;
  /** Proposals and membership changes pending at most. */
  maxPendingProposals: number;
  /** Reads, transfers and leader waits pending at most. */
  maxPendingReads: number;
}

/**
 * The requests of one node that wait for an outcome (the counterpart of
 * etcd's `wait`), and the clock their deadlines count on.
 *
 * @typeParam R The result of applying one command.
 */
export class Requests<R> {
  readonly #limits: RequestLimits;
  /** Ticks since start; the clock of the request deadlines. */
  #ticks = 0;
  /** The last sequence number handed out (proposals, changes, ReadIndex requests). */
  #seq = 0;

  /** Proposals and membership changes by sequence number, until settled. */
  readonly #pending = new Map<number, PendingProposal<R> | PendingConfChange>();
  /** Proposals not yet stepped into Raft, oldest first. */
  #proposalQueue: PendingProposal<R>[] = [];
  /** Membership changes not yet proposed, oldest first. */
  #confQueue: PendingConfChange[] = [];
  /** The membership change proposed and not yet applied. */
  #confInFlight: PendingConfChange | undefined = undefined;
  /** Changes applied into a joint configuration, settled when it is left. */
  #jointWaiters: PendingConfChange[] = [];
  /** Sequence numbers of this run's entries, by the index they were appended at. */
  readonly #indexed = new Map<Index, number>();

  /** Reads not yet requested from Raft. */
  #readQueue: ReadWaiter[] = [];
  /** Reads by the sequence number of their ReadIndex request. */
  readonly #readRequests = new Map<number, ReadWaiter[]>();
  /** When and to which leader each ReadIndex request in `#readRequests` was sent. */
  readonly #readSent = new Map<number, { tick: number; leader: NodeId }>();
  /** Reads with a known read index, waiting for it to be applied. */
  #readsWaiting: ReadWaiter[] = [];
  #transfers: TransferWaiter[] = [];
  #leaderWaiters: Waiter<NodeId>[] = [];

  /**
   * Creates empty bookkeeping.
   *
   * @param limits Bounds and the tick length.
   */
  constructor(limits: RequestLimits) {
    this.#limits = limits;
  }

  /** Ticks since start: the clock of the deadlines. */
  get ticks(): number {
    return this.#ticks;
  }

  /** @returns The next sequence number. */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** Proposals and membership changes waiting for their outcome. */
  get proposalCount(): number {
    return this.#pending.size;
  }

  /** Reads, transfers and leader waits waiting for their outcome. */
  get readCount(): number {
    let n = this.#readQueue.length + this.#readsWaiting.length + this.#transfers.length +
      this.#leaderWaiters.length;
    for (const ws of this.#readRequests.values()) n += ws.length;
    return n;
  }

  /**
   * @param kind Which bound: proposals (and changes), or reads (and transfers, leader waits).
   * @param what The request, for the message.
   * @returns A BusyError when that bound is reached, else `undefined`.
   */
  busy(kind: "proposals" | "reads", what: string): BusyError | undefined {
    const [count, limit] = kind === "proposals"
      ? [this.proposalCount, this.#limits.maxPendingProposals]
      : [this.readCount, this.#limits.maxPendingReads];
    return count >= limit ? new BusyError(what, limit) : undefined;
  }

  /**
   * Starts a request with the caller's timeout (checked now, so a bad one
   * throws at once): `enqueue` files the waiter where the loop settles it.
   *
   * @param options The caller's timeout.
   * @param enqueue Files the waiter.
   * @returns The request's promise.
   * @throws {RangeError} The timeout is not a positive number.
   */
  start<T>(options: RequestOptions, enqueue: (w: Waiter<T>) => void): Promise<T> {
    const timeoutMs = checkNumberOption(
      "start the request",
      "timeoutMs",
      options.timeoutMs ?? this.#limits.requestTimeoutMs,
      "positive",
    );
    const deadline = this.#ticks + Math.max(1, Math.ceil(timeoutMs / this.#limits.tickMs));
    return new Promise<T>((resolve, reject) => {
      enqueue({ resolve, reject, deadline, timeoutMs });
    });
  }

  /** Files a proposal, to be stepped into Raft by the loop. */
  queueProposal(w: Waiter<R>, seq: number, data: Uint8Array): void {
    const p: PendingProposal<R> = { ...w, seq, data, index: undefined, forwardedTo: undefined };
    this.#pending.set(seq, p);
    this.#proposalQueue.push(p);
  }

  /** Files a membership change, to be proposed by the loop. */
  queueConfChange(
    w: Waiter<ConfState>,
    seq: number,
    cc: ConfChangeV2,
    intents: readonly MembershipIntent[],
  ): void {
    const p: PendingConfChange = {
      ...w,
      seq,
      cc,
      intents,
      index: undefined,
      forwardedTo: undefined,
    };
    this.#pending.set(seq, p);
    this.#confQueue.push(p);
  }

  /** Files a read, to be requested from Raft by the loop. */
  queueRead(w: Waiter<unknown>, query: (() => unknown) | undefined): void {
    this.#readQueue.push({ ...w, query, index: undefined });
  }

  /** Files a leadership transfer to `target`. */
  addTransfer(w: Waiter<void>, target: NodeId): void {
    this.#transfers.push({ ...w, target });
  }

  /** Files a wait for a leader. */
  addLeaderWaiter(w: Waiter<NodeId>): void {
    this.#leaderWaiters.push(w);
  }

  /** Advances the clock of the deadlines by one tick. */
  tick(): void {
    this.#ticks++;
  }

  /** Rejects requests past their deadline with a TimeoutError. */
  expire(): void {
    const now = this.#ticks;
    let expired = false;
    for (const [seq, p] of this.#pending) {
      if (p.deadline > now) continue;
      expired = true;
      const what = "cc" in p ? "membership change" : "proposal";
      this.settle(seq, (q) => q.reject(new TimeoutError(what, q.timeoutMs)));
    }
    if (expired) {
      this.#proposalQueue = this.#proposalQueue.filter((p) => this.#pending.has(p.seq));
      this.#confQueue = this.#confQueue.filter((p) => this.#pending.has(p.seq));
      this.#jointWaiters = this.#jointWaiters.filter((p) => this.#pending.has(p.seq));
    }
    this.#readQueue = expireWaiters(this.#readQueue, now, "read");
    this.#readsWaiting = expireWaiters(this.#readsWaiting, now, "read");
    for (const [seq, ws] of this.#readRequests) {
      const keep = expireWaiters(ws, now, "read");
      if (keep.length > 0) {
        this.#readRequests.set(seq, keep);
      } else {
        this.#readRequests.delete(seq);
        this.#readSent.delete(seq);
      }
    }
    this.#transfers = expireWaiters(this.#transfers, now, "leadership transfer");
    this.#leaderWaiters = expireWaiters(this.#leaderWaiters, now, "wait for a leader");
  }

  /**
   * Ends a proposal or membership change: forgets it, then hands it to
   * `settle`. A no-op for one already settled.
   */
  settle(seq: number, settle: (p: PendingProposal<R> | PendingConfChange) => void): void {
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    this.#pending.delete(seq);
    if (p.index !== undefined && this.#indexed.get(p.index) === seq) this.#indexed.delete(p.index);
    if (this.#confInFlight === p) this.#confInFlight = undefined;
    settle(p);
  }

  /** @returns Whether the proposal or change `seq` waits for its outcome. */
  isPending(seq: number): boolean {
    return this.#pending.has(seq);
  }

  /** @returns The pending membership change `seq`, if any. */
  pendingConfChange(seq: number): PendingConfChange | undefined {
    return this.#pending.get(seq) as PendingConfChange | undefined;
  }

  /** Whether proposals wait to be stepped into Raft. */
  get hasQueuedProposals(): boolean {
    return this.#proposalQueue.length > 0;
  }

  /** Whether membership changes wait to be proposed. */
  get hasQueuedConfChanges(): boolean {
    return this.#confQueue.length > 0;
  }

  /** Whether reads wait to be requested from Raft. */
  get hasQueuedReads(): boolean {
    return this.#readQueue.length > 0;
  }

  /** @returns The queued proposals, oldest first; the queue is then empty. */
  takeProposals(): PendingProposal<R>[] {
    const queue = this.#proposalQueue;
    this.#proposalQueue = [];
    return queue;
  }

  /** @returns The queued membership changes, oldest first; the queue is then empty. */
  takeConfChanges(): PendingConfChange[] {
    const queue = this.#confQueue;
    this.#confQueue = [];
    return queue;
  }

  /** @returns The oldest queued membership change, taken off the queue. */
  nextConfChange(): PendingConfChange | undefined {
    return this.#confQueue.shift();
  }

  /** @returns The queued reads, oldest first; the queue is then empty. */
  takeReads(): ReadWaiter[] {
    const queue = this.#readQueue;
    this.#readQueue = [];
    return queue;
  }

  /** The membership change proposed and not yet applied. */
  get confInFlight(): PendingConfChange | undefined {
    return this.#confInFlight;
  }

  set confInFlight(p: PendingConfChange | undefined) {
    this.#confInFlight = p;
  }

  /** Files reads under the sequence number of the ReadIndex request that serves them. */
  awaitReadIndex(seq: number, reads: ReadWaiter[], leader: NodeId): void {
    this.#readRequests.set(seq, reads);
    this.#readSent.set(seq, { tick: this.#ticks, leader });
  }

  /**
   * Puts the reads of some ReadIndex requests back in the queue, to be
   * asked again of the current leader; a late answer to an old request is
   * ignored. Which: those sent at least `ageTicks` ago, or those sent to
   * another leader than `leader`.
   *
   * @returns How many reads were queued again.
   */
  requeueReadIndexes(which: { ageTicks: number } | { leader: NodeId }): number {
    let n = 0;
    const again: ReadWaiter[] = [];
    for (const [seq, ws] of this.#readRequests) {
      const sent = this.#readSent.get(seq)!;
      if (
        "ageTicks" in which
          ? this.#ticks - sent.tick < which.ageTicks
          : sent.leader === which.leader
      ) {
        continue;
      }
      this.#readRequests.delete(seq);
      this.#readSent.delete(seq);
      again.push(...ws);
      n += ws.length;
    }
    if (n > 0) this.#readQueue = [...again, ...this.#readQueue];
    return n;
  }

  /**
   * Rejects every request queued and not yet handed to Raft: proposals,
   * membership changes and reads.
   *
   * @param error Makes the error for one of them.
   */
  rejectQueued(error: (what: string) => Error): void {
    for (const p of this.takeProposals()) this.settle(p.seq, (q) => q.reject(error("proposal")));
    for (const p of this.takeConfChanges()) {
      this.settle(p.seq, (q) => q.reject(error("membership change")));
    }
    for (const w of this.takeReads()) w.reject(error("read"));
  }

  /**
   * Rejects the proposals and membership changes forwarded to another
   * leader than `leader`, which this node has not seen appended: their
   * outcome is unknown.
   *
   * @param leader The current leader.
   * @param error Makes the error for one of them.
   */
  rejectForwarded(
    leader: NodeId,
    error: (p: PendingProposal<R> | PendingConfChange) => Error,
  ): void {
    for (const [seq, p] of [...this.#pending]) {
      if (p.forwardedTo === undefined || p.forwardedTo === leader || p.index !== undefined) {
        continue;
      }
      this.settle(seq, (q) => q.reject(error(q)));
    }
  }

  /**
   * Learns the read index of ReadIndex request `seq`: its reads now wait
   * for that index to be applied.
   *
   * @returns Whether the request was known.
   */
  readIndexKnown(seq: number, index: Index): boolean {
    const ws = this.#readRequests.get(seq);
    if (ws === undefined) return false;
    this.#readRequests.delete(seq);
    this.#readSent.delete(seq);
    for (const w of ws) w.index = index;
    this.#readsWaiting.push(...ws);
    return true;
  }

  /** Settles the reads whose read index is at most `applied`. */
  settleReads(applied: Index): void {
    if (this.#readsWaiting.length === 0) return;
    const keep: ReadWaiter[] = [];
    for (const w of this.#readsWaiting) {
      if (w.index === undefined || w.index > applied) {
        keep.push(w);
        continue;
      }
      try {
        w.resolve(w.query === undefined ? undefined : w.query());
      } catch (e) {
        w.reject(e);
      }
    }
    this.#readsWaiting = keep;
  }

  /** Settles the leader waits, and the transfers to `lead`, once a leader is known. */
  leaderKnown(lead: NodeId): void {
    for (const w of this.#leaderWaiters) w.resolve(lead);
    this.#leaderWaiters = [];
    const keep: TransferWaiter[] = [];
    for (const t of this.#transfers) {
      if (t.target === lead) t.resolve();
      else keep.push(t);
    }
    this.#transfers = keep;
  }

  /** Records that the entry of pending request `seq` was appended at `index`. */
  appended(seq: number, index: Index): void {
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    p.index = index;
    this.#indexed.set(index, seq);
  }

  /**
   * The entry committed at `index` belongs to request `seq` (or to none):
   * a different request of this run appended there is lost, and rejected
   * with ProposalDroppedError.
   */
  committed(index: Index, seq: number | undefined): void {
    const s = this.#indexed.get(index);
    if (s === undefined) return;
    this.#indexed.delete(index);
    if (s !== seq) this.settle(s, (p) => p.reject(new ProposalDroppedError()));
  }

  /** Forgets where entries up to `index` were appended (a snapshot replaced them). */
  forgetIndexesThrough(index: Index): void {
    for (const i of [...this.#indexed.keys()]) if (i <= index) this.#indexed.delete(i);
  }

  /**
   * A membership change was applied and the membership is now `cs`: the
   * change `p` of this run settles (once the joint configuration it
   * entered, if any, is left), and so do the earlier ones waiting for
   * a joint configuration to be left.
   */
  confChangeApplied(p: PendingConfChange | undefined, cs: ConfState): void {
    if (p !== undefined) {
      if (isJoint(cs)) {
        this.#jointWaiters.push(p);
      } else {
        this.settle(p.seq, (q) => (q as PendingConfChange).resolve(cloneConfState(cs)));
      }
    }
    if (!isJoint(cs) && this.#jointWaiters.length > 0) {
      const ws = this.#jointWaiters;
      this.#jointWaiters = [];
      for (const w of ws) {
        this.settle(w.seq, (q) => (q as PendingConfChange).resolve(cloneConfState(cs)));
      }
    }
  }

  /** Rejects every request with `error()`, proposals and changes first, then reads and waits. */
  rejectAll(error: () => Error): void {
    for (const seq of [...this.#pending.keys()]) this.settle(seq, (p) => p.reject(error()));
    this.#proposalQueue = [];
    this.#confQueue = [];
    this.#jointWaiters = [];
    const waiters: Waiter<never>[] = [
      ...this.#readQueue,
      ...this.#readsWaiting,
      ...[...this.#readRequests.values()].flat(),
      ...this.#transfers,
      ...this.#leaderWaiters,
    ] as Waiter<never>[];
    this.#readQueue = [];
    this.#readsWaiting = [];
    this.#readRequests.clear();
    this.#readSent.clear();
    this.#transfers = [];
    this.#leaderWaiters = [];
    for (const w of waiters) w.reject(error());
  }
}
