/**
 * Snapshot data in chunks (`SqliteStorage.snapshotChunks`): a state
 * machine's snapshot stored as rows of at most `chunkBytes` in
 * `raft_snapshot_chunk`, never as one huge row, with its length, CRC-32C
 * and chunk count in `raft_snapshot_data`.
 *
 * Data is staged first: each chunk is its own transaction, synced every
 * `stageBytesPerSync` (4 MiB), the staging's end a synced one (state 1). Saving a snapshot that names the
 * staged data switches it to current (state 2) and deletes the replaced
 * snapshot's data record in the snapshot's own transaction, so a crash at
 * any point leaves the old snapshot with its data or the new one with its
 * data; the replaced chunks, which no record names any more, are deleted
 * after, `sweepBytesPerWrite` at a time (a reopen deletes those left). Opening the storage deletes what staging left behind and checks
 * the current data's chunk count and length; its checksum is checked
 * whenever it is read.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { crc32c } from "../../core/crc32c.ts";
import type {
  SnapshotChunkStore,
  SnapshotDataDescriptor,
  SnapshotStaging,
} from "../../core/node.ts";
import {
  inTransaction,
  queryAll,
  type SqliteDatabaseLike,
  type SqliteStatementLike,
} from "./_database.ts";
import { SqliteStorageError } from "./_errors.ts";

import { asRow } from "./_rows.ts";
import { fileTables, type LogTables } from "./_tables.ts";
import { emptyPlan, type WritePlan } from "./_writer.ts";

/** Bytes per stored chunk of snapshot data. */
export const snapshotChunkBytesDefault = 1 << 20;
/** Staged data sets kept finished but not (yet) part of a snapshot; older ones are deleted. */
export const stagedSnapshotsMax = 2;
/**
 * Bytes of chunks of replaced or discarded data deleted per transaction
 * (at least one chunk), with a turn of the event loop between them:
 * SQLite reads every page of a blob it deletes, so a GB at once would
 * hold the thread for seconds.
 */
const sweepBytesPerWrite = 2 << 20;
/**
 * Bytes of staged chunks written unsynced, at most, before one is synced:
 * a sync at the end of hundreds of MB would hold the thread for a second.
 */
const stageBytesPerSync = 4 << 20;

/** The SQL that creates the chunk tables of one log when missing. */
function tablesSql(t: LogTables): string {
  return `
CREATE TABLE IF NOT EXISTS ${t.snapshotData} (
  data_id INTEGER PRIMARY KEY NOT NULL,
  length INTEGER NOT NULL,
  checksum INTEGER NOT NULL,
  chunks INTEGER NOT NULL,
  state INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ${t.snapshotChunk} (
  data_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  PRIMARY KEY (data_id, seq)
);
`;
}

/** A data set's state: being staged, staged (finished), the current snapshot's. */
const Staging = 0;
const Staged = 1;
const Current = 2;

interface DataSet {
  id: number;
  length: number;
  checksum: number;
  chunks: number;
  state: number;
}

/** How the store writes: a plan, inline or on the writer thread. */
export interface ChunkWriter {
  /** Checks that the storage can write (throws otherwise). */
  checkWritable(action: string): void;
  /** Runs a plan; a Promise (writer thread) settles once it committed. */
  write(plan: WritePlan): void | Promise<void>;
  /** Settles once every plan written so far is durable. */
  flush(): Promise<void>;
}

function num(v: unknown): number {
  return typeof v === "bigint" ? Number(v) : (v as number);
}

/**
 * Creates the chunk tables when missing, deletes data that staging left
 * behind, and checks the current snapshot's data.
 *
 * @param db The connection (no writer runs yet).
 * @param path The file's name, for messages.
 * @param tables The log's tables.
 * @returns The current data set, if any, and the next free data ID.
 * @throws {SqliteStorageError} When the current data is damaged.
 */
export function openSnapshotChunks(
  db: SqliteDatabaseLike,
  path: string,
  tables: LogTables = fileTables,
): { current: DataSet | undefined; nextId: number } {
  const { snapshotData: data, snapshotChunk: chunk } = tables;
  inTransaction(db, () => {
    db.exec(tablesSql(tables));
    db.exec(
      `DELETE FROM ${chunk} WHERE data_id NOT IN (SELECT data_id FROM ${data} WHERE state = ${Current})`,
    );
    db.exec(`DELETE FROM ${data} WHERE state <> ${Current}`);
  });
  const rows = queryAll(db, `SELECT data_id, length, checksum, chunks, state FROM ${data}`);
  const max = asRow(queryAll(db, `SELECT max(data_id) AS m FROM ${data}`)[0])?.["m"];
  const nextId = (max === null || max === undefined ? 0 : num(max)) + 1;
  const fail = (why: string): never => {
    throw new SqliteStorageError(
      "corrupt_record",
      path,
      `Cannot open raft storage '${path}': the snapshot data ${why}`,
    );
  };
  if (rows.length > 1) fail(`is stored ${rows.length} times`);
  const r = asRow(rows[0]);
  if (r === undefined) return { current: undefined, nextId };
  const current: DataSet = {
    id: num(r["data_id"]),
    length: num(r["length"]),
    checksum: num(r["checksum"]),
    chunks: num(r["chunks"]),
    state: Current,
  };
  // The chunks' count, numbering and total length, from the table's
  // b-tree (SQLite reads a blob's length without its content): a file
  // of a large state opens without reading its snapshot data. The
  // checksum is checked as the data is read (restored or sent).
  const shape = asRow(
    queryAll(
      db,
      `SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi, sum(length(bytes)) AS bytes,
       sum(typeof(bytes) <> 'blob') AS odd FROM ${chunk} WHERE data_id = ${current.id}`,
    )[0],
  )!;
  const n = num(shape["n"]);
  if (num(shape["odd"] ?? 0) > 0) fail("has a chunk that is not a blob");
  if (n > 0 && (num(shape["lo"]) !== 0 || num(shape["hi"]) !== n - 1)) {
    fail(`misses chunks (${n} numbered ${num(shape["lo"])} to ${num(shape["hi"])})`);
  }
  if (n !== current.chunks) fail(`has ${n} of its ${current.chunks} chunks`);
  const length = num(shape["bytes"] ?? 0);
  if (length !== current.length) fail(`has ${length} of its ${current.length} bytes`);
  return { current, nextId };
}

/** The chunk store of one storage. */
export class SqliteSnapshotChunks implements SnapshotChunkStore {
  readonly #db: SqliteDatabaseLike;
  readonly #path: string;
  readonly #writer: ChunkWriter;
  readonly #chunkBytes: number;
  readonly #tables: LogTables;
  /** Known data sets: the current one, staged ones (oldest first), ones being staged. */
  readonly #sets = new Map<number, DataSet>();
  #nextId: number;
  #select: SqliteStatementLike | undefined;
  /** Data sets whose record is deleted and whose chunks are not yet (oldest first). */
  readonly #unswept: DataSet[] = [];
  /** Set while chunks are being swept. */
  #sweeping = false;

  /**
   * @param db The storage's connection (reads).
   * @param path The file's name, for messages.
   * @param writer How plans are written.
   * @param opened What {@linkcode openSnapshotChunks} found.
   * @param chunkBytes Bytes per stored chunk.
   * @param tables The log's tables.
   */
  constructor(
    db: SqliteDatabaseLike,
    path: string,
    writer: ChunkWriter,
    opened: { current: DataSet | undefined; nextId: number },
    chunkBytes: number = snapshotChunkBytesDefault,
    tables: LogTables = fileTables,
  ) {
    this.#tables = tables;
    this.#db = db;
    this.#path = path;
    this.#writer = writer;
    this.#chunkBytes = chunkBytes;
    this.#nextId = opened.nextId;
    if (opened.current !== undefined) this.#sets.set(opened.current.id, opened.current);
  }

  /** The current snapshot's data descriptor, if its data is in chunks. */
  get current(): SnapshotDataDescriptor | undefined {
    for (const s of this.#sets.values()) {
      if (s.state === Current) return { length: s.length, checksum: s.checksum };
    }
    return undefined;
  }

  /**
   * The ID of finished staged data with this descriptor, for a snapshot
   * about to be saved with it.
   *
   * @throws {SqliteStorageError} When there is none.
   */
  stagedId(d: SnapshotDataDescriptor, action: string): number {
    for (const s of this.#sets.values()) {
      if (s.state === Staged && s.length === d.length && s.checksum === d.checksum) return s.id;
    }
    throw new SqliteStorageError(
      "missing_record",
      this.#path,
      `Cannot ${action} '${this.#path}': no staged snapshot data of ${d.length} bytes with checksum ${d.checksum}`,
    );
  }

  /** Records that a snapshot was written with data `id` (or none). */
  switched(id: number | undefined): void {
    for (const s of [...this.#sets.values()]) {
      if (s.state !== Current) continue;
      this.#sets.delete(s.id);
      this.#sweep(s);
    }
    if (id !== undefined) this.#sets.get(id)!.state = Current;
  }

  /** Deletes the chunks of a data set whose record is gone, a few per write, in later turns. */
  #sweep(set: DataSet): void {
    if (set.chunks > 0) this.#unswept.push(set);
    if (this.#sweeping || this.#unswept.length === 0) return;
    this.#sweeping = true;
    const step = Math.max(1, Math.floor(sweepBytesPerWrite / this.#chunkBytes));
    void (async (): Promise<void> => {
      try {
        for (let s = this.#unswept.shift(); s !== undefined; s = this.#unswept.shift()) {
          for (let below = step; below - step < s.chunks; below += step) {
            await new Promise((resolve) => setImmediate(resolve));
            this.#writer.checkWritable("delete snapshot data");
            await this.#writer.write({
              ...emptyPlan("delete snapshot data", false),
              sweep: { id: s.id, seqBelow: below },
            });
          }
        }
      } catch {
        // The storage failed or closed: a reopen deletes what is left.
        this.#unswept.length = 0;
      } finally {
        this.#sweeping = false;
      }
    })();
  }

  stage(): SnapshotStaging {
    const id = this.#nextId++;
    const set: DataSet = { id, length: 0, checksum: 0, chunks: 0, state: Staging };
    this.#sets.set(id, set);
    const size = this.#chunkBytes;
    const chunksPerSync = Math.max(1, Math.floor(stageBytesPerSync / size));
    let buf = new Uint8Array(0);
    let used = 0;
    let done = false;
    const action = "stage snapshot data";
    const put = (bytes: Uint8Array | undefined, finish: boolean): void | Promise<void> => {
      this.#writer.checkWritable(action);
      const seq = bytes !== undefined ? set.chunks++ : undefined;
      if (bytes !== undefined) {
        set.length += bytes.length;
        set.checksum = crc32c(bytes, set.checksum);
      }
      return this.#writer.write({
        ...emptyPlan(action, finish || (seq !== undefined && (seq + 1) % chunksPerSync === 0)),
        stage: {
          id,
          seq,
          bytes,
          finish: finish
            ? { length: set.length, checksum: set.checksum, chunks: set.chunks }
            : undefined,
        },
      });
    };
    const check = (): void => {
      if (done || !this.#sets.has(id)) {
        throw new SqliteStorageError(
          "closed",
          this.#path,
          `Cannot ${action} '${this.#path}': the staging ended`,
        );
      }
    };
    return {
      write: (chunk: Uint8Array): void | Promise<void> => {
        check();
        let pending: Promise<void> | undefined;
        let at = 0;
        while (at < chunk.length) {
          if (used === 0 && chunk.length - at >= size) {
            // A whole chunk straight from the input.
            const r = put(chunk.slice(at, at + size), false);
            if (r !== undefined) pending = r;
            at += size;
            continue;
          }
          if (buf.length === 0) buf = new Uint8Array(size);
          const n = Math.min(size - used, chunk.length - at);
          buf.set(chunk.subarray(at, at + n), used);
          used += n;
          at += n;
          if (used === size) {
            const r = put(buf, false);
            if (r !== undefined) pending = r;
            buf = new Uint8Array(0);
            used = 0;
          }
        }
        return pending;
      },
      finish: async (): Promise<SnapshotDataDescriptor> => {
        check();
        done = true;
        try {
          if (used > 0) put(buf.slice(0, used), false);
          buf = new Uint8Array(0);
          await put(undefined, true);
          await this.#writer.flush();
        } catch (e) {
          this.#sets.delete(id);
          throw e;
        }
        set.state = Staged;
        this.#trimStaged();
        return { length: set.length, checksum: set.checksum };
      },
      abort: (): void => {
        done = true;
        buf = new Uint8Array(0);
        this.#discard(id);
      },
    };
  }

  /** Deletes the oldest finished staged data beyond `stagedSnapshotsMax`. */
  #trimStaged(): void {
    const staged = [...this.#sets.values()].filter((s) => s.state === Staged);
    for (let k = 0; k < staged.length - stagedSnapshotsMax; k++) this.#discard(staged[k]!.id);
  }

  /** Deletes staged data (its chunks in later turns); never throws (a failed write shows in later ones). */
  #discard(id: number): void {
    const s = this.#sets.get(id);
    if (s === undefined || s.state === Current) return;
    this.#sets.delete(id);
    try {
      const r = this.#writer.write({
        ...emptyPlan("discard snapshot data", false),
        discardDataId: id,
      });
      r?.catch(() => {});
    } catch {
      // The storage failed or closed; its next write says so.
      return;
    }
    this.#sweep(s);
  }

  read(d: SnapshotDataDescriptor): AsyncIterable<Uint8Array> {
    let set: DataSet | undefined;
    for (const s of this.#sets.values()) {
      if (s.state !== Staging && s.length === d.length && s.checksum === d.checksum) set = s;
    }
    if (set === undefined) {
      throw new RangeError(
        `Cannot read snapshot data of ${d.length} bytes with checksum ${d.checksum} from '${this.#path}': none is stored`,
      );
    }
    return this.#chunks(set);
  }

  async *#chunks(set: DataSet): AsyncGenerator<Uint8Array> {
    let crc = 0;
    for (let seq = 0; seq < set.chunks; seq++) {
      // The set may be replaced between chunks: each is looked up again.
      if (this.#sets.get(set.id) !== set) {
        throw new RangeError(
          `Cannot read snapshot data from '${this.#path}': it was replaced while it was read`,
        );
      }
      this.#select ??= this.#db.prepare(
        `SELECT bytes FROM ${this.#tables.snapshotChunk} WHERE data_id = ? AND seq = ?`,
      );
      const b = asRow(this.#select.get(set.id, seq))?.["bytes"];
      if (!(b instanceof Uint8Array)) {
        throw new SqliteStorageError(
          "corrupt_record",
          this.#path,
          `Cannot read snapshot data from '${this.#path}': chunk ${seq} is missing`,
        );
      }
      crc = crc32c(b, crc);
      if (seq === set.chunks - 1 && crc !== set.checksum) {
        throw new SqliteStorageError(
          "corrupt_record",
          this.#path,
          `Cannot read snapshot data from '${this.#path}': it fails its checksum (${crc}, ${set.checksum} was written)`,
        );
      }
      yield b;
    }
  }

  /** Frees the read statement. */
  close(): void {
    this.#select?.finalize?.();
    this.#select = undefined;
  }
}
