import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeError } from "../errors.ts";
import { newProgressTracker, type ProgressTracker } from "../tracker/tracker.ts";
import { type ConfChangeSingle, ConfChangeType } from "../types.ts";
import { Changer, type ChangeResult } from "./confchange.ts";
import { newTestRand } from "../../tests/_util.ts";

const { ConfChangeAddNode, ConfChangeRemoveNode, ConfChangeUpdateNode, ConfChangeAddLearnerNode } =
  ConfChangeType;

/** Parses `v1 l2 r3 u4` into changes. */
function ccs(s: string): ConfChangeSingle[] {
  if (s === "") return [];
  const types: Record<string, ConfChangeType> = {
    v: ConfChangeAddNode,
    l: ConfChangeAddLearnerNode,
    r: ConfChangeRemoveNode,
    u: ConfChangeUpdateNode,
  };
  return s.split(" ").map((tok) => ({ type: types[tok[0]!]!, nodeId: Number(tok.slice(1)) }));
}

function describeChanges(cs: ConfChangeSingle[]): string {
  const letters = ["v", "r", "u", "l"];
  return cs.map((c) => `${letters[c.type]}${c.nodeId}`).join(" ");
}

function install(c: Changer, r: ChangeResult): void {
  c.tracker.config = r.config;
  c.tracker.progress = r.progress;
}

function show(x: { config: unknown; progress: unknown }): string {
  return `${x.config}\n${x.progress}`;
}

function state(trk: ProgressTracker): string {
  return show(trk) + JSON.stringify(trk.confState());
}

function throwsConfChange(f: () => unknown, message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ConfChangeError, `not a ConfChangeError: ${e}`);
    assert.equal(e.message, message);
    assert.equal(e.code, "conf_change");
    return true;
  });
}

describe("Changer.simple()", () => {
  test("adds voters and learners with fresh, active progress", () => {
    const c = new Changer(newProgressTracker(10, 0), 0);
    install(c, c.simple(ccs("v1")));
    c.lastIndex = 7;
    const r = c.simple(ccs("v2 l3"));
    assert.equal(
      show(r),
      "voters=(1 2) learners=(3)\n" +
        "1: StateProbe match=0 next=1\n" +
        "2: StateProbe match=0 next=7\n" +
        "3: StateProbe match=0 next=7 learner\n",
    );
    const pr = r.progress.get(3)!;
    assert.equal(pr.recentActive, true);
    assert.equal(pr.isLearner, true);
    // The window uses the tracker's limits.
    for (let i = 0; i < 10; i++) pr.inflights.add(i, 1);
    assert.equal(pr.inflights.full(), true);
  });

  test("ignores node 0 and treats UpdateNode as a no-op", () => {
    const c = new Changer(newProgressTracker(10, 0), 0);
    install(c, c.simple(ccs("v1")));
    assert.equal(
      show(c.simple(ccs("v0 l0 r0 u1 u2"))),
      "voters=(1)\n1: StateProbe match=0 next=1\n",
    );
  });

  test("promotes a learner and demotes a voter, keeping their progress", () => {
    const c = new Changer(newProgressTracker(10, 0), 5);
    install(c, c.simple(ccs("v1")));
    install(c, c.simple(ccs("v2")));
    install(c, c.simple(ccs("l3")));
    c.tracker.progress.get(3)!.match = 4;
    install(c, c.simple(ccs("v3")));
    assert.equal(c.tracker.config.toString(), "voters=(1 2 3)");
    assert.equal(c.tracker.progress.get(3)!.match, 4);
    assert.equal(c.tracker.progress.get(3)!.isLearner, false);
    install(c, c.simple(ccs("l2")));
    assert.equal(c.tracker.config.toString(), "voters=(1 3) learners=(2)");
    assert.equal(c.tracker.progress.get(2)!.isLearner, true);
    // Adding an existing learner as learner again changes nothing.
    assert.equal(show(c.simple(ccs("l2"))), show(c.tracker));
  });

  test("removes voters and learners with their progress", () => {
    const c = new Changer(newProgressTracker(10, 0), 0);
    install(c, c.simple(ccs("v1")));
    install(c, c.simple(ccs("v2 l3 l4")));
    install(c, c.simple(ccs("r2 r3 r9")));
    assert.equal(
      show(c.tracker),
      "voters=(1) learners=(4)\n1: StateProbe match=0 next=1\n" +
        "4: StateProbe match=0 next=1 learner\n",
    );
  });

  test("refuses unsafe changes with etcd's messages", () => {
    const c = new Changer(newProgressTracker(10, 0), 0);
    throwsConfChange(() => c.simple(ccs("l1")), "removed all voters");
    throwsConfChange(() => c.simple([]), "removed all voters");
    install(c, c.simple(ccs("v1")));
    throwsConfChange(() => c.simple(ccs("r1")), "removed all voters");
    throwsConfChange(
      () => c.simple(ccs("v2 v3")),
      "more than one voter changed without entering joint config",
    );
    throwsConfChange(
      () => c.simple(ccs("l1 v2")),
      "more than one voter changed without entering joint config",
    );
    throwsConfChange(
      () => c.simple([{ type: 9 as ConfChangeType, nodeId: 2 }]),
      "unexpected conf type 9",
    );
    install(c, c.enterJoint(false, ccs("v2")));
    throwsConfChange(
      () => c.simple(ccs("v3")),
      "can't apply simple config change in joint config",
    );
  });

  test("leaves the tracker unchanged, also on errors", () => {
    const trk = newProgressTracker(10, 0);
    const c = new Changer(trk, 3);
    install(c, c.simple(ccs("v1")));
    install(c, c.simple(ccs("l2")));
    const before = state(trk);
    c.simple(ccs("v2"));
    c.simple(ccs("r2"));
    c.enterJoint(true, ccs("v3 v4 r1"));
    assert.throws(() => c.simple(ccs("v3 v4")), ConfChangeError);
    assert.throws(() => c.leaveJoint(), ConfChangeError);
    assert.equal(state(trk), before);
  });
});

describe("Changer.enterJoint() and leaveJoint()", () => {
  test("stage a demoted voter in learnersNext until the joint config is left", () => {
    const c = new Changer(newProgressTracker(10, 0), 0);
    install(c, c.simple(ccs("v1")));
    install(c, c.enterJoint(false, ccs("v2 v3 l1")));
    assert.equal(
      show(c.tracker),
      "voters=(2 3)&&(1) learners_next=(1)\n" +
        "1: StateProbe match=0 next=1\n" +
        "2: StateProbe match=0 next=1\n" +
        "3: StateProbe match=0 next=1\n",
    );
    assert.equal(c.tracker.progress.get(1)!.isLearner, false);
    install(c, c.leaveJoint());
    assert.equal(
      show(c.tracker),
      "voters=(2 3) learners=(1)\n" +
        "1: StateProbe match=0 next=1 learner\n" +
        "2: StateProbe match=0 next=1\n" +
        "3: StateProbe match=0 next=1\n",
    );
  });

  test("keep a removed outgoing voter's progress until the joint config is left", () => {
    const c = new Changer(newProgressTracker(10, 0), 0);
    install(c, c.simple(ccs("v1")));
    install(c, c.simple(ccs("v2")));
    install(c, c.enterJoint(true, ccs("r1 v3")));
    assert.equal(c.tracker.config.toString(), "voters=(2 3)&&(1 2) autoleave");
    assert.deepEqual([...c.tracker.progress.sortedIds()], [1, 2, 3]);
    install(c, c.leaveJoint());
    assert.equal(c.tracker.config.toString(), "voters=(2 3)");
    assert.deepEqual([...c.tracker.progress.sortedIds()], [2, 3]);
    assert.equal(c.tracker.config.autoLeave, false);
  });

  test("refuse unsafe changes with etcd's messages", () => {
    const c = new Changer(newProgressTracker(10, 0), 0);
    throwsConfChange(() => c.enterJoint(false, ccs("v1")), "can't make a zero-voter config joint");
    throwsConfChange(() => c.leaveJoint(), "can't leave a non-joint config");
    install(c, c.simple(ccs("v1")));
    throwsConfChange(() => c.leaveJoint(), "can't leave a non-joint config");
    throwsConfChange(() => c.enterJoint(false, ccs("r1")), "removed all voters");
    install(c, c.enterJoint(false, ccs("v2")));
    throwsConfChange(() => c.enterJoint(false, []), "config is already joint");
  });

  test("refuse a tracker whose invariants are broken", () => {
    const c = new Changer(newProgressTracker(10, 0), 0);
    install(c, c.simple(ccs("v1")));
    c.tracker.config.learners.add(5);
    throwsConfChange(() => c.simple(ccs("v2")), "no progress for 5");
    c.tracker.config.learners.clear();
    install(c, c.simple(ccs("l2")));
    c.tracker.progress.get(2)!.isLearner = false;
    throwsConfChange(() => c.simple(ccs("v3")), "2 is in Learners, but is not marked as learner");
    c.tracker.progress.get(2)!.isLearner = true;
    c.tracker.config.autoLeave = true;
    throwsConfChange(() => c.simple(ccs("v3")), "AutoLeave must be false when not joint");
  });
});

test("Changer: simple and joint changes arrive at the same config (seeded, 1000 runs)", () => {
  const rand = newTestRand(42);
  const types = [
    ConfChangeAddNode,
    ConfChangeRemoveNode,
    ConfChangeUpdateNode,
    ConfChangeAddLearnerNode,
  ];
  const genCC = (num: () => number, id: () => number, typ: () => ConfChangeType) => {
    const out: ConfChangeSingle[] = [];
    const n = num();
    for (let i = 0; i < n; i++) out.push({ type: typ(), nodeId: id() });
    return out;
  };

  const runWithSimple = (c: Changer, cs: ConfChangeSingle[]): void => {
    for (const cc of cs) install(c, c.simple([cc]));
  };
  const runWithJoint = (c: Changer, cs: ConfChangeSingle[]): void => {
    const r = c.enterJoint(false, cs);
    // With autoLeave, the same result but for the flag.
    const r2a = c.enterJoint(true, cs);
    assert.equal(r2a.config.autoLeave, true);
    r2a.config.autoLeave = false;
    assert.equal(show(r2a), show(r));
    install(c, r);
    const r2b = c.leaveJoint();
    install(c, r);
    const r3 = c.leaveJoint();
    assert.equal(show(r3), show(r2b));
    install(c, r3);
  };
  const build = (setup: ConfChangeSingle[], cs: ConfChangeSingle[], joint: boolean): Changer => {
    const c = new Changer(newProgressTracker(10, 0), 10);
    runWithSimple(c, setup);
    if (joint) runWithJoint(c, cs);
    else runWithSimple(c, cs);
    return c;
  };

  for (let iter = 0; iter < 1000; iter++) {
    // Node 1 is always a voter, so no config runs out of voters.
    const setupNum = (): number => 1 + rand.intn(5);
    const setup = [
      { type: ConfChangeAddNode, nodeId: 1 },
      ...genCC(setupNum, setupNum, () => ConfChangeAddNode),
    ];
    const num = (): number => 1 + rand.intn(9);
    const cs = genCC(num, () => 1 + num(), () => types[rand.intn(types.length)]!);
    const where = `setup: ${describeChanges(setup)}; changes: ${describeChanges(cs)}`;
    const c1 = build(setup, cs, false);
    const c2 = build(setup, cs, true);
    assert.equal(state(c2.tracker), state(c1.tracker), where);
  }
});
