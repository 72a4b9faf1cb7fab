/**
 * Membership changes: computes the configuration and progress map that
 * result from a list of changes, refusing changes that would be unsafe.
 * Ported from etcd raft's `confchange/confchange.go`.
 *
 * @module
 */

import { ConfChangeError } from "../errors.ts";
import { MajorityConfig } from "../quorum/majority.ts";
import { Inflights } from "../tracker/inflights.ts";
import { Progress, ProgressMap } from "../tracker/progress.ts";
import type { ProgressTracker, TrackerConfig } from "../tracker/tracker.ts";
import { type ConfChangeSingle, ConfChangeType, type Index, type NodeId } from "../types.ts";

/** A configuration and the progress map that goes with it. */
export interface ChangeResult {
  /** The new configuration. */
  config: TrackerConfig;
  /** The progress of every member of `config`. */
  progress: ProgressMap;
}

/**
 * Applies membership changes, either one voter at a time (`simple`) or
 * through joint consensus (`enterJoint`, then `leaveJoint`), to the
 * configuration of a tracker (etcd's `confchange.Changer`).
 *
 * Each method works on copies: the tracker is not modified. It checks the
 * invariants of its input and of its result, and throws
 * {@linkcode ConfChangeError} (with etcd's message) instead of returning a
 * result that breaks them. The caller installs the result.
 *
 * @example Adding a voter and a learner
 * ```ts
 * import { Changer } from "./confchange.ts";
 * import { newProgressTracker } from "../tracker/tracker.ts";
 * import { ConfChangeType } from "@raft-ts/raft";
 * const trk = newProgressTracker(10, 0);
 * const { config, progress } = new Changer(trk, 1).simple([
 *   { type: ConfChangeType.ConfChangeAddNode, nodeId: 1 },
 *   { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 2 },
 * ]);
 * if (config.toString() !== "voters=(1) learners=(2)" || progress.size !== 2) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export class Changer {
  /** The tracker whose configuration is changed. Not modified. */
  tracker: ProgressTracker;
  /** The last log index; new nodes start with `next = max(lastIndex, 1)`. */
  lastIndex: Index;

  /**
   * Creates a changer.
   *
   * @param tracker The tracker holding the current configuration.
   * @param lastIndex The last index of the log.
   */
  constructor(tracker: ProgressTracker, lastIndex: Index) {
    this.tracker = tracker;
    this.lastIndex = lastIndex;
  }

  /**
   * Enters a joint configuration: the current voters become the outgoing
   * half, and the changes are applied to a copy of them, the incoming half.
   *
   * @param autoLeave Whether Raft should leave the joint configuration on its own.
   * @param ccs The changes.
   * @returns The joint configuration and its progress map.
   * @throws {ConfChangeError} When the configuration is already joint, has no
   *   voters, or the changes remove every incoming voter.
   */
  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): ChangeResult {
    const { config: cfg, progress: trk } = this.#checkAndCopy();
    if (joint(cfg)) throw new ConfChangeError("config is already joint");
    if (cfg.voters.incoming.size === 0) {
      // An empty config may be built up with `simple`, but not made joint.
      throw new ConfChangeError("can't make a zero-voter config joint");
    }
    cfg.voters.outgoing = new MajorityConfig(cfg.voters.incoming);
    this.#apply(cfg, trk, ccs);
    cfg.autoLeave = autoLeave;
    return checkAndReturn(cfg, trk);
  }

  /**
   * Leaves a joint configuration: the incoming half alone decides, staged
   * learners become learners, and the progress of nodes that are no longer
   * members is dropped.
   *
   * @returns The new configuration and its progress map.
   * @throws {ConfChangeError} When the configuration is not joint.
   */
  leaveJoint(): ChangeResult {
    const { config: cfg, progress: trk } = this.#checkAndCopy();
    if (!joint(cfg)) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of cfg.learnersNext) {
      cfg.learners.add(id);
      trk.get(id)!.isLearner = true;
    }
    cfg.learnersNext = new Set();
    for (const id of cfg.voters.outgoing) {
      if (!cfg.voters.incoming.has(id) && !cfg.learners.has(id)) trk.delete(id);
    }
    cfg.voters.outgoing = new MajorityConfig();
    cfg.autoLeave = false;
    return checkAndReturn(cfg, trk);
  }

  /**
   * Applies changes that alter the set of voters by at most one, without
   * joint consensus.
   *
   * @param ccs The changes.
   * @returns The new configuration and its progress map.
   * @throws {ConfChangeError} When the configuration is joint, the changes
   *   remove every voter, or they change more than one voter.
   */
  simple(ccs: readonly ConfChangeSingle[]): ChangeResult {
    const { config: cfg, progress: trk } = this.#checkAndCopy();
    if (joint(cfg)) {
      throw new ConfChangeError("can't apply simple config change in joint config");
    }
    this.#apply(cfg, trk, ccs);
    if (symdiff(this.tracker.config.voters.incoming, cfg.voters.incoming) > 1) {
      throw new ConfChangeError("more than one voter changed without entering joint config");
    }
    return checkAndReturn(cfg, trk);
  }

  /**
   * Applies changes to the incoming voters (the outgoing half, if any, keeps
   * the old voters). Changes of node 0 are ignored.
   */
  #apply(cfg: TrackerConfig, trk: ProgressMap, ccs: readonly ConfChangeSingle[]): void {
    for (const cc of ccs) {
      // Applications replace the node ID with 0 to cancel a change.
      if (cc.nodeId === 0) continue;
      switch (cc.type) {
        case ConfChangeType.ConfChangeAddNode:
          this.#makeVoter(cfg, trk, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeAddLearnerNode:
          this.#makeLearner(cfg, trk, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeRemoveNode:
          this.#remove(cfg, trk, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeUpdateNode:
          break;
        default:
          throw new ConfChangeError(`unexpected conf type ${cc.type as number}`);
      }
    }
    if (cfg.voters.incoming.size === 0) throw new ConfChangeError("removed all voters");
  }

  /** Adds a voter to the incoming half, or promotes a learner. */
  #makeVoter(cfg: TrackerConfig, trk: ProgressMap, id: NodeId): void {
    const pr = trk.get(id);
    if (pr === undefined) {
      this.#initProgress(cfg, trk, id, false);
      return;
    }
    pr.isLearner = false;
    cfg.learners.delete(id);
    cfg.learnersNext.delete(id);
    cfg.voters.incoming.add(id);
  }

  /**
   * Adds a learner, or demotes a voter. A node that is still an outgoing
   * voter cannot be a learner yet: it is staged in `learnersNext` until the
   * joint configuration is left.
   */
  #makeLearner(cfg: TrackerConfig, trk: ProgressMap, id: NodeId): void {
    const pr = trk.get(id);
    if (pr === undefined) {
      this.#initProgress(cfg, trk, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Drop the node as an incoming voter, but keep its progress.
    this.#remove(cfg, trk, id);
    trk.set(id, pr);
    if (cfg.voters.outgoing.has(id)) {
      cfg.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      cfg.learners.add(id);
    }
  }

  /**
   * Removes a node from the incoming voters and the learners. Its progress
   * stays while it is an outgoing voter.
   */
  #remove(cfg: TrackerConfig, trk: ProgressMap, id: NodeId): void {
    if (!trk.has(id)) return;
    cfg.voters.incoming.delete(id);
    cfg.learners.delete(id);
    cfg.learnersNext.delete(id);
    if (!cfg.voters.outgoing.has(id)) trk.delete(id);
  }

  /** Adds a new voter or learner, with a fresh progress. */
  #initProgress(cfg: TrackerConfig, trk: ProgressMap, id: NodeId, isLearner: boolean): void {
    if (!isLearner) cfg.voters.incoming.add(id);
    else cfg.learners.add(id);
    trk.set(
      id,
      new Progress({
        // Probe the new node from the leader's last index.
        match: 0,
        next: Math.max(this.lastIndex, 1),
        inflights: new Inflights(this.tracker.maxInflight, this.tracker.maxInflightBytes),
        isLearner,
        // A new node counts as active, so that CheckQuorum does not step the
        // leader down before the node could answer.
        recentActive: true,
      }),
    );
  }

  /** Copies the tracker's configuration and progress, checking their invariants. */
  #checkAndCopy(): ChangeResult {
    const cfg = this.tracker.config.clone();
    const trk = new ProgressMap();
    for (const [id, pr] of this.tracker.progress) trk.set(id, pr.clone());
    return checkAndReturn(cfg, trk);
  }
}

/**
 * Checks that a configuration and a progress map fit together.
 *
 * @returns An error message, or `undefined` when they do. The empty
 *   configuration is allowed, so that a first one can be built from it.
 */
function checkInvariants(cfg: TrackerConfig, trk: ProgressMap): string | undefined {
  for (const ids of [cfg.voters.ids(), cfg.learners, cfg.learnersNext]) {
    for (const id of ids) {
      if (!trk.has(id)) return `no progress for ${id}`;
    }
  }
  // A staged learner is staged because it is still an outgoing voter.
  for (const id of cfg.learnersNext) {
    if (!cfg.voters.outgoing.has(id)) return `${id} is in LearnersNext, but not Voters[1]`;
    if (trk.get(id)!.isLearner) {
      return `${id} is in LearnersNext, but is already marked as learner`;
    }
  }
  // Learners are not voters in either half.
  for (const id of cfg.learners) {
    if (cfg.voters.outgoing.has(id)) return `${id} is in Learners and Voters[1]`;
    if (cfg.voters.incoming.has(id)) return `${id} is in Learners and Voters[0]`;
    if (!trk.get(id)!.isLearner) return `${id} is in Learners, but is not marked as learner`;
  }
  if (!joint(cfg)) {
    // etcd also requires the outgoing half to be nil rather than empty here;
    // with sets, an empty outgoing half is the only representation.
    if (cfg.learnersNext.size > 0) return "cfg.LearnersNext must be nil when not joint";
    if (cfg.autoLeave) return "AutoLeave must be false when not joint";
  }
  return undefined;
}

function checkAndReturn(cfg: TrackerConfig, trk: ProgressMap): ChangeResult {
  const err = checkInvariants(cfg, trk);
  if (err !== undefined) throw new ConfChangeError(err);
  return { config: cfg, progress: trk };
}

/** Counts the IDs in exactly one of the two sets. */
function symdiff(l: ReadonlySet<NodeId>, r: ReadonlySet<NodeId>): number {
  let n = 0;
  for (const id of l) if (!r.has(id)) n++;
  for (const id of r) if (!l.has(id)) n++;
  return n;
}

function joint(cfg: TrackerConfig): boolean {
  return cfg.voters.outgoing.size > 0;
}
