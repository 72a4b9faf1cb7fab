import assert from "node:assert/strict";
import { test } from "node:test";
import { checkNumberOption, type NumberRule } from "./options.ts";

test("checkNumberOption() returns a value that keeps its rule and refuses one that breaks it", () => {
  const cases: { rule: NumberRule; ok: number[]; bad: number[]; text: string }[] = [
    { rule: "positive", ok: [0.5, 1, 1e9], bad: [0, -1, NaN, Infinity], text: "a positive number" },
    {
      rule: "nonNegative",
      ok: [0, 0.5, 7],
      bad: [-0.1, NaN, Infinity],
      text: "a non-negative number",
    },
    {
      rule: "positiveInteger",
      ok: [1, 42],
      bad: [0, 1.5, -3, 2 ** 53],
      text: "a positive integer",
    },
    {
      rule: "nonNegativeInteger",
      ok: [0, 9],
      bad: [-1, 0.5, NaN],
      text: "a non-negative integer",
    },
    { rule: "fraction", ok: [0, 0.25, 1], bad: [-0.01, 1.01, NaN], text: "in [0, 1]" },
    {
      rule: { integerAtLeast: 1024 },
      ok: [1024, 4096],
      bad: [1023, 1024.5, Infinity],
      text: "an integer of at least 1024",
    },
  ];
  for (const { rule, ok, bad, text } of cases) {
    for (const v of ok) assert.equal(checkNumberOption("create X", "n", v, rule), v);
    for (const v of bad) {
      assert.throws(
        () => checkNumberOption("create X", "n", v, rule),
        (e: unknown) =>
          e instanceof RangeError &&
          e.message === `Cannot create X as 'n' must be ${text}: current value ${v}`,
        `${JSON.stringify(rule)} refuses ${v}`,
      );
    }
  }
  assert.throws(
    () => checkNumberOption("create X", "n", "5" as unknown as number, "positive"),
    RangeError,
  );
});
