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
 * This module gathers the codec's public names from the files that hold
 * them: `codec_encode.ts` (the encoders and sizes), `codec_decode.ts` (the
 * decoders), `codec_limits.ts` (the bounds both check, and
 * {@linkcode CodecError}) and `frame.ts` (the frame); the varint is
 * `varint.ts`.
 *
 * @module
 */

export { CodecError, type CodecErrorReason, positionMax } from "./codec_limits.ts";
export {
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodeEntry,
  encodeEntryInto,
  encodeHardState,
  encodeMessage,
  encodeMessageInto,
  encodeSnapshot,
  marshalConfChange,
  sizeOfEntry,
  sizeOfMessage,
} from "./codec_encode.ts";
export {
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  type DecodeOptions,
  decodeSnapshot,
} from "./codec_decode.ts";
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
