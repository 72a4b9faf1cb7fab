/**
 * The checksummed frame for wire and disk: a 4-byte little-endian payload
 * length, a 4-byte little-endian CRC-32C (Castagnoli) of the length bytes
 * and the payload, then the payload. A bad frame is a
 * {@linkcode CodecError}, never a crash. `codec.ts` re-exports these names.
 *
 * @module
 */

import type { Entry, Message } from "./types.ts";
import { CodecError } from "./codec_limits.ts";
import { crc32c } from "./crc32c.ts";
import { framePasses } from "./codec_encode.ts";
import { type DecodeOptions, newReader, readMessage } from "./codec_decode.ts";

const { entryBodySize, messageBodySize, writeEntry, writeInto, writeMessageTop } = framePasses;

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
