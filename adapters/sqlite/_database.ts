/**
 * The structural SQLite handle the storage works with, and the runtime's
 * driver behind it: `bun:sqlite` on Bun, `node:sqlite` elsewhere (Deno,
 * Node 22+). Neither module is imported statically, so the package holds no
 * `bun:` import and loads on every runtime.
 *
 * @module
 */

import { closeSync, openSync } from "node:fs";

/** A value SQLite binds as a parameter or returns in a column. */
export type SqliteValue = null | number | bigint | string | Uint8Array;

/**
 * A prepared statement, as both `bun:sqlite`'s `Statement` and
 * `node:sqlite`'s `StatementSync` provide it. Parameters are positional
 * (`?`). A row is an object keyed by column name; `get` returns `undefined`
 * (Node, Deno) or `null` (Bun) when there is none.
 */
export interface SqliteStatementLike {
  /**
   * Runs the statement.
   *
   * @param params The positional parameters.
   * @returns Driver-specific change counts (unused).
   */
  run(...params: SqliteValue[]): unknown;
  /**
   * Runs the statement and returns its first row.
   *
   * @param params The positional parameters.
   * @returns The row, or `undefined` / `null` when there is none.
   */
  get(...params: SqliteValue[]): unknown;
  /**
   * Runs the statement and returns all its rows.
   *
   * @param params The positional parameters.
   * @returns The rows.
   */
  all(...params: SqliteValue[]): unknown[];
  /**
   * Frees the statement (Bun). Where present, the storage calls it before
   * closing the connection: Bun defers closing a connection, and releasing
   * its file lock, until all its statements are freed.
   *
   * @returns Anything (unused).
   */
  finalize?(): unknown;
}

/**
 * An open SQLite connection: what `bun:sqlite`'s `Database` and
 * `node:sqlite`'s `DatabaseSync` have in common. Both are synchronous.
 */
export interface SqliteDatabaseLike {
  /**
   * Runs SQL without parameters.
   *
   * @param sql One or more statements.
   * @returns Anything (unused).
   */
  exec(sql: string): unknown;
  /**
   * Compiles a statement.
   *
   * @param sql One statement, with `?` parameters.
   * @returns The prepared statement.
   */
  prepare(sql: string): SqliteStatementLike;
  /**
   * Closes the connection.
   *
   * @returns Anything (unused).
   */
  close(): unknown;
}

/**
 * Rolls back the open transaction, if any; a failure is ignored (the
 * transaction may already be gone), so that the caller reports its own error.
 *
 * @param db The connection.
 */
export function rollbackQuietly(db: SqliteDatabaseLike): void {
  try {
    db.exec("ROLLBACK");
  } catch {
    // The transaction may already be gone.
  }
}

/**
 * Runs `body` in a write transaction (`BEGIN IMMEDIATE`): committed when
 * it returns, rolled back when it throws (its error is rethrown).
 *
 * @param db The connection, with no transaction open.
 * @param body The writes.
 */
export function inTransaction(db: SqliteDatabaseLike, body: () => void): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    body();
    db.exec("COMMIT");
  } catch (e) {
    rollbackQuietly(db);
    throw e;
  }
}

/**
 * Prepares, runs and frees a statement.
 *
 * @param db The connection.
 * @param sql The query.
 * @returns Its first row (`undefined` when there is none).
 */
export function queryOnce(db: SqliteDatabaseLike, sql: string): unknown {
  const st = db.prepare(sql);
  try {
    return st.get();
  } finally {
    st.finalize?.();
  }
}

/**
 * Prepares, runs and frees a statement.
 *
 * @param db The connection.
 * @param sql The query.
 * @returns Its rows.
 */
export function queryAll(db: SqliteDatabaseLike, sql: string): unknown[] {
  const st = db.prepare(sql);
  try {
    return st.all();
  } finally {
    st.finalize?.();
  }
}

/** Whether this code runs on Bun. */
export function isBun(): boolean {
  return (globalThis as { Bun?: unknown }).Bun !== undefined;
}

interface BunSqliteModule {
  Database: new (path: string, options?: { create?: boolean }) => SqliteDatabaseLike;
}

/**
 * The runtime's driver as a synchronous opener: loading the driver module
 * is asynchronous, opening a connection with it is not.
 *
 * @returns A function that opens a connection, creating the file when it is missing.
 */
export async function databaseOpener(): Promise<(path: string) => SqliteDatabaseLike> {
  if (isBun()) {
    // A literal specifier: Deno and JSR analyze it without a warning and
    // never load it, as this branch only runs on Bun.
    const mod = (await import("bun:sqlite")) as unknown as BunSqliteModule;
    return (path: string): SqliteDatabaseLike => new mod.Database(path, { create: true });
  }
  const { DatabaseSync } = await import("node:sqlite");
  return (path: string): SqliteDatabaseLike => new DatabaseSync(path);
}

/**
 * Opens an SQLite connection with the runtime's driver, creating the file
 * when it is missing.
 *
 * @param path The database file.
 * @returns The connection.
 */
export async function openDatabase(path: string): Promise<SqliteDatabaseLike> {
  return (await databaseOpener())(path);
}

/**
 * Creates a missing database file with mode 0600 (an empty file is an
 * empty database to SQLite), so that the log is not readable by other
 * users; SQLite creates the WAL and shared-memory files with the mode of
 * the database. An existing file keeps its mode.
 */
export function createPrivateFile(path: string): void {
  if (path === ":memory:" || path === "" || path.startsWith("file:")) return;
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as { code?: unknown }).code === "EEXIST") return;
    throw e;
  }
  closeSync(fd);
}
