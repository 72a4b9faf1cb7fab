/**
 * The lock file that keeps other processes off a database file whose
 * connections share it (so that none can hold SQLite's exclusive lock).
 *
 * @module
 */

import { createPrivateFile, openDatabase, type SqliteDatabaseLike } from "./_database.ts";
import { SqliteStorageError, toStorageError } from "./_errors.ts";

/**
 * Locks `<path>-lock` for as long as the returned connection stays open:
 * a second caller, in this process or another, is refused.
 *
 * @param path The database file the lock stands for.
 * @param action What is being done, after "Cannot " (for the error).
 * @returns The lock's connection; close it to release the lock.
 * @throws {SqliteStorageError} `"locked"` when another connection holds
 *   the lock, or another code when the lock file cannot be opened.
 */
export async function holdLockFile(path: string, action: string): Promise<SqliteDatabaseLike> {
  let lock: SqliteDatabaseLike;
  try {
    createPrivateFile(`${path}-lock`);
    lock = await openDatabase(`${path}-lock`);
  } catch (e) {
    throw toStorageError(e, path, action);
  }
  try {
    lock.exec("PRAGMA locking_mode=EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE");
    lock.exec("COMMIT");
  } catch (e) {
    try {
      lock.close();
    } catch {
      // The lock error is the one to report.
    }
    const err = toStorageError(e, path, action);
    throw new SqliteStorageError(
      err.code,
      path,
      `Cannot ${action} '${path}': another connection holds its lock file '${path}-lock' (${
        (e as Error).message
      })`,
      { cause: e },
    );
  }
  return lock;
}
