/**
 * Durable Raft storage in SQLite: one database file per node, in WAL mode
 * with `synchronous=FULL`, one transaction per `save()` (snapshot, entries
 * and HardState of one Ready), a checksum on every record, and a check of
 * the whole file when it is opened.
 *
 * It runs on `bun:sqlite` (Bun) and `node:sqlite` (Deno, Node 22+) through a
 * structural {@linkcode SqliteDatabaseLike} handle: pass your own
 * connection to `new SqliteStorage(db, { path })`, or let
 * {@linkcode openSqliteStorage} pick the runtime's driver. The package holds
 * no `bun:` import.
 *
 * The application's state may live in the same file:
 * {@linkcode SqliteStateMachine} applies each batch of commands to the
 * application's tables and records the index it reached in one
 * transaction, so a restart applies nothing twice, and streams snapshots
 * of its tables from a WAL read transaction.
 *
 * A host of many Raft groups (`RaftHost`) keeps them all in one file with
 * {@linkcode SqliteHostStorage}: the saves of many groups are one
 * transaction and one sync.
 *
 * @example A RaftNode on SQLite
 * ```ts
 * import { openSqliteStorage } from "@raft-ts/raft/sqlite";
 * import { RaftNode, type StateMachine } from "@raft-ts/raft";
 * import { MemoryNetwork } from "@raft-ts/raft/memory";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = mkdtempSync(join(tmpdir(), "raft-"));
 * const storage = await openSqliteStorage(join(dir, "node-1.db"));
 * const log: string[] = [];
 * const sm: StateMachine<number> = {
 *   apply: (cmds) => cmds.map((c) => log.push(new TextDecoder().decode(c.data))),
 *   snapshot: () => new TextEncoder().encode(JSON.stringify(log)),
 *   restore: (data) => {
 *     log.splice(0, log.length, ...JSON.parse(new TextDecoder().decode(data)));
 *   },
 * };
 * const net = new MemoryNetwork();
 * const node = await RaftNode.start({
 *   id: 1,
 *   peers: [1],
 *   storage,
 *   transport: net.connect(1),
 *   stateMachine: sm,
 *   tickMs: 5,
 * });
 * await node.waitForLeader();
 * await node.propose(new TextEncoder().encode("hello"));
 * await node.close();
 * net.close();
 * storage.close();
 * if (log[0] !== "hello") throw new Error("unexpected");
 * rmSync(dir, { recursive: true });
 * ```
 *
 * @module
 */

export type { SqliteDatabaseLike, SqliteStatementLike, SqliteValue } from "./_database.ts";
export { SqliteStorageError, type SqliteStorageErrorCode } from "./_errors.ts";
export {
  openSqliteDatabase,
  openSqliteHostStorage,
  openSqliteStorage,
  type OpenSqliteStorageOptions,
} from "./_open.ts";
export { sqliteApplicationId, sqliteHostApplicationId, sqliteSchemaVersion } from "./_load.ts";
export {
  sqliteHostSchemaVersion,
  SqliteHostStorage,
  type SqliteHostStorageOptions,
  type SqliteHostStorageStats,
} from "./_host_storage.ts";
export type { SqliteStorageOptions } from "./_options.ts";
export { SqliteStorage } from "./_storage.ts";
export {
  SqliteStateMachine,
  type SqliteStateMachineDefinition,
  type SqliteStateMachineOptions,
} from "./_state_machine.ts";

// The core types this subpath's signatures use, so that its documentation
// stands on its own (the same types as the root export's).
export type { Logger } from "../../core/logger.ts";
export type { GroupId, GroupSave, HostStorage } from "../../core/host/seams.ts";
export type {
  Command,
  NodeStorage,
  SnapshotData,
  StateMachine,
  StorageUpdate,
} from "../../core/node.ts";
export type { Storage } from "../../core/storage.ts";
export type {
  ConfState,
  Entry,
  EntryType,
  HardState,
  Index,
  NodeId,
  Snapshot,
  SnapshotMetadata,
  Term,
} from "../../core/types.ts";
