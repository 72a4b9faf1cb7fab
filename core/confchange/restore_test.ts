import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeError } from "../errors.ts";
import { newProgressTracker } from "../tracker/tracker.ts";
import { type ConfState, newConfState } from "../types.ts";
import { Changer } from "./confchange.ts";
import { restore } from "./restore.ts";
import { newTestRand, type TestRand } from "../../tests/_util.ts";

/** A random valid, non-empty ConfState, as etcd's restore test generates. */
function randomConfState(rand: TestRand): ConfState {
  const nVoters = 1 + rand.intn(5);
  const nLearners = rand.intn(5);
  // Outgoing voters that are not incoming voters.
  const nRemovedVoters = rand.intn(3);
  let ids = rand.perm(2 * (nVoters + nLearners + nRemovedVoters)).map((i) => i + 1);
  const cs = newConfState();
  cs.voters = ids.slice(0, nVoters);
  ids = ids.slice(nVoters);
  if (nLearners > 0) {
    cs.learners = ids.slice(0, nLearners);
    ids = ids.slice(nLearners);
  }
  const nOutgoingRetainedVoters = rand.intn(nVoters + 1);
  if (nOutgoingRetainedVoters > 0 || nRemovedVoters > 0) {
    cs.votersOutgoing = [
      ...cs.voters.slice(0, nOutgoingRetainedVoters),
      ...ids.slice(0, nRemovedVoters),
    ];
  }
  // Only removed voters can be staged learners (demotions).
  if (nRemovedVoters > 0) {
    const nLearnersNext = rand.intn(nRemovedVoters + 1);
    if (nLearnersNext > 0) cs.learnersNext = ids.slice(0, nLearnersNext);
  }
  cs.autoLeave = cs.votersOutgoing.length > 0 && rand.intn(2) === 1;
  return cs;
}

function sortedConfState(cs: ConfState): ConfState {
  const s = (a: number[]): number[] => [...a].sort((x, y) => x - y);
  return {
    voters: s(cs.voters),
    learners: s(cs.learners),
    votersOutgoing: s(cs.votersOutgoing),
    learnersNext: s(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
}

/** Restores `cs` and checks the tracker then describes the same ConfState. */
function checkRoundTrip(cs: ConfState): void {
  const chg = new Changer(newProgressTracker(20, 0), 10);
  const { config, progress } = restore(chg, cs);
  // The changer's own tracker is left empty.
  assert.equal(chg.tracker.config.toString(), "voters=()");
  assert.equal(chg.tracker.progress.size, 0);
  chg.tracker.config = config;
  chg.tracker.progress = progress;
  const where = JSON.stringify(cs);
  assert.deepEqual(chg.tracker.confState(), sortedConfState(cs), where);
  // Every member has a fresh progress with the right role.
  const members = new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners]);
  assert.deepEqual([...progress.sortedIds()], [...members].sort((a, b) => a - b), where);
  for (const [id, pr] of progress) {
    assert.equal(pr.isLearner, cs.learners.includes(id), `${where}: learner ${id}`);
    assert.equal(pr.next, 10, where);
    assert.equal(pr.match, 0, where);
  }
}

test("restore() builds the configuration of a ConfState", () => {
  const cases = [
    newConfState(),
    newConfState({ voters: [1, 2, 3] }),
    newConfState({ voters: [1, 2, 3], learners: [4, 5, 6] }),
    newConfState({
      voters: [1, 2, 3],
      learners: [5],
      votersOutgoing: [1, 2, 4, 6],
      learnersNext: [4],
    }),
    newConfState({ voters: [3, 1], votersOutgoing: [2], autoLeave: true }),
  ];
  for (const cs of cases) checkRoundTrip(cs);
});

test("restore() prints the joint example of etcd's comment", () => {
  const cs = newConfState({
    voters: [1, 2, 3],
    learners: [5],
    votersOutgoing: [1, 2, 4, 6],
    learnersNext: [4],
    autoLeave: true,
  });
  const r = restore(new Changer(newProgressTracker(20, 0), 0), cs);
  assert.equal(
    r.config.toString(),
    "voters=(1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4) autoleave",
  );
});

test("restore() round-trips random ConfStates (seeded, 1000 runs)", () => {
  const rand = newTestRand(20191107);
  for (let i = 0; i < 1000; i++) checkRoundTrip(randomConfState(rand));
});

test("restore() refuses a ConfState in which a node has two roles", () => {
  // A joint ConfState without incoming voters.
  assert.throws(
    () =>
      restore(
        new Changer(newProgressTracker(20, 0), 0),
        newConfState({ voters: [], votersOutgoing: [1] }),
      ),
    (e: unknown) => e instanceof ConfChangeError && e.message === "removed all voters",
  );
});
