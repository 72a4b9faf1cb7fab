/**
 * The encoder's two passes: sizes, which also check every value, then
 * writers into a buffer of exactly that size. Fields go in field-number
 * order, defaults left out (see `codec.ts` for the exceptions).
 *
 * @module
 */

import type {
  ConfChange,
  ConfChangeSingle,
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  Snapshot,
  SnapshotMetadata,
} from "./types.ts";
import {
  confChangeTypeMax,
  depthMax,
  entryTypeMax,
  messageTypeMax,
  positionMax,
  transitionMax,
} from "./codec_limits.ts";
import { entrySize } from "./util.ts";
import { varintSize, writeVarint } from "./varint.ts";

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
export function entryBodySize(e: Entry): number {
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

export function confStateBodySize(cs: ConfState): number {
  return uintListSize(cs.voters, "voters") + uintListSize(cs.learners, "learners") +
    uintListSize(cs.votersOutgoing, "votersOutgoing") +
    uintListSize(cs.learnersNext, "learnersNext") + 2;
}

function metadataBodySize(md: SnapshotMetadata): number {
  return lenFieldSize(confStateBodySize(md.confState)) +
    1 + positionSize(md.index, "SnapshotMetadata", "index") +
    1 + positionSize(md.term, "SnapshotMetadata", "term");
}

export function snapshotBodySize(s: Snapshot): number {
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

export function messageBodySize(m: Message, depth: number): number {
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

export function hardStateBodySize(hs: HardState): number {
  return optPositionSize(hs.term, "HardState", "term") +
    optUintSize(hs.vote, "HardState", "vote") +
    optPositionSize(hs.commit, "HardState", "commit");
}

export function confChangeBodySize(cc: ConfChange): number {
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

export function confChangeV2BodySize(cc: ConfChangeV2): number {
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

export function writeEntry(buf: Uint8Array, pos: number, e: Entry): number {
  if (e.type !== 0) pos = writeUintField(buf, pos, 0x08, e.type);
  pos = writeUintField(buf, pos, 0x10, e.term);
  pos = writeUintField(buf, pos, 0x18, e.index);
  if (e.data.length > 0) pos = writeBytesField(buf, pos, 0x22, e.data);
  return pos;
}

export function writeConfState(buf: Uint8Array, pos: number, cs: ConfState): number {
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

export function writeSnapshot(buf: Uint8Array, pos: number, s: Snapshot): number {
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

export function writeHardState(buf: Uint8Array, pos: number, hs: HardState): number {
  if (hs.term !== 0) pos = writeUintField(buf, pos, 0x08, hs.term);
  if (hs.vote !== 0) pos = writeUintField(buf, pos, 0x10, hs.vote);
  if (hs.commit !== 0) pos = writeUintField(buf, pos, 0x18, hs.commit);
  return pos;
}

export function writeConfChange(buf: Uint8Array, pos: number, cc: ConfChange): number {
  if (cc.id !== 0) pos = writeUintField(buf, pos, 0x08, cc.id);
  if (cc.type !== 0) pos = writeUintField(buf, pos, 0x10, cc.type);
  if (cc.nodeId !== 0) pos = writeUintField(buf, pos, 0x18, cc.nodeId);
  if (cc.context.length > 0) pos = writeBytesField(buf, pos, 0x22, cc.context);
  return pos;
}

export function writeConfChangeV2(buf: Uint8Array, pos: number, cc: ConfChangeV2): number {
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
export function writeInto<T>(
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

export function encodeWith<T>(
  what: string,
  v: T,
  size: number,
  write: (buf: Uint8Array, pos: number, v: T) => number,
): Uint8Array {
  const buf = new Uint8Array(size);
  writeInto(what, v, size, buf, 0, write);
  return buf;
}

export function writeMessageTop(buf: Uint8Array, pos: number, m: Message): number {
  return writeMessage(buf, pos, m, 0);
}
