/**
 * Simulated durable storage for `RaftNode`: a {@linkcode SimDisk} per node
 * that survives crashes, and a {@linkcode SimStorage} (the `NodeStorage` a
 * node runs on) per run of the node.
 *
 * The disk tells written state from synced state. Every write goes at once
 * to the running node's view (what a process reads back through the page
 * cache) and to the disk's journal of unsynced writes. A write that must be
 * synced completes after the disk's latency (virtual time; longer while the
 * disk is slow), in order, and makes the journal durable up to it. Writes
 * that need no sync return at once and become durable with the next sync or
 * a background flush. A crash keeps the durable state (and, if enabled, a
 * random prefix of the journal, as an ordered disk may have written it
 * back) and loses the rest; the crashed run's storage goes dead: its
 * pending writes never complete and new ones are ignored.
 *
 * @module
 */

import type { NodeStorage, StorageUpdate } from "../core/node.ts";
import { cloneSnapshot, MemoryStorage } from "../core/storage.ts";
import type { ConfState, Entry, HardState, Index, NodeId, Snapshot, Term } from "../core/types.ts";
import type { SimClock } from "./_clock.ts";
import type { Prng } from "./_prng.ts";

/** One write in a disk's journal. */
export type JournalOp =
  | {
    readonly kind: "save";
    readonly hardState: HardState | undefined;
    readonly entries: readonly Entry[];
    readonly snapshot: Snapshot | undefined;
  }
  | {
    readonly kind: "snapshot";
    readonly index: Index;
    readonly confState: ConfState;
    readonly data: Uint8Array;
  }
  | { readonly kind: "compact"; readonly index: Index };

/** Options of a {@linkcode SimDisk}. */
export interface DiskOptions {
  /** Time a synced write takes, in virtual ms. */
  latencyMs: number;
  /** Extra random time per synced write, in `[0, jitterMs)`. */
  jitterMs: number;
  /** Unsynced writes become durable at most this long after they were made. */
  flushIntervalMs: number;
  /** Whether a crash keeps a random prefix of the unsynced journal. */
  crashKeepsPrefix: boolean;
  /**
   * Sync a save that installs a snapshot even when the driver says it
   * need not (`mustSync: false`), as etcd's applications do. Off: the disk
   * honours `mustSync` to the letter.
   */
  syncSnapshots: boolean;
}

/** What the invariant checker is told about a disk. */
export interface DiskObserver {
  /**
   * A write reached a running node's view.
   *
   * @param nodeId The node.
   * @param op The write.
   * @param view The view after it.
   */
  onWrite(nodeId: NodeId, op: JournalOp, view: MemoryStorage): void;
  /**
   * Writes became durable.
   *
   * @param nodeId The node.
   * @param ops The writes, in order.
   * @param durable The durable state after them.
   */
  onDurable(nodeId: NodeId, ops: readonly JournalOp[], durable: MemoryStorage): void;
}

/** Counters of a disk. */
export interface DiskStats {
  /** Writes made. */
  writes: number;
  /** Synced writes completed. */
  syncs: number;
  /** Crashes. */
  crashes: number;
  /** Unsynced writes lost in crashes. */
  lostWrites: number;
}

/**
 * Applies a journal write to a storage.
 *
 * @param ms The storage.
 * @param op The write.
 */
export function applyOp(ms: MemoryStorage, op: JournalOp): void {
  switch (op.kind) {
    case "save":
      if (op.snapshot !== undefined) ms.applySnapshot(op.snapshot);
      if (op.entries.length > 0) ms.append(op.entries);
      if (op.hardState !== undefined) ms.setHardState(op.hardState);
      return;
    case "snapshot":
      ms.createSnapshot(op.index, op.confState, op.data);
      return;
    case "compact":
      ms.compact(op.index);
      return;
  }
}

/**
 * A deep enough copy of a storage's state (entries are immutable and shared).
 *
 * @param src The storage.
 * @returns An independent storage with the same state.
 */
export function cloneStorage(src: MemoryStorage): MemoryStorage {
  const ms = new MemoryStorage();
  ms.hardState = { ...src.hardState };
  ms.snap = cloneSnapshot(src.snap);
  ms.ents = src.ents.slice();
  return ms;
}

/** A node's disk; it outlives the node's runs. */
export class SimDisk {
  /** The node the disk belongs to. */
  readonly nodeId: NodeId;
  /** The durable state: what a crash keeps. */
  readonly durable: MemoryStorage = new MemoryStorage();
  /** Counters. */
  readonly stats: DiskStats = { writes: 0, syncs: 0, crashes: 0, lostWrites: 0 };
  /** Multiplies the latency of synced writes (a slow disk). */
  slowFactor = 1;
  readonly #clock: SimClock;
  readonly #rand: Prng;
  readonly #options: DiskOptions;
  readonly #observer: DiskObserver | undefined;
  readonly #label: string;
  /** Writes made and not yet durable, oldest first. */
  #journal: JournalOp[] = [];
  /** Incremented by each crash; a storage of an older generation is dead. */
  #generation = 0;
  /** When the last synced write completes (syncs complete in order). */
  #lastSyncDue = 0;
  #flushTimer: number | undefined = undefined;

  /**
   * Creates an empty disk.
   *
   * @param nodeId Its node.
   * @param clock The run's clock.
   * @param rand Its randomness (latency jitter, what a crash keeps).
   * @param options Latencies and crash behaviour.
   * @param observer Told about writes and durability.
   */
  constructor(
    nodeId: NodeId,
    clock: SimClock,
    rand: Prng,
    options: DiskOptions,
    observer?: DiskObserver,
  ) {
    this.nodeId = nodeId;
    this.#clock = clock;
    this.#rand = rand;
    this.#options = options;
    this.#observer = observer;
    this.#label = `disk${nodeId}`;
  }

  /** The crash generation; storages of older generations are dead. */
  get generation(): number {
    return this.#generation;
  }

  /** The number of writes made and not yet durable. */
  get unsynced(): number {
    return this.#journal.length;
  }

  /**
   * Opens the disk for a new run of its node: a storage whose view starts
   * from the durable state.
   *
   * @returns The storage.
   */
  open(): SimStorage {
    return new SimStorage(this, cloneStorage(this.durable), this.#generation);
  }

  /**
   * Crashes the disk's node: unsynced writes are lost (except a random
   * prefix, when enabled), and the current storage goes dead.
   */
  crash(): void {
    this.stats.crashes++;
    const keep = this.#options.crashKeepsPrefix ? this.#rand.int(this.#journal.length + 1) : 0;
    const kept = this.#journal.slice(0, keep);
    this.stats.lostWrites += this.#journal.length - keep;
    this.#journal = [];
    this.#generation++;
    this.#lastSyncDue = 0;
    if (this.#flushTimer !== undefined) this.#clock.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#makeDurable(kept);
  }

  /**
   * Records a write made by the storage of `generation`.
   *
   * @param op The write (already applied to the view).
   * @param sync Whether the caller must wait until it is durable.
   * @param generation The writer's generation.
   * @returns `undefined` when no sync is needed, else a Promise that
   *   resolves once the write is durable (never, if the node crashes first).
   */
  write(op: JournalOp, sync: boolean, generation: number): Promise<void> | undefined {
    if (generation !== this.#generation) return new Promise<void>(() => {});
    this.stats.writes++;
    this.#journal.push(op);
    if (!sync) {
      this.#scheduleFlush();
      return undefined;
    }
    const now = this.#clock.now;
    const latency = (this.#options.latencyMs + this.#rand.next() * this.#options.jitterMs) *
      this.slowFactor;
    const due = Math.max(now + latency, this.#lastSyncDue);
    this.#lastSyncDue = due;
    return new Promise<void>((resolve) => {
      this.#clock.setTimeout(
        () => {
          if (generation !== this.#generation) return;
          this.stats.syncs++;
          this.#flushThrough(op);
          resolve();
        },
        due - now,
        this.#label,
      );
    });
  }

  /** Whether snapshot installs are synced whatever `mustSync` says. */
  get syncSnapshots(): boolean {
    return this.#options.syncSnapshots;
  }

  /** Tells the observer about a write to the view. */
  noteWrite(op: JournalOp, view: MemoryStorage): void {
    this.#observer?.onWrite(this.nodeId, op, view);
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = this.#clock.setTimeout(
      () => {
        this.#flushTimer = undefined;
        const ops = this.#journal;
        this.#journal = [];
        this.#makeDurable(ops);
      },
      this.#options.flushIntervalMs,
      this.#label,
    );
  }

  /** Makes the journal durable up to and including `op` (if still there). */
  #flushThrough(op: JournalOp): void {
    const i = this.#journal.indexOf(op);
    if (i < 0) return;
    const ops = this.#journal.slice(0, i + 1);
    this.#journal = this.#journal.slice(i + 1);
    this.#makeDurable(ops);
  }

  #makeDurable(ops: readonly JournalOp[]): void {
    if (ops.length === 0) return;
    for (const op of ops) applyOp(this.durable, op);
    this.#observer?.onDurable(this.nodeId, ops, this.durable);
  }
}

/**
 * The `NodeStorage` of one run of a node, over its {@linkcode SimDisk}.
 * Reads see everything written (synced or not); `save` resolves once the
 * write is durable when the update must be synced.
 */
export class SimStorage implements NodeStorage {
  /** The disk. */
  readonly disk: SimDisk;
  /** What this run reads: the durable state at open, plus every write since. */
  readonly view: MemoryStorage;
  /** The disk generation this storage belongs to. */
  readonly generation: number;

  /**
   * Creates a storage; use {@linkcode SimDisk.open}.
   *
   * @param disk The disk.
   * @param view The initial view.
   * @param generation The disk's current generation.
   */
  constructor(disk: SimDisk, view: MemoryStorage, generation: number) {
    this.disk = disk;
    this.view = view;
    this.generation = generation;
  }

  /** Whether the node crashed since this storage was opened. */
  get dead(): boolean {
    return this.disk.generation !== this.generation;
  }

  /**
   * The state a node starts from.
   *
   * @returns The view's HardState and the ConfState of its snapshot.
   */
  initialState(): { hardState: HardState; confState: ConfState } {
    return this.view.initialState();
  }

  /**
   * Entries of the view.
   *
   * @param lo First index.
   * @param hi One past the last index.
   * @param maxSize Byte limit.
   * @returns The entries.
   */
  entries(lo: Index, hi: Index, maxSize: number): Entry[] {
    return this.view.entries(lo, hi, maxSize);
  }

  /**
   * The term of an entry of the view.
   *
   * @param i An index.
   * @returns Its term.
   */
  term(i: Index): Term {
    return this.view.term(i);
  }

  /**
   * The view's last index.
   *
   * @returns The last index.
   */
  lastIndex(): Index {
    return this.view.lastIndex();
  }

  /**
   * The view's first index.
   *
   * @returns The first index.
   */
  firstIndex(): Index {
    return this.view.firstIndex();
  }

  /**
   * The view's latest snapshot.
   *
   * @returns The latest snapshot.
   */
  snapshot(): Snapshot {
    return this.view.snapshot();
  }

  /**
   * Writes one Ready's state.
   *
   * @param u The update.
   * @returns A Promise when the write must be synced, else nothing.
   */
  save(u: StorageUpdate): Promise<void> | undefined {
    if (this.dead) return new Promise<void>(() => {});
    const op: JournalOp = {
      kind: "save",
      hardState: u.hardState === undefined ? undefined : { ...u.hardState },
      entries: u.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: e.data })),
      snapshot: u.snapshot === undefined ? undefined : cloneSnapshot(u.snapshot),
    };
    applyOp(this.view, op);
    this.disk.noteWrite(op, this.view);
    const sync = u.mustSync || (op.snapshot !== undefined && this.disk.syncSnapshots);
    return this.disk.write(op, sync, this.generation);
  }

  /**
   * Records a snapshot (synced).
   *
   * @param index Its index.
   * @param confState Membership at `index`.
   * @param data The state machine's snapshot.
   * @returns A Promise that resolves once it is durable.
   */
  createSnapshot(index: Index, confState: ConfState, data: Uint8Array): Promise<void> | undefined {
    if (this.dead) return new Promise<void>(() => {});
    const op: JournalOp = {
      kind: "snapshot",
      index,
      confState: structuredClone(confState),
      data: data.slice(),
    };
    applyOp(this.view, op);
    this.disk.noteWrite(op, this.view);
    return this.disk.write(op, true, this.generation);
  }

  /**
   * Compacts the log (not synced: durable with the next sync).
   *
   * @param index The new compacted position.
   */
  compact(index: Index): void {
    if (this.dead) return;
    const op: JournalOp = { kind: "compact", index };
    applyOp(this.view, op);
    this.disk.noteWrite(op, this.view);
    this.disk.write(op, false, this.generation);
  }
}
