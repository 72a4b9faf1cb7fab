import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { crc32c } from "./crc32c.ts";

/** Bit-at-a-time CRC-32C: slow, obviously correct, independent of the tables. */
function referenceCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

function bytes(n: number, f: (i: number) => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = f(i);
  return b;
}

// RFC 3720 (iSCSI), appendix B.4, and common check values.
const vectors: { name: string; input: Uint8Array; want: number }[] = [
  { name: "empty input", input: new Uint8Array(0), want: 0 },
  { name: "check string 123456789", input: ascii("123456789"), want: 0xe3069283 },
  { name: "one zero byte", input: new Uint8Array(1), want: 0x527d5351 },
  { name: "RFC 3720: 32 bytes of zeros", input: new Uint8Array(32), want: 0x8a9136aa },
  { name: "RFC 3720: 32 bytes of 0xff", input: bytes(32, () => 0xff), want: 0x62a8ab43 },
  { name: "RFC 3720: 32 incrementing bytes", input: bytes(32, (i) => i), want: 0x46dd794e },
  { name: "RFC 3720: 32 decrementing bytes", input: bytes(32, (i) => 31 - i), want: 0x113fdb5c },
  {
    name: "RFC 3720: iSCSI read command PDU",
    input: new Uint8Array([
      0x01,
      0xc0,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x14,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x04,
      0x00,
      0x00,
      0x00,
      0x00,
      0x14,
      0x00,
      0x00,
      0x00,
      0x18,
      0x28,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x02,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
    ]),
    want: 0xd9963a56,
  },
  {
    name: "the quick brown fox",
    input: ascii("The quick brown fox jumps over the lazy dog"),
    want: 0x22620404,
  },
];

for (const v of vectors) {
  test(`crc32c() matches the known value for ${v.name}`, () => {
    assert.equal(crc32c(v.input), v.want);
    assert.equal(referenceCrc32c(v.input), v.want);
  });
}

test("crc32c() agrees with a bitwise reference at every length and alignment", () => {
  const buf = bytes(80, (i) => (i * 151 + 7) & 0xff);
  for (let start = 0; start < 8; start++) {
    for (let end = start; end <= buf.length; end++) {
      const view = buf.subarray(start, end);
      assert.equal(crc32c(view), referenceCrc32c(view), `bytes ${start}..${end}`);
    }
  }
});

test("crc32c() agrees with a bitwise reference on random inputs", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      assert.equal(crc32c(b), referenceCrc32c(b));
    }),
    { numRuns: 300 },
  );
});

test("crc32c() continues a checksum across chunks", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(), (b, cut) => {
      const i = b.length === 0 ? 0 : cut % (b.length + 1);
      assert.equal(crc32c(b.subarray(i), crc32c(b.subarray(0, i))), crc32c(b));
    }),
    { numRuns: 300 },
  );
});

test("crc32c() returns an unsigned 32-bit integer", () => {
  const sum = crc32c(new Uint8Array(32)); // 0x8a9136aa
  assert.ok(sum > 0x7fffffff, "this vector has the top bit set");
  assert.ok(Number.isInteger(sum) && sum <= 0xffffffff);
});

test("crc32c() detects every single-bit flip in a short message", () => {
  const msg = ascii("raft-ts frame payload");
  const want = crc32c(msg);
  for (let bit = 0; bit < msg.length * 8; bit++) {
    const m = msg.slice();
    m[bit >> 3]! ^= 1 << (bit & 7);
    assert.notEqual(crc32c(m), want, `bit ${bit}`);
  }
});
