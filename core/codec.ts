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
 * This module is the codec's public face: `_codec_write.ts` holds the
 * encoder's size and write passes, `_codec_read.ts` the reader,
 * `codec_limits.ts` the bounds both check and {@linkcode CodecError},
 * `frame.ts` the frame, and `varint.ts` the varint.
 *
 * @module
 */

import {
  type ConfChange,
  type ConfChangeI,
  type ConfChangeV2,
  type ConfState,
  emptyBytes,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type Snapshot,
} from "./types.ts";
import {
  confChangeBodySize,
  confChangeV2BodySize,
  confStateBodySize,
  encodeWith,
  entryBodySize,
  hardStateBodySize,
  messageBodySize,
  snapshotBodySize,
  writeConfChange,
  writeConfChangeV2,
  writeConfState,
  writeEntry,
  writeHardState,
  writeInto,
  writeMessageTop,
  writeSnapshot,
} from "./_codec_write.ts";
import {
  type DecodeOptions,
  decodeWith,
  readConfChange,
  readConfChangeV2,
  readConfStateTop,
  readEntry,
  readHardState,
  readMessageTop,
  readSnapshotTop,
} from "./_codec_read.ts";

export { CodecError, type CodecErrorReason, positionMax } from "./codec_limits.ts";
export type { DecodeOptions } from "./_codec_read.ts";
export {
  decodeFrame,
  type DecodeFrameOptions,
  decodeMessageFrame,
  type DecodeMessageFrameOptions,
  defaultMaxFramePayloadBytes,
  encodeEntryFrames,
  encodeFrame,
  encodeMessageFrame,
  type Frame,
  frameHeaderBytes,
} from "./frame.ts";

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
