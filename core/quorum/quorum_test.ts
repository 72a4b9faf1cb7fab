import { test } from "node:test";
import assert from "node:assert/strict";
import { indexToString, MapAckIndexer, VoteResult, voteResultToString } from "./quorum.ts";

test("indexToString() prints ∞ for the empty config's index", () => {
  assert.equal(indexToString(Infinity), "∞");
  assert.equal(indexToString(0), "0");
  assert.equal(indexToString(12345), "12345");
  assert.equal(indexToString(Number.MAX_SAFE_INTEGER), "9007199254740991");
});

test("voteResultToString() names results as etcd's stringer does", () => {
  assert.equal(voteResultToString(VoteResult.VotePending), "VotePending");
  assert.equal(voteResultToString(VoteResult.VoteLost), "VoteLost");
  assert.equal(voteResultToString(VoteResult.VoteWon), "VoteWon");
  assert.equal(voteResultToString(7 as VoteResult), "VoteResult(7)");
});

test("MapAckIndexer.ackedIndex() tells absent voters from index 0", () => {
  const l = new MapAckIndexer([[1, 0], [2, 9]]);
  assert.equal(l.ackedIndex(1), 0);
  assert.equal(l.ackedIndex(2), 9);
  assert.equal(l.ackedIndex(3), undefined);
  l.set(3, 4);
  assert.equal(l.ackedIndex(3), 4);
});
