/**
 * The key-value state machine of `kv_server.ts` in SQLite tables of the
 * node's Raft database: the same commands and results as the in-memory
 * `KvStore`, with keys in an index instead of memory, so the store can be
 * much larger than the process.
 *
 * @module
 */

import type { Command, Index, StateMachine, Term } from "../mod.ts";
import {
  openSqliteStorage,
  type SqliteDatabaseLike,
  SqliteStateMachine,
  type SqliteStateMachineOptions,
  type SqliteStatementLike,
  type SqliteStorage,
} from "../adapters/sqlite/mod.ts";
import {
  decideKv,
  type KvItem,
  type KvRange,
  type KvRecord,
  type KvResult,
  type KvState,
  KvStore,
} from "./_kv_store.ts";

/**
 * A key as stored: its UTF-16 code units, big-endian, so that SQLite's
 * byte order is the order of `<` on strings (and a prefix of code units
 * is a prefix of bytes), whatever the characters.
 */
function keyBytes(key: string): Uint8Array {
  const b = new Uint8Array(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    b[2 * i] = c >> 8;
    b[2 * i + 1] = c & 0xff;
  }
  return b;
}

function keyString(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
  return s;
}

/** The least byte string after every string that starts with `p`, or `undefined` when none is. */
function prefixEnd(p: Uint8Array): Uint8Array | undefined {
  for (let i = p.length - 1; i >= 0; i--) {
    if (p[i]! < 0xff) {
      const out = p.slice(0, i + 1);
      out[i]!++;
      return out;
    }
  }
  return undefined;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

interface ItemRow {
  k: Uint8Array;
  value: string;
  create_rev: number;
  mod_rev: number;
  version: number;
}

function recordOf(r: ItemRow): KvRecord {
  return {
    value: r.value,
    createRevision: Number(r.create_rev),
    modRevision: Number(r.mod_rev),
    version: Number(r.version),
  };
}

const columns = "k, value, create_rev, mod_rev, version";

/** Reads and writes the two tables. */
class KvTables {
  readonly #get: SqliteStatementLike;
  readonly #put: SqliteStatementLike;
  readonly #del: SqliteStatementLike;
  readonly #setRevision: SqliteStatementLike;
  readonly #getRevision: SqliteStatementLike;
  readonly #scan: SqliteStatementLike;
  readonly #scanTo: SqliteStatementLike;

  constructor(db: SqliteDatabaseLike) {
    this.#get = db.prepare(`SELECT ${columns} FROM kv WHERE k = ?`);
    this.#put = db.prepare(
      `INSERT OR REPLACE INTO kv (${columns}) VALUES (?, ?, ?, ?, ?)`,
    );
    this.#del = db.prepare("DELETE FROM kv WHERE k = ?");
    this.#setRevision = db.prepare("UPDATE kv_meta SET value = ? WHERE key = 'revision'");
    this.#getRevision = db.prepare("SELECT value FROM kv_meta WHERE key = 'revision'");
    this.#scan = db.prepare(`SELECT ${columns} FROM kv WHERE k >= ? ORDER BY k LIMIT ?`);
    this.#scanTo = db.prepare(
      `SELECT ${columns} FROM kv WHERE k >= ? AND k < ? ORDER BY k LIMIT ?`,
    );
  }

  get(key: string): KvItem | null {
    const r = this.#get.get(keyBytes(key)) as ItemRow | undefined | null;
    return r === undefined || r === null ? null : { key, ...recordOf(r) };
  }

  write(key: string, rec: KvRecord | null): void {
    if (rec === null) {
      this.#del.run(keyBytes(key));
      return;
    }
    this.#put.run(keyBytes(key), rec.value, rec.createRevision, rec.modRevision, rec.version);
  }

  revision(): number {
    return Number((this.#getRevision.get() as { value: number }).value);
  }

  setRevision(revision: number): void {
    this.#setRevision.run(revision);
  }

  range(range: KvRange): { items: KvItem[]; more: boolean } {
    // As KvStore: from the prefix (or else the start), before the end.
    const from = keyBytes(range.prefix ?? range.start ?? "");
    let upTo = range.prefix !== undefined ? prefixEnd(keyBytes(range.prefix)) : undefined;
    if (range.end !== undefined) {
      const end = keyBytes(range.end);
      if (upTo === undefined || compareBytes(end, upTo) < 0) upTo = end;
    }
    const rows =
      (upTo === undefined
        ? this.#scan.all(from, range.limit + 1)
        : this.#scanTo.all(from, upTo, range.limit + 1)) as ItemRow[];
    const more = rows.length > range.limit;
    const items = rows.slice(0, range.limit).map((r) => ({ key: keyString(r.k), ...recordOf(r) }));
    return { items, more };
  }
}

/**
 * The key-value store in SQLite tables of the node's database file (see
 * {@linkcode SqliteStateMachine}): `kv` (one row per key, keyed by the
 * key's UTF-16 code units so that range scans are sorted as `KvStore`'s)
 * and `kv_meta` (the revision). Each batch of commands is one
 * transaction with the applied index, so a restart replays nothing that
 * is already in the tables; snapshots are streamed from a read
 * transaction.
 */
export class SqliteKvStore implements StateMachine<KvResult>, KvState {
  readonly #sm: SqliteStateMachine<KvResult>;
  readonly #tables: KvTables;
  /** The revision, as the tables hold it (kept by `apply` and `restored`). */
  readonly #seen: { revision: number };

  private constructor(
    sm: SqliteStateMachine<KvResult>,
    tables: KvTables,
    seen: { revision: number },
  ) {
    this.#sm = sm;
    this.#tables = tables;
    this.#seen = seen;
  }

  /**
   * Opens (or creates) a node's database file with its Raft storage and
   * the store's tables.
   *
   * @param path The database file.
   * @param options The storage's options.
   * @returns The store; its `storage` is the node's storage.
   * @throws {SqliteStorageError} When the file cannot be opened or is locked.
   */
  static async open(path: string, options: SqliteStateMachineOptions = {}): Promise<SqliteKvStore> {
    let tables: KvTables | undefined;
    const seen = { revision: 0 };
    const sm = await SqliteStateMachine.open<KvResult>(path, {
      tables: ["kv", "kv_meta"],
      setup(db) {
        db.exec(
          "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY NOT NULL, value TEXT NOT NULL, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID",
        );
        db.exec(
          "CREATE TABLE IF NOT EXISTS kv_meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID",
        );
        db.exec("INSERT OR IGNORE INTO kv_meta VALUES ('revision', 0)");
        tables = new KvTables(db);
      },
      apply(_db, commands) {
        const t = tables!;
        const results = commands.map((c) => {
          const { result, key, write } = decideKv(c, (k) => t.get(k));
          if (write !== undefined) t.write(key, write);
          return result;
        });
        const revision = commands[commands.length - 1]!.index;
        t.setRevision(revision);
        seen.revision = revision;
        return results;
      },
      restored() {
        seen.revision = tables!.revision();
      },
    }, options);
    seen.revision = tables!.revision();
    return new SqliteKvStore(sm, tables!, seen);
  }

  /** The node's Raft storage, on the same file. */
  get storage(): SqliteStorage {
    return this.#sm.storage;
  }

  /** The index of the last applied command. */
  get revision(): number {
    return this.#seen.revision;
  }

  /**
   * Reads a key.
   *
   * @param key The key.
   * @returns The item, or `null`.
   */
  get(key: string): KvItem | null {
    return this.#tables.get(key);
  }

  /**
   * Lists keys in order, from the table's index.
   *
   * @param range The keys to list.
   * @returns The items and whether more follow.
   */
  range(range: KvRange): { items: KvItem[]; more: boolean } {
    return this.#tables.range(range);
  }

  /**
   * Applies committed commands in one transaction.
   *
   * @param commands The commands, in log order.
   * @returns One result per command.
   */
  apply(commands: readonly Command[]): readonly KvResult[] {
    return this.#sm.apply(commands);
  }

  /**
   * The index the tables reflect.
   *
   * @returns The applied index.
   */
  appliedIndex(): Index {
    return this.#sm.appliedIndex();
  }

  /**
   * Streams the tables.
   *
   * @returns The snapshot's chunks.
   */
  snapshot(): AsyncIterable<Uint8Array> {
    return this.#sm.snapshot();
  }

  /**
   * Replaces the tables with a snapshot's.
   *
   * @param data The snapshot.
   * @param meta Where it sits in the log.
   * @returns A Promise that resolves once it is committed.
   */
  restore(data: Uint8Array, meta: { index: Index; term: Term }): Promise<void> {
    return this.#sm.restore(data, meta);
  }

  /**
   * Replaces the tables with a snapshot's, from its chunks.
   *
   * @param chunks The snapshot's chunks.
   * @param meta Where it sits in the log.
   * @returns A Promise that resolves once it is committed.
   */
  restoreStream(
    chunks: AsyncIterable<Uint8Array>,
    meta: { index: Index; term: Term },
  ): Promise<void> {
    return this.#sm.restoreStream(chunks, meta);
  }

  /**
   * Closes the store, its storage and their connections.
   *
   * @returns A Promise that resolves once they are closed.
   */
  close(): Promise<void> {
    return this.#sm.close();
  }
}

/** A node's key-value state machine and its Raft storage, on one database file. */
export interface OpenedKvState {
  /** The node's storage. */
  storage: SqliteStorage;
  /** The state machine. */
  store: KvState & StateMachine<KvResult>;
  /** Closes the state machine and the storage. */
  close(): Promise<void>;
}

/**
 * Opens a node's database file with the key-value state machine: its keys
 * in tables of the file (`"sqlite"`), or in memory (`"memory"`, rebuilt
 * from the snapshot and the log when the node starts).
 *
 * @param path The database file.
 * @param state Where the keys live.
 * @param options The storage's options.
 * @returns The storage and the state machine.
 * @throws {SqliteStorageError} When the file cannot be opened or is locked.
 */
export async function openKvState(
  path: string,
  state: "sqlite" | "memory",
  options: SqliteStateMachineOptions = {},
): Promise<OpenedKvState> {
  if (state === "sqlite") {
    const store = await SqliteKvStore.open(path, options);
    return { storage: store.storage, store, close: () => store.close() };
  }
  const storage = await openSqliteStorage(path, options);
  return { storage, store: new KvStore(), close: async () => await storage.close() };
}
