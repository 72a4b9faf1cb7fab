/**
 * The typed error of the SQLite storage, and how SQLite's own errors map
 * onto it.
 *
 * @module
 */

import { CodecError } from "../../core/codec.ts";

/**
 * Why a {@linkcode SqliteStorageError} was thrown.
 *
 * - `"not_found"`: the file does not exist and `create` is off.
 * - `"empty"`: the database holds no raft-ts log and `create` is off.
 * - `"not_sqlite"`: the file is not an SQLite database.
 * - `"foreign"`: an SQLite database, but not a raft-ts log.
 * - `"schema_too_old"` / `"schema_too_new"`: a raft-ts log of a schema
 *   version this code cannot read.
 * - `"sqlite_corrupt"`: SQLite reports the file malformed (truncated, torn
 *   or overwritten pages).
 * - `"corrupt_record"`: a stored record fails its checksum or cannot be
 *   decoded, or does not belong where it is stored.
 * - `"missing_record"`: a record the schema requires is absent.
 * - `"log_gap"`: an entry is missing between the first and the last index.
 * - `"inconsistent"`: the records contradict each other (for example the
 *   HardState commits past the last entry).
 * - `"locked"`: another connection holds the database.
 * - `"wal_unavailable"`: the database cannot be put in WAL mode.
 * - `"write_failed"`: a write failed; its outcome on disk is unknown, so the
 *   storage refuses further writes until it is reopened.
 * - `"busy"`: a storage with a writer thread has `writesInFlightMax` writes
 *   in flight; await some before writing more.
 * - `"closed"`: the storage was closed.
 * - `"sqlite"`: any other error reported by SQLite.
 */
export type SqliteStorageErrorCode =
  | "not_found"
  | "empty"
  | "not_sqlite"
  | "foreign"
  | "schema_too_old"
  | "schema_too_new"
  | "sqlite_corrupt"
  | "corrupt_record"
  | "missing_record"
  | "log_gap"
  | "inconsistent"
  | "locked"
  | "wal_unavailable"
  | "write_failed"
  | "busy"
  | "closed"
  | "sqlite";

/**
 * Thrown by the SQLite storage when its file cannot be used: not a raft-ts
 * log, a schema it cannot read, a corrupt or missing record, a write that
 * failed. It names the file and, where one is involved, the log index.
 *
 * @example Telling the causes apart
 * ```ts
 * import { openSqliteStorage, SqliteStorageError } from "@raft-ts/raft/sqlite";
 * try {
 *   await openSqliteStorage("/nonexistent/dir/node.db", { create: false });
 *   throw new Error("unexpected");
 * } catch (e) {
 *   if (!(e instanceof SqliteStorageError) || e.code !== "not_found") throw e;
 * }
 * ```
 */
export class SqliteStorageError extends Error {
  /** Literal code for programmatic checks. */
  readonly code: SqliteStorageErrorCode;
  /** The database file (or the name given for it). */
  readonly path: string;
  /** The log index involved, if any. */
  readonly index: number | undefined;
  /** The group involved, when the file is a host's (`SqliteHostStorage`). */
  readonly groupId: number | undefined;

  /**
   * Creates the error.
   *
   * @param code Why it was thrown.
   * @param path The database file.
   * @param message The error's message.
   * @param options The log index and group involved, and the underlying error.
   */
  constructor(
    code: SqliteStorageErrorCode,
    path: string,
    message: string,
    options?: { index?: number | undefined; groupId?: number; cause?: unknown },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "SqliteStorageError";
    this.code = code;
    this.path = path;
    this.index = options?.index;
    this.groupId = options?.groupId;
  }
}

// SQLite's primary result codes that get their own error code.
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/** SQLite's result code of a driver error: `errcode` on Node and Deno, `errno` on Bun. */
function sqliteResultCode(e: unknown): number | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const o = e as { errcode?: unknown; errno?: unknown };
  const v = typeof o.errcode === "number" ? o.errcode : o.errno;
  return typeof v === "number" ? v & 0xff : undefined;
}

/**
 * Converts what a storage operation threw into a {@linkcode SqliteStorageError}
 * (errors that already are one pass through).
 *
 * @param e What was thrown.
 * @param path The database file.
 * @param action What was being done, after "Cannot ".
 * @param fallback The code of an error that is neither SQLite's nor a codec's.
 * @returns The error to throw.
 */
export function toStorageError(
  e: unknown,
  path: string,
  action: string,
  fallback: SqliteStorageErrorCode = "sqlite",
): SqliteStorageError {
  if (e instanceof SqliteStorageError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  if (e instanceof CodecError) {
    return new SqliteStorageError(
      "corrupt_record",
      path,
      `Cannot ${action} '${path}': a record cannot be decoded: ${detail}`,
      { cause: e },
    );
  }
  const rc = sqliteResultCode(e);
  let code: SqliteStorageErrorCode = rc === undefined ? fallback : "sqlite";
  if (rc === SQLITE_NOTADB || /file is not a database/i.test(detail)) code = "not_sqlite";
  else if (rc === SQLITE_CORRUPT || /malformed/i.test(detail)) code = "sqlite_corrupt";
  else if (rc === SQLITE_BUSY || rc === SQLITE_LOCKED || /database is locked/i.test(detail)) {
    code = "locked";
  }
  return new SqliteStorageError(code, path, `Cannot ${action} '${path}': ${detail}`, {
    cause: e,
  });
}

/**
 * The error of a write refused because an earlier one failed.
 *
 * @param path The database file.
 * @param action What is being done, after "Cannot ".
 * @param failure The earlier failure.
 * @returns The error to throw (`"write_failed"`, caused by `failure`).
 */
export function earlierWriteFailed(
  path: string,
  action: string,
  failure: SqliteStorageError,
): SqliteStorageError {
  return new SqliteStorageError(
    "write_failed",
    path,
    `Cannot ${action} '${path}': an earlier write failed (${failure.message})`,
    { cause: failure },
  );
}
