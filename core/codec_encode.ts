/**
 * The encoders: a size pass, which also checks every value, then a write
 * pass into a buffer of exactly that size. Fields go in field-number
 * order, defaults left out (see `codec.ts` for the exceptions).
 * `codec.ts` re-exports the public names; `frame.ts` uses the passes.
 *
 * @module
 */

import {
  type ConfChange,
  type ConfChangeI,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
  emptyBytes,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type Snapshot,
  type SnapshotMetadata,
} from "./types.ts";
import * as limits from "./codec_limits.ts";
import { entrySize } from "./util.ts";
import * as varint from "./varint.ts";

// The passes read these through module-local consts: V8 does not fold
// imported bindings into the code it optimizes, and a call through the
// import made encoding a heartbeat about 10% slower (measured on Deno).
const varintSize = varint.varintSize;
const writeVarint = varint.writeVarint;
const positionMax = limits.positionMax;
const depthMax = limits.depthMax;
const messageTypeMax = limits.messageTypeMax;
const entryTypeMax = limits.entryTypeMax;
const confChangeTypeMax = limits.confChangeTypeMax;
const transitionMax = limits.transitionMax;

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

/** Checks a term or index is at most `positionMax`. */
function checkPosition(v: number, what: string, field: string): void {
  if (!(Number.isSafeInteger(v) && v >= 0 && v <= positionMax)) {
    throw new RangeError(
      `Cannot encode ${what} as '${field}' must be an integer from 0 to 2^48 - 1 (positionMax): current value ${
        String(v)
      }`,
    );
  }
}

/** Size of a term or index varint, after checking it is at most `positionMax`. */
function positionSize(v: number, what: string, field: string): number {
  checkPosition(v, what, field);
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

/** Size of an entry (`entrySize`, the one formula), after checking its fields. */
function entryBodySize(e: Entry): number {
  checkPosition(e.term, "Entry", "term");
  checkPosition(e.index, "Entry", "index");
  if (e.type !== 0) enumSize(e.type, entryTypeMax, "Entry", "type");
  return entrySize(e);
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
  if (depth > depthMax) {
    throw new RangeError(`Cannot encode Message as responses nest deeper than ${depthMax} levels`);
  }
  let n = 0;
  if (m.type !== 0) n += 1 + enumSize(m.type, messageTypeMax, "Message", "type");
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
  if (cc.type !== 0) n += 1 + enumSize(cc.type, confChangeTypeMax, "ConfChange", "type");
  n += optUintSize(cc.nodeId, "ConfChange", "nodeId");
  if (cc.context.length > 0) n += lenFieldSize(cc.context.length);
  return n;
}

function confChangeSingleBodySize(c: ConfChangeSingle): number {
  let n = 0;
  if (c.type !== 0) n += 1 + enumSize(c.type, confChangeTypeMax, "ConfChangeSingle", "type");
  return n + optUintSize(c.nodeId, "ConfChangeSingle", "nodeId");
}

function confChangeV2BodySize(cc: ConfChangeV2): number {
  let n = 0;
  if (cc.transition !== 0) {
    n += 1 + enumSize(cc.transition, transitionMax, "ConfChangeV2", "transition");
  }
  const cs = cc.changes;
  for (let i = 0; i < cs.length; i++) n += lenFieldSize(confChangeSingleBodySize(cs[i]!));
  if (cc.context.length > 0) n += lenFieldSize(cc.context.length);
  return n;
}

// ---------------------------------------------------------------------------
// Writers (the second pass; values were validated by the size pass)

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

/**
 * The passes `frame.ts` encodes with. One object rather than exported
 * functions, so that the passes keep calling one another directly: V8
 * reads an exported binding through a cell even inside its own module, and
 * that made encoding a MsgApp about 2% slower (measured on Deno).
 */
export const framePasses = {
  entryBodySize,
  messageBodySize,
  writeEntry,
  writeInto,
  writeMessageTop,
} as const;

// ---------------------------------------------------------------------------
// The public encoders

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
