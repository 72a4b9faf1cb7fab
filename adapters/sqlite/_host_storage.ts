/**
 * `SqliteHostStorage`: every group of a host in one SQLite database file,
 * the saves of many groups in one transaction and one sync.
 *
 * @module
 */

import { discardLogger } from "../../core/logger.ts";
import type { NodeStorage } from "../../core/node.ts";
import type { GroupId, GroupSave, HostStorage } from "../../core/host/seams.ts";
import { queryAll, type SqliteDatabaseLike } from "./_database.ts";
import { earlierWriteFailed, SqliteStorageError, toStorageError } from "./_errors.ts";
import {
  createLogTables,
  type FileKind,
  openLogFile,
  sqliteApplicationId,
  sqliteHostApplicationId,
} from "./_load.ts";
import { type SqliteStorageOptions, storageLimits } from "./_options.ts";
import { asRow } from "./_rows.ts";
import {
  openGroupStorage,
  planGroupSave,
  type PlannedSave,
  type SqliteStorage,
} from "./_storage.ts";
import { groupTables } from "./_tables.ts";
import { preallocateWal, WriteTransactions } from "./_writer.ts";
import { type Pin, type TablesWrite, WriterThread } from "./_writer_thread.ts";

/**
 * The schema version of a host storage file, kept in its `user_version`.
 * A file of another version is refused with `"schema_too_old"` or
 * `"schema_too_new"`.
 *
 * @example Usage
 * ```ts
 * import { sqliteHostSchemaVersion } from "@raft-ts/raft/sqlite";
 * if (sqliteHostSchemaVersion < 1) throw new Error("unexpected");
 * ```
 */
export const sqliteHostSchemaVersion = 1;

/** The table that lists the groups with state in the file. */
const groupsTable = "raft_host_group";

/** A host's file: the group list; each group's tables are created with the group. */
const hostFileKind: FileKind = {
  name: "raft host storage",
  applicationId: sqliteHostApplicationId,
  schemaVersion: sqliteHostSchemaVersion,
  tables: [groupsTable],
  create: (db) => db.exec(`CREATE TABLE ${groupsTable} (group_id INTEGER PRIMARY KEY NOT NULL)`),
  otherKinds: new Map([
    [sqliteApplicationId, "a single-group raft-ts log (open it with SqliteStorage)"],
  ]),
};

/**
 * Options of {@linkcode SqliteHostStorage}: those of `SqliteStorage`. The
 * cache bounds apply to each group. `writer: "worker"` runs every write of
 * the file (each batch, and each group storage's own writes) on one thread
 * with its own connection, in one queue; `writesInFlightMax` bounds that
 * queue, for all groups together. Open such a storage with
 * {@linkcode openSqliteHostStorage}, which waits for the thread.
 *
 * @example Usage
 * ```ts
 * import type { SqliteHostStorageOptions } from "@raft-ts/raft/sqlite";
 * const options: SqliteHostStorageOptions = { path: "host-1.db", writer: "worker" };
 * if (options.writer !== "worker") throw new Error("unexpected");
 * ```
 */
export type SqliteHostStorageOptions = SqliteStorageOptions;

/**
 * Counters of a {@linkcode SqliteHostStorage}.
 *
 * @example Usage
 * ```ts
 * import type { SqliteHostStorageStats } from "@raft-ts/raft/sqlite";
 * const stats: SqliteHostStorageStats = { batches: 1, saves: 2, transactions: 1, syncs: 1 };
 * if (stats.syncs > stats.transactions) throw new Error("unexpected");
 * ```
 */
export interface SqliteHostStorageStats {
  /** Calls to `writeBatch` that wrote something: one transaction each. */
  batches: number;
  /** Group saves written by those batches. */
  saves: number;
  /**
   * Write transactions committed on the file: batches, group creations
   * and deletions, and each group storage's own writes (`save`,
   * `createSnapshot`, `compact`, snapshot data).
   */
  transactions: number;
  /** Of those, the ones committed with `synchronous=FULL`: one sync of the WAL each. */
  syncs: number;
}

/** The host's writes in one batch request to the writer thread. */
const batchAction = "write a batch to raft host storage";

/**
 * The durable storage of every group of a host (`RaftHost`) in one
 * SQLite database file: each group's log, HardState and snapshot in
 * tables of its own (`raft_g<id>_meta`, `raft_g<id>_log`, ...), the
 * groups listed in `raft_host_group`.
 *
 * Durability is `SqliteStorage`'s (WAL mode, `synchronous=FULL`), with
 * one transaction, and one sync, per `writeBatch`: the saves of all the
 * groups in it are checked and encoded first (a save that fails its checks
 * writes nothing, for any group), then written together, so a crash
 * leaves all of a batch or none of it. A batch whose saves only move
 * commit indexes (`mustSync: false`) is not synced, as in `SqliteStorage`.
 *
 * Each group's storage (`openGroup`) is a `SqliteStorage` on the host's
 * connection: the same reads, checksums, snapshot data in chunks and
 * compaction, and the same checks when it is opened (a record that fails
 * its checksum, a gap in the log, a commit past the last entry), each
 * refused with a {@linkcode SqliteStorageError} whose `groupId` names the
 * group. Its own `save` writes one group in one transaction.
 *
 * Where writes run (`writer`): `"inline"` (the default) writes each
 * batch on the calling thread and returns once it is durable, blocking
 * the event loop during the sync. `"worker"` runs every write of the file
 * on one thread with a connection of its own (open it with
 * {@linkcode openSqliteHostStorage}): a batch is checked and planned here,
 * shown at once in the groups' read sides (entries not yet durable stay
 * in each group's memory until the write carrying them is), and sent as
 * one transaction and one sync; `writeBatch` returns a Promise that
 * resolves once it is durable. Each group storage's own writes
 * (`createSnapshot`, `compact`, snapshot data) join the same queue, in
 * order. A write that fails there, or a thread that stops, fails every
 * pending and later write of every group with a `SqliteStorageError`
 * `"write_failed"`; `close()` then returns a Promise.
 *
 * The file is marked with its own `application_id` and schema version
 * ({@linkcode sqliteHostSchemaVersion}): `SqliteStorage` refuses it, and it
 * refuses a single-group file, each with code `"foreign"`.
 *
 * @example A RaftHost with two groups on SQLite
 * ```ts
 * import { openSqliteHostStorage } from "@raft-ts/raft/sqlite";
 * import { RaftHost, type StateMachine } from "@raft-ts/raft";
 * import { MemoryHostNetwork, VirtualScheduler } from "@raft-ts/raft/memory";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "raft-"));
 * const clock = new VirtualScheduler();
 * const net = new MemoryHostNetwork({ scheduler: clock });
 * const storage = await openSqliteHostStorage(join(dir, "host-1.db"));
 * const host = await RaftHost.start<number>({
 *   hostId: 1,
 *   transport: net.connect(1),
 *   storage,
 *   scheduler: clock,
 *   tickMs: 10,
 * });
 * const counter = (): StateMachine<number> => {
 *   let total = 0;
 *   return {
 *     apply: (cmds) => cmds.map((c) => (total += c.data[0]!)),
 *     snapshot: () => new Uint8Array([total]),
 *     restore: (data) => {
 *       total = data[0] ?? 0;
 *     },
 *   };
 * };
 * for (const groupId of [1, 2]) {
 *   await host.addGroup({ groupId, peers: [1], stateMachine: counter() });
 * }
 * await clock.run(host.group(1).waitForLeader());
 * await clock.run(host.group(2).waitForLeader());
 * await clock.run(Promise.all([
 *   host.group(1).propose(new Uint8Array([2])),
 *   host.group(2).propose(new Uint8Array([5])),
 * ]));
 * await clock.run(host.close());
 * net.close();
 * if (storage.groupIds().join() !== "1,2") throw new Error("unexpected");
 * if (storage.openGroup(2).lastIndex() < 2) throw new Error("not written");
 * storage.close();
 * rmSync(dir, { recursive: true });
 * ```
 *
 * @example Batches synced on a writer thread
 * ```ts
 * import { openSqliteHostStorage } from "@raft-ts/raft/sqlite";
 * import { newEntry } from "@raft-ts/raft";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "raft-"));
 * const storage = await openSqliteHostStorage(join(dir, "host-1.db"), { writer: "worker" });
 * storage.openGroup(1);
 * storage.openGroup(2);
 * const update = {
 *   hardState: { term: 1, vote: 1, commit: 1 },
 *   entries: [newEntry({ index: 1, term: 1 })],
 *   snapshot: undefined,
 *   mustSync: true,
 * };
 * const durable = storage.writeBatch([{ groupId: 1, update }, { groupId: 2, update }]);
 * // Shown at once; durable once the Promise resolves (one transaction, one sync).
 * if (storage.openGroup(2).lastIndex() !== 1) throw new Error("not shown");
 * await durable;
 * await storage.close();
 * rmSync(dir, { recursive: true });
 * ```
 */
export class SqliteHostStorage implements HostStorage {
  readonly #db: SqliteDatabaseLike;
  readonly #path: string;
  readonly #options: SqliteHostStorageOptions;
  readonly #tx: WriteTransactions;
  /** The writer thread, when `writer` is `"worker"`: every write of the file goes to it. */
  readonly #thread: WriterThread | undefined;
  /** The groups opened so far. */
  readonly #groups = new Map<GroupId, SqliteStorage>();
  /** Groups whose deletion waits for the writes in flight; they cannot be opened meanwhile. */
  readonly #deleting = new Set<GroupId>();
  readonly #stats = { batches: 0, saves: 0 };
  #closed = false;
  /** Settles once `close()` is done, with a writer thread. */
  #closing: Promise<void> | undefined;

  /**
   * Opens the host storage on a connection: checks that the database is a
   * raft-ts host storage of this schema version (or creates the schema in
   * an empty one) and switches it to WAL mode with `synchronous=FULL`.
   * Each group's records are read and checked when it is opened. With
   * `writer: "worker"`, starts the writer thread (see
   * {@linkcode openSqliteHostStorage}, which waits for it).
   *
   * @param db The connection; the storage owns it from now on.
   * @param options The file's name for messages, cache bounds (per group),
   *   locking, where writes run.
   * @throws {SqliteStorageError} When the database cannot be used; the
   *   connection is closed.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(db: SqliteDatabaseLike, options: SqliteHostStorageOptions = {}) {
    this.#db = db;
    this.#path = options.path ?? "(sqlite)";
    this.#options = { ...options, path: this.#path };
    try {
      const limits = storageLimits(options, "SqliteHostStorage");
      const exclusive = options.exclusive ?? true;
      const mode = openLogFile(
        db,
        this.#path,
        options.create ?? true,
        // With a writer thread, the thread's lock file keeps other processes out.
        exclusive && !limits.worker,
        hostFileKind,
      );
      this.#tx = new WriteTransactions(db, this.#path);
      if (limits.worker) {
        // Reads and group creations may briefly wait for the thread's commit.
        db.exec("PRAGMA busy_timeout=5000");
        this.#thread = this.#startThread(exclusive, limits);
        return;
      }
      const failed = mode === "wal" ? preallocateWal(db, limits.walBytes) : undefined;
      if (failed !== undefined) this.#warnWal(failed);
    } catch (e) {
      try {
        db.close();
      } catch {
        // The open error is the one to report.
      }
      if (e instanceof RangeError) throw e;
      throw toStorageError(e, this.#path, "open raft host storage");
    }
  }

  #startThread(
    exclusive: boolean,
    limits: { walBytes: number; writesInFlightMax: number },
  ): WriterThread {
    const thread = new WriterThread(this, this.#path, {
      exclusive,
      walPreallocateBytes: limits.walBytes,
      requestsMax: limits.writesInFlightMax,
    });
    thread.onWarning = (message): void => this.#warnWal(message);
    return thread;
  }

  #warnWal(message: string): void {
    (this.#options.logger ?? discardLogger).warning(
      `raft host storage '${this.#path}': cannot grow the WAL file: ${message}`,
    );
  }

  /** The database file's path (or the name given for it). */
  get path(): string {
    return this.#path;
  }

  /** A copy of the counters. */
  get stats(): SqliteHostStorageStats {
    const own = this.#tx.stats;
    const thread = this.#thread?.stats ?? { transactions: 0, syncs: 0 };
    return {
      ...this.#stats,
      transactions: own.transactions + thread.transactions,
      syncs: own.syncs + thread.syncs,
    };
  }

  /**
   * The groups that have state in the file.
   *
   * @returns Their IDs, ascending.
   * @throws {SqliteStorageError} When the storage is closed or the list cannot be read.
   */
  groupIds(): GroupId[] {
    this.#checkOpen("list the groups of");
    try {
      return queryAll(this.#db, `SELECT group_id FROM ${groupsTable} ORDER BY group_id`).map(
        (r) => Number(asRow(r)?.["group_id"]),
      );
    } catch (e) {
      throw toStorageError(e, this.#path, "list the groups of raft host storage");
    }
  }

  /**
   * Opens the storage of one group, creating its tables when the file has
   * none for it; the first call reads and checks every record of the
   * group, later calls return the same storage.
   *
   * With a writer thread, the group's writes go to it, and its tables are
   * created on this thread's connection: no write in flight touches them
   * or the group list (deletions wait for the queue to drain), so the
   * creation only waits, in SQLite's lock, for a commit in flight.
   *
   * @param groupId The group, a positive safe integer.
   * @returns The group's storage; the host storage closes it.
   * @throws {RangeError} When `groupId` is not a positive safe integer, or
   *   the group is being deleted.
   * @throws {SqliteStorageError} When a record of the group is missing or
   *   corrupt (with `groupId` set), a write failed, or the storage is closed.
   */
  openGroup(groupId: GroupId): NodeStorage & SqliteStorage {
    checkGroupId("open", groupId);
    this.#checkOpen(`open group ${groupId} of`);
    const opened = this.#groups.get(groupId);
    if (opened !== undefined) return opened;
    if (this.#deleting.has(groupId)) {
      throw new RangeError(`Cannot open group ${groupId}: it is being deleted`);
    }
    const tables = groupTables(groupId);
    const label = `${this.#path}[group ${groupId}]`;
    let storage: SqliteStorage;
    try {
      if (!this.groupIds().includes(groupId)) {
        const action = `create group ${groupId} in raft host storage`;
        const failure = this.#thread?.failure;
        if (failure !== undefined) throw earlierWriteFailed(this.#path, action, failure);
        this.#tx.run(true, action, () => {
          createLogTables(this.#db, tables);
          this.#db.exec(`INSERT INTO ${groupsTable} (group_id) VALUES (${groupId})`);
        });
      }
      storage = openGroupStorage(this.#db, { tables, tx: this.#tx, thread: this.#thread }, {
        ...this.#options,
        path: label,
      });
    } catch (e) {
      const err = toStorageError(e, label, "open raft storage");
      throw new SqliteStorageError(err.code, this.#path, err.message, {
        index: err.index,
        groupId,
        cause: err,
      });
    }
    this.#groups.set(groupId, storage);
    return storage;
  }

  /**
   * Writes the saves of many groups in one transaction, synced unless
   * every save allows otherwise (`mustSync: false`, no entries, no
   * snapshot). Every save is checked and encoded before anything is
   * written: when one fails, nothing is.
   *
   * Inline, returns once the batch is durable. With a writer thread, the
   * groups' read sides show the batch at once (entries not yet durable
   * stay in each group's memory), and the returned Promise resolves once
   * the thread committed and synced the whole batch (and every write
   * before it).
   *
   * @param batch The saves, at most one per group, each of an opened group.
   * @returns Nothing (inline), or a Promise of the batch's durability
   *   (writer thread), rejected with `SqliteStorageError` `"write_failed"`
   *   when the write fails.
   * @throws {RangeError} When a save names a group that was never opened,
   *   or two saves name the same group.
   * @throws {RaftInvariantError} When a save leaves a gap or commits past
   *   its last entry (nothing is written).
   * @throws {SqliteStorageError} When the write fails (`"write_failed"`:
   *   reopen the storage), an earlier one failed, too many writes are in
   *   flight (`"busy"`), or the storage is closed.
   */
  writeBatch(batch: readonly GroupSave[]): void | Promise<void> {
    this.#checkOpen("write a batch to");
    const seen = new Set<GroupId>();
    const planned: { groupId: GroupId; storage: SqliteStorage; save: PlannedSave }[] = [];
    for (const s of batch) {
      const storage = this.#groups.get(s.groupId);
      if (storage === undefined) {
        throw new RangeError(`Cannot write group ${s.groupId}: it was never opened`);
      }
      if (seen.has(s.groupId)) {
        throw new RangeError(`Cannot write group ${s.groupId}: it has two saves in one batch`);
      }
      seen.add(s.groupId);
      const save = planGroupSave(storage, s.update);
      if (save !== undefined) planned.push({ groupId: s.groupId, storage, save });
    }
    const thread = this.#thread;
    if (planned.length === 0) return thread?.flush();
    const sync = planned.some((p) => p.save.sync);
    if (thread === undefined) {
      this.#tx.run(sync, batchAction, () => {
        for (const p of planned) p.save.apply();
      });
    }
    this.#stats.batches++;
    this.#stats.saves += planned.length;
    for (const p of planned) p.save.done();
    if (thread === undefined) return;
    const writes: TablesWrite[] = [];
    const pins: Pin[] = [];
    for (const p of planned) {
      writes.push({ tables: groupTables(p.groupId), plan: p.save.plan });
      const row = p.save.plan.row;
      if (row !== undefined) pins.push({ key: p.storage, from: row.first });
    }
    return thread.writeBatch(batchAction, sync, writes, pins);
  }

  /**
   * Deletes a group's tables and its entry in the group list, in one
   * synced transaction; its storage, if opened, is closed. With a writer
   * thread, the deletion waits until every write sent before it is
   * durable, then runs on this thread's connection (the thread then has
   * nothing in flight on the group's tables); the group cannot be opened
   * meanwhile.
   *
   * @param groupId The group.
   * @returns Nothing (inline), or a Promise that settles once the group is deleted.
   * @throws {RangeError} When `groupId` is not a positive safe integer.
   * @throws {SqliteStorageError} When the write fails (or, with a writer
   *   thread, an earlier one failed) or the storage is closed.
   */
  deleteGroup(groupId: GroupId): void | Promise<void> {
    checkGroupId("delete", groupId);
    this.#checkOpen(`delete group ${groupId} of`);
    const opened = this.#groups.get(groupId);
    this.#groups.delete(groupId);
    opened?.close();
    const thread = this.#thread;
    if (thread === undefined) {
      this.#dropGroup(groupId);
      return;
    }
    this.#deleting.add(groupId);
    return thread.flush().then(() => {
      this.#checkOpen(`delete group ${groupId} of`);
      this.#dropGroup(groupId);
    }).finally(() => this.#deleting.delete(groupId));
  }

  #dropGroup(groupId: GroupId): void {
    const t = groupTables(groupId);
    this.#tx.run(true, `delete group ${groupId} of raft host storage`, () => {
      for (const table of [t.meta, t.log, t.snapshotData, t.snapshotChunk]) {
        this.#db.exec(`DROP TABLE IF EXISTS ${table}`);
      }
      this.#db.exec(`DELETE FROM ${groupsTable} WHERE group_id = ${groupId}`);
    });
  }

  /**
   * Waits until every write made so far (batches and the groups' own
   * writes) is durable.
   *
   * @returns A Promise that resolves then; inline, at once.
   * @throws {SqliteStorageError} (as a rejection) When a write failed, or
   *   the writer thread stopped.
   */
  flush(): Promise<void> {
    if (this.#thread !== undefined) return this.#thread.flush();
    if (this.#tx.failure !== undefined) return Promise.reject(this.#tx.failure);
    return Promise.resolve();
  }

  /**
   * Closes every group's storage and the connection. Further calls throw
   * `SqliteStorageError` with code `"closed"`; closing twice does nothing.
   * With a writer thread, the writes in flight finish first.
   *
   * @returns Nothing (inline), or a Promise that settles once the writer
   *   thread and both connections are closed.
   * @throws {SqliteStorageError} When the connection fails to close.
   */
  close(): void | Promise<void> {
    if (this.#closed) return this.#closing;
    this.#closed = true;
    const closeAll = (): void => {
      try {
        for (const g of this.#groups.values()) g.close();
        this.#groups.clear();
        this.#db.close();
      } catch (e) {
        throw toStorageError(e, this.#path, "close raft host storage");
      }
    };
    const thread = this.#thread;
    if (thread === undefined) return closeAll();
    this.#closing = thread.close().finally(closeAll);
    return this.#closing;
  }

  #checkOpen(action: string): void {
    if (this.#closed) {
      throw new SqliteStorageError(
        "closed",
        this.#path,
        `Cannot ${action} raft host storage '${this.#path}': the storage is closed`,
      );
    }
  }
}

function checkGroupId(action: string, groupId: GroupId): void {
  if (!Number.isSafeInteger(groupId) || groupId < 1) {
    throw new RangeError(
      `Cannot ${action} a group as 'groupId' must be a positive safe integer: current value ${groupId}`,
    );
  }
}
