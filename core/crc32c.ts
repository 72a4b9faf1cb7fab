/**
 * CRC-32C (Castagnoli), the checksum of every codec frame. Table-driven,
 * slicing-by-8, with no dependencies.
 *
 * @module
 */

/** The reflected Castagnoli polynomial. */
const POLY = 0x82f63b78;

/** Eight 256-entry tables: table k advances a byte through k further zero bytes. */
const TABLE: Int32Array = /* @__PURE__ */ buildTable();

function buildTable(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/**
 * Computes the CRC-32C (Castagnoli) checksum of bytes, optionally continuing
 * a checksum over earlier bytes: `crc32c(b, crc32c(a))` equals the checksum of
 * `a` followed by `b`.
 *
 * @param data The bytes.
 * @param crc The checksum of the bytes before `data`; `0` to start afresh.
 * @returns The checksum, an unsigned 32-bit integer.
 *
 * @example Check value
 * ```ts
 * import { crc32c } from "./crc32c.ts";
 * const sum = crc32c(new TextEncoder().encode("123456789"));
 * if (sum !== 0xe3069283) throw new Error("unexpected");
 * ```
 *
 * @example Continuing over several chunks
 * ```ts
 * import { crc32c } from "./crc32c.ts";
 * const a = new Uint8Array([1, 2, 3]);
 * const b = new Uint8Array([4, 5]);
 * if (crc32c(b, crc32c(a)) !== crc32c(new Uint8Array([1, 2, 3, 4, 5]))) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function crc32c(data: Uint8Array, crc = 0): number {
  const t = TABLE;
  let c = ~crc;
  let i = 0;
  const n = data.length;
  const end8 = n - (n & 7);
  while (i < end8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c = t[1792 + (c & 0xff)]! ^ t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^ t[1024 + (c >>> 24)]! ^
      t[768 + data[i + 4]!]! ^ t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^ t[data[i + 7]!]!;
    i += 8;
  }
  while (i < n) {
    c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    i++;
  }
  return ~c >>> 0;
}
