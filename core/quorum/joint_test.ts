import { test } from "node:test";
import assert from "node:assert/strict";
import { JointConfig } from "./joint.ts";
import { MajorityConfig } from "./majority.ts";
import { MapAckIndexer, VoteResult } from "./quorum.ts";

function jc(a: number[], b: number[]): JointConfig {
  return new JointConfig(new MajorityConfig(a), new MajorityConfig(b));
}

test("JointConfig.toString() shows the outgoing half only when joint", () => {
  assert.equal(jc([1, 2, 3], []).toString(), "(1 2 3)");
  assert.equal(jc([1, 2, 3], [1]).toString(), "(1 2 3)&&(1)");
  assert.equal(jc([], []).toString(), "()");
  assert.equal(new JointConfig().toString(), "()");
});

test("JointConfig.ids() is a new union of both halves", () => {
  const c = jc([1, 2], [2, 3]);
  const ids = c.ids();
  assert.deepEqual([...ids].sort(), [1, 2, 3]);
  ids.add(9);
  assert.equal(c.incoming.has(9) || c.outgoing.has(9), false);
});

test("JointConfig.committedIndex() is the smaller of the halves, an empty half neutral", () => {
  const l = new MapAckIndexer([[1, 100], [2, 101], [3, 99], [4, 50], [5, 60]]);
  assert.equal(jc([1, 2, 3], []).committedIndex(l), 100);
  assert.equal(jc([], [1, 2, 3]).committedIndex(l), 100);
  assert.equal(jc([1, 2, 3], [3, 4, 5]).committedIndex(l), 60);
  assert.equal(jc([3, 4, 5], [1, 2, 3]).committedIndex(l), 60);
  assert.equal(jc([], []).committedIndex(l), Infinity);
});

test("JointConfig.describe() draws the union of both halves", () => {
  const l = new MapAckIndexer([[1, 100], [2, 101], [3, 99]]);
  assert.equal(
    jc([1, 2], [2, 3]).describe(l),
    "       idx\nx>     100    (id=1)\nxx>    101    (id=2)\n>       99    (id=3)\n",
  );
});

test("JointConfig.voteResult() needs both halves and loses if either loses", () => {
  const v = (e: [number, boolean][]): Map<number, boolean> => new Map(e);
  // Both halves won.
  assert.equal(jc([1, 2], [2, 3]).voteResult(v([[1, true], [2, true], [3, true]])), 3);
  // Incoming won, outgoing pending.
  assert.equal(jc([1], [2, 3]).voteResult(v([[1, true], [2, true]])), VoteResult.VotePending);
  // Incoming won, outgoing lost.
  assert.equal(
    jc([1], [2, 3]).voteResult(v([[1, true], [2, false], [3, false]])),
    VoteResult.VoteLost,
  );
  // Pending and lost.
  assert.equal(jc([1, 2], [3]).voteResult(v([[1, true], [3, false]])), VoteResult.VoteLost);
  // Both pending.
  assert.equal(jc([1, 2], [3]).voteResult(v([])), VoteResult.VotePending);
  // The empty config wins, so it does not constrain the other half.
  assert.equal(jc([], [1]).voteResult(v([[1, true]])), VoteResult.VoteWon);
  assert.equal(jc([], [1]).voteResult(v([[1, false]])), VoteResult.VoteLost);
});
