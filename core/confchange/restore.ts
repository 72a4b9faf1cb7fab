/**
 * Rebuilds a configuration from a ConfState (at startup and when applying a
 * snapshot). Ported from etcd raft's `confchange/restore.go`.
 *
 * @module
 */

import { ProgressTracker } from "../tracker/tracker.ts";
import { type ConfChangeSingle, ConfChangeType, type ConfState } from "../types.ts";
import { Changer, type ChangeResult } from "./confchange.ts";

/**
 * Translates a ConfState into two lists of changes: `outgoing` builds, from
 * an empty configuration, the voters that become the outgoing half; then
 * `incoming`, applied when entering the joint configuration, yields the
 * ConfState.
 *
 * For voters=(1 2 3) learners=(5) outgoing=(1 2 4 6) learners_next=(4):
 * outgoing adds 1, 2, 4 and 6; incoming removes 1, 2, 4 and 6, adds 1, 2
 * and 3, and adds 5 and 4 as learners. That gives
 * `voters=(1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4)`.
 */
function toConfChangeSingle(
  cs: ConfState,
): { outgoing: ConfChangeSingle[]; incoming: ConfChangeSingle[] } {
  const outgoing: ConfChangeSingle[] = [];
  const incoming: ConfChangeSingle[] = [];
  for (const id of cs.votersOutgoing) {
    outgoing.push({ type: ConfChangeType.ConfChangeAddNode, nodeId: id });
  }
  for (const id of cs.votersOutgoing) {
    incoming.push({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: id });
  }
  for (const id of cs.voters) {
    incoming.push({ type: ConfChangeType.ConfChangeAddNode, nodeId: id });
  }
  for (const id of cs.learners) {
    incoming.push({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: id });
  }
  // Staged learners are outgoing voters that become learners on leaving.
  for (const id of cs.learnersNext) {
    incoming.push({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: id });
  }
  return { outgoing, incoming };
}

/**
 * Builds the configuration a ConfState describes, by applying a sequence of
 * changes to the (empty) configuration of `chg`'s tracker. Neither `chg`
 * nor its tracker is modified.
 *
 * Without outgoing voters, each voter and then each learner is added with
 * `simple`. Otherwise the outgoing voters are added one by one, and the
 * joint configuration is entered with the changes that give the incoming
 * voters and the learners.
 *
 * @param chg A changer whose tracker has an empty configuration.
 * @param cs The configuration to build.
 * @returns The configuration and its progress map.
 * @throws {ConfChangeError} When the ConfState is not a valid configuration.
 *
 * @example Restoring a joint configuration
 * ```ts
 * import { Changer } from "./confchange.ts";
 * import { restore } from "./restore.ts";
 * import { newProgressTracker } from "../tracker/tracker.ts";
 * import { newConfState } from "@raft-ts/raft";
 * const cs = newConfState({ voters: [1, 2, 3], votersOutgoing: [1, 2, 4], learnersNext: [4] });
 * const { config } = restore(new Changer(newProgressTracker(10, 0), 5), cs);
 * if (config.toString() !== "voters=(1 2 3)&&(1 2 4) learners_next=(4)") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function restore(chg: Changer, cs: ConfState): ChangeResult {
  const { outgoing, incoming } = toConfChangeSingle(cs);
  // Work on a tracker of our own, which each step replaces the state of.
  const trk = new ProgressTracker(chg.tracker.maxInflight, chg.tracker.maxInflightBytes);
  trk.config = chg.tracker.config;
  trk.progress = chg.tracker.progress;
  const c = new Changer(trk, chg.lastIndex);
  const install = (r: ChangeResult): void => {
    trk.config = r.config;
    trk.progress = r.progress;
  };
  if (outgoing.length === 0) {
    // Not joint: apply the changes one at a time.
    for (const cc of incoming) install(c.simple([cc]));
  } else {
    // Joint: first make the outgoing voters the (only) voters, then enter
    // the joint configuration, which moves them to the outgoing half.
    for (const cc of outgoing) install(c.simple([cc]));
    install(c.enterJoint(cs.autoLeave, incoming));
  }
  return { config: trk.config, progress: trk.progress };
}
