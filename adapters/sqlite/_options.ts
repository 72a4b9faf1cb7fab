/**
 * The options of `SqliteStorage`, and their checks.
 *
 * @module
 */

import type { Logger } from "../../core/logger.ts";
import { checkNumberOption } from "../../core/node/options.ts";

/**
 * Options of {@linkcode SqliteStorage}.
 *
 * @example Usage
 * ```ts
 * import type { SqliteStorageOptions } from "@raft-ts/raft/sqlite";
 * const options: SqliteStorageOptions = { path: "node-1.db", cacheEntriesMax: 1024 };
 * if (options.cacheEntriesMax !== 1024) throw new Error("unexpected");
 * ```
 */
export interface SqliteStorageOptions {
  /**
   * The database file's path, used in error messages only.
   * @default {"(sqlite)"}
   */
  path?: string;
  /**
   * Create the schema when the database is empty. When `false`, an empty
   * database is refused with code `"empty"`: a node that has been running
   * must never restart with an empty log.
   * @default {true}
   */
  create?: boolean;
  /**
   * Keep the database locked for the storage's lifetime
   * (`PRAGMA locking_mode=EXCLUSIVE`), so that a second process (or
   * connection) cannot open the same node's file; it gets code `"locked"`.
   * @default {true}
   */
  exclusive?: boolean;
  /**
   * Most entries of the log's tail kept in memory to serve reads without a
   * query (0 disables the cache).
   * @default {4096}
   */
  cacheEntriesMax?: number;
  /**
   * Most bytes (encoded entry sizes) of the log's tail kept in memory.
   * @default {8388608} (8 MiB)
   */
  cacheBytesMax?: number;
  /**
   * Bytes the WAL file is grown to when the storage opens, so that commits
   * rewrite the file in place: syncing an append must also sync the file's
   * new size, which on Linux file systems costs about twice a sync in place.
   * SQLite checkpoints the WAL once it holds 1000 pages (~4 MiB) and then
   * writes it again from the start, so the default covers a WAL's whole
   * cycle. 0 turns it off. Nothing is committed to grow it: SQLite writes a
   * transaction that spills into the WAL, then rolls it back.
   * @default {4194304} (4 MiB)
   */
  walPreallocateBytes?: number;
  /**
   * Where writes run. `"inline"`: on the calling thread; every write call
   * returns once it is durable, and blocks the event loop meanwhile (the
   * sync included). `"worker"`: on a thread of its own, with its own
   * connection to the file (`path` must name it), so the event loop keeps
   * running during a sync: every write call updates what the read side
   * returns at once, and `save`, `append`, `setHardState` and
   * `applySnapshot` return a Promise that resolves once the write is
   * durable; `createSnapshot` and `compact` return as before and are
   * durable when a later write's Promise, or `flush()`, resolves (writes
   * are durable in the order they were made). A write that fails on the
   * thread, or a thread that stops, rejects that Promise and every later
   * write with a `SqliteStorageError` `"write_failed"`. With `exclusive`,
   * the file is locked against other processes through a lock file beside
   * it (`<path>-lock`), since the two connections share the database.
   * Open it with {@linkcode openSqliteStorage}, which waits for the thread.
   * @default {"inline"}
   */
  writer?: "inline" | "worker";
  /**
   * With `writer: "worker"`: most writes in flight (made and not yet
   * durable); one more is refused with code `"busy"`. Entries written and
   * not yet durable stay in memory whatever the cache bounds.
   * @default {64}
   */
  writesInFlightMax?: number;
  /**
   * Bytes per stored chunk of snapshot data (`snapshotChunks`): a
   * snapshot is stored as rows of at most this size, never as one row.
   * @default {1048576} (1 MiB)
   */
  snapshotChunkBytes?: number;
  /**
   * Where broken invariants are logged before a `RaftInvariantError` is thrown.
   * @default {discardLogger}
   */
  logger?: Logger;
}

/** The options' limits, defaults filled in and checked. */
export interface StorageLimits {
  cacheEntriesMax: number;
  cacheBytesMax: number;
  walBytes: number;
  writesInFlightMax: number;
  /** Whether writes run on a thread of their own. */
  worker: boolean;
  /** Bytes per stored chunk of snapshot data. */
  snapshotChunkBytes: number;
}

function checkLimit(what: string, name: string, v: number): void {
  checkNumberOption(`create ${what}`, name, v, "nonNegativeInteger");
}

/**
 * The options' limits, with their defaults.
 *
 * @param options The options.
 * @param what The storage class, for messages.
 * @returns The limits.
 * @throws {RangeError} When an option is out of range.
 */
export function storageLimits(
  options: SqliteStorageOptions,
  what = "SqliteStorage",
): StorageLimits {
  const cacheEntriesMax = options.cacheEntriesMax ?? 4096;
  const cacheBytesMax = options.cacheBytesMax ?? 8 * 1024 * 1024;
  const walBytes = options.walPreallocateBytes ?? 4 * 1024 * 1024;
  const writesInFlightMax = options.writesInFlightMax ?? 64;
  const worker = options.writer === "worker";
  const snapshotChunkBytes = options.snapshotChunkBytes ?? 1 << 20;
  checkLimit(what, "cacheEntriesMax", cacheEntriesMax);
  checkLimit(what, "snapshotChunkBytes", snapshotChunkBytes);
  if (snapshotChunkBytes < 1 || snapshotChunkBytes > 1 << 28) {
    throw new RangeError(
      `Cannot create ${what} as 'snapshotChunkBytes' must be between 1 and ${
        1 << 28
      }: current value ${snapshotChunkBytes}`,
    );
  }
  checkLimit(what, "cacheBytesMax", cacheBytesMax);
  checkLimit(what, "walPreallocateBytes", walBytes);
  checkLimit(what, "writesInFlightMax", writesInFlightMax);
  if (options.writer !== undefined && options.writer !== "inline" && !worker) {
    throw new RangeError(
      `Cannot create ${what} as 'writer' must be "inline" or "worker": current value ${
        String(options.writer)
      }`,
    );
  }
  if (worker && (options.path === undefined || options.path === ":memory:")) {
    throw new RangeError(
      `Cannot create ${what} as 'writer' is "worker" and 'path' names no file: current value ${
        String(options.path)
      }`,
    );
  }
  if (worker && writesInFlightMax === 0) {
    throw new RangeError(
      `Cannot create ${what} as 'writesInFlightMax' must be at least 1: current value 0`,
    );
  }
  return {
    cacheEntriesMax,
    cacheBytesMax,
    walBytes,
    writesInFlightMax,
    worker,
    snapshotChunkBytes,
  };
}
