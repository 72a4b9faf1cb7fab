import { test } from "node:test";
import assert from "node:assert/strict";
import { ProgressState, progressStateNames } from "./state.ts";

test("progressStateNames names each ProgressState by value", () => {
  assert.equal(progressStateNames[ProgressState.StateProbe], "StateProbe");
  assert.equal(progressStateNames[ProgressState.StateReplicate], "StateReplicate");
  assert.equal(progressStateNames[ProgressState.StateSnapshot], "StateSnapshot");
  assert.equal(progressStateNames.length, 3);
});
