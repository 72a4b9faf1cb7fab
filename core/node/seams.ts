/**
 * The seams of the driver: what the application hands `RaftNode` (a
 * {@linkcode NodeStorage}, a {@linkcode Transport}, a
 * {@linkcode StateMachine}) and the {@linkcode memoryNodeStorage} wrapper
 * that gives a `MemoryStorage` the write side.
 *
 * @module
 */

import { MemoryStorage, type Storage } from "../storage.ts";
import {
  type ConfState,
  type Entry,
  type HardState,
  type Index,
  isEmptySnap,
  type Message,
  type NodeId,
  type Snapshot,
  type SnapshotStatus,
  type Term,
} from "../types.ts";

/**
 * A snapshot's bytes: one array, or its chunks in order (a
 * `ReadableStream<Uint8Array>` is one on Deno, Bun and Node).
 */
export type SnapshotData = Uint8Array | AsyncIterable<Uint8Array>;

/**
 * The state machine's part of a snapshot held in storage in chunks, beside
 * the Raft snapshot, whose data then carries only the driver's header and
 * this descriptor.
 */
export interface SnapshotDataDescriptor {
  /** Its length in bytes. */
  length: number;
  /** The CRC-32C of all its bytes. */
  checksum: number;
}

/**
 * Chunks of snapshot data being written to a storage's staging area: not
 * part of any snapshot until a snapshot naming its descriptor is saved.
 */
export interface SnapshotStaging {
  /**
   * Appends bytes (the storage may split or join them into its own chunks).
   *
   * @param chunk The next bytes (not kept after the call returns or its Promise settles).
   * @returns Nothing, or a Promise that settles once the bytes are written.
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /**
   * Makes every byte written durable and ends the staging.
   *
   * @returns The staged data's length and CRC-32C (as computed while writing).
   */
  finish(): SnapshotDataDescriptor | Promise<SnapshotDataDescriptor>;
  /**
   * Discards what was staged; nothing of it is ever visible. Never throws.
   *
   * @returns Nothing, or a Promise.
   */
  abort(): void | Promise<void>;
}

/**
 * A storage's store of snapshot data in chunks, so that neither taking,
 * sending, receiving nor restoring a snapshot holds all of it in memory.
 * Data is written to a staging area first; saving a snapshot whose
 * descriptor names staged data (`createSnapshot(…, stored)` or `save()`
 * with `snapshotData`) makes it the stored snapshot's data atomically with
 * the snapshot itself and discards the data of the snapshot it replaces.
 */
export interface SnapshotChunkStore {
  /**
   * Starts staging snapshot data.
   *
   * @returns The staging writer.
   */
  stage(): SnapshotStaging;
  /**
   * Reads snapshot data in chunks, in order: the stored snapshot's, or
   * staged data that `finish()` ended (a snapshot received is restored
   * before it is saved). The iteration throws when the data is discarded
   * (replaced by a newer snapshot) while it is read.
   *
   * @param data The data's descriptor.
   * @returns The chunks.
   * @throws {RangeError} When the store holds no data with this descriptor.
   */
  read(data: SnapshotDataDescriptor): AsyncIterable<Uint8Array>;
}

/**
 * What the driver gives a transport that streams snapshot data: where
 * outgoing snapshots' data is read from and incoming data is written to,
 * in chunks.
 */
export interface SnapshotStreams {
  /**
   * The length of the state machine data that travels beside a snapshot
   * (its data held in storage), or `undefined` when all of it is in
   * `snapshot.data`.
   *
   * @param snap A snapshot in a `MsgSnap`, sent or received.
   * @returns The length in bytes, or `undefined`.
   * @throws {RangeError} When `snap.data` was not written by RaftNode.
   */
  dataBytes(snap: Snapshot): number | undefined;
  /**
   * Reads the data of the local snapshot a `MsgSnap` carries, in chunks.
   *
   * @param snap The snapshot (`dataBytes(snap)` is defined).
   * @returns The chunks; the iteration throws when the snapshot is gone from storage.
   */
  read(snap: Snapshot): AsyncIterable<Uint8Array>;
  /**
   * Starts receiving the data of an incoming snapshot.
   *
   * @param snap The snapshot (`dataBytes(snap)` is defined).
   * @returns Where the data goes: `finish()` checks its length and
   *   checksum and resolves to the snapshot to step (its data staged in
   *   storage, or inlined when the storage keeps no chunks), or rejects
   *   with a `RangeError` (and discards the data) when they do not match.
   */
  receive(snap: Snapshot): SnapshotReceiver;
}

/** The data of one incoming snapshot, received in chunks. */
export interface SnapshotReceiver {
  /**
   * Writes the next bytes.
   *
   * @param chunk The bytes (not kept after the call returns or its Promise settles).
   * @returns Nothing, or a Promise that settles once they are written.
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /**
   * Ends the data, checks it and makes it durable.
   *
   * @returns The snapshot to step.
   */
  finish(): Promise<Snapshot>;
  /**
   * Discards what was received. Never throws.
   *
   * @returns Nothing, or a Promise.
   */
  abort(): void | Promise<void>;
}

/** What a transport hands inbound traffic and delivery outcomes to. */
export interface TransportHandler {
  /** The local node's ID. */
  readonly id: NodeId;
  /**
   * Steps a message received from a peer. Never throws.
   *
   * @param m The message (owned by the node from now on).
   */
  step(m: Message): void;
  /**
   * Reports that a message to a peer could not be delivered.
   *
   * @param id The peer.
   */
  reportUnreachable(id: NodeId): void;
  /**
   * Reports the outcome of sending a snapshot (a `MsgSnap`) to a peer.
   *
   * @param id The peer.
   * @param status `SnapshotFinish` or `SnapshotFailure`.
   */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void;
  /**
   * Snapshot data in chunks, for a transport that streams it (given by
   * `RaftNode` to a transport whose `streamsSnapshots` is true).
   */
  readonly snapshotStreams?: SnapshotStreams;
}

/**
 * Carries messages between nodes. Delivery is best effort: messages may be
 * lost, duplicated or reordered; Raft copes with all of these.
 */
export interface Transport {
  /**
   * Starts delivering inbound messages to the node. Called once, before
   * any other method.
   *
   * @param handler Where to deliver messages and reports.
   */
  start(handler: TransportHandler): void;
  /**
   * Whether the transport carries snapshot data held in storage in chunks
   * (through `handler.snapshotStreams`). When true and the storage has a
   * `snapshotChunks` store, snapshots are taken, sent, received and
   * restored in chunks; otherwise each is one array in its `MsgSnap`.
   */
  readonly streamsSnapshots?: boolean;
  /**
   * Sends messages; must not block. The messages must not be modified.
   *
   * @param messages The messages, each addressed by its `to` field.
   */
  send(messages: readonly Message[]): void;
  /**
   * Learns of a new member (called when the membership change is applied).
   *
   * @param id The member.
   * @param context The context of the change, for example an address.
   */
  addPeer?(id: NodeId, context: Uint8Array): void;
  /**
   * Forgets a removed member.
   *
   * @param id The member.
   */
  removePeer?(id: NodeId): void;
  /**
   * Whether this transport could reach a node added with `context`, asked
   * before a voter is added (a voter nobody can reach counts toward the
   * quorum and can stop the cluster).
   *
   * @param id The node to add.
   * @param context The context of the change.
   * @returns Why the node could not be reached; `undefined` when it could.
   */
  checkPeer?(id: NodeId, context: Uint8Array): string | undefined;
  /** Stops delivering and sending; may return a Promise. */
  close(): void | Promise<void>;
}

/** One Ready's worth of durable state, written by {@linkcode NodeStorage.save}. */
export interface StorageUpdate {
  /** The new HardState, or `undefined` when it did not change. */
  hardState: HardState | undefined;
  /** Entries to append; they replace stored entries at the same indexes and after. */
  entries: readonly Entry[];
  /** A snapshot to install (replacing the log) before the entries, or `undefined`. */
  snapshot: Snapshot | undefined;
  /**
   * The staged data of `snapshot`, held in the storage's `snapshotChunks`
   * store: the write makes it the snapshot's data. Absent when the
   * snapshot's data is all in `snapshot.data`.
   */
  snapshotData?: SnapshotDataDescriptor;
  /**
   * Whether the write must be synced to disk before returning: true when
   * there are entries, the term or vote changed, or a snapshot is installed.
   */
  mustSync: boolean;
}

/**
 * The durable storage the driver reads and writes: the synchronous Raft
 * `Storage` read side, plus the write side. Writes may return a Promise;
 * the driver awaits it before sending the messages that depend on it.
 *
 * `initialState().confState` must be the ConfState of the latest snapshot
 * (membership changes after it are replayed from the log at restart).
 */
export interface NodeStorage extends Storage {
  /**
   * Makes one Ready's state durable, atomically if the storage can: first
   * the snapshot (if any), then the entries, then the HardState.
   *
   * @param update What to write.
   * @returns Nothing, or a Promise that settles once the write is durable.
   */
  save(update: StorageUpdate): void | Promise<void>;
  /**
   * Records a snapshot of the state machine at `index`, which later
   * `snapshot()` calls return.
   *
   * @param index The applied index the data reflects.
   * @param confState The membership at `index`.
   * @param data The snapshot's data.
   * @param stored The data staged in the `snapshotChunks` store that goes
   *   with it (the storage makes it the snapshot's data); only given to a
   *   storage with that store.
   * @returns Anything; a Promise is awaited.
   */
  createSnapshot(
    index: Index,
    confState: ConfState,
    data: Uint8Array,
    stored?: SnapshotDataDescriptor,
  ): unknown;
  /**
   * Optional: keeps the state machine's snapshot data in chunks beside the
   * Raft snapshot, so a state larger than memory can be snapshotted, sent
   * and restored (with a transport that `streamsSnapshots`).
   */
  readonly snapshotChunks?: SnapshotChunkStore;
  /**
   * Discards the entries up to and including `index` (which stays the
   * position the log starts after).
   *
   * @param index At most the latest snapshot's index.
   * @returns Anything; a Promise is awaited.
   */
  compact(index: Index): unknown;
}

/** A command handed to the state machine. */
export interface Command {
  /** Its log index. */
  index: Index;
  /** The term it was proposed in. */
  term: Term;
  /** The data given to `propose()`; must not be modified. */
  data: Uint8Array;
}

/**
 * The application's state machine. Apply must be deterministic: every node
 * applies the same commands in the same order and must reach the same state.
 *
 * @typeParam R The result of applying one command, returned by `propose()`.
 */
export interface StateMachine<R = unknown> {
  /**
   * Applies committed commands, in log order. A command the application
   * refuses should still be "applied" and produce a result saying so;
   * throwing is a fatal error that closes the node.
   *
   * @param commands The commands; never empty.
   * @returns One result per command, in the same order (or a Promise of them).
   */
  apply(commands: readonly Command[]): readonly R[] | Promise<readonly R[]>;
  /**
   * Serializes the state as of the last applied command. Called between
   * Ready batches (nothing is applied meanwhile); should be quick. A large
   * state returns its chunks (an async iterable such as a
   * `ReadableStream<Uint8Array>`), which the driver reads once, in order;
   * they must reflect the state as of the call, whatever is applied while
   * they are read.
   *
   * @returns The snapshot's bytes or chunks (or a Promise of them).
   */
  snapshot(): SnapshotData | Promise<SnapshotData>;
  /**
   * Replaces the whole state with a snapshot's.
   *
   * @param data The snapshot's bytes.
   * @param meta Where the snapshot sits in the log.
   * @returns Nothing, or a Promise.
   */
  restore(data: Uint8Array, meta: { index: Index; term: Term }): void | Promise<void>;
  /**
   * Optional; when present the driver calls it instead of `restore()`, with
   * the chunks as they are read from storage, so a state larger than memory
   * can be restored. It replaces the whole state; when it throws, the node
   * stops (fail-stop), as for `restore()`.
   *
   * @param chunks The snapshot's bytes, in order (read once).
   * @param meta Where the snapshot sits in the log.
   * @returns Nothing, or a Promise.
   */
  restoreStream?(
    chunks: AsyncIterable<Uint8Array>,
    meta: { index: Index; term: Term },
  ): void | Promise<void>;
  /**
   * Only for state machines that keep their state across restarts: the
   * index of the last command applied (or snapshot restored). At restart,
   * commands up to it are not applied again. Without this method the
   * driver restores the latest snapshot and replays the log after it.
   *
   * @returns The index (or a Promise of it).
   */
  appliedIndex?(): Index | Promise<Index>;
}

/**
 * Adds the driver's write side to a {@linkcode MemoryStorage}: `save`
 * applies the snapshot, appends the entries and sets the HardState.
 * `RaftNode.start` does this on its own when handed a `MemoryStorage`.
 *
 * @param ms The memory storage.
 * @returns A NodeStorage backed by `ms`.
 *
 * @example Usage
 * ```ts
 * import { memoryNodeStorage, MemoryStorage, newEntry } from "@raft-ts/raft";
 * const ms = new MemoryStorage();
 * memoryNodeStorage(ms).save({
 *   hardState: { term: 1, vote: 1, commit: 1 },
 *   entries: [newEntry({ term: 1, index: 1 })],
 *   snapshot: undefined,
 *   mustSync: true,
 * });
 * if (ms.lastIndex() !== 1 || ms.hardState.commit !== 1) throw new Error("unexpected");
 * ```
 */
export function memoryNodeStorage(ms: MemoryStorage): NodeStorage {
  return {
    initialState(): { hardState: HardState; confState: ConfState } {
      return ms.initialState();
    },
    entries(lo: Index, hi: Index, maxSize: number): Entry[] {
      return ms.entries(lo, hi, maxSize);
    },
    term(i: Index): Term {
      return ms.term(i);
    },
    lastIndex(): Index {
      return ms.lastIndex();
    },
    firstIndex(): Index {
      return ms.firstIndex();
    },
    snapshot(): Snapshot {
      return ms.snapshot();
    },
    save(u: StorageUpdate): void {
      if (u.snapshot !== undefined && !isEmptySnap(u.snapshot)) ms.applySnapshot(u.snapshot);
      if (u.entries.length > 0) ms.append(u.entries);
      if (u.hardState !== undefined) ms.setHardState(u.hardState);
    },
    createSnapshot(index: Index, confState: ConfState, data: Uint8Array): void {
      ms.createSnapshot(index, confState, data);
    },
    compact(index: Index): void {
      ms.compact(index);
    },
  };
}

/**
 * A NodeStorage that forwards every call to `s`, except the methods
 * `replace` gives (a host's groups save through its batcher; tests plant
 * storage bugs this way).
 *
 * @param s The storage to forward to.
 * @param replace The methods to replace.
 * @returns The wrapper.
 */
export function forwardStorage(s: NodeStorage, replace: Partial<NodeStorage>): NodeStorage {
  return {
    initialState: () => s.initialState(),
    entries: (lo, hi, maxSize) => s.entries(lo, hi, maxSize),
    term: (i) => s.term(i),
    lastIndex: () => s.lastIndex(),
    firstIndex: () => s.firstIndex(),
    snapshot: () => s.snapshot(),
    save: (u) => s.save(u),
    createSnapshot: (i, cs, data, stored) =>
      stored === undefined ? s.createSnapshot(i, cs, data) : s.createSnapshot(i, cs, data, stored),
    compact: (i) => s.compact(i),
    ...(s.snapshotChunks !== undefined ? { snapshotChunks: s.snapshotChunks } : {}),
    ...replace,
  };
}

/**
 * The storage `RaftNode` writes to: `s` itself when it has a write side, a
 * {@linkcode memoryNodeStorage} around a `MemoryStorage`.
 *
 * @param s The storage given in the options.
 * @returns A NodeStorage.
 * @throws {TypeError} `s` has no `save()` method and is not a `MemoryStorage`.
 */
export function toNodeStorage(s: NodeStorage | MemoryStorage): NodeStorage {
  if (typeof (s as Partial<NodeStorage>).save === "function") return s as NodeStorage;
  if (s instanceof MemoryStorage) return memoryNodeStorage(s);
  throw new TypeError("Cannot create RaftNode as 'storage' has no save() method");
}
