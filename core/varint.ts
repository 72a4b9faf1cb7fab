/**
 * The unsigned varint (LEB128, protobuf's base-128 varint): seven bits a
 * byte, low bits first, the high bit set on every byte but the last. The
 * one implementation behind the codec, the driver's envelope and session
 * formats, and the WebSocket adapter's wire format; adapters import it
 * from this path (it is not part of the package's public API).
 *
 * Values are non-negative safe integers, so a varint written here takes 1
 * to 8 bytes. Readers check bounds and the safe-integer range: the codec's
 * {@linkcode readVarint} accepts anything protobuf allows (up to 10 bytes),
 * the formats of our own read with {@linkcode readSafeVarint} (at most 8).
 *
 * @module
 */

// The readers return these module-local consts, not the exported ones
// below: V8 reads an exported binding through a cell even inside its own
// module, and that made the codec's decoding about 5% slower (measured).
const overflowCode = -1;
const truncatedCode = -2;
const tooLongCode = -3;

/** Returned by the readers when the varint's value is above `Number.MAX_SAFE_INTEGER`. */
export const varintOverflow: number = overflowCode;
/** Returned by the readers when the input ends inside the varint. */
export const varintTruncated: number = truncatedCode;
/** Returned by {@linkcode readVarint} when the varint is longer than 10 bytes. */
export const varintTooLong: number = tooLongCode;

/** The most bytes a varint of a safe integer takes, written without padding. */
export const safeVarintBytesMax = 8;

/** A read position that the readers move past what they read. */
export interface VarintCursor {
  /** The offset of the next byte to read. */
  pos: number;
}

/**
 * The number of bytes of a varint.
 *
 * @param v A non-negative safe integer.
 * @returns 1 to 8 (safe integers need at most 8 bytes).
 *
 * @example Sizes
 * ```ts
 * import { varintSize } from "./varint.ts";
 * if (varintSize(127) !== 1 || varintSize(128) !== 2) throw new Error("unexpected");
 * ```
 */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  if (v < 0x800000000) return 5;
  if (v < 0x40000000000) return 6;
  if (v < 0x2000000000000) return 7;
  return 8;
}

/**
 * Writes a varint into a buffer that has room for it (see
 * {@linkcode varintSize}); the caller has checked the value.
 *
 * @param buf The destination.
 * @param pos Where to write.
 * @param v A non-negative safe integer.
 * @returns The offset just past the varint.
 *
 * @example Writing 300
 * ```ts
 * import { writeVarint } from "./varint.ts";
 * const buf = new Uint8Array(2);
 * if (writeVarint(buf, 0, 300) !== 2 || buf[0] !== 0xac || buf[1] !== 0x02) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
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

/**
 * Appends a varint to an array of bytes, for formats built before their
 * size is known.
 *
 * @param out The bytes so far.
 * @param v A non-negative safe integer.
 *
 * @example Appending 300
 * ```ts
 * import { pushVarint } from "./varint.ts";
 * const out: number[] = [];
 * pushVarint(out, 300);
 * if (out.length !== 2 || out[0] !== 0xac || out[1] !== 0x02) throw new Error("unexpected");
 * ```
 */
export function pushVarint(out: number[], v: number): void {
  while (v > 0x7f) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/**
 * Reads a varint that must end before `end`, as protobuf allows it: up to
 * 10 bytes, padded or not. On success `cursor.pos` moves past it; on
 * failure it is left where the problem is (the end of the input, or the
 * byte after the tenth).
 *
 * @param buf The input.
 * @param end Where the input ends (at most `buf.length`).
 * @param cursor Where to read; moved forward.
 * @returns The value; or {@linkcode varintOverflow} when it is above
 *   `Number.MAX_SAFE_INTEGER` (the bytes are consumed all the same),
 *   {@linkcode varintTruncated} when the input ends inside it,
 *   {@linkcode varintTooLong} when it is longer than 10 bytes.
 *
 * @example Reading two varints
 * ```ts
 * import { readVarint, type VarintCursor } from "./varint.ts";
 * const buf = new Uint8Array([0xac, 0x02, 0x05]);
 * const cursor: VarintCursor = { pos: 0 };
 * const values = [readVarint(buf, buf.length, cursor), readVarint(buf, buf.length, cursor)];
 * if (values[0] !== 300 || values[1] !== 5 || cursor.pos !== 3) throw new Error("unexpected");
 * ```
 */
export function readVarint(buf: Uint8Array, end: number, cursor: VarintCursor): number {
  let pos = cursor.pos;
  if (pos >= end) return truncatedCode;
  let b = buf[pos++]!;
  if (b < 0x80) {
    cursor.pos = pos;
    return b;
  }
  let v = b & 0x7f;
  // Bytes 1 to 3: bits 7 to 27, exact with 32-bit operators.
  for (let shift = 7; shift < 28; shift += 7) {
    if (pos >= end) {
      cursor.pos = pos;
      return truncatedCode;
    }
    b = buf[pos++]!;
    v |= (b & 0x7f) << shift;
    if (b < 0x80) {
      cursor.pos = pos;
      return v;
    }
  }
  // Bytes 4 to 9: bits 28 to 69, with arithmetic.
  let mul = 0x10000000;
  let overflow = false;
  for (let i = 4; i < 10; i++) {
    if (pos >= end) {
      cursor.pos = pos;
      return truncatedCode;
    }
    b = buf[pos++]!;
    const bits = b & 0x7f;
    if (i < 7) v += bits * mul;
    else if (i === 7 && bits <= 15) v += bits * mul; // bits 49 to 52: at most 2^53 - 1
    else if (bits !== 0) overflow = true;
    mul *= 128;
    if (b < 0x80) {
      cursor.pos = pos;
      return overflow ? overflowCode : v;
    }
  }
  cursor.pos = pos;
  return tooLongCode;
}

/**
 * Reads a varint of at most 8 bytes (the most a safe integer takes) that
 * must end before `end`: the reader of formats of our own. On success
 * `cursor.pos` moves past it.
 *
 * @param buf The input.
 * @param end Where the input ends (at most `buf.length`).
 * @param cursor Where to read; moved forward.
 * @returns The value; or {@linkcode varintTruncated} when the input ends
 *   within its first 8 bytes, {@linkcode varintOverflow} when it runs past
 *   8 bytes or its value is above `Number.MAX_SAFE_INTEGER`.
 *
 * @example A truncated varint
 * ```ts
 * import { readSafeVarint, varintTruncated } from "./varint.ts";
 * const cursor = { pos: 0 };
 * if (readSafeVarint(new Uint8Array([0x80]), 1, cursor) !== varintTruncated) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function readSafeVarint(buf: Uint8Array, end: number, cursor: VarintCursor): number {
  const start = cursor.pos;
  const v = readVarint(buf, end, cursor);
  const len = cursor.pos - start;
  if (v >= 0 && len <= safeVarintBytesMax) return v;
  return v === truncatedCode && len < safeVarintBytesMax ? truncatedCode : overflowCode;
}
