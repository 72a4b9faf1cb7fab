/**
 * `SqliteStateMachine`: a state machine whose state lives in tables of the
 * node's Raft database, next to the log.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { assert } from "../../core/_assert.ts";
import type { Command, StateMachine } from "../../core/node.ts";
import { checkNumberOption } from "../../core/node/options.ts";
import type { Index, Term } from "../../core/types.ts";
import {
  databaseOpener,
  inTransaction,
  queryOnce,
  rollbackQuietly,
  type SqliteDatabaseLike,
  type SqliteStatementLike,
} from "./_database.ts";
import { SqliteStorageError, toStorageError } from "./_errors.ts";
import { holdLockFile } from "./_lock_file.ts";
import { openSqliteDatabase, openSqliteStorage, type OpenSqliteStorageOptions } from "./_open.ts";
import { asRow } from "./_rows.ts";
import { SqliteStorage } from "./_storage.ts";
import { dumpTables, loadTables, TableDumpError, tableShape } from "./_table_dump.ts";

/** Snapshots being read at once, at most (each holds a connection and a WAL read transaction). */
const snapshotReadersMax = 4;

/** Prepared statements the state machine's connection keeps, at most. */
const cachedStatementsMax = 256;

/**
 * The state machine's connection as the definition sees it: `prepare`
 * returns one statement per SQL text (the first `cachedStatementsMax`),
 * so `apply` may prepare what it runs on every call; they are freed when
 * the state machine closes (Bun keeps a connection open until its
 * statements are freed). `close` is refused: the state machine owns it.
 */
class CachingDatabase implements SqliteDatabaseLike {
  readonly #db: SqliteDatabaseLike;
  readonly #cache = new Map<string, SqliteStatementLike>();

  constructor(db: SqliteDatabaseLike) {
    this.#db = db;
  }

  /** The connection itself, for statements the state machine frees at once. */
  get raw(): SqliteDatabaseLike {
    return this.#db;
  }

  exec(sql: string): unknown {
    return this.#db.exec(sql);
  }

  prepare(sql: string): SqliteStatementLike {
    const cached = this.#cache.get(sql);
    if (cached !== undefined) return cached;
    const st = this.#db.prepare(sql);
    if (this.#cache.size < cachedStatementsMax) this.#cache.set(sql, st);
    return st;
  }

  close(): unknown {
    throw new TypeError("Cannot close the state machine's connection: close the state machine");
  }

  /** Frees the cached statements, then closes the connection. */
  closeAll(): void {
    for (const st of this.#cache.values()) st.finalize?.();
    this.#cache.clear();
    this.#db.close();
  }
}

/**
 * What a {@linkcode SqliteStateMachine} runs: the application's tables
 * and how a command changes them. `setup` and `apply` are synchronous,
 * like both SQLite drivers, and run inside the state machine's
 * transactions; they must not begin, commit or roll back one themselves.
 *
 * @typeParam R The result of applying one command.
 *
 * @example A counter table
 * ```ts
 * import type { SqliteStateMachineDefinition } from "@raft-ts/raft/sqlite";
 *
 * const counter: SqliteStateMachineDefinition<number> = {
 *   tables: ["counter"],
 *   setup(db) {
 *     db.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
 *     db.exec("INSERT OR IGNORE INTO counter VALUES (1, 0)");
 *   },
 *   apply(db, commands) {
 *     const add = db.prepare("UPDATE counter SET n = n + ? WHERE id = 1 RETURNING n");
 *     return commands.map((c) => Number((add.get(c.data.length) as { n: number }).n));
 *   },
 * };
 * if (counter.tables[0] !== "counter") throw new Error("unexpected");
 * ```
 */
export interface SqliteStateMachineDefinition<R> {
  /**
   * The tables that hold the state: what a snapshot holds and a restore
   * replaces. Every table `setup` creates belongs here; names starting
   * with `raft_` are the library's.
   */
  tables: readonly string[];
  /**
   * Creates the tables when they are missing (`CREATE TABLE IF NOT
   * EXISTS`); runs once at open, in a transaction.
   *
   * @param db The state machine's connection.
   */
  setup(db: SqliteDatabaseLike): void;
  /**
   * Applies committed commands, in log order, deterministically. Runs in
   * the transaction that also records the last command's index, so the
   * tables and the applied index never disagree. Throwing rolls the
   * transaction back and stops the node (fail-stop). `db.prepare(sql)`
   * returns the same statement for the same SQL each time (do not
   * `finalize` it: the state machine frees it when it closes).
   *
   * @param db The state machine's connection, in a write transaction.
   * @param commands The commands; never empty.
   * @returns One result per command, in order.
   */
  apply(db: SqliteDatabaseLike, commands: readonly Command[]): readonly R[];
  /**
   * Called after a snapshot replaced the tables (to drop what the
   * application keeps about them in memory).
   *
   * @param db The state machine's connection.
   */
  restored?(db: SqliteDatabaseLike): void;
}

/**
 * Options of {@linkcode SqliteStateMachine.open}: those of the storage,
 * plus the snapshot's chunk size.
 *
 * @example Usage
 * ```ts
 * import type { SqliteStateMachineOptions } from "@raft-ts/raft/sqlite";
 * const options: SqliteStateMachineOptions = { snapshotChunkBytes: 256 * 1024 };
 * if (options.snapshotChunkBytes !== 262144) throw new Error("unexpected");
 * ```
 */
export interface SqliteStateMachineOptions extends OpenSqliteStorageOptions {
  /**
   * About how many bytes each snapshot chunk holds (a chunk ends after
   * the row that filled it).
   * @default {1048576} (1 MiB)
   */
  snapshotChunkBytes?: number;
}

/**
 * A state machine whose state lives in SQLite tables of the node's Raft
 * database file, opened together with the file's {@linkcode SqliteStorage}.
 * The application gives its tables and an `apply` that writes them
 * (a {@linkcode SqliteStateMachineDefinition}); this class runs each batch
 * of commands, and the update of its applied index, in one transaction.
 *
 * Restart: `appliedIndex()` returns what the tables reflect, so `RaftNode`
 * applies nothing twice and replays only the commands the tables lack.
 *
 * Durability: the commands were durable in the log before they were
 * committed, so the state machine's transactions commit without a sync of
 * their own (`synchronous=NORMAL` in WAL mode). Each is written to the
 * WAL after the storage's write that committed its commands, and becomes
 * durable with the storage's next synced write: one fsync of the WAL
 * covers the state of one Ready and the log of the next. A crash may lose
 * the last applied transactions, never part of one, and never one without
 * the log writes before it (the WAL keeps a prefix of its commits); the
 * applied index rolls back with the tables, and the node applies those
 * commands again from the log. The state cannot share the log's
 * transaction: Raft commits entries only once they are durable, and
 * applies them after.
 *
 * Connections: the state machine writes on a connection of its own and
 * reads each snapshot on another, in a WAL read transaction, so a snapshot
 * is one consistent state while commands keep being applied. The storage
 * therefore cannot hold SQLite's exclusive lock; with `exclusive` (the
 * default) the file is kept from other processes by a lock file beside it
 * (`<path>-lock`) instead. With `writer: "worker"` the log is written on
 * its own thread and the state machine's transactions wait for a log
 * write in progress (SQLite has one writer at a time; busy timeout 5 s).
 *
 * Snapshots are a stream of chunks in a format of their own: each table's
 * rows in primary-key order, length-prefixed, with a row count and a
 * CRC-32C at the end; a restore replaces every table in one transaction,
 * so a crash or a bad stream leaves the old state.
 *
 * @typeParam R The result of applying one command.
 *
 * @example A replicated counter in the node's database
 * ```ts
 * import { SqliteStateMachine } from "@raft-ts/raft/sqlite";
 * import { RaftNode } from "@raft-ts/raft";
 * import { MemoryNetwork } from "@raft-ts/raft/memory";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "raft-"));
 * const sm = await SqliteStateMachine.open<number>(join(dir, "node-1.db"), {
 *   tables: ["counter"],
 *   setup(db) {
 *     db.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
 *     db.exec("INSERT OR IGNORE INTO counter VALUES (1, 0)");
 *   },
 *   apply(db, commands) {
 *     const add = db.prepare("UPDATE counter SET n = n + ? WHERE id = 1 RETURNING n");
 *     return commands.map((c) => Number((add.get(c.data.length) as { n: number }).n));
 *   },
 * });
 * const net = new MemoryNetwork();
 * const node = await RaftNode.start({
 *   id: 1,
 *   peers: [1],
 *   storage: sm.storage,
 *   transport: net.connect(1),
 *   stateMachine: sm,
 *   tickMs: 5,
 * });
 * await node.waitForLeader();
 * const n = await node.propose(new Uint8Array(3));
 * await node.close();
 * net.close();
 * await sm.close();
 * if (n !== 3) throw new Error("unexpected");
 * rmSync(dir, { recursive: true });
 * ```
 */
export class SqliteStateMachine<R> implements StateMachine<R> {
  /** The node's Raft storage, on the same file; closed by {@linkcode SqliteStateMachine.close}. */
  readonly storage: SqliteStorage;
  readonly #db: CachingDatabase;
  readonly #path: string;
  readonly #def: SqliteStateMachineDefinition<R>;
  readonly #openDb: (path: string) => SqliteDatabaseLike;
  readonly #chunkBytes: number;
  readonly #lock: SqliteDatabaseLike | undefined;
  readonly #setApplied: SqliteStatementLike;
  /** The index of the last command applied (or snapshot restored); what the tables reflect. */
  #applied: Index;
  /** The connections of the snapshots being read. */
  readonly #readers = new Set<SqliteDatabaseLike>();
  /** Set while a restore's transaction is open. */
  #restoring = false;
  #closed = false;

  private constructor(
    parts: {
      storage: SqliteStorage;
      db: CachingDatabase;
      path: string;
      openDb: (path: string) => SqliteDatabaseLike;
      lock: SqliteDatabaseLike | undefined;
      chunkBytes: number;
      applied: Index;
    },
    def: SqliteStateMachineDefinition<R>,
  ) {
    this.storage = parts.storage;
    this.#db = parts.db;
    this.#path = parts.path;
    this.#openDb = parts.openDb;
    this.#lock = parts.lock;
    this.#chunkBytes = parts.chunkBytes;
    this.#def = def;
    this.#applied = parts.applied;
    this.#setApplied = parts.db.prepare("UPDATE raft_sm_meta SET value = ? WHERE key = 'applied'");
  }

  /**
   * Opens (or creates) a node's database file with its Raft storage and
   * this state machine's tables: locks the file (see `exclusive`), opens
   * the storage, then the state machine's connection, and runs `setup`.
   *
   * @typeParam R The result of applying one command.
   * @param path The database file, one per node.
   * @param definition The tables and how commands change them.
   * @param options The storage's options and the snapshot's chunk size.
   * @returns The state machine; its `storage` is the node's storage.
   * @throws {SqliteStorageError} When the file cannot be opened or locked
   *   (`"locked"`), or `setup` fails.
   * @throws {RangeError} When an option is out of range, `path` names no
   *   file, or a table is missing or named `raft_*`.
   * @throws {TypeError} When `setup` or `apply` is not a function.
   */
  static async open<R>(
    path: string,
    definition: SqliteStateMachineDefinition<R>,
    options: SqliteStateMachineOptions = {},
  ): Promise<SqliteStateMachine<R>> {
    const action = "open the state machine";
    const chunkBytes = checkNumberOption(
      "open SqliteStateMachine",
      "snapshotChunkBytes",
      options.snapshotChunkBytes ?? 1024 * 1024,
      "positiveInteger",
    );
    if (path === "" || path === ":memory:" || path.startsWith("file:")) {
      throw new RangeError(
        `Cannot open SqliteStateMachine as 'path' must name a file: current value '${path}'`,
      );
    }
    checkTables(definition.tables);
    if (typeof definition.setup !== "function" || typeof definition.apply !== "function") {
      throw new TypeError(
        "Cannot open SqliteStateMachine as its definition lacks a 'setup' or 'apply' function",
      );
    }
    const { snapshotChunkBytes: _, ...storageOptions } = options;
    if (options.create === false && !existsSync(path)) {
      // The storage's error, before a lock file is created beside nothing.
      await openSqliteStorage(path, storageOptions);
    }
    const worker = options.writer === "worker";
    const exclusive = options.exclusive ?? true;
    const opened: { close(): unknown }[] = [];
    try {
      // The writer thread holds the lock file itself.
      const lock = exclusive && !worker ? await holdLockFile(path, action) : undefined;
      if (lock !== undefined) opened.push(lock);
      const storage = await openStorage(path, storageOptions, worker && exclusive);
      opened.push(storage);
      const openDb = await databaseOpener();
      const raw = openDb(path);
      const db = new CachingDatabase(raw);
      opened.push({ close: () => db.closeAll() });
      try {
        db.exec("PRAGMA busy_timeout=5000");
        db.exec("PRAGMA synchronous=NORMAL");
        inTransaction(db, () => {
          db.exec(
            "CREATE TABLE IF NOT EXISTS raft_sm_meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID",
          );
          db.exec("INSERT OR IGNORE INTO raft_sm_meta VALUES ('applied', 0)");
          definition.setup(db);
        });
      } catch (e) {
        throw toStorageError(e, path, action);
      }
      for (const t of definition.tables) {
        if (tableShape(raw, t) === undefined) {
          throw new RangeError(
            `Cannot open SqliteStateMachine as table '${t}' does not exist after setup()`,
          );
        }
      }
      const applied = readApplied(raw, path);
      return new SqliteStateMachine<R>(
        { storage, db, path, openDb, lock, chunkBytes, applied },
        definition,
      );
    } catch (e) {
      for (const c of opened.reverse()) {
        try {
          await c.close();
        } catch {
          // The open error is the one to report.
        }
      }
      throw e;
    }
  }

  /**
   * The state machine's connection, for reads of its tables (they show
   * every command applied so far). Writes belong in `apply`.
   */
  get db(): SqliteDatabaseLike {
    return this.#db;
  }

  /**
   * The index of the last command applied, or snapshot restored: what the
   * tables reflect, also after a restart.
   *
   * @returns The index (0 for a new state machine).
   */
  appliedIndex(): Index {
    return this.#applied;
  }

  /**
   * Applies committed commands with the definition's `apply`, and records
   * the last one's index, in one transaction.
   *
   * @param commands The commands, in log order, after the applied index.
   * @returns One result per command.
   * @throws {SqliteStorageError} `"write_failed"` when the transaction
   *   fails (it is rolled back: the tables and the applied index stay as
   *   they were), `"busy"` while a restore is in progress, `"closed"`.
   * @throws What `apply` threw (the transaction is rolled back).
   */
  apply(commands: readonly Command[]): readonly R[] {
    const action = "apply commands";
    this.#checkWritable(action);
    if (commands.length === 0) return [];
    const first = commands[0]!.index;
    const last = commands[commands.length - 1]!.index;
    if (!(first > this.#applied)) {
      assert(false, `apply(): command ${first} is not after the applied index ${this.#applied}`);
    }
    const db = this.#db;
    let results: readonly R[] = [];
    try {
      inTransaction(db, () => {
        results = this.#def.apply(db, commands);
        this.#setApplied.run(last);
      });
    } catch (e) {
      throw isSqliteError(e) ? writeFailed(e, this.#path, action) : e;
    }
    this.#applied = last;
    return results;
  }

  /**
   * A snapshot of the tables as of the last applied command, as a stream
   * of chunks. The state is fixed when this is called (a WAL read
   * transaction on a connection of its own); commands applied while the
   * stream is read do not show in it and are not held up by it. Read the
   * stream to its end, or stop it with `return()` (a `break` out of
   * `for await`): until then it holds its connection, and SQLite cannot
   * recycle the WAL.
   *
   * @returns The chunks.
   * @throws {SqliteStorageError} When `snapshotReadersMax` (4) snapshots
   *   are being read (`"busy"`), or the state machine is closed.
   */
  snapshot(): AsyncIterableIterator<Uint8Array> {
    const action = "take a snapshot of the state machine";
    this.#checkOpen(action);
    if (this.#readers.size >= snapshotReadersMax) {
      throw new SqliteStorageError(
        "busy",
        this.#path,
        `Cannot ${action} '${this.#path}': ${snapshotReadersMax} snapshots are being read`,
      );
    }
    let conn: SqliteDatabaseLike | undefined;
    try {
      conn = this.#openDb(this.#path);
      conn.exec("PRAGMA busy_timeout=5000");
      conn.exec("BEGIN");
      // The first read fixes the transaction's view of the WAL.
      const applied = readApplied(conn, this.#path);
      if (applied !== this.#applied) {
        assert(false, `snapshot(): read applied index ${applied}, applied ${this.#applied}`);
      }
    } catch (e) {
      try {
        conn?.close();
      } catch {
        // The first error is the one to report.
      }
      throw toStorageError(e, this.#path, action);
    }
    const reader = conn;
    this.#readers.add(reader);
    const finish = (): void => {
      if (!this.#readers.delete(reader)) return;
      try {
        reader.exec("ROLLBACK");
      } finally {
        reader.close();
      }
    };
    const chunks = dumpTables(reader, this.#def.tables, this.#chunkBytes, finish);
    // A generator stopped before its first chunk skips its `finally`:
    // `return()` ends the read transaction itself.
    return {
      [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
        return this;
      },
      next: (): Promise<IteratorResult<Uint8Array>> => chunks.next(),
      return: async (): Promise<IteratorResult<Uint8Array>> => {
        try {
          return await chunks.return(undefined);
        } finally {
          finish();
        }
      },
    } as AsyncIterableIterator<Uint8Array>;
  }

  /**
   * Replaces the tables with a snapshot's, taken by `snapshot()` (its
   * chunks joined).
   *
   * @param data The snapshot.
   * @param meta Where the snapshot sits in the log: its index becomes the applied index.
   * @returns A Promise that resolves once the new state is committed.
   * @throws {SqliteStorageError} (as a rejection) `"corrupt_record"` when
   *   the snapshot is malformed; nothing changed.
   */
  restore(data: Uint8Array, meta: { index: Index; term: Term }): Promise<void> {
    return this.#restore([data], meta);
  }

  /**
   * Replaces the tables with a snapshot's, read from a stream of chunks
   * as they come, in one transaction: a malformed or truncated stream, a
   * failing source or a crash leaves the old state. The transaction holds
   * SQLite's write lock until the stream ends, so the storage must not be
   * written meanwhile (`RaftNode` does not: it waits for the restore); a
   * write would wait for the lock (busy timeout 5 s) and then fail.
   *
   * @param chunks The snapshot's chunks (any split of `snapshot()`'s bytes).
   * @param meta Where the snapshot sits in the log: its index becomes the applied index.
   * @returns A Promise that resolves once the new state is committed.
   * @throws {SqliteStorageError} (as a rejection) `"corrupt_record"` when
   *   the stream is malformed; `"write_failed"` when the transaction fails.
   */
  restoreStream(
    chunks: AsyncIterable<Uint8Array>,
    meta: { index: Index; term: Term },
  ): Promise<void> {
    return this.#restore(chunks, meta);
  }

  async #restore(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    meta: { index: Index; term: Term },
  ): Promise<void> {
    const action = "restore the state machine";
    this.#checkWritable(action);
    if (!Number.isSafeInteger(meta.index) || meta.index < 0) {
      throw new RangeError(
        `Cannot ${action}: the index is not a non-negative safe integer: ${meta.index}`,
      );
    }
    const db = this.#db;
    this.#restoring = true;
    try {
      db.exec("BEGIN IMMEDIATE");
      try {
        await loadTables(db.raw, this.#def.tables, chunks);
        this.#setApplied.run(meta.index);
        db.exec("COMMIT");
      } catch (e) {
        rollbackQuietly(db);
        throw e;
      }
    } catch (e) {
      if (e instanceof TableDumpError) {
        throw new SqliteStorageError(
          "corrupt_record",
          this.#path,
          `Cannot ${action} '${this.#path}': the snapshot is malformed: ${e.message}`,
          { cause: e },
        );
      }
      throw isSqliteError(e) ? writeFailed(e, this.#path, action) : e;
    } finally {
      this.#restoring = false;
    }
    this.#applied = meta.index;
    this.#def.restored?.(db);
  }

  /**
   * Closes the snapshots being read, the state machine's connection, the
   * storage, and the lock file. Closing twice does nothing.
   *
   * @returns A Promise that resolves once everything is closed.
   * @throws {SqliteStorageError} (as a rejection) When a connection fails to close.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let failure: unknown;
    const attempt = async (f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        failure ??= e;
      }
    };
    for (const r of this.#readers) await attempt(() => r.close());
    this.#readers.clear();
    await attempt(() => this.#db.closeAll());
    await attempt(() => this.storage.close());
    if (this.#lock !== undefined) await attempt(() => this.#lock!.close());
    if (failure !== undefined) throw toStorageError(failure, this.#path, "close the state machine");
  }

  #checkOpen(action: string): void {
    if (this.#closed) {
      throw new SqliteStorageError(
        "closed",
        this.#path,
        `Cannot ${action} '${this.#path}': the state machine is closed`,
      );
    }
  }

  #checkWritable(action: string): void {
    this.#checkOpen(action);
    if (this.#restoring) {
      throw new SqliteStorageError(
        "busy",
        this.#path,
        `Cannot ${action} '${this.#path}': a snapshot is being restored`,
      );
    }
  }
}

/**
 * Opens the storage without SQLite's exclusive lock (the state machine's
 * connections share the file): inline, on a connection that waits for the
 * others' transactions (busy timeout 5 s) rather than failing at once.
 */
async function openStorage(
  path: string,
  options: OpenSqliteStorageOptions,
  lockFile: boolean,
): Promise<SqliteStorage> {
  if (options.writer === "worker") {
    return await openSqliteStorage(path, { ...options, exclusive: lockFile });
  }
  const db = await openSqliteDatabase(path);
  const storage = new SqliteStorage(db, { ...options, path, exclusive: false });
  try {
    // Only now, so that a file another process holds is refused at once.
    db.exec("PRAGMA busy_timeout=5000");
  } catch (e) {
    storage.close();
    throw toStorageError(e, path, "open raft storage");
  }
  return storage;
}

/** Refuses a table list the state machine cannot own. */
function checkTables(tables: readonly string[]): void {
  if (!Array.isArray(tables) || tables.length === 0) {
    throw new RangeError("Cannot open SqliteStateMachine as 'tables' must name at least one table");
  }
  const seen = new Set<string>();
  for (const t of tables) {
    if (typeof t !== "string" || t === "" || t.toLowerCase().startsWith("raft_")) {
      throw new RangeError(
        `Cannot open SqliteStateMachine as table names must be non-empty and not start with 'raft_': current value '${
          String(t)
        }'`,
      );
    }
    if (seen.has(t)) {
      throw new RangeError(`Cannot open SqliteStateMachine as table '${t}' is named twice`);
    }
    seen.add(t);
  }
}

/** The applied index recorded in the file. */
function readApplied(db: SqliteDatabaseLike, path: string): Index {
  const v = asRow(queryOnce(db, "SELECT value FROM raft_sm_meta WHERE key = 'applied'"))?.["value"];
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new SqliteStorageError(
      "corrupt_record",
      path,
      `Cannot open the state machine '${path}': its applied index is not a non-negative integer (${
        String(v)
      })`,
    );
  }
  return n;
}

/** A failed (and rolled back) write transaction, as the storage reports one. */
function writeFailed(e: unknown, path: string, action: string): SqliteStorageError {
  const cause = toStorageError(e, path, action);
  return new SqliteStorageError("write_failed", path, cause.message, { cause: e });
}

/** Whether an error came from the SQLite driver (rather than the application). */
function isSqliteError(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  const o = e as { code?: unknown; errcode?: unknown; errno?: unknown };
  return typeof o.errcode === "number" || o.code === "ERR_SQLITE_ERROR" ||
    (typeof o.code === "string" && o.code.startsWith("SQLITE_"));
}
