/**
 * `SqliteStorage`: Raft's durable log, HardState and snapshot in one SQLite
 * database file per node.
 *
 * @module
 */

import { RaftInvariantError } from "../../core/_assert.ts";
import {
  encodeEntryFrames,
  encodeFrame,
  encodeHardState,
  encodeSnapshot,
} from "../../core/codec.ts";
import { CompactedError, SnapOutOfDateError, UnavailableError } from "../../core/errors.ts";
import { discardLogger, type Logger } from "../../core/logger.ts";
import type {
  NodeStorage,
  SnapshotChunkStore,
  SnapshotDataDescriptor,
  StorageUpdate,
} from "../../core/node.ts";
import { cloneConfState, cloneSnapshot } from "../../core/storage.ts";
import {
  type ConfState,
  type Entry,
  type HardState,
  type Index,
  isEmptySnap,
  newHardState,
  newSnapshot,
  type Snapshot,
  type Term,
} from "../../core/types.ts";
import { entrySize } from "../../core/util.ts";
import { TailCache } from "./_cache.ts";
import type { SqliteDatabaseLike, SqliteStatementLike } from "./_database.ts";
import { earlierWriteFailed, SqliteStorageError, toStorageError } from "./_errors.ts";
import { dummyRecord, loadLog, openLogFile, prepareStatements, type Statements } from "./_load.ts";
import { type SqliteStorageOptions, type StorageLimits, storageLimits } from "./_options.ts";
import { type DecodedRow, decodeRow, type LogRow, toRows } from "./_rows.ts";
import { fileTables, type LogTables } from "./_tables.ts";
import {
  emptyPlan,
  preallocateWal,
  SqliteWriter,
  type WritePlan,
  type WriteTransactions,
} from "./_writer.ts";
import { WriterThread } from "./_writer_thread.ts";
import { openSnapshotChunks, SqliteSnapshotChunks } from "./_snapshot_chunks.ts";

/** Decoded rows kept for reads below the tail cache (see `#rowHolding`). */
const keptRowsMax = 4;

/**
 * Where a group's storage lives in a host's file: its tables, and the
 * transactions of the connection every group of the host shares, or the
 * host's writer thread. Such a storage owns neither the connection nor
 * the thread.
 */
export interface GroupBinding {
  /** The group's tables. */
  readonly tables: LogTables;
  /** The host connection's transactions. */
  readonly tx: WriteTransactions;
  /**
   * The host's writer thread, when writes run there: every write of the
   * group goes to it, in the one queue of the host's writes.
   */
  readonly thread?: WriterThread | undefined;
}

/**
 * A save checked and encoded, not written yet: `apply` it in a
 * transaction (or send `plan` to the writer thread), then `done()`.
 */
export interface PlannedSave {
  /** The changes. */
  readonly plan: WritePlan;
  /** Writes the plan inside the caller's transaction (inline writes only). */
  apply(): void;
  /** Whether the plan must be synced. */
  readonly sync: boolean;
  /**
   * Shows the write in the read side: once its transaction committed, or,
   * with a writer thread, before it is sent (its entries stay pinned in
   * memory until it settles).
   */
  done(): void;
}

/** What a planned write changes in the read side once it is written. */
interface PlannedView {
  /** The snapshot installed, if any. */
  snap: Snapshot | undefined;
  /** Its staged data, if any. */
  dataId: number | undefined;
  offset: Index;
  offsetTerm: Term;
  last: Index;
  /** The first index appended, when entries are. */
  appendFrom: Index | undefined;
  entries: readonly Entry[];
  /** Entries skipped at the front (already compacted). */
  skip: number;
  hardState: HardState;
}

/** The binding the next constructed storage takes (see {@linkcode openGroupStorage}). */
let pendingGroup: GroupBinding | undefined;
/** Set by `SqliteStorage`'s static block: plans a save of a group storage. */
let planSaveOf: (s: SqliteStorage, update: StorageUpdate) => PlannedSave | undefined;

/**
 * Opens the storage of one group of a host's file, on the host's
 * connection: the same reads, checks and writes as a file's storage, on
 * the group's own tables, with the host's transactions.
 *
 * @param db The host's connection (not owned by the group's storage).
 * @param binding The group's tables and the host's transactions.
 * @param options The name for messages and the cache bounds.
 * @returns The group's storage; `close()` frees its statements only.
 * @throws {SqliteStorageError} When a record of the group is missing or corrupt.
 */
export function openGroupStorage(
  db: SqliteDatabaseLike,
  binding: GroupBinding,
  options: SqliteStorageOptions,
): SqliteStorage {
  pendingGroup = binding;
  try {
    return new SqliteStorage(db, { ...options, writer: "inline" });
  } finally {
    pendingGroup = undefined;
  }
}

/**
 * Checks and encodes a save of a group storage without writing it, so
 * that the saves of many groups go in one transaction.
 *
 * @param s The group's storage.
 * @param update The save.
 * @returns The planned save, or `undefined` when it writes nothing.
 * @throws As `save` does before it writes.
 */
export function planGroupSave(s: SqliteStorage, update: StorageUpdate): PlannedSave | undefined {
  return planSaveOf(s, update);
}

/** The arguments of the write a `save` makes. */
function saveArgs(update: StorageUpdate): {
  action: string;
  hardState: HardState | undefined;
  entries: readonly Entry[];
  snap: Snapshot | undefined;
  sync: boolean;
  stored: SnapshotDataDescriptor | undefined;
} {
  const snap = update.snapshot !== undefined && !isEmptySnap(update.snapshot)
    ? update.snapshot
    : undefined;
  return {
    action: "save raft state",
    hardState: update.hardState,
    entries: update.entries,
    snap,
    sync: update.mustSync || update.entries.length > 0 || snap !== undefined,
    stored: snap !== undefined ? update.snapshotData : undefined,
  };
}

function checkIndex(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`Cannot use ${what}: not a non-negative safe integer: ${v}`);
  }
}

/**
 * Raft's durable storage in an SQLite database: the log, the HardState and
 * the latest snapshot of one node, in one file. It implements the driver's
 * `NodeStorage` (`save` per Ready, `createSnapshot`, `compact`) and, like
 * `MemoryStorage`, the `Storage` read side with the same results and errors,
 * plus `append`, `setHardState` and `applySnapshot` for a hand-written
 * Ready loop.
 *
 * Durability: the database runs in WAL mode with `synchronous=FULL`, so a
 * write call returns only after SQLite has synced it; each write call
 * (`save` with its snapshot, entries and HardState together) is one
 * transaction, so a crash leaves either all of it or none of it, and the
 * entries of one call are one row (their checksummed records back to back),
 * so a Ready costs one INSERT whatever its size. The one
 * exception is `save` with `mustSync: false` (a Ready that only moves the
 * commit index, which Raft does not require to be durable; etcd does not
 * sync it either): it is committed with `synchronous=NORMAL`, without a
 * sync of its own, and becomes durable with the next synced write. A crash
 * may lose it, never a synced write after it.
 *
 * Integrity: every record (entry, HardState, snapshot) is stored in the
 * codec's checksummed frame. Opening the storage reads and checks every
 * record and refuses, with a {@linkcode SqliteStorageError}, a file that is
 * not a raft-ts log, a schema version it does not know, a record that fails
 * its checksum, a gap in the log, or a HardState that commits past the last
 * entry. Nothing is repaired or dropped.
 *
 * Reads of the recent tail of the log are served from memory (see
 * `cacheEntriesMax`), so sending and applying entries just written costs no
 * query.
 *
 * The storage takes the connection over: `close()` closes it, as does a
 * failed constructor. Methods are synchronous, like both SQLite drivers,
 * unless the storage writes on a thread of its own (`writer: "worker"`):
 * then the event loop keeps running while SQLite commits and syncs, every
 * write shows in the read side at once (entries not yet durable stay in
 * memory whatever the cache bounds), and `save`, `append`, `setHardState`
 * and `applySnapshot` return a Promise of their durability (see
 * {@linkcode SqliteStorageOptions.writer}).
 *
 * @example A storage on the runtime's SQLite driver
 * ```ts
 * import { openSqliteStorage } from "@raft-ts/raft/sqlite";
 * import { newEntry } from "@raft-ts/raft";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "raft-"));
 * let storage = await openSqliteStorage(join(dir, "node-1.db"));
 * storage.save({
 *   hardState: { term: 1, vote: 1, commit: 1 },
 *   entries: [newEntry({ term: 1, index: 1, data: new Uint8Array([42]) })],
 *   snapshot: undefined,
 *   mustSync: true,
 * });
 * storage.close();
 *
 * storage = await openSqliteStorage(join(dir, "node-1.db"), { create: false });
 * if (storage.lastIndex() !== 1 || storage.initialState().hardState.commit !== 1) {
 *   throw new Error("unexpected");
 * }
 * storage.close();
 * rmSync(dir, { recursive: true });
 * ```
 */
export class SqliteStorage implements NodeStorage {
  readonly #db: SqliteDatabaseLike;
  readonly #path: string;
  readonly #logger: Logger;
  #stmts: Statements | undefined;
  /** The saved HardState. */
  #hardState: HardState = newHardState();
  /** The latest snapshot (its data included). */
  #snap: Snapshot = newSnapshot();
  /** The compacted position: the log holds entries `(#offset, #last]`. Row `#offset` is the dummy. */
  #offset: Index = 0;
  /** The term at `#offset`. */
  #offsetTerm: Term = 0;
  /** The last index; `#offset` when the log is empty. */
  #last: Index = 0;
  /** The tail of the log; always ends at `#last`, never holds `#offset` or older. */
  readonly #cache: TailCache;
  #closed = false;
  readonly #snapshotChunkBytes: number;
  /** Snapshot data in chunks (set by `#open`). */
  #chunks: SqliteSnapshotChunks | undefined;
  /** The inline writer (on `#db`), when `writer` is `"inline"`. */
  #writer: SqliteWriter | undefined;
  /** The writer thread, when `writer` is `"worker"`. */
  #thread: WriterThread | undefined;
  /**
   * The rows `entries()` and `term()` read last (below the cache), most
   * recent last, at most `keptRowsMax`; dropped by every write and by `close()`.
   */
  #keptRows: DecodedRow[] = [];
  /** Set when the storage is one group's in a host's file. */
  readonly #group: GroupBinding | undefined;
  /** With a host's writer thread: the group's tables and pin key, sent with each write. */
  #log: { tables: LogTables; key: object } | undefined;

  static {
    planSaveOf = (s, update) => s.#planSave(update);
  }

  /**
   * Opens the storage on a connection: checks that the database is a raft-ts
   * log of this schema version (or creates the schema in an empty one),
   * switches it to WAL mode with `synchronous=FULL`, then reads and checks
   * every record.
   *
   * @param db The connection (`bun:sqlite`'s `Database`, `node:sqlite`'s
   *   `DatabaseSync`, or anything shaped like them). The storage owns it from
   *   now on.
   * @param options The file's name for messages, cache bounds, locking.
   * @throws {SqliteStorageError} When the database cannot be used; the
   *   connection is closed.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(db: SqliteDatabaseLike, options: SqliteStorageOptions = {}) {
    this.#group = pendingGroup;
    pendingGroup = undefined;
    let limits: StorageLimits;
    try {
      limits = storageLimits(options);
    } catch (e) {
      // The storage owns the connection, even when it refuses its options.
      try {
        if (this.#group === undefined) db.close();
      } catch {
        // The options error is the one to report.
      }
      throw e;
    }
    this.#db = db;
    this.#path = options.path ?? "(sqlite)";
    this.#logger = options.logger ?? discardLogger;
    const { cacheEntriesMax, cacheBytesMax, walBytes, writesInFlightMax, worker } = limits;
    this.#snapshotChunkBytes = limits.snapshotChunkBytes;
    this.#cache = new TailCache(cacheEntriesMax, cacheBytesMax, 1);
    const exclusive = options.exclusive ?? true;
    const hostThread = this.#group?.thread;
    try {
      const threaded = worker || hostThread !== undefined;
      this.#open(options.create ?? true, exclusive && !worker, worker ? 0 : walBytes, threaded);
      if (hostThread !== undefined) {
        this.#log = { tables: this.#group!.tables, key: this };
        hostThread.watch(this, (): void => {
          this.#cache.pinFrom = hostThread.pinFrom(this);
        });
        this.#thread = hostThread;
      } else if (worker) {
        const thread = new WriterThread(this, this.#path, {
          exclusive,
          walPreallocateBytes: walBytes,
          requestsMax: writesInFlightMax,
        });
        thread.watch(this, (): void => {
          this.#cache.pinFrom = thread.pinFrom(this);
        });
        thread.onWarning = (message): void => {
          this.#logger.warning(
            `raft storage '${this.#path}': cannot grow the WAL file: ${message}`,
          );
        };
        this.#thread = thread;
      }
    } catch (e) {
      this.#closed = true;
      try {
        this.#closeDatabase("close raft storage");
      } catch {
        // The open error is the one to report.
      }
      throw toStorageError(e, this.#path, "open raft storage");
    }
  }

  /** The database file's path (or the name given for it). */
  get path(): string {
    return this.#path;
  }

  // -------------------------------------------------------------------------
  // Opening

  #open(create: boolean, exclusive: boolean, walBytes: number, worker: boolean): void {
    const db = this.#db;
    const path = this.#path;
    const group = this.#group;
    const tables = group?.tables ?? fileTables;
    // A group's file was opened (and checked) by its host.
    const mode = group === undefined ? openLogFile(db, path, create, exclusive) : "group";
    const stmts: Partial<Statements> = {};
    this.#stmts = stmts as Statements;
    prepareStatements(db, stmts, tables);
    const chunks = openSnapshotChunks(db, path, tables);
    this.#chunks = new SqliteSnapshotChunks(
      db,
      path,
      {
        checkWritable: (action: string): void => this.#checkWritable(action),
        write: (plan: WritePlan): void | Promise<void> =>
          this.#writer !== undefined
            ? this.#writer.write(plan)
            : this.#thread!.write(plan, Infinity, true, this.#log),
        flush: (): Promise<void> => this.flush(),
      },
      chunks,
      this.#snapshotChunkBytes,
      tables,
    );
    const loaded = loadLog(path, this.#stmts, this.#cache);
    this.#hardState = loaded.hardState;
    this.#snap = loaded.snap;
    this.#offset = loaded.offset;
    this.#offsetTerm = loaded.offsetTerm;
    this.#last = loaded.last;
    if (worker) {
      // Reads may briefly wait for the writer thread (a WAL reset); set
      // only now, so that a file another process holds is refused at once.
      db.exec("PRAGMA busy_timeout=5000");
      return;
    }
    this.#writer = new SqliteWriter(db, path, tables, group?.tx);
    if (mode !== "wal") return;
    const failed = preallocateWal(db, walBytes);
    if (failed !== undefined) {
      this.#logger.warning(`raft storage '${path}': cannot grow the WAL file: ${failed}`);
    }
  }

  // -------------------------------------------------------------------------
  // The read side (Storage)

  /**
   * The saved HardState, and the ConfState of the latest snapshot.
   *
   * @returns Both states; the caller must not mutate them.
   * @throws {SqliteStorageError} When the storage is closed.
   */
  initialState(): { hardState: HardState; confState: ConfState } {
    this.#checkOpen("read raft storage");
    return { hardState: this.#hardState, confState: this.#snap.metadata.confState };
  }

  /**
   * The entries in `[lo, hi)`, limited to `maxSize` bytes but at least one;
   * the same results and errors as `MemoryStorage.entries`.
   *
   * @param lo The first index.
   * @param hi One past the last index.
   * @param maxSize The byte limit.
   * @returns A fresh array the caller owns.
   * @throws {CompactedError} When `lo <= firstIndex() - 1`.
   * @throws {UnavailableError} When the log holds no entries.
   * @throws {RaftInvariantError} When `hi` is past `lastIndex() + 1` or `lo > hi`.
   * @throws {SqliteStorageError} When a stored record is missing or corrupt,
   *   or the storage is closed.
   */
  entries(lo: Index, hi: Index, maxSize: number): Entry[] {
    this.#checkOpen("read raft storage");
    const offset = this.#offset;
    if (lo <= offset) throw new CompactedError();
    const last = this.#last;
    if (hi > last + 1) this.#panic(`entries' hi(${hi}) is out of bound lastindex(${last})`);
    if (last === offset) throw new UnavailableError();
    if (lo > hi) this.#panic(`entries' lo(${lo}) is greater than hi(${hi})`);

    const out: Entry[] = [];
    let size = 0;
    let i = lo;
    const cacheStart = this.#cache.start;
    const end = Math.min(hi, cacheStart);
    while (i < end) {
      const d = this.#rowHolding(i);
      for (let k = i - d.first; k < d.entries.length && i < end; k++, i++) {
        const e = d.entries[k]!;
        size += entrySize(e);
        if (out.length > 0 && size > maxSize) return out;
        out.push(e);
      }
    }
    for (; i < hi; i++) {
      const e = this.#cache.get(i)!;
      size += entrySize(e);
      if (out.length > 0 && size > maxSize) return out;
      out.push(e);
    }
    return out;
  }

  /**
   * The decoded row that holds entry `i` (which must be in the log). The
   * last few rows read are kept until the next write, so reading a run of
   * old entries, or their terms, decodes each row once, also when reads for
   * a few lagging followers take turns.
   */
  #rowHolding(i: Index): DecodedRow {
    const kept = this.#keptRows;
    for (let k = kept.length - 1; k >= 0; k--) {
      const d = kept[k]!;
      if (d.first <= i && i <= d.last) {
        if (k !== kept.length - 1) {
          kept.splice(k, 1);
          kept.push(d);
        }
        return d;
      }
    }
    let rows: LogRow[];
    try {
      rows = toRows(this.#path, this.#stmts!.selectBefore.all(i + 1));
    } catch (e) {
      throw toStorageError(e, this.#path, "read raft storage");
    }
    const row = rows[0];
    if (row === undefined || row.first > i || row.last < i) this.#missing(i, "read raft storage");
    const d = decodeRow(this.#path, row, "read raft storage");
    if (kept.length === keptRowsMax) kept.shift();
    kept.push(d);
    return d;
  }

  #missing(i: Index, action: string): never {
    throw new SqliteStorageError(
      "log_gap",
      this.#path,
      `Cannot ${action} '${this.#path}': entry ${i} is missing`,
      { index: i },
    );
  }

  /**
   * The term of entry `i`; the same results and errors as `MemoryStorage.term`.
   *
   * @param i The index, in `[firstIndex() - 1, lastIndex()]`.
   * @returns Its term.
   * @throws {CompactedError} When `i < firstIndex() - 1`.
   * @throws {UnavailableError} When `i > lastIndex()`.
   * @throws {SqliteStorageError} When the entry's row is missing, or the storage is closed.
   */
  term(i: Index): Term {
    this.#checkOpen("read raft storage");
    if (i < this.#offset) throw new CompactedError();
    if (i > this.#last) throw new UnavailableError();
    return this.#termAt(i);
  }

  /** The term at `i`, which must be in `[#offset, #last]`. */
  #termAt(i: Index): Term {
    if (i === this.#offset) return this.#offsetTerm;
    const cached = this.#cache.get(i);
    if (cached !== undefined) return cached.term;
    const d = this.#rowHolding(i);
    return d.entries[i - d.first]!.term;
  }

  /**
   * The last index in the log.
   *
   * @returns The last entry's index, or the compacted position when the log is empty.
   * @throws {SqliteStorageError} When the storage is closed.
   */
  lastIndex(): Index {
    this.#checkOpen("read raft storage");
    return this.#last;
  }

  /**
   * The first index that may be available.
   *
   * @returns One past the compacted position.
   * @throws {SqliteStorageError} When the storage is closed.
   */
  firstIndex(): Index {
    this.#checkOpen("read raft storage");
    return this.#offset + 1;
  }

  /**
   * The latest snapshot.
   *
   * @returns A copy of it (data bytes shared).
   * @throws {SqliteStorageError} When the storage is closed.
   */
  snapshot(): Snapshot {
    this.#checkOpen("read raft storage");
    return cloneSnapshot(this.#snap);
  }

  /**
   * The store of snapshot data in chunks (`raft_snapshot_chunk` rows of
   * at most `snapshotChunkBytes`, with the whole data's length and CRC-32C), through which
   * `RaftNode` takes, sends, receives and restores snapshots without
   * holding one in memory, when its transport streams them.
   *
   * @returns The store.
   */
  get snapshotChunks(): SnapshotChunkStore {
    return this.#chunks!;
  }

  // -------------------------------------------------------------------------
  // The write side

  /**
   * Makes one Ready's state durable in one transaction: installs the
   * snapshot (if any and not empty), appends the entries (replacing stored
   * entries from the first new index on), then sets the HardState (if any).
   * Inline, returns after SQLite synced the transaction, unless `mustSync`
   * allows otherwise (below). With a writer thread, the read side sees the
   * write at once, and the returned Promise resolves once it (and every
   * earlier write) is durable.
   *
   * @param update What to write. With `mustSync: false` and neither entries
   *   nor a snapshot (only the commit index moved), the transaction is not
   *   synced: it becomes durable with the next synced write, and a crash
   *   may lose it (Raft allows it; a synced write is never lost).
   * @returns Nothing (inline), or a Promise (writer thread) that rejects
   *   with `SqliteStorageError` `"write_failed"` when the write fails.
   * @throws {SnapOutOfDateError} When the snapshot is not newer than the stored one.
   * @throws {RaftInvariantError} When the entries are not consecutive, leave
   *   a gap, or the HardState would commit past the last entry. Nothing is written.
   * @throws {RangeError} When a value is not a non-negative safe integer.
   * @throws {SqliteStorageError} When the write fails (`"write_failed"`; the
   *   storage must then be reopened), an earlier one failed, too many are in
   *   flight (`"busy"`), or the storage is closed.
   */
  save(update: StorageUpdate): void | Promise<void> {
    const a = saveArgs(update);
    return this.#update(a.action, a.hardState, a.entries, a.snap, a.sync, a.stored);
  }

  #planSave(update: StorageUpdate): PlannedSave | undefined {
    const a = saveArgs(update);
    const p = this.#plan(a.action, a.hardState, a.entries, a.snap, a.sync, a.stored);
    if (p === undefined) return undefined;
    const writer = this.#writer;
    return {
      plan: p.plan,
      apply: () => writer!.apply(p.plan),
      sync: p.plan.sync,
      done: p.show,
    };
  }

  /**
   * Appends entries in one transaction, replacing any stored entries at or
   * after the first new index; entries already compacted away are skipped.
   *
   * @param entries Consecutive entries.
   * @returns Nothing (inline), or a Promise of its durability (writer thread).
   * @throws {RaftInvariantError} When the entries are not consecutive, or
   *   would leave a gap after the last stored entry, or would cut the log
   *   below the saved commit index.
   * @throws {SqliteStorageError} When the write fails or the storage is closed.
   */
  append(entries: readonly Entry[]): void | Promise<void> {
    return this.#update("append entries", undefined, entries, undefined);
  }

  /**
   * Saves the HardState.
   *
   * @param st The HardState (copied).
   * @returns Nothing (inline), or a Promise of its durability (writer thread).
   * @throws {RaftInvariantError} When `st.commit` is past the last index.
   * @throws {SqliteStorageError} When the write fails or the storage is closed.
   */
  setHardState(st: HardState): void | Promise<void> {
    return this.#update("save HardState", st, [], undefined);
  }

  /**
   * Replaces the log with a snapshot: afterwards the log is empty and
   * starts after the snapshot's index.
   *
   * @param snap The snapshot.
   * @returns Nothing (inline), or a Promise of its durability (writer thread).
   * @throws {SnapOutOfDateError} When the stored snapshot is not empty and
   *   at least as new as `snap`.
   * @throws {SqliteStorageError} When the write fails or the storage is closed.
   */
  applySnapshot(snap: Snapshot): void | Promise<void> {
    return this.#update("apply snapshot", undefined, [], snap);
  }

  /**
   * Waits until every write made so far is durable.
   *
   * @returns A Promise that resolves then; inline, at once.
   * @throws {SqliteStorageError} (as a rejection) When a write failed, or
   *   the writer thread stopped.
   */
  flush(): Promise<void> {
    if (this.#thread !== undefined) return this.#thread.flush();
    if (this.#writer?.failure !== undefined) return Promise.reject(this.#writer.failure);
    return Promise.resolve();
  }

  #update(
    action: string,
    hardState: HardState | undefined,
    entries: readonly Entry[],
    snap: Snapshot | undefined,
    sync = true,
    stored?: SnapshotDataDescriptor,
  ): void | Promise<void> {
    const p = this.#plan(action, hardState, entries, snap, sync, stored);
    if (p === undefined) return this.#thread?.flush();
    // Inline: durable first, then the view. With a writer thread: the view
    // first (reads must see the write at once), entries pinned in memory
    // until the thread's connection has them.
    this.#writer?.write(p.plan);
    p.show();
    return this.#thread?.write(p.plan, p.plan.row?.first ?? Infinity, true, this.#log);
  }

  /**
   * Checks and encodes a write; `show()` applies it to the read side once
   * it is written (or handed to the writer thread).
   */
  #plan(
    action: string,
    hardState: HardState | undefined,
    entries: readonly Entry[],
    snap: Snapshot | undefined,
    sync: boolean,
    stored: SnapshotDataDescriptor | undefined,
  ): { plan: WritePlan; show: () => void } | undefined {
    this.#checkWritable(action);
    const dataId = stored !== undefined ? this.#chunks!.stagedId(stored, action) : undefined;
    let offset = this.#offset;
    let offsetTerm = this.#offsetTerm;
    let last = this.#last;

    let newSnap: Snapshot | undefined;
    let snapRecord: Uint8Array | undefined;
    if (snap !== undefined) {
      const snapIndex = snap.metadata.index;
      checkIndex("snapshot index", snapIndex);
      checkIndex("snapshot term", snap.metadata.term);
      const msIndex = this.#snap.metadata.index;
      if (msIndex !== 0 && msIndex >= snapIndex) throw new SnapOutOfDateError();
      newSnap = cloneSnapshot(snap);
      snapRecord = encodeFrame(encodeSnapshot(newSnap));
      offset = snapIndex;
      offsetTerm = snap.metadata.term;
      last = snapIndex;
    }

    // Plan the append as MemoryStorage.append does.
    const lastBeforeAppend = last;
    let start = last + 1;
    let skip = 0;
    let record: Uint8Array | undefined;
    const n = entries.length;
    if (n > 0) {
      const first0 = entries[0]!.index;
      checkIndex("entry index", first0);
      for (let k = 1; k < n; k++) {
        if (entries[k]!.index !== first0 + k) {
          this.#panic(
            `entries not contiguous: index ${entries[k - 1]!.index} followed by ${
              entries[k]!.index
            }`,
          );
        }
      }
      const lastNew = first0 + n - 1;
      if (lastNew > offset) {
        skip = offset + 1 > first0 ? offset + 1 - first0 : 0;
        start = first0 + skip;
        if (start > last + 1) this.#panic(`missing log entry [last: ${last}, append at: ${start}]`);
        record = encodeEntryFrames(entries, skip, n);
        last = lastNew;
      }
    }

    const hs = hardState !== undefined
      ? { term: hardState.term, vote: hardState.vote, commit: hardState.commit }
      : this.#hardState;
    if (hs.commit > last) {
      this.#panic(`${action}: commit index ${hs.commit} is past the last index ${last}`);
    }
    const hsRecord = hardState !== undefined ? encodeFrame(encodeHardState(hs)) : undefined;
    if (snapRecord === undefined && record === undefined && hsRecord === undefined) {
      return undefined;
    }

    const plan: WritePlan = {
      action,
      sync,
      clearLog: snapRecord !== undefined,
      compactThrough: undefined,
      logStart: snapRecord !== undefined ? dummyRecord(offset, offsetTerm) : undefined,
      snapshot: snapRecord,
      snapshotDataId: dataId,
      cut: record !== undefined && start <= lastBeforeAppend ? { start, offset } : undefined,
      row: record !== undefined ? { first: start, last, record } : undefined,
      hardState: hsRecord,
    };
    const view: PlannedView = {
      snap: newSnap,
      dataId,
      offset,
      offsetTerm,
      last,
      appendFrom: record !== undefined ? start : undefined,
      entries,
      skip,
      hardState: hs,
    };
    return { plan, show: (): void => this.#show(view) };
  }

  /** Applies a planned write to the read side. */
  #show(v: PlannedView): void {
    this.#keptRows = [];
    if (v.snap !== undefined) {
      this.#chunks!.switched(v.dataId);
      this.#snap = v.snap;
      this.#cache.reset(v.offset + 1);
    }
    this.#offset = v.offset;
    this.#offsetTerm = v.offsetTerm;
    const start = v.appendFrom;
    if (start !== undefined) {
      this.#cache.truncateFrom(start);
      if (this.#thread !== undefined && start < this.#cache.pinFrom) this.#cache.pinFrom = start;
      const n = v.entries.length;
      for (let k = v.skip; k < n; k++) this.#cache.push(v.entries[k]!);
    }
    this.#last = v.last;
    this.#hardState = v.hardState;
  }

  /**
   * Records a snapshot of the state machine at index `i`, which later
   * `snapshot()` calls return; the same checks as `MemoryStorage.createSnapshot`.
   * With a writer thread, durable once a later write's Promise (or `flush()`) resolves.
   *
   * @param i The index the snapshot covers; at most `lastIndex()`.
   * @param cs The ConfState at `i`, or `undefined` to keep the stored one.
   * @param data The state machine's serialized state (kept, not copied).
   * @param stored Data staged in `snapshotChunks` that becomes the
   *   snapshot's, in the same transaction (the replaced snapshot's data is
   *   deleted in it).
   * @returns A copy of the new snapshot.
   * @throws {SnapOutOfDateError} When `i` is not newer than the stored snapshot.
   * @throws {RaftInvariantError} When `i` is outside the stored log.
   * @throws {SqliteStorageError} When the write fails or the storage is closed.
   */
  createSnapshot(
    i: Index,
    cs: ConfState | undefined,
    data: Uint8Array,
    stored?: SnapshotDataDescriptor,
  ): Snapshot {
    const action = "create snapshot";
    this.#checkWritable(action);
    const dataId = stored !== undefined ? this.#chunks!.stagedId(stored, action) : undefined;
    if (i <= this.#snap.metadata.index) throw new SnapOutOfDateError();
    const offset = this.#offset;
    const last = this.#last;
    if (i > last) this.#panic(`snapshot ${i} is out of bound lastindex(${last})`);
    if (i < offset) this.#panic(`snapshot ${i} is out of bound compacted index(${offset})`);
    const snap: Snapshot = {
      data,
      metadata: {
        confState: cs !== undefined ? cloneConfState(cs) : this.#snap.metadata.confState,
        index: i,
        term: this.#termAt(i),
      },
    };
    this.#write({
      ...emptyPlan(action),
      snapshot: encodeFrame(encodeSnapshot(snap)),
      snapshotDataId: dataId,
    });
    this.#chunks!.switched(dataId);
    this.#snap = snap;
    return cloneSnapshot(snap);
  }

  /**
   * Discards the entries before `compactIndex`; entry `compactIndex` becomes
   * the compacted position, so afterwards `firstIndex()` is
   * `compactIndex + 1`. The same checks as `MemoryStorage.compact`. With a
   * writer thread, durable once a later write's Promise (or `flush()`) resolves.
   *
   * @param compactIndex The new compacted position.
   * @throws {CompactedError} When `compactIndex <= firstIndex() - 1`.
   * @throws {RaftInvariantError} When `compactIndex > lastIndex()`.
   * @throws {SqliteStorageError} When the write fails or the storage is closed.
   */
  compact(compactIndex: Index): void {
    const action = "compact the log";
    this.#checkWritable(action);
    const offset = this.#offset;
    if (compactIndex <= offset) throw new CompactedError();
    const last = this.#last;
    if (compactIndex > last) {
      this.#panic(`compact ${compactIndex} is out of bound lastindex(${last})`);
    }
    const term = this.#termAt(compactIndex);
    this.#keptRows = [];
    this.#write({
      ...emptyPlan(action),
      compactThrough: compactIndex,
      logStart: dummyRecord(compactIndex, term),
    });
    this.#offset = compactIndex;
    this.#offsetTerm = term;
    this.#cache.dropBefore(compactIndex + 1);
  }

  /** Runs a plan that writes no entries: inline, or sent to the thread without waiting. */
  #write(plan: WritePlan): void {
    if (this.#writer !== undefined) this.#writer.write(plan);
    else this.#thread!.write(plan, Infinity, false, this.#log);
  }

  /**
   * Closes the storage and its connection. Further calls throw
   * `SqliteStorageError` with code `"closed"`; closing twice does nothing.
   * With a writer thread, the writes in flight finish first.
   *
   * @returns Nothing (inline), or a Promise that resolves once the writer
   *   thread and both connections are closed.
   * @throws {SqliteStorageError} When the connection fails to close.
   */
  close(): void | Promise<void> {
    if (this.#closed) return this.#closing;
    this.#closed = true;
    this.#cache.reset(this.#last + 1);
    this.#keptRows = [];
    const thread = this.#thread;
    if (thread === undefined || this.#group !== undefined) {
      // A group's writes in flight finish on the host's thread, which the host closes.
      thread?.unwatch(this);
      this.#closeDatabase("close raft storage");
      return;
    }
    this.#closing = thread.close().finally(() => this.#closeDatabase("close raft storage"));
    return this.#closing;
  }

  /** With a writer thread: settles once `close()` is done. */
  #closing: Promise<void> | undefined;

  /** Frees the statements, then closes the connection. */
  #closeDatabase(action: string): void {
    const stmts = this.#stmts;
    this.#stmts = undefined;
    try {
      this.#chunks?.close();
      this.#writer?.close();
      if (stmts !== undefined) {
        for (const st of Object.values(stmts) as (SqliteStatementLike | undefined)[]) {
          st?.finalize?.();
        }
      }
      if (this.#group === undefined) this.#db.close();
    } catch (e) {
      throw toStorageError(e, this.#path, action);
    }
  }

  // -------------------------------------------------------------------------
  // Helpers

  #checkOpen(action: string): void {
    if (this.#closed) {
      throw new SqliteStorageError(
        "closed",
        this.#path,
        `Cannot ${action} '${this.#path}': the storage is closed`,
      );
    }
  }

  #checkWritable(action: string): void {
    this.#checkOpen(action);
    if (this.#thread !== undefined) {
      this.#thread.checkWritable(action);
      return;
    }
    const failure = this.#writer?.failure;
    if (failure !== undefined) {
      throw earlierWriteFailed(this.#path, action, failure);
    }
  }

  #panic(msg: string): never {
    this.#logger.panic(msg);
    throw new RaftInvariantError(msg);
  }
}
