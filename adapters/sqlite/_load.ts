/**
 * Opening a storage file: identifying it as a raft-ts log of this schema
 * version (or creating the schema in an empty one), switching it to WAL
 * mode with `synchronous=FULL`, then reading and checking every record.
 *
 * @module
 */

import {
  decodeEntry,
  decodeFrame,
  decodeHardState,
  decodeSnapshot,
  encodeEntry,
  encodeFrame,
  encodeHardState,
  encodeSnapshot,
} from "../../core/codec.ts";
import {
  type HardState,
  type Index,
  newEntry,
  newHardState,
  newSnapshot,
  type Snapshot,
  type Term,
} from "../../core/types.ts";
import type { TailCache } from "./_cache.ts";
import {
  inTransaction,
  queryOnce,
  type SqliteDatabaseLike,
  type SqliteStatementLike,
  type SqliteValue,
} from "./_database.ts";
import { SqliteStorageError } from "./_errors.ts";
import { asRow, decodeRow, toRows } from "./_rows.ts";
import { fileTables, type LogTables } from "./_tables.ts";
import { metaHardState, metaLogStart, metaSnapshot } from "./_writer.ts";

/**
 * The `application_id` (SQLite header field, `PRAGMA application_id`) that
 * marks a database file as a raft-ts log: the ASCII bytes `"rfts"`.
 *
 * @example Recognizing a raft-ts log with the sqlite3 shell
 * ```ts
 * import { sqliteApplicationId } from "@raft-ts/raft/sqlite";
 * // sqlite3 node.db "PRAGMA application_id" prints this number.
 * if (sqliteApplicationId !== 1919317107) throw new Error("unexpected");
 * ```
 */
export const sqliteApplicationId = 0x72667473;

/**
 * The `application_id` that marks a database file as a raft-ts host
 * storage (every group of a `SqliteHostStorage`): the ASCII bytes `"rfth"`.
 *
 * @example Recognizing a host storage with the sqlite3 shell
 * ```ts
 * import { sqliteHostApplicationId } from "@raft-ts/raft/sqlite";
 * // sqlite3 host.db "PRAGMA application_id" prints this number.
 * if (sqliteHostApplicationId !== 1919317096) throw new Error("unexpected");
 * ```
 */
export const sqliteHostApplicationId = 0x72667468;

/**
 * The schema version this code writes and reads, kept in the file's
 * `user_version`. A file of another version is refused with
 * `"schema_too_old"` or `"schema_too_new"`.
 *
 * @example Usage
 * ```ts
 * import { sqliteSchemaVersion } from "@raft-ts/raft/sqlite";
 * if (sqliteSchemaVersion < 1) throw new Error("unexpected");
 * ```
 */
export const sqliteSchemaVersion = 2;

/** The SQL that creates one log's tables. */
function logTablesSql(t: LogTables): string {
  return `
CREATE TABLE ${t.meta} (
  key TEXT PRIMARY KEY NOT NULL,
  record BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE ${t.log} (
  first INTEGER PRIMARY KEY NOT NULL,
  last INTEGER NOT NULL,
  record BLOB NOT NULL
);
`;
}

/**
 * What kind of file {@linkcode openLogFile} opens: how it is marked, and
 * what an empty one is given.
 */
export interface FileKind {
  /** What the file is, in messages ("raft storage"). */
  readonly name: string;
  /** Its `application_id`. */
  readonly applicationId: number;
  /** Its `user_version`. */
  readonly schemaVersion: number;
  /** The tables it must hold. */
  readonly tables: readonly string[];
  /** Creates the schema in an empty database (inside a transaction). */
  create(db: SqliteDatabaseLike): void;
  /** Why a file of another raft-ts kind (this `application_id`) cannot be opened as this one. */
  readonly otherKinds?: ReadonlyMap<number, string>;
}

/** A single-group log file. */
export const logFileKind: FileKind = {
  name: "raft storage",
  applicationId: sqliteApplicationId,
  schemaVersion: sqliteSchemaVersion,
  tables: [fileTables.meta, fileTables.log],
  create: (db) => createLogTables(db, fileTables),
  otherKinds: new Map([
    [sqliteHostApplicationId, "a raft-ts host storage (open it with SqliteHostStorage)"],
  ]),
};

/** Rows read per query when scanning or reading a range of the log. */
const scanChunkRows = 512;

/** The read statements (the writes are `SqliteWriter`'s). */
export interface Statements {
  getMeta: SqliteStatementLike;
  /** (i, limit): the rows that start at or after `i`. */
  selectAfter: SqliteStatementLike;
  /** (i): the last row that starts before `i` (with `i + 1`: the row that may hold `i`). */
  selectBefore: SqliteStatementLike;
}

/** What {@linkcode loadLog} read: the saved state and the log's bounds. */
export interface LoadedLog {
  /** The saved HardState. */
  hardState: HardState;
  /** The latest snapshot (its data included). */
  snap: Snapshot;
  /** The compacted position. */
  offset: Index;
  /** The term at `offset`. */
  offsetTerm: Term;
  /** The last index; `offset` when the log is empty. */
  last: Index;
}

/** The record of the entry that marks the compacted position: index and term only. */
export function dummyRecord(index: Index, term: Term): Uint8Array {
  return encodeFrame(encodeEntry(newEntry({ index, term })));
}

/**
 * Checks that the database is a raft-ts log of this schema version (or
 * creates the schema in an empty one) and switches it to WAL mode with
 * `synchronous=FULL`.
 *
 * @param db The connection.
 * @param path The file's name, for messages.
 * @param create Create the schema in an empty database.
 * @param exclusive Lock the database for the connection's lifetime.
 * @param kind The kind of file (a single-group log by default).
 * @returns The journal mode (`"wal"`, or `"memory"` for an in-memory database).
 * @throws {SqliteStorageError} When the database cannot be used.
 */
export function openLogFile(
  db: SqliteDatabaseLike,
  path: string,
  create: boolean,
  exclusive: boolean,
  kind: FileKind = logFileKind,
): string {
  if (exclusive) db.exec("PRAGMA locking_mode=EXCLUSIVE");
  // Identify the file before changing anything in it.
  const fresh = identifyFile(db, path, create, kind);
  const mode = String(asRow(queryOnce(db, "PRAGMA journal_mode=WAL"))?.["journal_mode"]);
  if (mode !== "wal" && mode !== "memory") {
    throw new SqliteStorageError(
      "wal_unavailable",
      path,
      `Cannot open ${kind.name} '${path}': the database cannot use WAL mode (journal_mode is '${mode}')`,
    );
  }
  db.exec("PRAGMA synchronous=FULL");
  const sync = pragmaInt(db, path, "synchronous");
  if (sync < 2) {
    throw new SqliteStorageError(
      "sqlite",
      path,
      `Cannot open ${kind.name} '${path}': synchronous=FULL did not take effect (value ${sync})`,
    );
  }
  // Check every B-tree cell as it is read, so that damage is reported
  // instead of read; keep the WAL file from staying large after a big write.
  db.exec("PRAGMA cell_size_check=ON");
  db.exec("PRAGMA journal_size_limit=67108864");
  if (fresh) {
    inTransaction(db, () => {
      kind.create(db);
      db.exec(`PRAGMA application_id = ${kind.applicationId}`);
      db.exec(`PRAGMA user_version = ${kind.schemaVersion}`);
    });
  }
  for (const table of kind.tables) {
    const found = asRow(
      queryOnce(
        db,
        `SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '${table}'`,
      ),
    );
    if (found?.["n"] !== 1 && found?.["n"] !== 1n) {
      throw new SqliteStorageError(
        "missing_record",
        path,
        `Cannot open ${kind.name} '${path}': the table ${table} is missing`,
      );
    }
  }
  return mode;
}

/** Whether the database is empty; refuses one that is not a raft-ts file of this kind and version. */
function identifyFile(
  db: SqliteDatabaseLike,
  path: string,
  create: boolean,
  kind: FileKind,
): boolean {
  const appId = pragmaInt(db, path, "application_id");
  const version = pragmaInt(db, path, "user_version");
  const objects = intColumn(path, queryOnce(db, "SELECT count(*) AS n FROM sqlite_master"), "n");
  const fresh = appId === 0 && version === 0 && objects === 0;
  const name = kind.name;
  if (fresh && !create) {
    throw new SqliteStorageError(
      "empty",
      path,
      `Cannot open ${name} '${path}': the database holds no raft log and 'create' is false`,
    );
  }
  if (!fresh && appId !== kind.applicationId) {
    const other = kind.otherKinds?.get(appId);
    throw new SqliteStorageError(
      "foreign",
      path,
      other !== undefined
        ? `Cannot open ${name} '${path}': ${other}`
        : `Cannot open ${name} '${path}': not a raft-ts database (application_id ${appId}, expected ${kind.applicationId})`,
    );
  }
  if (!fresh && version !== kind.schemaVersion) {
    const newer = version > kind.schemaVersion;
    throw new SqliteStorageError(
      newer ? "schema_too_new" : "schema_too_old",
      path,
      `Cannot open ${name} '${path}': schema version ${version} is ${
        newer ? "newer" : "older"
      } than the supported version ${kind.schemaVersion}`,
    );
  }
  return fresh;
}

/**
 * Creates one log's tables and the records of an empty log (inside the
 * caller's transaction).
 *
 * @param db The connection.
 * @param tables The log's tables.
 */
export function createLogTables(db: SqliteDatabaseLike, tables: LogTables): void {
  db.exec(logTablesSql(tables));
  const put = `INSERT INTO ${tables.meta} (key, record) VALUES (?, ?)`;
  runOnce(db, put, metaHardState, encodeFrame(encodeHardState(newHardState())));
  runOnce(db, put, metaSnapshot, encodeFrame(encodeSnapshot(newSnapshot())));
  runOnce(db, put, metaLogStart, dummyRecord(0, 0));
}

/**
 * Prepares the read statements into `stmts`, one by one (so that those
 * prepared before a failure can be freed).
 *
 * @param db The connection.
 * @param stmts Where the statements go.
 * @param tables The log's tables.
 */
export function prepareStatements(
  db: SqliteDatabaseLike,
  stmts: Partial<Statements>,
  tables: LogTables = fileTables,
): void {
  stmts.getMeta = db.prepare(`SELECT record FROM ${tables.meta} WHERE key = ?`);
  stmts.selectAfter = db.prepare(
    `SELECT first, last, record FROM ${tables.log} WHERE first >= ? ORDER BY first LIMIT ?`,
  );
  stmts.selectBefore = db.prepare(
    `SELECT first, last, record FROM ${tables.log} WHERE first < ? ORDER BY first DESC LIMIT 1`,
  );
}

/**
 * Reads and checks every record, and fills the tail cache.
 *
 * @param path The file's name, for messages.
 * @param stmts The read statements.
 * @param cache The tail cache, refilled from the compacted position on.
 * @returns The saved state and the log's bounds.
 * @throws {SqliteStorageError} When a record is missing, fails its check,
 *   or the log has a gap, an overlap or a commit index past its end.
 */
export function loadLog(path: string, stmts: Statements, cache: TailCache): LoadedLog {
  const hs = decodeMeta(path, stmts, metaHardState, "HardState", decodeHardState);
  const snap = decodeMeta(path, stmts, metaSnapshot, "snapshot", decodeSnapshot);
  const start = decodeMeta(path, stmts, metaLogStart, "log start", decodeEntry);
  const offset = start.index;
  cache.reset(offset + 1);

  // Rows ending at or before the compacted position hold nothing live (a
  // compaction deletes them); the first live row may begin before it.
  // No two rows may overlap, live or not: reads and cuts find the row
  // holding an index as the last row that begins at or before it.
  let next = offset + 1;
  let prevLast = -1;
  // From the smallest bound, so that a row with a negative index is seen (and refused).
  let cursor = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = toRows(path, stmts.selectAfter.all(cursor, scanChunkRows));
    for (const row of rows) {
      const d = decodeRow(path, row, "open raft storage");
      cursor = d.first + 1;
      if (d.first <= prevLast) {
        throw new SqliteStorageError(
          "inconsistent",
          path,
          `Cannot open raft storage '${path}': entry ${d.first} is stored twice`,
          { index: d.first },
        );
      }
      prevLast = d.last;
      if (d.last <= offset) continue;
      if (d.first > next) {
        throw new SqliteStorageError(
          "log_gap",
          path,
          `Cannot open raft storage '${path}': entry ${next} is missing (the log continues at ${d.first})`,
          { index: next },
        );
      }
      for (let k = next - d.first; k < d.entries.length; k++) cache.push(d.entries[k]!);
      next = d.last + 1;
    }
    if (rows.length < scanChunkRows) break;
  }
  const last = next - 1;
  if (hs.commit > last) {
    throw new SqliteStorageError(
      "inconsistent",
      path,
      `Cannot open raft storage '${path}': the HardState commits index ${hs.commit}, past the last entry ${last}`,
      { index: hs.commit },
    );
  }
  return { hardState: hs, snap, offset, offsetTerm: start.term, last };
}

/** Reads, checks and decodes a meta record. */
function decodeMeta<T>(
  path: string,
  stmts: Statements,
  key: string,
  what: string,
  decode: (b: Uint8Array) => T,
): T {
  const row = asRow(stmts.getMeta.get(key));
  if (row === undefined) {
    throw new SqliteStorageError(
      "missing_record",
      path,
      `Cannot open raft storage '${path}': the ${what} record is missing`,
    );
  }
  const payload = unframe(
    path,
    row["record"],
    `the ${what} record`,
    "open raft storage",
    undefined,
  );
  try {
    return decode(payload);
  } catch (e) {
    throw new SqliteStorageError(
      "corrupt_record",
      path,
      `Cannot open raft storage '${path}': the ${what} record cannot be decoded: ${
        (e as Error).message
      }`,
      { cause: e },
    );
  }
}

/** Checks a record's frame (length and checksum) and returns its payload. */
function unframe(
  path: string,
  v: unknown,
  what: string,
  action: string,
  index: Index | undefined,
): Uint8Array {
  const fail = (why: string, cause?: unknown): SqliteStorageError =>
    new SqliteStorageError(
      "corrupt_record",
      path,
      `Cannot ${action} '${path}': ${what} ${why}`,
      index !== undefined ? { index, cause } : { cause },
    );
  if (!(v instanceof Uint8Array)) throw fail("is not a blob");
  let f: { payload: Uint8Array; next: number } | undefined;
  try {
    f = decodeFrame(v, 0, { complete: true, maxPayloadBytes: v.length });
  } catch (e) {
    throw fail(`fails its check: ${(e as Error).message}`, e);
  }
  if (f === undefined) throw fail("is empty");
  if (f.next !== v.length) throw fail(`has ${v.length - f.next} bytes after its frame`);
  return f.payload;
}

function pragmaInt(db: SqliteDatabaseLike, path: string, name: string): number {
  return intColumn(path, queryOnce(db, `PRAGMA ${name}`), name);
}

/** Prepares, runs and frees a statement. */
function runOnce(db: SqliteDatabaseLike, sql: string, ...params: SqliteValue[]): void {
  const stmt = db.prepare(sql);
  try {
    stmt.run(...params);
  } finally {
    stmt.finalize?.();
  }
}

function intColumn(path: string, row: unknown, column: string): number {
  const v = asRow(row)?.[column];
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) {
    throw new SqliteStorageError(
      "sqlite",
      path,
      `Cannot open raft storage '${path}': unexpected value of ${column}: ${String(v)}`,
    );
  }
  return n;
}
