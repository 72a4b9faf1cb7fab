import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { JointConfig } from "../quorum/joint.ts";
import { MajorityConfig } from "../quorum/majority.ts";
import { VoteResult } from "../quorum/quorum.ts";
import { Inflights } from "./inflights.ts";
import { Progress } from "./progress.ts";
import { newProgressTracker, type ProgressTracker, TrackerConfig } from "./tracker.ts";

function voters(incoming: number[], outgoing: number[] = []): JointConfig {
  return new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing));
}

/** A tracker with the given voters and learners, each with the given match. */
function trackerOf(
  cfg: TrackerConfig,
  match: Record<number, number>,
  learners: number[] = [],
): ProgressTracker {
  const trk = newProgressTracker(10, 0);
  trk.config = cfg;
  for (const [id, m] of Object.entries(match)) {
    trk.progress.set(
      Number(id),
      new Progress({
        match: m,
        next: m + 1,
        recentActive: true,
        isLearner: learners.includes(Number(id)),
        inflights: new Inflights(10, 0),
      }),
    );
  }
  return trk;
}

describe("TrackerConfig.toString()", () => {
  const cases: [TrackerConfig, string][] = [
    [new TrackerConfig(), "voters=()"],
    [new TrackerConfig({ voters: voters([2]), learners: new Set([1]) }), "voters=(2) learners=(1)"],
    [
      new TrackerConfig({ voters: voters([1, 2, 3], [1]), autoLeave: true }),
      "voters=(1 2 3)&&(1) autoleave",
    ],
    [
      new TrackerConfig({ voters: voters([1], [1]), learners: new Set([3, 2]) }),
      "voters=(1)&&(1) learners=(2 3)",
    ],
    [
      new TrackerConfig({
        voters: voters([3], [1]),
        learners: new Set([2]),
        learnersNext: new Set([1]),
      }),
      "voters=(3)&&(1) learners=(2) learners_next=(1)",
    ],
    [new TrackerConfig({ voters: voters([10, 11]) }), "voters=(a b)"],
  ];
  for (const [cfg, want] of cases) {
    test(want, () => assert.equal(cfg.toString(), want));
  }
});

test("TrackerConfig.clone() shares no memory with the original", () => {
  const cfg = new TrackerConfig({
    voters: voters([1, 2], [1, 3]),
    learners: new Set([4]),
    learnersNext: new Set([3]),
    autoLeave: true,
  });
  const c = cfg.clone();
  assert.equal(c.toString(), cfg.toString());
  c.voters.incoming.add(9);
  c.voters.outgoing.delete(1);
  c.learners.add(8);
  c.learnersNext.clear();
  c.autoLeave = false;
  assert.equal(cfg.toString(), "voters=(1 2)&&(1 3) learners=(4) learners_next=(3) autoleave");
});

test("ProgressTracker.confState() lists the sorted configuration", () => {
  const trk = trackerOf(
    new TrackerConfig({
      voters: voters([3, 1, 2], [4, 1]),
      learners: new Set([6, 5]),
      learnersNext: new Set([4]),
      autoLeave: true,
    }),
    {},
  );
  assert.deepEqual(trk.confState(), {
    voters: [1, 2, 3],
    learners: [5, 6],
    votersOutgoing: [1, 4],
    learnersNext: [4],
    autoLeave: true,
  });
  assert.deepEqual(newProgressTracker(1, 0).confState(), {
    voters: [],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  });
});

test("ProgressTracker.isSingleton() only for one voter outside joint consensus", () => {
  assert.equal(trackerOf(new TrackerConfig({ voters: voters([1]) }), {}).isSingleton(), true);
  assert.equal(trackerOf(new TrackerConfig({ voters: voters([1, 2]) }), {}).isSingleton(), false);
  assert.equal(
    trackerOf(new TrackerConfig({ voters: voters([1], [1]) }), {}).isSingleton(),
    false,
  );
  assert.equal(newProgressTracker(1, 0).isSingleton(), false);
});

test("ProgressTracker.committed() uses the voters' match, not the learners'", () => {
  const trk = trackerOf(
    new TrackerConfig({ voters: voters([1, 2, 3]), learners: new Set([4]) }),
    { 1: 10, 2: 7, 3: 3, 4: 100 },
    [4],
  );
  assert.equal(trk.committed(), 7);
  // The tracker reads the current progress map, even after it is replaced.
  const pr = trk.progress.get(3)!;
  pr.match = 9;
  assert.equal(trk.committed(), 9);
  // Joint: both halves must agree.
  trk.config.voters.outgoing = new MajorityConfig([3, 5]);
  assert.equal(trk.committed(), 0);
  assert.equal(newProgressTracker(1, 0).committed(), Infinity);
});

test("ProgressTracker.visit() goes in ascending ID order, following changes", () => {
  const trk = trackerOf(new TrackerConfig({ voters: voters([1]) }), { 5: 0, 1: 0, 12: 0, 3: 0 });
  const seen: number[] = [];
  trk.visit((id, pr) => {
    assert.equal(pr, trk.progress.get(id));
    seen.push(id);
  });
  assert.deepEqual(seen, [1, 3, 5, 12]);
  trk.progress.delete(3);
  trk.progress.set(2, trk.progress.get(1)!.clone());
  seen.length = 0;
  trk.visit((id) => seen.push(id));
  assert.deepEqual(seen, [1, 2, 5, 12]);
});

test("ProgressTracker.quorumActive() counts recently active voters only", () => {
  const trk = trackerOf(
    new TrackerConfig({ voters: voters([1, 2, 3]), learners: new Set([4]) }),
    { 1: 0, 2: 0, 3: 0, 4: 0 },
    [4],
  );
  assert.equal(trk.quorumActive(), true);
  trk.progress.get(2)!.recentActive = false;
  assert.equal(trk.quorumActive(), true);
  trk.progress.get(3)!.recentActive = false;
  assert.equal(trk.quorumActive(), false);
  // An active learner does not help.
  trk.progress.get(4)!.recentActive = true;
  assert.equal(trk.quorumActive(), false);
});

test("ProgressTracker.voterNodes() and learnerNodes() are sorted", () => {
  const trk = trackerOf(
    new TrackerConfig({ voters: voters([3, 1], [4, 1]), learners: new Set([9, 7]) }),
    {},
  );
  assert.deepEqual(trk.voterNodes(), [1, 3, 4]);
  assert.deepEqual(trk.learnerNodes(), [7, 9]);
  assert.deepEqual(newProgressTracker(1, 0).learnerNodes(), []);
});

test("ProgressTracker.recordVote() keeps the first vote; tallyVotes() counts voters", () => {
  const trk = trackerOf(
    new TrackerConfig({ voters: voters([1, 2, 3, 4, 5]), learners: new Set([6]) }),
    { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0 },
    [6],
  );
  trk.recordVote(1, true);
  trk.recordVote(2, false);
  trk.recordVote(2, true); // ignored
  trk.recordVote(6, true); // a learner: not counted
  trk.recordVote(9, true); // untracked: not counted
  assert.deepEqual(trk.tallyVotes(), {
    granted: 1,
    rejected: 1,
    result: VoteResult.VotePending,
  });
  trk.recordVote(3, true);
  trk.recordVote(4, true);
  assert.deepEqual(trk.tallyVotes(), { granted: 3, rejected: 1, result: VoteResult.VoteWon });
  assert.equal(trk.voteResult(), VoteResult.VoteWon);
  trk.resetVotes();
  assert.equal(trk.votes.size, 0);
  assert.deepEqual(trk.tallyVotes(), {
    granted: 0,
    rejected: 0,
    result: VoteResult.VotePending,
  });
  for (const id of [1, 2, 3]) trk.recordVote(id, false);
  assert.equal(trk.tallyVotes().result, VoteResult.VoteLost);
});

test("newProgressTracker() starts empty with the given limits", () => {
  const trk = newProgressTracker(7, 1024);
  assert.equal(trk.maxInflight, 7);
  assert.equal(trk.maxInflightBytes, 1024);
  assert.equal(trk.config.toString(), "voters=()");
  assert.equal(trk.progress.size, 0);
  assert.equal(trk.votes.size, 0);
});
