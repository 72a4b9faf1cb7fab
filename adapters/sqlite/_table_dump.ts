/**
 * The snapshot format of `SqliteStateMachine`: its tables' rows as a
 * stream of length-prefixed records, cut into chunks of about a fixed
 * size, read from one WAL read transaction; and the reverse, which loads
 * such a stream into the tables.
 *
 * A stream is `"RSM1"`, then records, each a little-endian u32 length
 * and that many bytes: a table (`T`, its name and column names), its rows
 * (`R`, one value per column: null, float64, int64, UTF-8 text or bytes),
 * and last an end record (`E`: the number of rows and a CRC-32C of every
 * byte before it). A stream that ends early, or whose end record does not
 * match, is refused.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { crc32c } from "../../core/crc32c.ts";
import {
  queryAll,
  type SqliteDatabaseLike,
  type SqliteStatementLike,
  type SqliteValue,
} from "./_database.ts";
import { asRow } from "./_rows.ts";

const magic = new Uint8Array([0x52, 0x53, 0x4d, 0x31]); // "RSM1"
const recTable = 0x54; // 'T'
const recRow = 0x52; // 'R'
const recEnd = 0x45; // 'E'
const valNull = 0;
const valFloat = 1;
const valBigint = 2;
const valText = 3;
const valBytes = 4;

/** Rows read per query while dumping a table, at most and at least (see `pages`). */
const pageRowsMax = 1024;
const pageRowsMin = 16;

/**
 * Milliseconds a dump reads and encodes rows before it lets the event
 * loop run (a page of rows at least): a state of a few GB is read in
 * slices, and the node handles messages, ticks and commands in between.
 */
const sliceMsMax = 10;

/** Settles after the event loop ran once (timers and I/O that were due). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Why a snapshot stream cannot be loaded. */
export class TableDumpError extends Error {
  /**
   * @param message What is wrong with the stream.
   */
  constructor(message: string) {
    super(message);
    this.name = "TableDumpError";
  }
}

/** Quotes an SQL identifier. */
export function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A table's column names, in order, and the columns that order its rows. */
export interface TableShape {
  columns: string[];
  /** The primary key's columns, or `["rowid"]` for a table without one. */
  key: string[];
}

/**
 * The columns of a table and its primary key.
 *
 * @returns The shape, or `undefined` when the table does not exist.
 */
export function tableShape(db: SqliteDatabaseLike, table: string): TableShape | undefined {
  const rows = queryAll(db, `PRAGMA table_info(${quoteName(table)})`);
  if (rows.length === 0) return undefined;
  const columns: string[] = [];
  const pk: [number, string][] = [];
  for (const r of rows) {
    const o = asRow(r)!;
    const name = String(o["name"]);
    columns.push(name);
    const p = Number(o["pk"]);
    if (p > 0) pk.push([p, name]);
  }
  pk.sort((a, b) => a[0] - b[0]);
  return { columns, key: pk.length > 0 ? pk.map(([, n]) => n) : ["rowid"] };
}

/**
 * Builds chunks of whole records, each at least `chunkBytes` unless it is
 * the last (a chunk ends after the record that filled it).
 */
class ChunkWriter {
  readonly #chunkBytes: number;
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  #recordStart = 0;
  #crc = 0;
  readonly #text = new TextEncoder();

  constructor(chunkBytes: number) {
    this.#chunkBytes = chunkBytes;
    this.#buf = new Uint8Array(Math.min(chunkBytes, 65536) + 64);
    this.#view = new DataView(this.#buf.buffer);
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + n));
    bigger.set(this.#buf.subarray(0, this.#pos));
    this.#buf = bigger;
    this.#view = new DataView(bigger.buffer);
  }

  raw(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  begin(kind: number): void {
    this.#recordStart = this.#pos;
    this.#ensure(5);
    this.#pos += 4;
    this.#buf[this.#pos++] = kind;
  }

  u32(v: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.#pos, v, true);
    this.#pos += 4;
  }

  f64(v: number): void {
    this.#ensure(8);
    this.#view.setFloat64(this.#pos, v, true);
    this.#pos += 8;
  }

  text(s: string): void {
    this.#ensure(4 + s.length * 3);
    const { written } = this.#text.encodeInto(s, this.#buf.subarray(this.#pos + 4));
    this.#view.setUint32(this.#pos, written, true);
    this.#pos += 4 + written;
  }

  value(v: unknown): void {
    this.#ensure(9);
    if (v === null || v === undefined) {
      this.#buf[this.#pos++] = valNull;
    } else if (typeof v === "number") {
      this.#buf[this.#pos++] = valFloat;
      this.f64(v);
    } else if (typeof v === "bigint") {
      this.#buf[this.#pos++] = valBigint;
      this.#view.setBigInt64(this.#pos, v, true);
      this.#pos += 8;
    } else if (typeof v === "string") {
      this.#buf[this.#pos++] = valText;
      this.text(v);
    } else if (v instanceof Uint8Array) {
      this.#buf[this.#pos++] = valBytes;
      this.u32(v.length);
      this.raw(v);
    } else {
      throw new TypeError(`Cannot snapshot a value of type ${typeof v}`);
    }
  }

  /** Ends the record begun last; true when the chunk is full. */
  end(): boolean {
    this.#view.setUint32(this.#recordStart, this.#pos - this.#recordStart - 4, true);
    return this.#pos >= this.#chunkBytes;
  }

  /** The CRC of everything taken so far, then the bytes written since. */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#pos);
    this.#crc = crc32c(out, this.#crc);
    this.#pos = 0;
    return out;
  }

  get crc(): number {
    return this.#crc;
  }
}

/**
 * Dumps tables as a snapshot stream, in chunks of about `chunkBytes`.
 * Every query runs on `db`, whose read transaction must already be open
 * (so that the stream is one consistent state); `finish` runs when the
 * stream ends, fails or is abandoned with `return()`. Rows are read in
 * slices of about `sliceMsMax` (10 ms), with a turn of the event loop
 * between them, so other work (the node's, and writes on other
 * connections) goes on while a large state is read.
 *
 * @param db The connection, in a read transaction.
 * @param tables The tables, in the order they are dumped.
 * @param chunkBytes About how many bytes each chunk holds.
 * @param finish Ends the read transaction.
 * @returns The chunks.
 */
export async function* dumpTables(
  db: SqliteDatabaseLike,
  tables: readonly string[],
  chunkBytes: number,
  finish: () => void,
): AsyncGenerator<Uint8Array> {
  try {
    const w = new ChunkWriter(chunkBytes);
    w.raw(magic);
    let rows = 0;
    let sliceStart = performance.now();
    for (const table of tables) {
      const shape = tableShape(db, table);
      if (shape === undefined) {
        throw new TypeError(`Cannot snapshot table '${table}': it does not exist`);
      }
      w.begin(recTable);
      w.text(table);
      w.u32(shape.columns.length);
      for (const c of shape.columns) w.text(c);
      w.end();
      for (const page of pages(db, table, shape)) {
        for (const row of page) {
          w.begin(recRow);
          for (const c of shape.columns) w.value(row[c]);
          rows++;
          if (w.end()) yield w.take();
        }
        if (performance.now() - sliceStart >= sliceMsMax) {
          await nextTurn();
          sliceStart = performance.now();
        }
      }
    }
    // The end record covers every byte before it.
    const rest = w.take();
    if (rest.length > 0) yield rest;
    w.begin(recEnd);
    w.f64(rows);
    w.u32(w.crc);
    w.end();
    yield w.take();
  } finally {
    finish();
  }
}

/**
 * The rows of a table in key order, a page per query. A page's row count
 * adapts to how long the last query took: halved above a quarter of
 * `sliceMsMax`, doubled below a sixteenth, so that one query stays well
 * inside a slice whether rows are small or large.
 */
function* pages(
  db: SqliteDatabaseLike,
  table: string,
  shape: TableShape,
): Generator<Record<string, unknown>[]> {
  const rowidKey = shape.key.length === 1 && shape.key[0] === "rowid" &&
    !shape.columns.includes("rowid");
  const keyAlias = rowidKey ? ["_raft_rowid"] : shape.key;
  const select = [
    ...shape.columns.map(quoteName),
    ...(rowidKey ? ["rowid AS _raft_rowid"] : []),
  ].join(", ");
  const keys = shape.key.map((k) => (k === "rowid" ? "rowid" : quoteName(k)));
  const order = keys.join(", ");
  const tuple = keys.length === 1 ? keys[0]! : `(${order})`;
  const params = keys.length === 1 ? "?" : `(${keys.map(() => "?").join(", ")})`;
  const q = quoteName(table);
  const first = db.prepare(`SELECT ${select} FROM ${q} ORDER BY ${order} LIMIT ?`);
  const next = db.prepare(
    `SELECT ${select} FROM ${q} WHERE ${tuple} > ${params} ORDER BY ${order} LIMIT ?`,
  );
  let rows = pageRowsMax;
  const query = (st: SqliteStatementLike, after: SqliteValue[]): Record<string, unknown>[] => {
    const t0 = performance.now();
    const page = st.all(...after, rows).map((r) => asRow(r)!);
    const ms = performance.now() - t0;
    if (ms > sliceMsMax / 4) rows = Math.max(pageRowsMin, rows >> 1);
    else if (ms < sliceMsMax / 16) rows = Math.min(pageRowsMax, rows * 2);
    return page;
  };
  try {
    let asked = rows;
    let page = query(first, []);
    while (page.length > 0) {
      yield page;
      if (page.length < asked) return;
      const last = page[page.length - 1]!;
      asked = rows;
      page = query(next, keyAlias.map((k) => last[k] as SqliteValue));
    }
  } finally {
    first.finalize?.();
    next.finalize?.();
  }
}

/** What loading a stream changed. */
export interface LoadedTables {
  /** Rows inserted. */
  rows: number;
}

/**
 * Loads a snapshot stream into tables, on a connection whose write
 * transaction is open: every table named is emptied first, then the rows
 * of the stream go in. Throws on a malformed stream (the caller rolls back).
 *
 * @param db The connection, in a write transaction.
 * @param tables The tables the stream may hold.
 * @param chunks The stream.
 * @returns What was loaded.
 * @throws {TableDumpError} When the stream is malformed, truncated, or
 *   names a table or column that is not there.
 */
export async function loadTables(
  db: SqliteDatabaseLike,
  tables: readonly string[],
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<LoadedTables> {
  for (const t of tables) db.exec(`DELETE FROM ${quoteName(t)}`);
  const reader = new RecordReader();
  const loader = new RowLoader(db, tables);
  try {
    let ended = false;
    for await (const chunk of chunks) {
      if (!(chunk instanceof Uint8Array)) {
        throw new TableDumpError("a chunk is not a Uint8Array");
      }
      if (ended && chunk.length > 0) throw new TableDumpError("bytes follow the end record");
      reader.push(chunk);
      for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
        if (ended) throw new TableDumpError("records follow the end record");
        ended = loader.record(rec, reader.crcBefore);
      }
    }
    if (!reader.started) throw new TableDumpError("the stream is empty");
    if (!ended || reader.leftover > 0) {
      throw new TableDumpError("the stream ends before its end record");
    }
    return { rows: loader.rows };
  } finally {
    loader.close();
  }
}

/** Splits a byte stream into records, whatever the chunk boundaries. */
class RecordReader {
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #crc = 0;
  started = false;
  /** The CRC of every byte before the record `next()` returned last. */
  crcBefore = 0;

  push(chunk: Uint8Array): void {
    const rest = this.#buf.subarray(this.#pos);
    if (rest.length === 0) {
      this.#buf = chunk;
    } else {
      const joined = new Uint8Array(rest.length + chunk.length);
      joined.set(rest);
      joined.set(chunk, rest.length);
      this.#buf = joined;
    }
    this.#pos = 0;
  }

  get leftover(): number {
    return this.#buf.length - this.#pos;
  }

  next(): Uint8Array | undefined {
    const b = this.#buf;
    if (!this.started) {
      if (b.length - this.#pos < magic.length) return undefined;
      for (let i = 0; i < magic.length; i++) {
        if (b[this.#pos + i] !== magic[i]) {
          throw new TableDumpError("it does not start with the state machine's snapshot header");
        }
      }
      this.#crc = crc32c(b.subarray(this.#pos, this.#pos + magic.length));
      this.#pos += magic.length;
      this.started = true;
    }
    if (b.length - this.#pos < 4) return undefined;
    const n = new DataView(b.buffer, b.byteOffset + this.#pos, 4).getUint32(0, true);
    if (n === 0) throw new TableDumpError("a record is empty");
    if (b.length - this.#pos - 4 < n) return undefined;
    const whole = b.subarray(this.#pos, this.#pos + 4 + n);
    this.crcBefore = this.#crc;
    this.#crc = crc32c(whole, this.#crc);
    this.#pos += 4 + n;
    return whole.subarray(4);
  }
}

/** Reads the fields of one record. */
class FieldReader {
  readonly #b: Uint8Array;
  readonly #v: DataView;
  #pos = 1;
  static readonly #text = new TextDecoder("utf-8", { fatal: true });

  constructor(b: Uint8Array) {
    this.#b = b;
    this.#v = new DataView(b.buffer, b.byteOffset, b.length);
  }

  #need(n: number): void {
    if (this.#pos + n > this.#b.length) throw new TableDumpError("a record is truncated");
  }

  u32(): number {
    this.#need(4);
    const v = this.#v.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  f64(): number {
    this.#need(8);
    const v = this.#v.getFloat64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    this.#need(n);
    const out = this.#b.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  text(): string {
    try {
      return FieldReader.#text.decode(this.bytes());
    } catch (e) {
      if (e instanceof TableDumpError) throw e;
      throw new TableDumpError("a text value is not UTF-8");
    }
  }

  value(): SqliteValue {
    this.#need(1);
    const tag = this.#b[this.#pos++];
    switch (tag) {
      case valNull:
        return null;
      case valFloat:
        return this.f64();
      case valBigint: {
        this.#need(8);
        const v = this.#v.getBigInt64(this.#pos, true);
        this.#pos += 8;
        return v;
      }
      case valText:
        return this.text();
      case valBytes:
        return this.bytes().slice();
      default:
        throw new TableDumpError(`a value has the unknown type ${tag}`);
    }
  }

  done(): void {
    if (this.#pos !== this.#b.length) throw new TableDumpError("a record has trailing bytes");
  }
}

/** Inserts the rows of decoded records. */
class RowLoader {
  readonly #db: SqliteDatabaseLike;
  readonly #tables: ReadonlySet<string>;
  readonly #seen = new Set<string>();
  #insert: SqliteStatementLike | undefined;
  #columns = 0;
  rows = 0;

  constructor(db: SqliteDatabaseLike, tables: readonly string[]) {
    this.#db = db;
    this.#tables = new Set(tables);
  }

  /** Loads one record; true for the end record. */
  record(rec: Uint8Array, crcBefore: number): boolean {
    const f = new FieldReader(rec);
    switch (rec[0]) {
      case recTable: {
        const name = f.text();
        const n = f.u32();
        if (n === 0 || n > 2000) throw new TableDumpError(`table '${name}' has ${n} columns`);
        const cols: string[] = [];
        for (let i = 0; i < n; i++) cols.push(f.text());
        f.done();
        if (!this.#tables.has(name)) {
          throw new TableDumpError(
            `it holds table '${name}', which the state machine does not have`,
          );
        }
        if (this.#seen.has(name)) throw new TableDumpError(`it holds table '${name}' twice`);
        this.#seen.add(name);
        this.#insert?.finalize?.();
        this.#insert = undefined;
        this.#insert = this.#db.prepare(
          `INSERT INTO ${quoteName(name)} (${cols.map(quoteName).join(", ")}) VALUES (${
            cols.map(() => "?").join(", ")
          })`,
        );
        this.#columns = n;
        return false;
      }
      case recRow: {
        if (this.#insert === undefined) throw new TableDumpError("a row comes before its table");
        const values: SqliteValue[] = [];
        for (let i = 0; i < this.#columns; i++) values.push(f.value());
        f.done();
        this.#insert.run(...values);
        this.rows++;
        return false;
      }
      case recEnd: {
        const rows = f.f64();
        const crc = f.u32();
        f.done();
        if (rows !== this.rows) {
          throw new TableDumpError(`it holds ${this.rows} rows, its end record says ${rows}`);
        }
        if (crc !== crcBefore) throw new TableDumpError("its checksum does not match");
        return true;
      }
      default:
        throw new TableDumpError(`a record has the unknown kind ${rec[0]}`);
    }
  }

  close(): void {
    this.#insert?.finalize?.();
    this.#insert = undefined;
  }
}
