/**
 * Opening a storage file with the runtime's own SQLite driver.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { createPrivateFile, openDatabase, type SqliteDatabaseLike } from "./_database.ts";
import { SqliteStorageError, toStorageError } from "./_errors.ts";
import { SqliteHostStorage, type SqliteHostStorageOptions } from "./_host_storage.ts";
import type { SqliteStorageOptions } from "./_options.ts";
import { SqliteStorage } from "./_storage.ts";

/**
 * Options of {@linkcode openSqliteStorage}: those of `SqliteStorage`
 * except `path`, which is the file opened.
 *
 * @example Usage
 * ```ts
 * import type { OpenSqliteStorageOptions } from "@raft-ts/raft/sqlite";
 * const options: OpenSqliteStorageOptions = { create: false };
 * if (options.create !== false) throw new Error("unexpected");
 * ```
 */
export type OpenSqliteStorageOptions = Omit<SqliteStorageOptions, "path">;

/**
 * Opens an SQLite connection with the runtime's driver: `bun:sqlite` on
 * Bun, `node:sqlite` on Deno and Node 22+ (both loaded on demand, so
 * neither is a static import). The file is created when missing, readable
 * and writable by its owner only (0600; SQLite gives its WAL the same mode).
 *
 * @param path The database file.
 * @returns The connection, for {@linkcode SqliteStorage} or for your own tables
 *   in another file.
 * @throws {SqliteStorageError} When the file cannot be opened.
 *
 * @example Opening a connection
 * ```ts
 * import { openSqliteDatabase, SqliteStorage } from "@raft-ts/raft/sqlite";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "raft-"));
 * const path = join(dir, "node-1.db");
 * const storage = new SqliteStorage(await openSqliteDatabase(path), { path });
 * if (storage.lastIndex() !== 0) throw new Error("unexpected");
 * storage.close();
 * rmSync(dir, { recursive: true });
 * ```
 */
export async function openSqliteDatabase(path: string): Promise<SqliteDatabaseLike> {
  try {
    createPrivateFile(path);
    return await openDatabase(path);
  } catch (e) {
    throw toStorageError(e, path, "open database");
  }
}

/**
 * Opens (or creates) a node's storage file with the runtime's SQLite
 * driver; see {@linkcode SqliteStorage} for what is checked on opening.
 *
 * @param path The database file, one per node.
 * @param options Whether to create the file, cache bounds, locking, where
 *   writes run (`writer: "worker"`: on a thread of their own; this waits
 *   until that thread has opened the file).
 * @returns The storage; `close()` it when done.
 * @throws {SqliteStorageError} When the file is missing and `create` is
 *   false (`"not_found"`), or cannot be used as a raft-ts log.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Restarting a node from its file
 * ```ts
 * import { openSqliteStorage } from "@raft-ts/raft/sqlite";
 * import { newEntry } from "@raft-ts/raft";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "raft-"));
 * const path = join(dir, "node-1.db");
 * const first = await openSqliteStorage(path);
 * first.append([newEntry({ index: 1, term: 1 }), newEntry({ index: 2, term: 1 })]);
 * first.setHardState({ term: 1, vote: 1, commit: 2 });
 * first.close();
 *
 * const again = await openSqliteStorage(path, { create: false });
 * if (again.lastIndex() !== 2 || again.term(2) !== 1) throw new Error("unexpected");
 * again.close();
 * rmSync(dir, { recursive: true });
 * ```
 */
export async function openSqliteStorage(
  path: string,
  options: OpenSqliteStorageOptions = {},
): Promise<SqliteStorage> {
  checkExists("raft storage", path, options.create);
  const db = await openSqliteDatabase(path);
  const storage = new SqliteStorage(db, { ...options, path });
  return options.writer === "worker" ? await threadOpened(storage) : storage;
}

/**
 * Waits until a storage's writer thread opened its connection (and took
 * the lock); closes the storage when it failed to.
 */
async function threadOpened<S extends { flush(): Promise<void>; close(): void | Promise<void> }>(
  storage: S,
): Promise<S> {
  try {
    await storage.flush();
  } catch (e) {
    try {
      await storage.close();
    } catch {
      // The open error is the one to report.
    }
    throw e;
  }
  return storage;
}

/** Refuses a missing file when `create` is false. */
function checkExists(what: string, path: string, create: boolean | undefined): void {
  if (create === false && path !== ":memory:" && !existsSync(path)) {
    throw new SqliteStorageError(
      "not_found",
      path,
      `Cannot open ${what} '${path}': the file does not exist and 'create' is false`,
    );
  }
}

/**
 * Opens (or creates) a host's storage file, every group of the host in
 * it, with the runtime's SQLite driver; see {@linkcode SqliteHostStorage}.
 *
 * @param path The database file, one per host.
 * @param options Whether to create the file, cache bounds (per group),
 *   locking, where writes run (`writer: "worker"`: on a thread of their
 *   own; this waits until that thread has opened the file).
 * @returns The storage; `close()` it when done.
 * @throws {SqliteStorageError} When the file is missing and `create` is
 *   false (`"not_found"`), or cannot be used as a raft-ts host storage.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Restarting a host's groups from its file
 * ```ts
 * import { openSqliteHostStorage } from "@raft-ts/raft/sqlite";
 * import { newEntry } from "@raft-ts/raft";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "raft-"));
 * const path = join(dir, "host-1.db");
 * const first = await openSqliteHostStorage(path);
 * first.openGroup(7);
 * first.openGroup(9);
 * const update = {
 *   hardState: { term: 1, vote: 1, commit: 1 },
 *   entries: [newEntry({ index: 1, term: 1 })],
 *   snapshot: undefined,
 *   mustSync: true,
 * };
 * first.writeBatch([{ groupId: 7, update }, { groupId: 9, update }]);
 * first.close();
 *
 * const again = await openSqliteHostStorage(path, { create: false });
 * if (again.groupIds().join() !== "7,9") throw new Error("unexpected");
 * if (again.openGroup(9).lastIndex() !== 1) throw new Error("unexpected");
 * again.close();
 * rmSync(dir, { recursive: true });
 * ```
 */
export async function openSqliteHostStorage(
  path: string,
  options: Omit<SqliteHostStorageOptions, "path"> = {},
): Promise<SqliteHostStorage> {
  checkExists("raft host storage", path, options.create);
  const storage = new SqliteHostStorage(await openSqliteDatabase(path), { ...options, path });
  return options.writer === "worker" ? await threadOpened(storage) : storage;
}
