import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftInvariantError } from "../_assert.ts";
import { Inflights } from "./inflights.ts";

test("Inflights.add() fills the buffer in order and sums the bytes", () => {
  const w = new Inflights(10, 0);
  for (let i = 0; i < 5; i++) w.add(i, 100 + i);
  let l = w.layoutForTest();
  assert.equal(l.start, 0);
  assert.equal(l.count, 5);
  assert.equal(l.bytes, 510);
  assert.deepEqual(l.indexes.slice(0, 5), [0, 1, 2, 3, 4]);
  assert.deepEqual(l.sizes.slice(0, 5), [100, 101, 102, 103, 104]);

  for (let i = 5; i < 10; i++) w.add(i, 100 + i);
  l = w.layoutForTest();
  assert.deepEqual(l, {
    start: 0,
    count: 10,
    bytes: 1045,
    indexes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    sizes: [100, 101, 102, 103, 104, 105, 106, 107, 108, 109],
  });
  assert.equal(w.full(), true);
});

test("Inflights.add() grows the buffer lazily, doubling up to size", () => {
  const w = new Inflights(10, 0);
  assert.equal(w.layoutForTest().indexes.length, 0);
  const lengths: number[] = [];
  for (let i = 0; i < 10; i++) {
    w.add(i, 1);
    lengths.push(w.layoutForTest().indexes.length);
  }
  assert.deepEqual(lengths, [1, 2, 4, 4, 8, 8, 8, 8, 10, 10]);
});

test("Inflights.add() wraps around the ring buffer", () => {
  const w = new Inflights(10, 0);
  for (let i = 0; i < 6; i++) w.add(i, 100 + i);
  w.freeLE(4);
  assert.equal(w.layoutForTest().start, 5);
  assert.equal(w.count(), 1);
  for (let i = 6; i < 15; i++) w.add(i, 100 + i);
  assert.deepEqual(w.layoutForTest(), {
    start: 5,
    count: 10,
    bytes: 1095,
    //        wrapped ------------->   start -------------->
    indexes: [10, 11, 12, 13, 14, 5, 6, 7, 8, 9],
    sizes: [110, 111, 112, 113, 114, 105, 106, 107, 108, 109],
  });
  assert.equal(w.full(), true);
});

test("Inflights.freeLE() frees up to an index, across the wrap", () => {
  const w = new Inflights(10, 0);
  for (let i = 0; i < 10; i++) w.add(i, 100 + i);

  w.freeLE(0);
  assert.deepEqual([w.layoutForTest().start, w.count(), w.bytes()], [1, 9, 945]);
  w.freeLE(4);
  assert.deepEqual([w.layoutForTest().start, w.count(), w.bytes()], [5, 5, 535]);
  w.freeLE(8);
  assert.deepEqual([w.layoutForTest().start, w.count(), w.bytes()], [9, 1, 109]);

  // Wrap around.
  for (let i = 10; i < 15; i++) w.add(i, 100 + i);
  w.freeLE(12);
  assert.deepEqual(w.layoutForTest(), {
    start: 3,
    count: 2,
    bytes: 227,
    indexes: [10, 11, 12, 13, 14, 5, 6, 7, 8, 9],
    sizes: [110, 111, 112, 113, 114, 105, 106, 107, 108, 109],
  });

  // Freeing everything restarts the window at 0.
  w.freeLE(14);
  const l = w.layoutForTest();
  assert.deepEqual([l.start, l.count, l.bytes], [0, 0, 0]);
});

test("Inflights.freeLE() ignores indexes below the window and empty windows", () => {
  const w = new Inflights(4, 0);
  w.freeLE(100);
  assert.equal(w.count(), 0);
  w.add(5, 10);
  w.add(7, 10);
  w.freeLE(4);
  assert.equal(w.count(), 2);
  w.freeLE(6);
  assert.equal(w.count(), 1);
  assert.equal(w.bytes(), 10);
});

test("Inflights.full() by count and by bytes", () => {
  const cases = [
    { name: "always-full", size: 0, maxBytes: 0, fullAt: 0, freeLE: 0, againAt: 0 },
    { name: "single-entry", size: 1, maxBytes: 0, fullAt: 1, freeLE: 1, againAt: 2 },
    { name: "single-entry-overflow", size: 1, maxBytes: 10, fullAt: 1, freeLE: 1, againAt: 2 },
    { name: "multi-entry", size: 15, maxBytes: 0, fullAt: 15, freeLE: 6, againAt: 22 },
    { name: "slight-overflow", size: 8, maxBytes: 400, fullAt: 4, freeLE: 2, againAt: 7 },
    { name: "exact-max-bytes", size: 8, maxBytes: 406, fullAt: 4, freeLE: 3, againAt: 8 },
    { name: "larger-overflow", size: 15, maxBytes: 408, fullAt: 5, freeLE: 1, againAt: 6 },
  ];
  for (const tc of cases) {
    const w = new Inflights(tc.size, tc.maxBytes);
    const addUntilFull = (begin: number, end: number): void => {
      for (let i = begin; i < end; i++) {
        assert.equal(w.full(), false, `${tc.name}: full at ${i}, want ${end}`);
        w.add(i, 100 + i);
      }
      assert.equal(w.full(), true, `${tc.name}: not full at ${end}`);
    };
    addUntilFull(0, tc.fullAt);
    w.freeLE(tc.freeLE);
    addUntilFull(tc.fullAt, tc.againAt);
    assert.throws(() => w.add(100, 1024), RaftInvariantError, tc.name);
  }
});

test("Inflights.reset() frees everything, and bytes do not leak across resets", () => {
  const w = new Inflights(10, 1000);
  let index = 0;
  for (let epoch = 0; epoch < 100; epoch++) {
    w.reset();
    for (let i = 0; i < 5; i++) {
      assert.equal(w.full(), false);
      w.add(++index, 16);
    }
    w.freeLE(index - 2);
    assert.equal(w.full(), false);
    assert.equal(w.count(), 2);
    assert.equal(w.bytes(), 32);
  }
  w.freeLE(index);
  assert.equal(w.count(), 0);
  assert.equal(w.bytes(), 0);
});

test("Inflights.clone() shares no memory with the original", () => {
  const w = new Inflights(4, 0);
  w.add(1, 10);
  w.add(2, 20);
  const c = w.clone();
  assert.deepEqual(c.layoutForTest(), w.layoutForTest());
  c.freeLE(1);
  c.add(3, 30);
  c.add(4, 40);
  assert.equal(w.count(), 2);
  assert.equal(w.bytes(), 30);
  assert.deepEqual(w.layoutForTest().indexes, [1, 2]);
  assert.equal(c.count(), 3);
  assert.equal(c.bytes(), 90);
});
