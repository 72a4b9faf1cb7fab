/**
 * Helpers shared by the SQLite storage tests: temporary directories and a
 * connection wrapper that counts the statements run through it.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SqliteDatabaseLike, SqliteStatementLike, SqliteValue } from "./_database.ts";
import { openSqliteDatabase } from "./_open.ts";

/** A temporary directory, removed by `remove()`. */
export interface TempDir {
  /** The directory. */
  dir: string;
  /**
   * A path inside it.
   *
   * @param name The file name.
   * @returns The path.
   */
  file(name: string): string;
  /** Removes the directory and everything in it. */
  remove(): void;
}

/**
 * Creates a temporary directory under the OS's temp dir.
 *
 * @returns The directory.
 */
export function tempDir(): TempDir {
  const dir = mkdtempSync(join(tmpdir(), "raft-sqlite-"));
  return {
    dir,
    file: (name: string): string => join(dir, name),
    remove: (): void => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Runs `body` with a fresh temporary directory, removed afterwards.
 *
 * @param body What to do with it.
 * @returns What `body` returned.
 */
export async function withTempDir<T>(body: (tmp: TempDir) => Promise<T>): Promise<T> {
  const tmp = tempDir();
  try {
    return await body(tmp);
  } finally {
    tmp.remove();
  }
}

/** Counts of what went through a {@linkcode countingDatabase}. */
export interface QueryCounts {
  /** `get()` and `all()` calls: reads. */
  reads: number;
  /** `run()` calls. */
  runs: number;
  /** `exec()` calls. */
  execs: number;
}

/**
 * Wraps a connection so that its statements are counted; optionally makes
 * the n-th `run()` call throw, to simulate a failing disk.
 *
 * @param db The connection.
 * @returns The wrapper, its counters, and a switch that fails a later `run()`.
 */
export function countingDatabase(db: SqliteDatabaseLike): {
  db: SqliteDatabaseLike;
  counts: QueryCounts;
  failRunAfter(n: number): void;
} {
  const counts: QueryCounts = { reads: 0, runs: 0, execs: 0 };
  let failIn = -1;
  const wrap = (st: SqliteStatementLike): SqliteStatementLike => ({
    run(...params: SqliteValue[]): unknown {
      counts.runs++;
      if (failIn >= 0 && failIn-- === 0) throw new Error("disk I/O error (simulated)");
      return st.run(...params);
    },
    get(...params: SqliteValue[]): unknown {
      counts.reads++;
      return st.get(...params);
    },
    all(...params: SqliteValue[]): unknown[] {
      counts.reads++;
      return st.all(...params);
    },
    finalize(): unknown {
      return st.finalize?.();
    },
  });
  return {
    db: {
      exec(sql: string): unknown {
        counts.execs++;
        return db.exec(sql);
      },
      prepare(sql: string): SqliteStatementLike {
        return wrap(db.prepare(sql));
      },
      close(): unknown {
        return db.close();
      },
    },
    counts,
    failRunAfter(n: number): void {
      failIn = n;
    },
  };
}

/**
 * Runs SQL on a database file through a fresh connection, then closes it.
 *
 * @param path The file.
 * @param body What to do with the connection.
 * @returns What `body` returned.
 */
export async function withRawDatabase<T>(
  path: string,
  body: (db: SqliteDatabaseLike, query: (sql: string, ...p: SqliteValue[]) => unknown[]) => T,
): Promise<T> {
  const db = await openSqliteDatabase(path);
  const stmts: SqliteStatementLike[] = [];
  const query = (sql: string, ...p: SqliteValue[]): unknown[] => {
    const st = db.prepare(sql);
    stmts.push(st);
    return st.all(...p);
  };
  try {
    return body(db, query);
  } finally {
    for (const st of stmts) st.finalize?.();
    db.close();
  }
}
