/**
 * The binary codec for the Raft data model: the protobuf wire format with
 * the field numbers of etcd raft's `raftpb` (proto2), so that a Go program
 * using `go.etcd.io/raft/v3/raftpb` can decode what raft-ts sends and stores,
 * and the other way round; plus a checksummed, length-prefixed frame for
 * wire and disk.
 *
 * Encoding: each encoder computes the exact size first, allocates one
 * `Uint8Array` (or writes into a caller's buffer), and writes fields in
 * field-number order, as Go's protobuf does. Default values (0, `false`,
 * empty bytes, empty lists) are left out, with these exceptions, which
 * keep a Go peer's non-nil expectations:
 * - an Entry always carries `term` and `index` (so its encoded size is
 *   `entrySize(e)` from `util.ts`);
 * - a present snapshot is always written, with its metadata, the metadata's
 *   conf state, index and term, and the conf state's `autoLeave` (as etcd's
 *   `EnsureSnapshot` fills them in).
 * Repeated integers (ConfState) are written unpacked, as proto2 does.
 *
 * Decoding accepts any valid protobuf encoding of these messages: fields in
 * any order, defaults present or absent, repeated integers packed or not,
 * a repeated non-repeated field (the last value wins; sub-messages merge) and
 * unknown fields (skipped by wire type, groups included). It rejects, with a
 * {@linkcode CodecError}: truncated input, integers above
 * `Number.MAX_SAFE_INTEGER`, enum values etcd does not define, a known field
 * with a wire type that does not fit it, and nesting deeper than 64 levels.
 * Decoded byte fields (`data`, `context`) never alias the input by default:
 * they are private copies (the first one a copy of its own; later ones views
 * into one copy of the whole input), so the caller may reuse or overwrite
 * the input at once (a field kept alive keeps its copy alive). Pass
 * `{ aliasBytes: true }` to get views into the input itself (no copy; the
 * caller must then keep the input intact while the decoded value is in use).
 *
 * @module
 */

import {
  type ConfChange,
  type ConfChangeI,
  type ConfChangeSingle,
  ConfChangeTransition,
  type ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  emptyBytes,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type MessageType,
  type Snapshot,
  type SnapshotMetadata,
} from "./types.ts";
import { varintSize } from "./util.ts";
import { crc32c } from "./crc32c.ts";

// ---------------------------------------------------------------------------
// Errors and options

/**
 * The largest term, index or commit index the decoder accepts (2^48 - 1).
 * Far above what any cluster reaches (a new term every millisecond for
 * 8,900 years; as many entries), and far below 2^53, so that `term + 1`
 * and `index + n` stay exact: a peer cannot make a node adopt a term whose
 * successor it cannot represent.
 */
export const positionMax: number = 2 ** 48 - 1;

/** Why a {@linkcode CodecError} was thrown. */
export type CodecErrorReason =
  /** The input ends inside a field, a sub-message or a frame. */
  | "truncated"
  /** A frame's length prefix is above the allowed maximum. */
  | "oversized"
  /** A frame's checksum does not match its contents. */
  | "checksum"
  /** The bytes are not a valid encoding (bad tag, wire type or length). */
  | "malformed"
  /**
   * An integer is above `Number.MAX_SAFE_INTEGER`, or a term or index is
   * above {@linkcode positionMax}.
   */
  | "overflow"
  /** An enum field holds a value etcd raft does not define. */
  | "invalid_enum"
  /** Sub-messages are nested deeper than the decoder allows. */
  | "too_deep";

/**
 * Thrown when bytes cannot be decoded: truncated, corrupt or out of range.
 * An expected outcome for data from the network or disk; check `reason`.
 *
 * @example Telling a codec error apart
 * ```ts
 * import { CodecError, decodeMessage } from "@raft-ts/raft";
 * try {
 *   decodeMessage(new Uint8Array([0x08]));
 * } catch (e) {
 *   if (!(e instanceof CodecError) || e.reason !== "truncated") throw e;
 * }
 * ```
 */
export class CodecError extends Error {
  /** Literal code for programmatic checks. */
  readonly code = "codec" as const;
  /** What exactly is wrong. */
  readonly reason: CodecErrorReason;
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  /**
   * Creates a codec error.
   *
   * @param reason What exactly is wrong.
   * @param message The error's message.
   * @param offset Byte offset in the input where the problem was found.
   */
  constructor(reason: CodecErrorReason, message: string, offset: number) {
    super(message);
    this.name = "CodecError";
    this.reason = reason;
    this.offset = offset;
  }
}

/** Options of the decoders. */
export interface DecodeOptions {
  /**
   * Return byte fields (`data`, `context`) as views into the input itself
   * instead of private copies. Saves the copying, but the caller must not
   * modify or reuse the input while the decoded value is in use.
   * @default {false}
   */
  aliasBytes?: boolean;
}

/** How deep sub-messages (snapshots, responses) may nest when decoding. */
const maxDepth = 64;

// Field tags: (field number << 3) | wire type. Wire types: 0 varint, 2 bytes.
const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_SGROUP = 3;
const WT_EGROUP = 4;
const WT_I32 = 5;

const maxMessageType = 23;
const maxEntryType = 2;
const maxConfChangeType = 3;
const maxTransition = 2;

// ---------------------------------------------------------------------------
// Sizes (the first pass of every encoder; they also validate values)

function badValue(what: string, field: string, v: unknown): never {
  throw new RangeError(
    `Cannot encode ${what} as '${field}' must be a non-negative safe integer: current value ${
      String(v)
    }`,
  );
}

function badEnum(what: string, field: string, v: unknown, max: number): never {
  throw new RangeError(
    `Cannot encode ${what} as '${field}' must be an integer from 0 to ${max}: current value ${
      String(v)
    }`,
  );
}

/** Size of a uint64 varint, after checking the value is a non-negative safe integer. */
function uintSize(v: number, what: string, field: string): number {
  if (!(Number.isSafeInteger(v) && v >= 0)) badValue(what, field, v);
  return varintSize(v);
}

/** Size of a term or index varint, after checking it is at most `positionMax`. */
function positionSize(v: number, what: string, field: string): number {
  if (!(Number.isSafeInteger(v) && v >= 0 && v <= positionMax)) {
    throw new RangeError(
      `Cannot encode ${what} as '${field}' must be an integer from 0 to 2^48 - 1 (positionMax): current value ${
        String(v)
      }`,
    );
  }
  return varintSize(v);
}

/** Size of an enum varint, after checking the range (all our enums fit one byte). */
function enumSize(v: number, max: number, what: string, field: string): number {
  if (!(Number.isInteger(v) && v >= 0 && v <= max)) badEnum(what, field, v, max);
  return 1;
}

/** Size of a length-delimited field with a one-byte tag. */
function lenFieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

function entryBodySize(e: Entry): number {
  let n = 2 + positionSize(e.term, "Entry", "term") + positionSize(e.index, "Entry", "index");
  if (e.type !== 0) n += 1 + enumSize(e.type, maxEntryType, "Entry", "type");
  const len = e.data.length;
  if (len > 0) n += lenFieldSize(len);
  return n;
}

function uintListSize(ids: readonly number[], field: string): number {
  let n = 0;
  for (let i = 0; i < ids.length; i++) n += 1 + uintSize(ids[i]!, "ConfState", field);
  return n;
}

function confStateBodySize(cs: ConfState): number {
  return uintListSize(cs.voters, "voters") + uintListSize(cs.learners, "learners") +
    uintListSize(cs.votersOutgoing, "votersOutgoing") +
    uintListSize(cs.learnersNext, "learnersNext") + 2;
}

function metadataBodySize(md: SnapshotMetadata): number {
  return lenFieldSize(confStateBodySize(md.confState)) +
    1 + positionSize(md.index, "SnapshotMetadata", "index") +
    1 + positionSize(md.term, "SnapshotMetadata", "term");
}

function snapshotBodySize(s: Snapshot): number {
  let n = lenFieldSize(metadataBodySize(s.metadata));
  if (s.data.length > 0) n += lenFieldSize(s.data.length);
  return n;
}

function optUintSize(v: number, what: string, field: string): number {
  return v === 0 ? 0 : 1 + uintSize(v, what, field);
}

function optPositionSize(v: number, what: string, field: string): number {
  return v === 0 ? 0 : 1 + positionSize(v, what, field);
}

function messageBodySize(m: Message, depth: number): number {
  if (depth > maxDepth) {
    throw new RangeError(`Cannot encode Message as responses nest deeper than ${maxDepth} levels`);
  }
  let n = 0;
  if (m.type !== 0) n += 1 + enumSize(m.type, maxMessageType, "Message", "type");
  n += optUintSize(m.to, "Message", "to");
  n += optUintSize(m.from, "Message", "from");
  n += optPositionSize(m.term, "Message", "term");
  n += optPositionSize(m.logTerm, "Message", "logTerm");
  n += optPositionSize(m.index, "Message", "index");
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) n += lenFieldSize(entryBodySize(ents[i]!));
  n += optPositionSize(m.commit, "Message", "commit");
  if (m.snapshot !== undefined) n += lenFieldSize(snapshotBodySize(m.snapshot));
  if (m.reject) n += 2;
  n += optUintSize(m.rejectHint, "Message", "rejectHint");
  if (m.context.length > 0) n += lenFieldSize(m.context.length);
  n += optUintSize(m.vote, "Message", "vote");
  const rs = m.responses;
  for (let i = 0; i < rs.length; i++) n += lenFieldSize(messageBodySize(rs[i]!, depth + 1));
  return n;
}

function hardStateBodySize(hs: HardState): number {
  return optPositionSize(hs.term, "HardState", "term") +
    optUintSize(hs.vote, "HardState", "vote") +
    optPositionSize(hs.commit, "HardState", "commit");
}

function confChangeBodySize(cc: ConfChange): number {
  let n = optUintSize(cc.id, "ConfChange", "id");
  if (cc.type !== 0) n += 1 + enumSize(cc.type, maxConfChangeType, "ConfChange", "type");
  n += optUintSize(cc.nodeId, "ConfChange", "nodeId");
  if (cc.context.length > 0) n += lenFieldSize(cc.context.length);
  return n;
}

function confChangeSingleBodySize(c: ConfChangeSingle): number {
  let n = 0;
  if (c.type !== 0) n += 1 + enumSize(c.type, maxConfChangeType, "ConfChangeSingle", "type");
  return n + optUintSize(c.nodeId, "ConfChangeSingle", "nodeId");
}

function confChangeV2BodySize(cc: ConfChangeV2): number {
  let n = 0;
  if (cc.transition !== 0) {
    n += 1 + enumSize(cc.transition, maxTransition, "ConfChangeV2", "transition");
  }
  const cs = cc.changes;
  for (let i = 0; i < cs.length; i++) n += lenFieldSize(confChangeSingleBodySize(cs[i]!));
  if (cc.context.length > 0) n += lenFieldSize(cc.context.length);
  return n;
}

// ---------------------------------------------------------------------------
// Writers (the second pass; values were validated by the size pass)

function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  if (v < 0x80000000) {
    // Fits 31 bits: 32-bit operators are exact.
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    return pos;
  }
  // Up to 53 bits: arithmetic, since bitwise operators truncate to 32 bits.
  while (v > 0x7f) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function writeUintField(buf: Uint8Array, pos: number, tag: number, v: number): number {
  buf[pos] = tag;
  return writeVarint(buf, pos + 1, v);
}

function writeBytesField(buf: Uint8Array, pos: number, tag: number, data: Uint8Array): number {
  buf[pos] = tag;
  pos = writeVarint(buf, pos + 1, data.length);
  buf.set(data, pos);
  return pos + data.length;
}

function writeEntry(buf: Uint8Array, pos: number, e: Entry): number {
  if (e.type !== 0) pos = writeUintField(buf, pos, 0x08, e.type);
  pos = writeUintField(buf, pos, 0x10, e.term);
  pos = writeUintField(buf, pos, 0x18, e.index);
  if (e.data.length > 0) pos = writeBytesField(buf, pos, 0x22, e.data);
  return pos;
}

function writeConfState(buf: Uint8Array, pos: number, cs: ConfState): number {
  for (let i = 0; i < cs.voters.length; i++) pos = writeUintField(buf, pos, 0x08, cs.voters[i]!);
  for (let i = 0; i < cs.learners.length; i++) {
    pos = writeUintField(buf, pos, 0x10, cs.learners[i]!);
  }
  for (let i = 0; i < cs.votersOutgoing.length; i++) {
    pos = writeUintField(buf, pos, 0x18, cs.votersOutgoing[i]!);
  }
  for (let i = 0; i < cs.learnersNext.length; i++) {
    pos = writeUintField(buf, pos, 0x20, cs.learnersNext[i]!);
  }
  buf[pos++] = 0x28;
  buf[pos++] = cs.autoLeave ? 1 : 0;
  return pos;
}

function writeMetadata(buf: Uint8Array, pos: number, md: SnapshotMetadata): number {
  buf[pos] = 0x0a;
  pos = writeVarint(buf, pos + 1, confStateBodySize(md.confState));
  pos = writeConfState(buf, pos, md.confState);
  pos = writeUintField(buf, pos, 0x10, md.index);
  return writeUintField(buf, pos, 0x18, md.term);
}

function writeSnapshot(buf: Uint8Array, pos: number, s: Snapshot): number {
  if (s.data.length > 0) pos = writeBytesField(buf, pos, 0x0a, s.data);
  buf[pos] = 0x12;
  pos = writeVarint(buf, pos + 1, metadataBodySize(s.metadata));
  return writeMetadata(buf, pos, s.metadata);
}

function writeMessage(buf: Uint8Array, pos: number, m: Message, depth: number): number {
  if (m.type !== 0) pos = writeUintField(buf, pos, 0x08, m.type);
  if (m.to !== 0) pos = writeUintField(buf, pos, 0x10, m.to);
  if (m.from !== 0) pos = writeUintField(buf, pos, 0x18, m.from);
  if (m.term !== 0) pos = writeUintField(buf, pos, 0x20, m.term);
  if (m.logTerm !== 0) pos = writeUintField(buf, pos, 0x28, m.logTerm);
  if (m.index !== 0) pos = writeUintField(buf, pos, 0x30, m.index);
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!;
    buf[pos] = 0x3a;
    pos = writeVarint(buf, pos + 1, entryBodySize(e));
    pos = writeEntry(buf, pos, e);
  }
  if (m.commit !== 0) pos = writeUintField(buf, pos, 0x40, m.commit);
  if (m.snapshot !== undefined) {
    buf[pos] = 0x4a;
    pos = writeVarint(buf, pos + 1, snapshotBodySize(m.snapshot));
    pos = writeSnapshot(buf, pos, m.snapshot);
  }
  if (m.reject) {
    buf[pos++] = 0x50;
    buf[pos++] = 1;
  }
  if (m.rejectHint !== 0) pos = writeUintField(buf, pos, 0x58, m.rejectHint);
  if (m.context.length > 0) pos = writeBytesField(buf, pos, 0x62, m.context);
  if (m.vote !== 0) pos = writeUintField(buf, pos, 0x68, m.vote);
  const rs = m.responses;
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i]!;
    buf[pos] = 0x72;
    pos = writeVarint(buf, pos + 1, messageBodySize(r, depth + 1));
    pos = writeMessage(buf, pos, r, depth + 1);
  }
  return pos;
}

function writeHardState(buf: Uint8Array, pos: number, hs: HardState): number {
  if (hs.term !== 0) pos = writeUintField(buf, pos, 0x08, hs.term);
  if (hs.vote !== 0) pos = writeUintField(buf, pos, 0x10, hs.vote);
  if (hs.commit !== 0) pos = writeUintField(buf, pos, 0x18, hs.commit);
  return pos;
}

function writeConfChange(buf: Uint8Array, pos: number, cc: ConfChange): number {
  if (cc.id !== 0) pos = writeUintField(buf, pos, 0x08, cc.id);
  if (cc.type !== 0) pos = writeUintField(buf, pos, 0x10, cc.type);
  if (cc.nodeId !== 0) pos = writeUintField(buf, pos, 0x18, cc.nodeId);
  if (cc.context.length > 0) pos = writeBytesField(buf, pos, 0x22, cc.context);
  return pos;
}

function writeConfChangeV2(buf: Uint8Array, pos: number, cc: ConfChangeV2): number {
  if (cc.transition !== 0) pos = writeUintField(buf, pos, 0x08, cc.transition);
  const cs = cc.changes;
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    buf[pos] = 0x12;
    pos = writeVarint(buf, pos + 1, confChangeSingleBodySize(c));
    if (c.type !== 0) pos = writeUintField(buf, pos, 0x08, c.type);
    if (c.nodeId !== 0) pos = writeUintField(buf, pos, 0x10, c.nodeId);
  }
  if (cc.context.length > 0) pos = writeBytesField(buf, pos, 0x1a, cc.context);
  return pos;
}

/** Checks the buffer has room, writes, and checks the writer filled exactly `size` bytes. */
function writeInto<T>(
  what: string,
  v: T,
  size: number,
  buf: Uint8Array,
  offset: number,
  write: (buf: Uint8Array, pos: number, v: T) => number,
): number {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > buf.length) {
    throw new RangeError(
      `Cannot encode ${what} into the buffer as ${size} bytes do not fit at offset ${offset}: current length ${buf.length}`,
    );
  }
  const end = write(buf, offset, v);
  if (end !== offset + size) {
    // The size pass and the write pass disagree: a bug in this file.
    throw new Error(`Cannot encode ${what}: wrote ${end - offset} bytes, expected ${size}`);
  }
  return end;
}

function encodeWith<T>(
  what: string,
  v: T,
  size: number,
  write: (buf: Uint8Array, pos: number, v: T) => number,
): Uint8Array {
  const buf = new Uint8Array(size);
  writeInto(what, v, size, buf, 0, write);
  return buf;
}

function writeMessageTop(buf: Uint8Array, pos: number, m: Message): number {
  return writeMessage(buf, pos, m, 0);
}

// ---------------------------------------------------------------------------
// Reader

/**
 * A cursor over the input. `pos` only moves forward.
 *
 * Unless `alias` is set, decoded byte fields never alias the input, and the
 * copying is arranged for the common messages (measured in bench/README.md):
 * - no byte field (MsgAppResp, MsgHeartbeat, votes): no copy at all;
 * - one byte field (a MsgApp with one entry): a copy of just that field,
 *   which avoids a typed-array view (on Bun a view on a fresh buffer costs
 *   about 0.35 µs more than the copy);
 * - more: the first field's own copy, then one copy of the whole input that
 *   the later fields view (on Deno each Uint8Array allocation costs 0.2 to
 *   0.6 µs, so one per field would dominate large appends).
 */
class Reader {
  readonly buf: Uint8Array;
  pos: number;
  readonly what: string;
  /** Byte fields are views into `buf` (the caller keeps it intact). */
  readonly alias: boolean;
  /** Whether `buf` is a plain Uint8Array, whose `slice` returns a plain copy. */
  readonly plain: boolean;
  /** Whether a byte field was copied on its own already. */
  copiedOne: boolean;
  /** The copy of `buf` that later byte fields view; made when first needed. */
  copy: Uint8Array | undefined;
  constructor(buf: Uint8Array, pos: number, what: string, alias: boolean) {
    this.buf = buf;
    this.pos = pos;
    this.what = what;
    this.alias = alias;
    this.plain = Object.getPrototypeOf(buf) === Uint8Array.prototype;
    this.copiedOne = false;
    this.copy = undefined;
  }

  fail(reason: CodecErrorReason, detail: string, at: number = this.pos): never {
    throw new CodecError(reason, `Cannot decode ${this.what}: ${detail} at offset ${at}`, at);
  }

  /**
   * Reads a varint that must end before `end`. Returns -1 when its value is
   * above Number.MAX_SAFE_INTEGER (the bytes are consumed all the same).
   */
  varint(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= end) this.fail("truncated", "input ends inside a varint", pos);
    let b = buf[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let v = b & 0x7f;
    // Bytes 1 to 3: bits 7 to 27, exact with 32-bit operators.
    for (let shift = 7; shift < 28; shift += 7) {
      if (pos >= end) this.fail("truncated", "input ends inside a varint", pos);
      b = buf[pos++]!;
      v |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return v;
      }
    }
    // Bytes 4 to 9: bits 28 to 69, with arithmetic.
    let mul = 0x10000000;
    let overflow = false;
    for (let i = 4; i < 10; i++) {
      if (pos >= end) this.fail("truncated", "input ends inside a varint", pos);
      b = buf[pos++]!;
      const bits = b & 0x7f;
      if (i < 7) v += bits * mul;
      else if (i === 7 && bits <= 15) v += bits * mul; // bits 49 to 52: at most 2^53 - 1
      else if (bits !== 0) overflow = true;
      mul *= 128;
      if (b < 0x80) {
        this.pos = pos;
        return overflow ? -1 : v;
      }
    }
    return this.fail("malformed", "varint longer than 10 bytes", pos);
  }

  uint(end: number): number {
    const start = this.pos;
    const v = this.varint(end);
    if (v < 0) this.fail("overflow", "integer above Number.MAX_SAFE_INTEGER", start);
    return v;
  }

  /** Reads a term, an index or a commit index: at most `positionMax`. */
  position(end: number): number {
    const start = this.pos;
    const v = this.varint(end);
    if (v < 0 || v > positionMax) {
      this.fail("overflow", `term or index above the bound 2^48 - 1 (positionMax)`, start);
    }
    return v;
  }

  enumValue(end: number, max: number): number {
    const start = this.pos;
    const v = this.varint(end);
    if (v < 0 || v > max) {
      this.fail(
        "invalid_enum",
        `enum value ${v < 0 ? "above 2^53" : v} out of range 0..${max}`,
        start,
      );
    }
    return v;
  }

  bool(end: number): boolean {
    return this.varint(end) !== 0; // -1 (huge) is nonzero too
  }

  /** Reads a length prefix and returns the end of the field it announces. */
  lenEnd(end: number): number {
    const start = this.pos;
    const len = this.varint(end);
    if (len < 0 || len > end - this.pos) {
      this.fail("truncated", "length-delimited field runs past the end of its message", start);
    }
    return this.pos + len;
  }

  bytes(end: number): Uint8Array {
    const fieldEnd = this.lenEnd(end);
    const start = this.pos;
    this.pos = fieldEnd;
    const len = fieldEnd - start;
    if (len === 0) return emptyBytes;
    const buf = this.buf;
    if (this.alias) return buf.subarray(start, fieldEnd);
    let copy = this.copy;
    if (copy === undefined) {
      if (!this.copiedOne) {
        this.copiedOne = true;
        if (this.plain) return buf.slice(start, fieldEnd);
        // A subclass's slice may return a view (Node's Buffer) or a subclass.
        const own = new Uint8Array(len);
        own.set(buf.subarray(start, fieldEnd));
        return own;
      }
      copy = new Uint8Array(buf.length);
      copy.set(buf);
      this.copy = copy;
    }
    return copy.subarray(start, fieldEnd);
  }

  /** Reads a field key; returns the whole tag (field number * 8 + wire type). */
  tag(end: number): number {
    const start = this.pos;
    const key = this.varint(end);
    if (key < 0 || key > 0xffffffff) this.fail("malformed", "field tag too large", start);
    if (key < 8) this.fail("malformed", "field number 0", start);
    return key;
  }

  /**
   * Handles a field the caller did not recognize: a known field number
   * (bit set in `known`) with the wrong wire type is malformed; an unknown
   * field is skipped.
   */
  other(tag: number, end: number, known: number): void {
    const field = Math.floor(tag / 8);
    if (field < 31 && (known & (1 << field)) !== 0) {
      this.fail("malformed", `field ${field} has wire type ${tag & 7}, which does not fit it`);
    }
    this.skip(tag, end, 0);
  }

  skip(tag: number, end: number, depth: number): void {
    switch (tag & 7) {
      case WT_VARINT:
        this.varint(end);
        return;
      case WT_I64:
        if (end - this.pos < 8) this.fail("truncated", "input ends inside a fixed64 field");
        this.pos += 8;
        return;
      case WT_LEN:
        this.pos = this.lenEnd(end);
        return;
      case WT_I32:
        if (end - this.pos < 4) this.fail("truncated", "input ends inside a fixed32 field");
        this.pos += 4;
        return;
      case WT_SGROUP: {
        if (depth >= maxDepth) this.fail("too_deep", "groups nest too deep");
        const field = Math.floor(tag / 8);
        for (;;) {
          if (this.pos >= end) this.fail("truncated", "input ends inside a group");
          const t = this.tag(end);
          if ((t & 7) === WT_EGROUP) {
            if (Math.floor(t / 8) !== field) this.fail("malformed", "mismatched end of group");
            return;
          }
          this.skip(t, end, depth + 1);
        }
      }
      case WT_EGROUP:
        return this.fail("malformed", "unexpected end of group");
      default:
        return this.fail("malformed", `invalid wire type ${tag & 7}`);
    }
  }

  /** Reads a repeated uint64 field, packed or not, appending to `out`. */
  repeatedUint(tag: number, end: number, out: number[]): void {
    if ((tag & 7) === WT_VARINT) {
      out.push(this.uint(end));
      return;
    }
    const fieldEnd = this.lenEnd(end);
    while (this.pos < fieldEnd) out.push(this.uint(fieldEnd));
  }
}

// ---------------------------------------------------------------------------
// Readers of each message type. `end` bounds the message; the reader stops there.

// Bit masks of the field numbers each message defines.
const entryFields = 0b11110;
const messageFields = 0b111111111111110;
const confStateFields = 0b111110;
const metadataFields = 0b1110;
const snapshotFields = 0b110;
const hardStateFields = 0b1110;
const confChangeFields = 0b11110;
const confChangeSingleFields = 0b110;
const confChangeV2Fields = 0b1110;

function readEntry(r: Reader, end: number): Entry {
  const e: Entry = { term: 0, index: 0, type: EntryType.EntryNormal, data: emptyBytes };
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x08:
        e.type = r.enumValue(end, maxEntryType) as EntryType;
        break;
      case 0x10:
        e.term = r.position(end);
        break;
      case 0x18:
        e.index = r.position(end);
        break;
      case 0x22:
        e.data = r.bytes(end);
        break;
      default:
        r.other(tag, end, entryFields);
    }
  }
  return e;
}

function newEmptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

function readConfState(r: Reader, end: number, cs: ConfState): ConfState {
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x08:
      case 0x0a:
        r.repeatedUint(tag, end, cs.voters);
        break;
      case 0x10:
      case 0x12:
        r.repeatedUint(tag, end, cs.learners);
        break;
      case 0x18:
      case 0x1a:
        r.repeatedUint(tag, end, cs.votersOutgoing);
        break;
      case 0x20:
      case 0x22:
        r.repeatedUint(tag, end, cs.learnersNext);
        break;
      case 0x28:
        cs.autoLeave = r.bool(end);
        break;
      default:
        r.other(tag, end, confStateFields);
    }
  }
  return cs;
}

function readMetadata(r: Reader, end: number, md: SnapshotMetadata): void {
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x0a: {
        const fieldEnd = r.lenEnd(end);
        readConfState(r, fieldEnd, md.confState); // a repeated sub-message merges
        break;
      }
      case 0x10:
        md.index = r.position(end);
        break;
      case 0x18:
        md.term = r.position(end);
        break;
      default:
        r.other(tag, end, metadataFields);
    }
  }
}

function newEmptySnapshot(): Snapshot {
  return { data: emptyBytes, metadata: { confState: newEmptyConfState(), index: 0, term: 0 } };
}

function readSnapshot(r: Reader, end: number, s: Snapshot): Snapshot {
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x0a:
        s.data = r.bytes(end);
        break;
      case 0x12: {
        const fieldEnd = r.lenEnd(end);
        readMetadata(r, fieldEnd, s.metadata);
        break;
      }
      default:
        r.other(tag, end, snapshotFields);
    }
  }
  return s;
}

function readMessage(r: Reader, end: number, depth: number): Message {
  if (depth > maxDepth) r.fail("too_deep", `messages nest deeper than ${maxDepth} levels`);
  const m: Message = {
    type: 0,
    to: 0,
    from: 0,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    vote: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: emptyBytes,
    responses: [],
  };
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x08:
        m.type = r.enumValue(end, maxMessageType) as MessageType;
        break;
      case 0x10:
        m.to = r.uint(end);
        break;
      case 0x18:
        m.from = r.uint(end);
        break;
      case 0x20:
        m.term = r.position(end);
        break;
      case 0x28:
        m.logTerm = r.position(end);
        break;
      case 0x30:
        m.index = r.position(end);
        break;
      case 0x3a: {
        const fieldEnd = r.lenEnd(end);
        m.entries.push(readEntry(r, fieldEnd));
        break;
      }
      case 0x40:
        m.commit = r.position(end);
        break;
      case 0x4a: {
        const fieldEnd = r.lenEnd(end);
        m.snapshot = readSnapshot(r, fieldEnd, m.snapshot ?? newEmptySnapshot());
        break;
      }
      case 0x50:
        m.reject = r.bool(end);
        break;
      case 0x58:
        m.rejectHint = r.uint(end);
        break;
      case 0x62:
        m.context = r.bytes(end);
        break;
      case 0x68:
        m.vote = r.uint(end);
        break;
      case 0x72: {
        const fieldEnd = r.lenEnd(end);
        m.responses.push(readMessage(r, fieldEnd, depth + 1));
        break;
      }
      default:
        r.other(tag, end, messageFields);
    }
  }
  return m;
}

function readHardState(r: Reader, end: number): HardState {
  const hs: HardState = { term: 0, vote: 0, commit: 0 };
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x08:
        hs.term = r.position(end);
        break;
      case 0x10:
        hs.vote = r.uint(end);
        break;
      case 0x18:
        hs.commit = r.position(end);
        break;
      default:
        r.other(tag, end, hardStateFields);
    }
  }
  return hs;
}

function readConfChange(r: Reader, end: number): ConfChange {
  const cc: ConfChange = { type: 0, nodeId: 0, context: emptyBytes, id: 0 };
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x08:
        cc.id = r.uint(end);
        break;
      case 0x10:
        cc.type = r.enumValue(end, maxConfChangeType) as ConfChangeType;
        break;
      case 0x18:
        cc.nodeId = r.uint(end);
        break;
      case 0x22:
        cc.context = r.bytes(end);
        break;
      default:
        r.other(tag, end, confChangeFields);
    }
  }
  return cc;
}

function readConfChangeSingle(r: Reader, end: number): ConfChangeSingle {
  const c: ConfChangeSingle = { type: 0, nodeId: 0 };
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x08:
        c.type = r.enumValue(end, maxConfChangeType) as ConfChangeType;
        break;
      case 0x10:
        c.nodeId = r.uint(end);
        break;
      default:
        r.other(tag, end, confChangeSingleFields);
    }
  }
  return c;
}

function readConfChangeV2(r: Reader, end: number): ConfChangeV2 {
  const cc: ConfChangeV2 = {
    transition: ConfChangeTransition.ConfChangeTransitionAuto,
    changes: [],
    context: emptyBytes,
  };
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x08:
        cc.transition = r.enumValue(end, maxTransition) as ConfChangeTransition;
        break;
      case 0x12: {
        const fieldEnd = r.lenEnd(end);
        cc.changes.push(readConfChangeSingle(r, fieldEnd));
        break;
      }
      case 0x1a:
        cc.context = r.bytes(end);
        break;
      default:
        r.other(tag, end, confChangeV2Fields);
    }
  }
  return cc;
}

/**
 * A Reader over `b`. Its byte fields are views into the input itself with
 * `aliasBytes`, else private copies (see {@linkcode Reader}). Decoded fields
 * are always plain Uint8Arrays: subclasses such as Node's Buffer are
 * rewrapped.
 */
function newReader(b: Uint8Array, options: DecodeOptions | undefined, what: string): Reader {
  if (options?.aliasBytes === true) {
    const buf = Object.getPrototypeOf(b) === Uint8Array.prototype
      ? b
      : new Uint8Array(b.buffer, b.byteOffset, b.length);
    return new Reader(buf, 0, what, true);
  }
  return new Reader(b, 0, what, false);
}

function decodeWith<T>(
  what: string,
  b: Uint8Array,
  options: DecodeOptions | undefined,
  read: (r: Reader, end: number) => T,
): T {
  if (!(b instanceof Uint8Array)) {
    throw new TypeError(`Cannot decode ${what} as the input is not a Uint8Array`);
  }
  return read(newReader(b, options, what), b.length);
}

function readMessageTop(r: Reader, end: number): Message {
  return readMessage(r, end, 0);
}

// ---------------------------------------------------------------------------
// Conf changes

/**
 * Encodes a V1 conf change (etcd's `ConfChange`, the data of an
 * `EntryConfChange` entry).
 *
 * @param cc The conf change.
 * @returns Its protobuf encoding.
 * @throws {RangeError} When a field is not a non-negative safe integer or a known enum value.
 *
 * @example Round trip
 * ```ts
 * import {
 *   decodeConfChange,
 *   encodeConfChange,
 *   ConfChangeType,
 *   newConfChange,
 * } from "@raft-ts/raft";
 * const cc = newConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3 });
 * const back = decodeConfChange(encodeConfChange(cc));
 * if (back.nodeId !== 3 || back.type !== ConfChangeType.ConfChangeRemoveNode) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encodeWith("ConfChange", cc, confChangeBodySize(cc), writeConfChange);
}

/**
 * Decodes a V1 conf change.
 *
 * @param b The encoded bytes; an empty array decodes to an all-default ConfChange.
 * @param options Decoding options.
 * @returns The conf change.
 * @throws {CodecError} When the bytes are not a valid encoding.
 *
 * @example Decoding
 * ```ts
 * import { decodeConfChange } from "@raft-ts/raft";
 * const cc = decodeConfChange(new Uint8Array([0x18, 0x02])); // nodeId 2
 * if (cc.nodeId !== 2) throw new Error("unexpected");
 * ```
 */
export function decodeConfChange(b: Uint8Array, options?: DecodeOptions): ConfChange {
  return decodeWith("ConfChange", b, options, readConfChange);
}

/**
 * Encodes a V2 conf change (etcd's `ConfChangeV2`, the data of an
 * `EntryConfChangeV2` entry). The empty conf change that leaves a joint
 * configuration encodes to zero bytes.
 *
 * @param cc The conf change.
 * @returns Its protobuf encoding.
 * @throws {RangeError} When a field is not a non-negative safe integer or a known enum value.
 *
 * @example Round trip
 * ```ts
 * import {
 *   decodeConfChangeV2,
 *   encodeConfChangeV2,
 *   ConfChangeTransition,
 *   ConfChangeType,
 *   newConfChangeV2,
 * } from "@raft-ts/raft";
 * const cc = newConfChangeV2({
 *   transition: ConfChangeTransition.ConfChangeTransitionJointExplicit,
 *   changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 4 }],
 * });
 * const back = decodeConfChangeV2(encodeConfChangeV2(cc));
 * if (back.changes[0]?.nodeId !== 4) throw new Error("unexpected");
 * if (encodeConfChangeV2(newConfChangeV2()).length !== 0) throw new Error("unexpected");
 * ```
 */
export function encodeConfChangeV2(cc: ConfChangeV2): Uint8Array {
  return encodeWith("ConfChangeV2", cc, confChangeV2BodySize(cc), writeConfChangeV2);
}

/**
 * Decodes a V2 conf change.
 *
 * @param b The encoded bytes; an empty array decodes to an all-default
 *   ConfChangeV2 (no changes, Auto transition: the one that leaves a joint
 *   configuration).
 * @param options Decoding options.
 * @returns The conf change.
 * @throws {CodecError} When the bytes are not a valid encoding.
 *
 * @example The empty conf change
 * ```ts
 * import { decodeConfChangeV2 } from "@raft-ts/raft";
 * const cc = decodeConfChangeV2(new Uint8Array(0));
 * if (cc.changes.length !== 0 || cc.transition !== 0) throw new Error("unexpected");
 * ```
 */
export function decodeConfChangeV2(b: Uint8Array, options?: DecodeOptions): ConfChangeV2 {
  return decodeWith("ConfChangeV2", b, options, readConfChangeV2);
}

/**
 * Encodes a conf change of either form as the type and data of a log entry
 * (etcd's `raftpb.MarshalConfChange`): a ConfChange becomes an
 * `EntryConfChange`, a ConfChangeV2 an `EntryConfChangeV2`, and `undefined`
 * (Go's nil) an `EntryConfChangeV2` with empty data.
 *
 * @param cc The conf change, or `undefined`.
 * @returns The entry type and the encoded data.
 * @throws {RangeError} When a field is not a non-negative safe integer or a known enum value.
 *
 * @example Building a proposal entry
 * ```ts
 * import { marshalConfChange, EntryType, newConfChange } from "@raft-ts/raft";
 * const { type, data } = marshalConfChange(newConfChange({ nodeId: 2 }));
 * if (type !== EntryType.EntryConfChange || data.length === 0) throw new Error("unexpected");
 * ```
 */
export function marshalConfChange(
  cc: ConfChangeI | undefined,
): { type: EntryType; data: Uint8Array } {
  if (cc === undefined) return { type: EntryType.EntryConfChangeV2, data: emptyBytes };
  if ("changes" in cc) return { type: EntryType.EntryConfChangeV2, data: encodeConfChangeV2(cc) };
  return { type: EntryType.EntryConfChange, data: encodeConfChange(cc) };
}

// ---------------------------------------------------------------------------
// Entries, messages, state

/**
 * The encoded size of an entry; equal to `entrySize(e)` from `util.ts`.
 *
 * @param e The entry.
 * @returns Its size in bytes.
 * @throws {RangeError} When a field is not a non-negative safe integer or a known enum value.
 */
export function sizeOfEntry(e: Entry): number {
  return entryBodySize(e);
}

/**
 * Encodes a log entry: term and index always, type when not EntryNormal,
 * data when non-empty.
 *
 * @param e The entry.
 * @returns Its protobuf encoding, `entrySize(e)` bytes long.
 * @throws {RangeError} When a field is not a non-negative safe integer or a known enum value.
 *
 * @example Round trip
 * ```ts
 * import { decodeEntry, encodeEntry, newEntry } from "@raft-ts/raft";
 * const e = decodeEntry(encodeEntry(newEntry({ term: 2, index: 9, data: new Uint8Array([7]) })));
 * if (e.index !== 9 || e.data[0] !== 7) throw new Error("unexpected");
 * ```
 */
export function encodeEntry(e: Entry): Uint8Array {
  return encodeWith("Entry", e, entryBodySize(e), writeEntry);
}

/**
 * Encodes a log entry into a buffer.
 *
 * @param e The entry.
 * @param buf The destination.
 * @param offset Where to start writing.
 * @returns The offset just past the written bytes.
 * @throws {RangeError} When the entry does not fit, or a field is out of range.
 */
export function encodeEntryInto(e: Entry, buf: Uint8Array, offset: number): number {
  return writeInto("Entry", e, entryBodySize(e), buf, offset, writeEntry);
}

/**
 * Decodes a log entry.
 *
 * @param b The encoded bytes.
 * @param options Decoding options.
 * @returns The entry.
 * @throws {CodecError} When the bytes are not a valid encoding.
 */
export function decodeEntry(b: Uint8Array, options?: DecodeOptions): Entry {
  return decodeWith("Entry", b, options, readEntry);
}

/**
 * The encoded size of a message, including its entries, snapshot and
 * responses.
 *
 * @param m The message.
 * @returns Its size in bytes.
 * @throws {RangeError} When a field is not a non-negative safe integer or a known
 *   enum value, or responses nest deeper than 64 levels.
 */
export function sizeOfMessage(m: Message): number {
  return messageBodySize(m, 0);
}

/**
 * Encodes a message.
 *
 * @param m The message.
 * @returns Its protobuf encoding.
 * @throws {RangeError} When a field is not a non-negative safe integer or a known
 *   enum value, or responses nest deeper than 64 levels.
 *
 * @example Round trip
 * ```ts
 * import { decodeMessage, encodeMessage, MessageType, newEntry, newMessage } from "@raft-ts/raft";
 * const m = newMessage({
 *   type: MessageType.MsgApp, from: 1, to: 2, term: 3, logTerm: 3, index: 10, commit: 9,
 *   entries: [newEntry({ term: 3, index: 11, data: new TextEncoder().encode("x=1") })],
 * });
 * const back = decodeMessage(encodeMessage(m));
 * if (back.entries[0]?.index !== 11 || back.commit !== 9) throw new Error("unexpected");
 * ```
 */
export function encodeMessage(m: Message): Uint8Array {
  return encodeWith("Message", m, messageBodySize(m, 0), writeMessageTop);
}

/**
 * Encodes a message into a buffer, for callers that batch several messages
 * in one allocation. Use {@linkcode sizeOfMessage} to size the buffer.
 *
 * @param m The message.
 * @param buf The destination.
 * @param offset Where to start writing.
 * @returns The offset just past the written bytes.
 * @throws {RangeError} When the message does not fit, or a field is out of range.
 *
 * @example Two messages in one buffer
 * ```ts
 * import { encodeMessageInto, sizeOfMessage, MessageType, newMessage } from "@raft-ts/raft";
 * const a = newMessage({ type: MessageType.MsgHeartbeat, to: 2, from: 1, term: 4 });
 * const b = newMessage({ type: MessageType.MsgHeartbeat, to: 3, from: 1, term: 4 });
 * const buf = new Uint8Array(sizeOfMessage(a) + sizeOfMessage(b));
 * const end = encodeMessageInto(b, buf, encodeMessageInto(a, buf, 0));
 * if (end !== buf.length) throw new Error("unexpected");
 * ```
 */
export function encodeMessageInto(m: Message, buf: Uint8Array, offset: number): number {
  return writeInto("Message", m, messageBodySize(m, 0), buf, offset, writeMessageTop);
}

/**
 * Decodes a message.
 *
 * @param b The encoded bytes.
 * @param options Decoding options.
 * @returns The message.
 * @throws {CodecError} When the bytes are not a valid encoding.
 */
export function decodeMessage(b: Uint8Array, options?: DecodeOptions): Message {
  return decodeWith("Message", b, options, readMessageTop);
}

/**
 * Encodes a HardState (default fields are left out).
 *
 * @param hs The HardState.
 * @returns Its protobuf encoding.
 * @throws {RangeError} When a field is not a non-negative safe integer.
 *
 * @example Round trip
 * ```ts
 * import { decodeHardState, encodeHardState } from "@raft-ts/raft";
 * const hs = decodeHardState(encodeHardState({ term: 5, vote: 2, commit: 40 }));
 * if (hs.commit !== 40) throw new Error("unexpected");
 * ```
 */
export function encodeHardState(hs: HardState): Uint8Array {
  return encodeWith("HardState", hs, hardStateBodySize(hs), writeHardState);
}

/**
 * Decodes a HardState.
 *
 * @param b The encoded bytes.
 * @returns The HardState.
 * @throws {CodecError} When the bytes are not a valid encoding.
 */
export function decodeHardState(b: Uint8Array): HardState {
  return decodeWith("HardState", b, undefined, readHardState);
}

/**
 * Encodes a ConfState (lists unpacked, `autoLeave` always written).
 *
 * @param cs The ConfState.
 * @returns Its protobuf encoding.
 * @throws {RangeError} When an ID is not a non-negative safe integer.
 *
 * @example Round trip
 * ```ts
 * import { decodeConfState, encodeConfState, newConfState } from "@raft-ts/raft";
 * const cs = decodeConfState(encodeConfState(newConfState({ voters: [1, 2, 3] })));
 * if (cs.voters.length !== 3) throw new Error("unexpected");
 * ```
 */
export function encodeConfState(cs: ConfState): Uint8Array {
  return encodeWith("ConfState", cs, confStateBodySize(cs), writeConfState);
}

/**
 * Decodes a ConfState (lists packed or unpacked).
 *
 * @param b The encoded bytes.
 * @returns The ConfState.
 * @throws {CodecError} When the bytes are not a valid encoding.
 */
export function decodeConfState(b: Uint8Array): ConfState {
  return decodeWith("ConfState", b, undefined, readConfStateTop);
}

function readConfStateTop(r: Reader, end: number): ConfState {
  return readConfState(r, end, newEmptyConfState());
}

/**
 * Encodes a snapshot: data when non-empty, and the metadata always.
 *
 * @param s The snapshot.
 * @returns Its protobuf encoding.
 * @throws {RangeError} When a field is not a non-negative safe integer.
 *
 * @example Round trip
 * ```ts
 * import { decodeSnapshot, encodeSnapshot, newConfState, newSnapshot } from "@raft-ts/raft";
 * const s = newSnapshot({ index: 10, term: 2, confState: newConfState({ voters: [1] }) });
 * const back = decodeSnapshot(encodeSnapshot(s));
 * if (back.metadata.index !== 10 || back.metadata.confState.voters[0] !== 1) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  return encodeWith("Snapshot", s, snapshotBodySize(s), writeSnapshot);
}

/**
 * Decodes a snapshot.
 *
 * @param b The encoded bytes.
 * @param options Decoding options.
 * @returns The snapshot.
 * @throws {CodecError} When the bytes are not a valid encoding.
 */
export function decodeSnapshot(b: Uint8Array, options?: DecodeOptions): Snapshot {
  return decodeWith("Snapshot", b, options, readSnapshotTop);
}

function readSnapshotTop(r: Reader, end: number): Snapshot {
  return readSnapshot(r, end, newEmptySnapshot());
}

// ---------------------------------------------------------------------------
// Framing

/** Bytes a frame adds before its payload: 4 of length, 4 of checksum. */
export const frameHeaderBytes = 8;

/** The default largest payload {@linkcode decodeFrame} accepts: 64 MiB. */
export const defaultMaxFramePayloadBytes: number = 64 * 1024 * 1024;

/** The largest payload a frame can carry (its length prefix is 32 bits). */
const maxFramePayloadBytes = 0xffffffff;

/** Options of {@linkcode decodeFrame}. */
export interface DecodeFrameOptions {
  /**
   * The largest payload to accept; a longer length prefix is an
   * `"oversized"` error, raised as soon as the header is read.
   * @default {defaultMaxFramePayloadBytes} (64 MiB)
   */
  maxPayloadBytes?: number;
  /**
   * Whether the input is complete (a file read to its end). Then an
   * incomplete frame is a `"truncated"` error instead of `undefined`.
   * @default {false}
   */
  complete?: boolean;
}

/** Options of {@linkcode decodeMessageFrame}. */
export interface DecodeMessageFrameOptions extends DecodeFrameOptions, DecodeOptions {}

/** A decoded frame. */
export interface Frame {
  /** The payload: a view into the input (not a copy). */
  payload: Uint8Array;
  /** The offset just past the frame, where the next frame starts. */
  next: number;
}

function writeU32(buf: Uint8Array, pos: number, v: number): void {
  buf[pos] = v & 0xff;
  buf[pos + 1] = (v >>> 8) & 0xff;
  buf[pos + 2] = (v >>> 16) & 0xff;
  buf[pos + 3] = (v >>> 24) & 0xff;
}

function readU32(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>>
    0;
}

/** Fills in the header of a frame whose payload is already at `offset + 8`. */
function sealFrame(buf: Uint8Array, offset: number, payloadLen: number): void {
  writeU32(buf, offset, payloadLen);
  const crc = crc32c(
    buf.subarray(offset + frameHeaderBytes, offset + frameHeaderBytes + payloadLen),
    crc32c(buf.subarray(offset, offset + 4)),
  );
  writeU32(buf, offset + 4, crc);
}

function checkFramePayloadLength(len: number): void {
  if (len > maxFramePayloadBytes) {
    throw new RangeError(
      `Cannot encode frame as the payload must be at most ${maxFramePayloadBytes} bytes: current length ${len}`,
    );
  }
}

/**
 * Wraps a payload in a frame: a 4-byte little-endian length, a 4-byte
 * little-endian CRC-32C (Castagnoli) of the length bytes and the payload,
 * then the payload.
 *
 * @param payload The bytes to frame.
 * @returns The frame, `payload.length + 8` bytes.
 * @throws {RangeError} When the payload is longer than 2^32 - 1 bytes.
 *
 * @example Framing and unframing
 * ```ts
 * import { decodeFrame, encodeFrame } from "@raft-ts/raft";
 * const frame = encodeFrame(new Uint8Array([1, 2, 3]));
 * const f = decodeFrame(frame, 0);
 * if (f === undefined || f.payload.length !== 3 || f.next !== frame.length) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  checkFramePayloadLength(payload.length);
  const buf = new Uint8Array(frameHeaderBytes + payload.length);
  buf.set(payload, frameHeaderBytes);
  sealFrame(buf, 0, payload.length);
  return buf;
}

/**
 * Encodes entries as consecutive frames (one frame per entry, each holding
 * the entry's encoding) into one new buffer: what a log that stores a batch
 * of entries as one record writes. `decodeFrame` reads them back one by one.
 *
 * @param entries The entries.
 * @param from The first entry to encode.
 * @param to One past the last entry to encode.
 * @returns The frames, back to back.
 * @throws {RangeError} When a field of an entry is out of range, or `from`/`to` are not within `entries`.
 *
 * @example Two entries, read back frame by frame
 * ```ts
 * import { decodeEntry, decodeFrame, encodeEntryFrames, newEntry } from "@raft-ts/raft";
 * const buf = encodeEntryFrames([newEntry({ term: 1, index: 5 }), newEntry({ term: 1, index: 6 })]);
 * const first = decodeFrame(buf, 0)!;
 * const second = decodeFrame(buf, first.next)!;
 * if (decodeEntry(second.payload).index !== 6 || second.next !== buf.length) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function encodeEntryFrames(
  entries: readonly Entry[],
  from = 0,
  to: number = entries.length,
): Uint8Array {
  if (
    !Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to > entries.length ||
    from > to
  ) {
    throw new RangeError(
      `Cannot encode entries [${from}, ${to}) as frames: out of range for ${entries.length} entries`,
    );
  }
  let total = 0;
  for (let k = from; k < to; k++) {
    const size = entryBodySize(entries[k]!);
    checkFramePayloadLength(size);
    total += frameHeaderBytes + size;
  }
  const buf = new Uint8Array(total);
  let pos = 0;
  for (let k = from; k < to; k++) {
    const end = writeEntry(buf, pos + frameHeaderBytes, entries[k]!);
    sealFrame(buf, pos, end - pos - frameHeaderBytes);
    pos = end;
  }
  if (pos !== total) {
    // The size pass and the write pass disagree: a bug in this file.
    throw new Error(`Cannot encode entries as frames: wrote ${pos} bytes, expected ${total}`);
  }
  return buf;
}

/**
 * Reads one frame from a buffer that may hold several frames, or only part
 * of one (a stream being received).
 *
 * @param buf The input.
 * @param offset Where the frame starts.
 * @param options Payload limit and whether the input is complete.
 * @returns The payload (a view into `buf`) and the offset of the next frame,
 *   or `undefined` when `buf` ends before the frame does and the input is
 *   not marked complete.
 * @throws {CodecError} `"oversized"` when the length prefix is above the
 *   limit, `"checksum"` when the checksum does not match, `"truncated"` when
 *   the frame is incomplete and `options.complete` is set.
 * @throws {RangeError} When `offset` is not within `buf`, or `maxPayloadBytes` is invalid.
 *
 * @example Reading a stream of frames
 * ```ts
 * import { decodeFrame, encodeFrame } from "@raft-ts/raft";
 * const a = encodeFrame(new Uint8Array([1]));
 * const b = encodeFrame(new Uint8Array([2, 2]));
 * const stream = new Uint8Array(a.length + b.length);
 * stream.set(a);
 * stream.set(b, a.length);
 * const payloads: Uint8Array[] = [];
 * let offset = 0;
 * for (;;) {
 *   const f = decodeFrame(stream, offset, { complete: true });
 *   if (f === undefined) break;
 *   payloads.push(f.payload);
 *   offset = f.next;
 * }
 * if (payloads.length !== 2) throw new Error("unexpected");
 * ```
 */
export function decodeFrame(
  buf: Uint8Array,
  offset: number,
  options?: DecodeFrameOptions,
): Frame | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > buf.length) {
    throw new RangeError(
      `Cannot decode frame as the offset must be within the input: current offset ${offset}, length ${buf.length}`,
    );
  }
  const max = options?.maxPayloadBytes ?? defaultMaxFramePayloadBytes;
  if (!(Number.isSafeInteger(max) && max >= 0)) {
    throw new RangeError(
      `Cannot decode frame as 'maxPayloadBytes' must be a non-negative safe integer: current value ${max}`,
    );
  }
  const complete = options?.complete === true;
  const avail = buf.length - offset;
  if (avail === 0) return undefined; // no frame at all: a clean end of input
  if (avail < frameHeaderBytes) {
    if (!complete) return undefined;
    throw new CodecError(
      "truncated",
      `Cannot decode frame: input ends inside the frame header at offset ${offset}`,
      offset,
    );
  }
  const len = readU32(buf, offset);
  if (len > max) {
    throw new CodecError(
      "oversized",
      `Cannot decode frame: payload length ${len} is above the limit of ${max} bytes at offset ${offset}`,
      offset,
    );
  }
  const start = offset + frameHeaderBytes;
  const end = start + len;
  if (end > buf.length) {
    if (!complete) return undefined;
    throw new CodecError(
      "truncated",
      `Cannot decode frame: input ends ${
        end - buf.length
      } bytes before the end of the payload at offset ${offset}`,
      offset,
    );
  }
  const want = readU32(buf, offset + 4);
  const got = crc32c(buf.subarray(start, end), crc32c(buf.subarray(offset, offset + 4)));
  if (got !== want) {
    throw new CodecError(
      "checksum",
      `Cannot decode frame: checksum mismatch at offset ${offset}`,
      offset,
    );
  }
  return { payload: buf.subarray(start, end), next: end };
}

/**
 * Encodes a message in a frame, with one allocation.
 *
 * @param m The message.
 * @returns The frame.
 * @throws {RangeError} When a field is out of range or the message is too large for a frame.
 *
 * @example Round trip
 * ```ts
 * import { decodeMessageFrame, encodeMessageFrame, MessageType, newMessage } from "@raft-ts/raft";
 * const frame = encodeMessageFrame(newMessage({ type: MessageType.MsgVote, to: 2, term: 7 }));
 * const got = decodeMessageFrame(frame, 0);
 * if (got?.message.term !== 7) throw new Error("unexpected");
 * ```
 */
export function encodeMessageFrame(m: Message): Uint8Array {
  const size = messageBodySize(m, 0);
  checkFramePayloadLength(size);
  const buf = new Uint8Array(frameHeaderBytes + size);
  writeInto("Message", m, size, buf, frameHeaderBytes, writeMessageTop);
  sealFrame(buf, 0, size);
  return buf;
}

/**
 * Reads one framed message; see {@linkcode decodeFrame} for the framing.
 *
 * @param buf The input.
 * @param offset Where the frame starts.
 * @param options Frame and decoding options.
 * @returns The message and the offset of the next frame, or `undefined`
 *   when the frame is incomplete and the input is not marked complete.
 * @throws {CodecError} When the frame or the message in it is invalid.
 * @throws {RangeError} When `offset` is not within `buf`.
 */
export function decodeMessageFrame(
  buf: Uint8Array,
  offset: number,
  options?: DecodeMessageFrameOptions,
): { message: Message; next: number } | undefined {
  const f = decodeFrame(buf, offset, options);
  if (f === undefined) return undefined;
  const r = newReader(f.payload, options, "Message");
  return { message: readMessage(r, f.payload.length, 0), next: f.next };
}
