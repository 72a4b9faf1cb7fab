import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MajorityConfig } from "./majority.ts";
import { MapAckIndexer, VoteResult } from "./quorum.ts";
import { newRand } from "../rand.ts";
import { alternativeMajorityCommittedIndex } from "../../tests/conformance/quorum.ts";

describe("MajorityConfig.describe()", () => {
  const cases: { name: string; idx: [number, number][]; want: string }[] = [
    {
      name: "different commit index for each voter",
      idx: [[1, 101], [2, 102], [3, 103]],
      want: "       idx\n>      101    (id=1)\nx>     102    (id=2)\nxx>    103    (id=3)\n",
    },
    {
      name: "same commit index for all voters",
      idx: [[1, 100], [2, 100], [3, 100]],
      want: "       idx\n>      100    (id=1)\n>      100    (id=2)\n>      100    (id=3)\n",
    },
    {
      name: "same commit index for part of the voters",
      idx: [[1, 100], [2, 102], [3, 102]],
      want: "       idx\n>      100    (id=1)\nx>     102    (id=2)\nx>     102    (id=3)\n",
    },
    {
      name: "missing some commit indexes",
      idx: [[1, 101], [3, 103]],
      want: "       idx\nx>     101    (id=1)\n?        0    (id=2)\nxx>    103    (id=3)\n",
    },
  ];
  for (const tc of cases) {
    test(`draws the table: ${tc.name}`, () => {
      const c = new MajorityConfig([3, 1, 2]);
      assert.equal(c.describe(new MapAckIndexer(tc.idx)), tc.want);
    });
  }

  test("prints IDs in hex and the empty config without a newline", () => {
    assert.equal(new MajorityConfig().describe(new MapAckIndexer()), "<empty majority quorum>");
    const c = new MajorityConfig([10]);
    assert.equal(c.describe(new MapAckIndexer([[10, 7]])), "     idx\n>      7    (id=a)\n");
  });
});

describe("MajorityConfig.committedIndex()", () => {
  // Cases from etcd's quorum/testdata/majority_commit.txt (undefined is `_`).
  const cases: { voters: number[]; idx: (number | undefined)[]; want: number }[] = [
    { voters: [], idx: [], want: Infinity },
    { voters: [1], idx: [undefined], want: 0 },
    { voters: [1], idx: [12], want: 12 },
    { voters: [1, 2], idx: [undefined, undefined], want: 0 },
    { voters: [1, 2], idx: [12, undefined], want: 0 },
    { voters: [1, 2], idx: [12, 5], want: 5 },
    { voters: [1, 2, 3], idx: [12, 5, undefined], want: 5 },
    { voters: [1, 2, 3], idx: [12, 5, 4], want: 5 },
    { voters: [1, 2, 3], idx: [5, 5, 4], want: 5 },
    { voters: [1, 2, 3], idx: [5, undefined, undefined], want: 0 },
    { voters: [1, 2, 3, 4], idx: [101, 104, 103, 103], want: 103 },
    { voters: [1, 2, 3, 4], idx: [101, 102, undefined, undefined], want: 0 },
    { voters: [1, 2, 3, 4, 5], idx: [101, 104, 103, 103, undefined], want: 103 },
    { voters: [1, 2, 3, 4, 5], idx: [101, 102, 103, 103, undefined], want: 102 },
  ];
  for (const tc of cases) {
    test(`voters (${tc.voters.join(" ")}) idx=(${tc.idx.map((i) => i ?? "_").join(",")})`, () => {
      const l = new MapAckIndexer();
      tc.voters.forEach((id, i) => {
        const v = tc.idx[i];
        if (v !== undefined) l.set(id, v);
      });
      assert.equal(new MajorityConfig(tc.voters).committedIndex(l), tc.want);
    });
  }

  test("ignores acknowledgements of non-voters", () => {
    const l = new MapAckIndexer([[1, 5], [2, 5], [9, 100], [8, 100]]);
    assert.equal(new MajorityConfig([1, 2, 3]).committedIndex(l), 5);
  });

  test("agrees with a brute-force computation on random inputs (seeded)", () => {
    const rand = newRand(0x5eed);
    for (let iter = 0; iter < 20000; iter++) {
      // Mostly small configs, sometimes large ones (past the insertion sort).
      const n = iter % 10 === 0 ? Math.floor(rand() * 40) : Math.floor(rand() * 10);
      const c = new MajorityConfig();
      const l = new MapAckIndexer();
      for (let i = 0; i < n; i++) c.add(1 + Math.floor(rand() * 2 * n));
      for (let i = 0; i < n; i++) {
        l.set(1 + Math.floor(rand() * 2 * n), Math.floor(rand() * (n + 1)));
      }
      assert.equal(
        c.committedIndex(l),
        alternativeMajorityCommittedIndex(c, l),
        `voters ${c} acked ${JSON.stringify([...l])}`,
      );
    }
  });

  test("handles indexes up to the largest safe integer", () => {
    const big = Number.MAX_SAFE_INTEGER;
    const l = new MapAckIndexer([[1, big], [2, big - 1], [3, 1]]);
    assert.equal(new MajorityConfig([1, 2, 3]).committedIndex(l), big - 1);
  });
});

describe("MajorityConfig.voteResult()", () => {
  const y = true;
  const n = false;
  const cases: { voters: number[]; votes: (boolean | undefined)[]; want: VoteResult }[] = [
    { voters: [], votes: [], want: VoteResult.VoteWon },
    { voters: [1], votes: [undefined], want: VoteResult.VotePending },
    { voters: [1], votes: [n], want: VoteResult.VoteLost },
    { voters: [1], votes: [y], want: VoteResult.VoteWon },
    { voters: [1, 2], votes: [y, undefined], want: VoteResult.VotePending },
    { voters: [1, 2], votes: [y, n], want: VoteResult.VoteLost },
    { voters: [1, 2], votes: [y, y], want: VoteResult.VoteWon },
    { voters: [1, 2, 3], votes: [y, n, undefined], want: VoteResult.VotePending },
    { voters: [1, 2, 3], votes: [n, n, undefined], want: VoteResult.VoteLost },
    { voters: [1, 2, 3], votes: [y, y, undefined], want: VoteResult.VoteWon },
    { voters: [1, 2, 3, 4], votes: [y, y, n, undefined], want: VoteResult.VotePending },
    { voters: [1, 2, 3, 4], votes: [y, y, n, n], want: VoteResult.VoteLost },
    { voters: [1, 2, 3, 4], votes: [y, y, y, n], want: VoteResult.VoteWon },
  ];
  for (const tc of cases) {
    const shown = tc.votes.map((v) => v === undefined ? "_" : v ? "y" : "n").join(",");
    test(`voters (${tc.voters.join(" ")}) votes=(${shown})`, () => {
      const votes = new Map<number, boolean>();
      tc.voters.forEach((id, i) => {
        const v = tc.votes[i];
        if (v !== undefined) votes.set(id, v);
      });
      // A non-voter's vote never counts.
      votes.set(99, true);
      assert.equal(new MajorityConfig(tc.voters).voteResult(votes), tc.want);
    });
  }
});

test("MajorityConfig.toString() and slice() sort IDs (hex in the string)", () => {
  const c = new MajorityConfig([11, 2, 300]);
  assert.equal(c.toString(), "(2 b 12c)");
  assert.equal(`${new MajorityConfig()}`, "()");
  assert.deepEqual(c.slice(), [2, 11, 300]);
  assert.deepEqual(new MajorityConfig().slice(), []);
});
