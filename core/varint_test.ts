import { test } from "node:test";
import assert from "node:assert/strict";
import {
  pushVarint,
  readSafeVarint,
  readVarint,
  type VarintCursor,
  varintOverflow,
  varintSize,
  varintTooLong,
  varintTruncated,
  writeVarint,
} from "./varint.ts";

const values = [
  0,
  1,
  0x7f,
  0x80,
  300,
  0x3fff,
  0x4000,
  2 ** 28 - 1,
  2 ** 28,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 + 5,
  2 ** 35,
  2 ** 49 - 1,
  2 ** 49,
  Number.MAX_SAFE_INTEGER,
];

/** Reads with `read` from the start of `bytes`; returns the result and the cursor's position. */
function readAll(
  read: (buf: Uint8Array, end: number, cursor: VarintCursor) => number,
  bytes: number[],
): [number, number] {
  const cursor: VarintCursor = { pos: 0 };
  const v = read(new Uint8Array(bytes), bytes.length, cursor);
  return [v, cursor.pos];
}

test("writeVarint(), pushVarint() and varintSize() agree, and both readers read the value back", () => {
  for (const v of values) {
    const buf = new Uint8Array(10);
    const end = writeVarint(buf, 0, v);
    assert.equal(end, varintSize(v), `size of ${v}`);
    const pushed: number[] = [];
    pushVarint(pushed, v);
    assert.deepEqual(pushed, [...buf.subarray(0, end)], `bytes of ${v}`);
    assert.deepEqual(readAll(readVarint, pushed), [v, end], `readVarint of ${v}`);
    assert.deepEqual(readAll(readSafeVarint, pushed), [v, end], `readSafeVarint of ${v}`);
  }
});

test("writeVarint() writes low bits first with the high bit on every byte but the last", () => {
  const buf = new Uint8Array(10);
  assert.deepEqual([...buf.subarray(0, writeVarint(buf, 0, 300))], [0xac, 0x02]);
  assert.deepEqual(
    [...buf.subarray(0, writeVarint(buf, 0, Number.MAX_SAFE_INTEGER))],
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
  );
});

test("readVarint() reads at the cursor and stops at `end`", () => {
  const buf = new Uint8Array([0x05, 0xac, 0x02, 0x07]);
  const cursor: VarintCursor = { pos: 1 };
  assert.equal(readVarint(buf, 4, cursor), 300);
  assert.equal(cursor.pos, 3);
  assert.equal(readVarint(buf, 3, cursor), varintTruncated, "`end` bounds the input");
  assert.equal(cursor.pos, 3);
});

test("readVarint() accepts what protobuf allows and reports the rest", () => {
  const cases: { name: string; bytes: number[]; want: [number, number] }[] = [
    { name: "padded zero", bytes: [0x80, 0x00], want: [0, 2] },
    {
      name: "ten-byte -1 (int64)",
      bytes: [...Array(9).fill(0xff), 0x01],
      want: [varintOverflow, 10],
    },
    {
      name: "2^53",
      bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10],
      want: [varintOverflow, 8],
    },
    { name: "empty input", bytes: [], want: [varintTruncated, 0] },
    { name: "ends after a continuation byte", bytes: [0x80], want: [varintTruncated, 1] },
    { name: "ends in the ninth byte", bytes: Array(8).fill(0xff), want: [varintTruncated, 8] },
    { name: "eleven bytes", bytes: Array(11).fill(0xff), want: [varintTooLong, 10] },
  ];
  for (const c of cases) assert.deepEqual(readAll(readVarint, c.bytes), c.want, c.name);
});

test("readSafeVarint() takes at most 8 bytes", () => {
  const nine = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00]; // 2^49 - 1, padded
  const cases: { name: string; bytes: number[]; want: number }[] = [
    { name: "padded to 9 bytes", bytes: nine, want: varintOverflow },
    {
      name: "2^53 in 8 bytes",
      bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10],
      want: varintOverflow,
    },
    { name: "ends in the first 8 bytes", bytes: Array(7).fill(0xff), want: varintTruncated },
    { name: "ends after 8 continuation bytes", bytes: Array(8).fill(0xff), want: varintOverflow },
    { name: "eleven bytes", bytes: Array(11).fill(0xff), want: varintOverflow },
    { name: "padded zero", bytes: [0x80, 0x00], want: 0 },
  ];
  for (const c of cases) assert.equal(readAll(readSafeVarint, c.bytes)[0], c.want, c.name);
});
