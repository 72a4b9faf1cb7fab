/**
 * The rows of the `raft_log` table: each holds the entries `first..last` of
 * one write, as consecutive checksummed frames. Decoding checks every frame.
 *
 * @module
 */

import { decodeEntry, decodeFrame } from "../../core/codec.ts";
import type { Entry, Index } from "../../core/types.ts";
import { SqliteStorageError } from "./_errors.ts";

/**
 * One row of the log: the entries `first..last`, written by one call, as
 * consecutive checksummed frames (one per entry) in `record`.
 */
export interface LogRow {
  first: Index;
  last: Index;
  record: unknown;
}

/** A row's entries, checked and decoded; `ends[k]` is the byte offset just past entry `first + k`'s frame. */
export interface DecodedRow {
  first: Index;
  last: Index;
  entries: Entry[];
  ends: number[];
}

/**
 * A driver's row as an object, or `undefined` when it is not one.
 *
 * @param v What the driver returned.
 * @returns The row.
 */
export function asRow(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
}

/**
 * Checks and decodes a row: every frame's checksum, one entry per index
 * from `first` to `last`, nothing after the last frame. The decoded
 * entries' data alias the row's bytes.
 *
 * @param path The database file, for errors.
 * @param row The row.
 * @param action What is being done, after "Cannot ".
 * @returns The decoded row.
 * @throws {SqliteStorageError} `"corrupt_record"` naming the first bad index.
 */
export function decodeRow(path: string, row: LogRow, action: string): DecodedRow {
  const { first, last, record } = row;
  const corrupt = (index: Index, why: string, cause?: unknown): SqliteStorageError =>
    new SqliteStorageError(
      "corrupt_record",
      path,
      `Cannot ${action} '${path}': ${why}`,
      cause !== undefined ? { index, cause } : { index },
    );
  if (last < first) {
    throw corrupt(first, `the row of entries ${first}..${last} ends before it begins`);
  }
  if (!(record instanceof Uint8Array)) {
    throw corrupt(first, `the record of entries ${first}..${last} is not a blob`);
  }
  const entries: Entry[] = [];
  const ends: number[] = [];
  let pos = 0;
  for (let i = first; i <= last; i++) {
    const what = `the record of entry ${i}`;
    if (pos === record.length) {
      throw corrupt(i, `${what} is missing from the row of entries ${first}..${last}`);
    }
    let payload: Uint8Array;
    try {
      const f = decodeFrame(record, pos, { complete: true, maxPayloadBytes: record.length })!;
      payload = f.payload;
      pos = f.next;
    } catch (e) {
      throw corrupt(i, `${what} fails its check: ${(e as Error).message}`, e);
    }
    let e: Entry;
    try {
      e = decodeEntry(payload, { aliasBytes: true });
    } catch (err) {
      throw corrupt(i, `${what} cannot be decoded: ${(err as Error).message}`, err);
    }
    if (e.index !== i) {
      throw corrupt(i, `${what} holds entry ${e.index} at term ${e.term}`);
    }
    entries.push(e);
    ends.push(pos);
  }
  if (pos !== record.length) {
    const extra = record.length - pos;
    throw corrupt(
      last,
      `the row of entries ${first}..${last} has ${extra} extra byte${
        extra === 1 ? "" : "s"
      } after entry ${last}`,
    );
  }
  return { first, last, entries, ends };
}

/**
 * Checks the index columns of the rows a query returned.
 *
 * @param path The database file, for errors.
 * @param raw The driver's rows.
 * @returns The rows.
 * @throws {SqliteStorageError} `"corrupt_record"` when an index is not a non-negative integer.
 */
export function toRows(path: string, raw: unknown[]): LogRow[] {
  const rows: LogRow[] = [];
  for (const r of raw) {
    const row = asRow(r);
    const first = rowInt(path, row?.["first"], "first index of a row");
    rows.push({
      first,
      last: rowInt(path, row?.["last"], `last index of the row at ${first}`),
      record: row?.["record"],
    });
  }
  return rows;
}

function rowInt(path: string, v: unknown, what: string): number {
  const n = typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new SqliteStorageError(
      "corrupt_record",
      path,
      `Cannot read raft storage '${path}': the ${what} is not a non-negative integer: ${String(v)}`,
    );
  }
  return n;
}
