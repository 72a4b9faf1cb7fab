/**
 * The decoders: a cursor over the input and a reader for each message
 * type. They accept any valid protobuf encoding of the messages and reject
 * everything else with a {@linkcode CodecError} (see `codec.ts`).
 * `codec.ts` re-exports the public names; `frame.ts` uses the reader.
 *
 * @module
 */

import {
  type ConfChange,
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
import { makeMessage } from "./_message.ts";
import { CodecError, type CodecErrorReason } from "./codec_limits.ts";
import * as limits from "./codec_limits.ts";
import * as varint from "./varint.ts";

// The reader reads these through module-local consts: V8 does not fold
// imported bindings into the code it optimizes (see codec_encode.ts).
const readVarint = varint.readVarint;
const varintOverflow = varint.varintOverflow;
const varintTruncated = varint.varintTruncated;
const positionMax = limits.positionMax;
const depthMax = limits.depthMax;
const messageTypeMax = limits.messageTypeMax;
const entryTypeMax = limits.entryTypeMax;
const confChangeTypeMax = limits.confChangeTypeMax;
const transitionMax = limits.transitionMax;

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

// Field tags: (field number << 3) | wire type. Wire types: 0 varint, 2 bytes.
const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_SGROUP = 3;
const WT_EGROUP = 4;
const WT_I32 = 5;

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
    // One byte (tags, types, small values) without a call: most varints.
    const pos = this.pos;
    if (pos < end) {
      const b = this.buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    const v = readVarint(this.buf, end, this);
    if (v < varintOverflow) {
      if (v === varintTruncated) this.fail("truncated", "input ends inside a varint");
      this.fail("malformed", "varint longer than 10 bytes");
    }
    return v;
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
        if (depth >= depthMax) this.fail("too_deep", "groups nest too deep");
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
        e.type = r.enumValue(end, entryTypeMax) as EntryType;
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

export function readMessage(r: Reader, end: number, depth: number): Message {
  if (depth > depthMax) r.fail("too_deep", `messages nest deeper than ${depthMax} levels`);
  const m = makeMessage(0, 0, 0, 0, 0, 0, undefined, 0);
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x08:
        m.type = r.enumValue(end, messageTypeMax) as MessageType;
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
        cc.type = r.enumValue(end, confChangeTypeMax) as ConfChangeType;
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
        c.type = r.enumValue(end, confChangeTypeMax) as ConfChangeType;
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
        cc.transition = r.enumValue(end, transitionMax) as ConfChangeTransition;
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
export function newReader(b: Uint8Array, options: DecodeOptions | undefined, what: string): Reader {
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

function readConfStateTop(r: Reader, end: number): ConfState {
  return readConfState(r, end, newEmptyConfState());
}

function readSnapshotTop(r: Reader, end: number): Snapshot {
  return readSnapshot(r, end, newEmptySnapshot());
}

// ---------------------------------------------------------------------------
// The public decoders

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
 * Decodes a ConfState (lists packed or unpacked).
 *
 * @param b The encoded bytes.
 * @returns The ConfState.
 * @throws {CodecError} When the bytes are not a valid encoding.
 */
export function decodeConfState(b: Uint8Array): ConfState {
  return decodeWith("ConfState", b, undefined, readConfStateTop);
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
