import { test } from "node:test";
import assert from "node:assert/strict";
import { newRand, randomIntN } from "./rand.ts";

test("newRand() repeats its sequence for the same seed", () => {
  const a = newRand(7);
  const b = newRand(7);
  for (let i = 0; i < 100; i++) assert.equal(a(), b());
});

test("newRand() differs between seeds and stays in [0, 1)", () => {
  const a = newRand(1);
  const b = newRand(2);
  let same = 0;
  for (let i = 0; i < 1000; i++) {
    const x = a();
    const y = b();
    assert.ok(x >= 0 && x < 1, `out of range: ${x}`);
    if (x === y) same++;
  }
  assert.ok(same < 5, `seeds 1 and 2 agree ${same} times`);
});

test("randomIntN() covers [0, n) roughly uniformly", () => {
  const r = newRand(123);
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[randomIntN(r, 3)]!++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `skewed: ${counts}`);
});

test("randomIntN() clamps a generator that returns 1 and rejects bad bounds", () => {
  assert.equal(randomIntN(() => 1, 5), 4);
  assert.throws(() => randomIntN(() => 0, 0), RangeError);
});
