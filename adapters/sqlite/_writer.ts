/**
 * The write side of the SQLite storage: one transaction per write plan,
 * on whichever connection writes (the storage's own, or a writer thread's).
 *
 * @module
 */

import type { Index } from "../../core/types.ts";
import {
  queryOnce,
  rollbackQuietly,
  type SqliteDatabaseLike,
  type SqliteStatementLike,
} from "./_database.ts";
import { earlierWriteFailed, SqliteStorageError, toStorageError } from "./_errors.ts";
import { asRow, decodeRow, toRows } from "./_rows.ts";
import { fileTables, type LogTables } from "./_tables.ts";

/** The meta record keys. */
export const metaHardState = "hard_state";
/** The latest snapshot's record. */
export const metaSnapshot = "snapshot";
/** The compacted position: an entry record holding only its index and term. */
export const metaLogStart = "log_start";

/**
 * One write call's changes, encoded and checked by the storage, applied in
 * one transaction in this order: the log rows deleted (all, or through
 * `compactThrough`), the log start, the snapshot, the cut, the new row, the
 * HardState. Only plain data (it crosses to a writer thread).
 */
export interface WritePlan {
  /** What is being done, after "Cannot ". */
  action: string;
  /** Commit with `synchronous=FULL` (synced before it returns) rather than `NORMAL`. */
  sync: boolean;
  /** Delete every row of the log (a snapshot install). */
  clearLog: boolean;
  /** Delete the rows that end at or before this index (a compaction). */
  compactThrough: Index | undefined;
  /** The new log start record. */
  logStart: Uint8Array | undefined;
  /** The new snapshot record. */
  snapshot: Uint8Array | undefined;
  /**
   * Remove the stored entries from `start` on before the new row goes in;
   * `offset` is the compacted position after this write.
   */
  cut: { start: Index; offset: Index } | undefined;
  /** The new row: entries `first..last` as frames back to back. */
  row: { first: Index; last: Index; record: Uint8Array } | undefined;
  /** The new HardState record. */
  hardState: Uint8Array | undefined;
  /**
   * With `snapshot`: the staged snapshot data that becomes the snapshot's
   * (`undefined`: none, its data is inline). The record of the data of the
   * snapshot it replaces is deleted in the same transaction; its chunks
   * later, a few at a time (`sweep`).
   */
  snapshotDataId?: number | undefined;
  /** A chunk of staged snapshot data to insert, and the staging's end when it is the last. */
  stage?: StagePlan | undefined;
  /** Staged snapshot data to delete (never the current snapshot's): its record; its chunks by `sweep`. */
  discardDataId?: number | undefined;
  /** Chunks of snapshot data that no record names any more to delete: those of `id` numbered below `seqBelow`. */
  sweep?: { id: number; seqBelow: number } | undefined;
}

/**
 * A plan that writes nothing yet.
 *
 * @param action What the write does, for messages.
 * @param sync Whether it is synced.
 * @returns The plan.
 */
export function emptyPlan(action: string, sync = true): WritePlan {
  return {
    action,
    sync,
    clearLog: false,
    compactThrough: undefined,
    logStart: undefined,
    snapshot: undefined,
    cut: undefined,
    row: undefined,
    hardState: undefined,
  };
}

/** A write to the staging area of snapshot data. */
export interface StagePlan {
  /** The staged data's ID. */
  id: number;
  /** The chunk's position (from 0), or `undefined` when none is written. */
  seq: number | undefined;
  /** The chunk's bytes (with `seq`). */
  bytes: Uint8Array | undefined;
  /** The whole data's length, CRC-32C and chunk count, when the staging ends. */
  finish: { length: number; checksum: number; chunks: number } | undefined;
}

interface WriteStatements {
  /** Rewrites an existing meta record: (record, key). */
  putMeta: SqliteStatementLike;
  /** (first, last, record). */
  insertRow: SqliteStatementLike;
  /** Shortens a row: (last, record, first). */
  updateRow: SqliteStatementLike;
  /** Rows that start at or after an index. */
  deleteFrom: SqliteStatementLike;
  /** Rows that end at or before an index. */
  deleteThrough: SqliteStatementLike;
  deleteRow: SqliteStatementLike;
  deleteAll: SqliteStatementLike;
  /** (i): the last row that starts before `i`. */
  selectBefore: SqliteStatementLike;
  stageRow: SqliteStatementLike;
  stageChunk: SqliteStatementLike;
  stageFinish: SqliteStatementLike;
  sweepChunks: SqliteStatementLike;
  dropData: SqliteStatementLike;
  dropCurrentData: SqliteStatementLike;
  promoteData: SqliteStatementLike;
}

/** Counters of the write transactions on a connection. */
export interface TransactionStats {
  /** Write transactions committed. */
  transactions: number;
  /** Of those, the ones committed with `synchronous=FULL` (one sync of the WAL each). */
  syncs: number;
}

/**
 * The write transactions of one connection, which every log on it shares
 * (one file's log, or every group of a host's file): the synchronous mode
 * the connection is at, and the failure after which none may write. After
 * a transaction failed past its `BEGIN`, its outcome on disk is unknown:
 * `failure` is set, and every later write is refused.
 */
export class WriteTransactions {
  readonly #db: SqliteDatabaseLike;
  readonly #path: string;
  /** Whether the connection is at `synchronous=FULL` (else NORMAL, after an unsynced write). */
  #syncFull = true;
  /** Set when a write failed past its `BEGIN`. */
  failure: SqliteStorageError | undefined;
  /** Commits so far. */
  readonly stats: TransactionStats = { transactions: 0, syncs: 0 };

  /**
   * @param db The connection, at `synchronous=FULL`, with its schema.
   * @param path The database file, for errors.
   */
  constructor(db: SqliteDatabaseLike, path: string) {
    this.#db = db;
    this.#path = path;
  }

  /**
   * Runs `body` in one transaction, committed with `synchronous=FULL`
   * (synced before it returns) or, when `sync` is false, `NORMAL` (in WAL
   * mode: not synced; durable with the next synced commit, which syncs
   * the whole WAL). The mode is switched only when it changes.
   *
   * @param sync Whether the commit is synced.
   * @param action What is being done, after "Cannot ".
   * @param body The writes.
   * @throws {SqliteStorageError} When `BEGIN` fails (nothing was written),
   *   or `"write_failed"` when the transaction failed after it (and from
   *   then on).
   */
  run(sync: boolean, action: string, body: () => void): void {
    if (this.failure !== undefined) {
      throw earlierWriteFailed(this.#path, action, this.failure);
    }
    const db = this.#db;
    try {
      if (this.#syncFull !== sync) {
        db.exec(sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        this.#syncFull = sync;
      }
      db.exec("BEGIN IMMEDIATE");
    } catch (e) {
      throw toStorageError(e, this.#path, action);
    }
    try {
      body();
      db.exec("COMMIT");
    } catch (e) {
      rollbackQuietly(db);
      const cause = toStorageError(e, this.#path, action);
      this.failure = new SqliteStorageError(
        "write_failed",
        this.#path,
        `${cause.message}; the outcome on disk is unknown, reopen the storage`,
        { cause: e },
      );
      throw this.failure;
    }
    this.stats.transactions++;
    if (sync) this.stats.syncs++;
  }
}

/**
 * Applies write plans to one log's tables, one transaction each (or many
 * logs' plans in one transaction, through `apply` inside
 * `WriteTransactions.run`). After a transaction failed past its `BEGIN`,
 * `failure` is set, and the storage refuses further writes.
 */
export class SqliteWriter {
  readonly #path: string;
  readonly #tx: WriteTransactions;
  #st: WriteStatements | undefined;

  /** Set when a write on the connection failed past its `BEGIN`. */
  get failure(): SqliteStorageError | undefined {
    return this.#tx.failure;
  }

  /**
   * Prepares the write statements on a connection whose schema exists and
   * which is at `synchronous=FULL`.
   *
   * @param db The connection (not owned: `close()` frees only the statements).
   * @param path The database file, for errors.
   * @param tables The log's tables.
   * @param tx The connection's transactions, when other logs share it.
   */
  constructor(
    db: SqliteDatabaseLike,
    path: string,
    tables: LogTables = fileTables,
    tx: WriteTransactions = new WriteTransactions(db, path),
  ) {
    this.#path = path;
    this.#tx = tx;
    const { meta, log, snapshotData: data, snapshotChunk: chunk } = tables;
    const st: Partial<WriteStatements> = {};
    this.#st = st as WriteStatements;
    // An UPDATE, not INSERT OR REPLACE: both records exist (the schema is
    // created with them, and opening refuses a file without them), and a
    // REPLACE in this WITHOUT ROWID table reads the other record's overflow
    // pages, so every HardState write cost time in proportion to the
    // snapshot's size (1.9 ms with a 10 MB snapshot, against 7 µs).
    st.putMeta = db.prepare(`UPDATE ${meta} SET record = ? WHERE key = ?`);
    st.insertRow = db.prepare(`INSERT INTO ${log} (first, last, record) VALUES (?, ?, ?)`);
    st.updateRow = db.prepare(`UPDATE ${log} SET last = ?, record = ? WHERE first = ?`);
    st.deleteFrom = db.prepare(`DELETE FROM ${log} WHERE first >= ?`);
    // `first <= ?` bounds the scan by the primary key (rows never overlap, so
    // a row that ends at or before an index also begins at or before it).
    st.deleteThrough = db.prepare(`DELETE FROM ${log} WHERE first <= ? AND last <= ?`);
    st.deleteRow = db.prepare(`DELETE FROM ${log} WHERE first = ?`);
    st.deleteAll = db.prepare(`DELETE FROM ${log}`);
    st.selectBefore = db.prepare(
      `SELECT first, last, record FROM ${log} WHERE first < ? ORDER BY first DESC LIMIT 1`,
    );
    st.stageRow = db.prepare(
      `INSERT OR IGNORE INTO ${data} (data_id, length, checksum, chunks, state) VALUES (?, 0, 0, 0, 0)`,
    );
    st.stageChunk = db.prepare(`INSERT INTO ${chunk} (data_id, seq, bytes) VALUES (?, ?, ?)`);
    st.stageFinish = db.prepare(
      `UPDATE ${data} SET length = ?, checksum = ?, chunks = ?, state = 1 WHERE data_id = ? AND state = 0`,
    );
    st.sweepChunks = db.prepare(`DELETE FROM ${chunk} WHERE data_id = ? AND seq < ?`);
    st.dropData = db.prepare(`DELETE FROM ${data} WHERE data_id = ? AND state < 2`);
    st.dropCurrentData = db.prepare(`DELETE FROM ${data} WHERE state = 2`);
    st.promoteData = db.prepare(`UPDATE ${data} SET state = 2 WHERE data_id = ? AND state = 1`);
  }

  /**
   * Applies a plan in one transaction of its own (see `WriteTransactions.run`).
   *
   * @param plan The changes.
   * @throws {SqliteStorageError} When `BEGIN` fails (nothing was written),
   *   or `"write_failed"` when the transaction failed after it (and from
   *   then on).
   */
  write(plan: WritePlan): void {
    this.#tx.run(plan.sync, plan.action, () => this.apply(plan));
  }

  /**
   * Applies a plan inside a transaction the caller opened.
   *
   * @param plan The changes.
   */
  apply(plan: WritePlan): void {
    const st = this.#st!;
    if (plan.stage !== undefined) this.#stage(plan.stage);
    if (plan.discardDataId !== undefined) st.dropData.run(plan.discardDataId);
    if (plan.sweep !== undefined) st.sweepChunks.run(plan.sweep.id, plan.sweep.seqBelow);
    if (plan.snapshot !== undefined) {
      // The replaced snapshot's data record goes with it, in this
      // transaction; its chunks are swept after (a reopen deletes those
      // a crash left).
      st.dropCurrentData.run();
      if (plan.snapshotDataId !== undefined) {
        this.#expectChange(st.promoteData.run(plan.snapshotDataId), "staged snapshot data");
      }
    }
    if (plan.clearLog) st.deleteAll.run();
    if (plan.compactThrough !== undefined) {
      st.deleteThrough.run(plan.compactThrough, plan.compactThrough);
    }
    if (plan.logStart !== undefined) this.#putMeta(metaLogStart, plan.logStart);
    if (plan.snapshot !== undefined) this.#putMeta(metaSnapshot, plan.snapshot);
    if (plan.cut !== undefined) this.#cutLog(plan.cut.start, plan.cut.offset, plan.action);
    const row = plan.row;
    if (row !== undefined) st.insertRow.run(row.first, row.last, row.record);
    if (plan.hardState !== undefined) this.#putMeta(metaHardState, plan.hardState);
  }

  /**
   * Within a write transaction: removes entries `start` and after, so that
   * an append can replace them. The row that holds `start` keeps the
   * entries before it (its frames are cut after entry `start - 1`), or
   * goes when they are all compacted away.
   */
  #stage(p: StagePlan): void {
    const st = this.#st!;
    st.stageRow.run(p.id);
    if (p.seq !== undefined && p.bytes !== undefined) st.stageChunk.run(p.id, p.seq, p.bytes);
    const f = p.finish;
    if (f !== undefined) {
      this.#expectChange(
        st.stageFinish.run(f.length, f.checksum, f.chunks, p.id),
        "staged snapshot data",
      );
    }
  }

  /** Throws when a statement changed no row. */
  #expectChange(result: unknown, what: string): void {
    const changes = asRow(result)?.["changes"];
    if (changes === 0 || changes === 0n) {
      throw new SqliteStorageError(
        "missing_record",
        this.#path,
        `Cannot write raft storage '${this.#path}': the ${what} is missing`,
      );
    }
  }

  #cutLog(start: Index, offset: Index, action: string): void {
    const st = this.#st!;
    st.deleteFrom.run(start);
    const row = toRows(this.#path, st.selectBefore.all(start))[0];
    if (row === undefined || row.last < start) return;
    if (start - 1 <= offset) {
      st.deleteRow.run(row.first);
      return;
    }
    const d = decodeRow(this.#path, row, action);
    const cut = d.ends[start - 1 - d.first]!;
    st.updateRow.run(start - 1, (row.record as Uint8Array).slice(0, cut), row.first);
  }

  /** Rewrites a meta record; throws when the row is gone (where the driver reports changes). */
  #putMeta(key: string, record: Uint8Array): void {
    const r = asRow(this.#st!.putMeta.run(record, key));
    const changes = r?.["changes"];
    if (changes === 0 || changes === 0n) {
      throw new SqliteStorageError(
        "missing_record",
        this.#path,
        `Cannot write raft storage '${this.#path}': the ${key} record is missing`,
      );
    }
  }

  /** Frees the statements (the connection stays open). */
  close(): void {
    const st = this.#st;
    this.#st = undefined;
    if (st === undefined) return;
    for (const s of Object.values(st) as SqliteStatementLike[]) s.finalize?.();
  }
}

/**
 * Grows the WAL file to about `bytes` (see `walPreallocateBytes`): a
 * transaction writes a blob of that size with a page cache too small to
 * hold it, so SQLite spills its pages into the WAL, then rolls back.
 * Recovery ignores frames that no commit covers, and later commits
 * overwrite them. A failure (a full disk) only costs the speed-up.
 *
 * @param db The connection, in WAL mode, with no transaction open.
 * @param bytes The size; 0 does nothing.
 * @returns Why the WAL could not be grown, or `undefined`.
 */
export function preallocateWal(db: SqliteDatabaseLike, bytes: number): string | undefined {
  if (bytes === 0) return undefined;
  let failed: string | undefined;
  const cacheSize = asRow(queryOnce(db, "PRAGMA cache_size"))?.["cache_size"];
  try {
    // A 64 KiB cache: all but the last 64 KiB of the blob go to the WAL.
    db.exec("PRAGMA cache_size=-64");
    db.exec("BEGIN IMMEDIATE");
    db.exec("CREATE TABLE raft_wal_preallocate (b BLOB)");
    db.exec(`INSERT INTO raft_wal_preallocate VALUES (zeroblob(${bytes + 65536}))`);
  } catch (e) {
    failed = (e as Error).message;
  } finally {
    try {
      db.exec("ROLLBACK");
    } catch {
      // No transaction was open.
    }
    db.exec(`PRAGMA cache_size=${Number(cacheSize)}`);
  }
  return failed;
}
