/**
 * The leader's view of the cluster: the active configuration, the progress
 * of every node, and the votes of an election. Ported from etcd raft's
 * `tracker/tracker.go`.
 *
 * @module
 */

import { JointConfig } from "../quorum/joint.ts";
import { formatIdSet, MajorityConfig } from "../quorum/majority.ts";
import { type AckedIndexer, VoteResult } from "../quorum/quorum.ts";
import type { ConfState, Index, NodeId } from "../types.ts";
import { type Progress, ProgressMap } from "./progress.ts";

/** The fields of a new {@linkcode TrackerConfig}; absent ones are empty. */
export interface TrackerConfigInit {
  /**
   * See {@linkcode TrackerConfig.voters}.
   * @default {new JointConfig()}
   */
  voters?: JointConfig;
  /**
   * See {@linkcode TrackerConfig.autoLeave}.
   * @default {false}
   */
  autoLeave?: boolean;
  /**
   * See {@linkcode TrackerConfig.learners}.
   * @default {new Set()}
   */
  learners?: Set<NodeId>;
  /**
   * See {@linkcode TrackerConfig.learnersNext}.
   * @default {new Set()}
   */
  learnersNext?: Set<NodeId>;
}

function sortedIds(ids: Iterable<NodeId>): NodeId[] {
  return Array.from(ids).sort((a, b) => a - b);
}

/**
 * A membership configuration: voters (joint while a change is under way)
 * and learners (etcd's `tracker.Config`).
 *
 * @example Formatting a joint configuration
 * ```ts
 * import { JointConfig, MajorityConfig, TrackerConfig } from "@raft-ts/raft";
 * const c = new TrackerConfig({
 *   voters: new JointConfig(new MajorityConfig([3]), new MajorityConfig([1])),
 *   learners: new Set([2]),
 *   learnersNext: new Set([1]),
 *   autoLeave: true,
 * });
 * if (c.toString() !== "voters=(3)&&(1) learners=(2) learners_next=(1) autoleave") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export class TrackerConfig {
  /** The voters; `voters.outgoing` is non-empty only in a joint configuration. */
  voters: JointConfig;
  /**
   * Whether Raft leaves the joint configuration on its own as soon as it
   * can. False unless the configuration is joint.
   */
  autoLeave: boolean;
  /**
   * The learners. Invariant: no learner is a voter in either half of
   * `voters`, so every node has exactly one role.
   */
  learners: Set<NodeId>;
  /**
   * Voters of the outgoing config that become learners when the joint
   * configuration is left. A demoted voter cannot be a learner at once, as
   * it is still an outgoing voter; it is staged here instead. Learners that
   * are not outgoing voters are added to `learners` directly. Empty unless
   * the configuration is joint.
   */
  learnersNext: Set<NodeId>;

  /**
   * Creates a configuration.
   *
   * @param init The fields; absent ones are empty.
   */
  constructor(init: TrackerConfigInit = {}) {
    this.voters = init.voters ?? new JointConfig();
    this.autoLeave = init.autoLeave ?? false;
    this.learners = init.learners ?? new Set();
    this.learnersNext = init.learnersNext ?? new Set();
  }

  /**
   * Formats the configuration as etcd does (HARNESS.md §5.7).
   *
   * @returns For example `"voters=(1 2 3)&&(1) learners=(4) autoleave"`.
   */
  toString(): string {
    let buf = `voters=${this.voters}`;
    if (this.learners.size > 0) buf += ` learners=${formatIdSet(this.learners)}`;
    if (this.learnersNext.size > 0) buf += ` learners_next=${formatIdSet(this.learnersNext)}`;
    if (this.autoLeave) buf += " autoleave";
    return buf;
  }

  /**
   * Copies the configuration.
   *
   * @returns A configuration that shares no memory with this one.
   */
  clone(): TrackerConfig {
    return new TrackerConfig({
      voters: new JointConfig(
        new MajorityConfig(this.voters.incoming),
        new MajorityConfig(this.voters.outgoing),
      ),
      autoLeave: this.autoLeave,
      learners: new Set(this.learners),
      learnersNext: new Set(this.learnersNext),
    });
  }
}

/**
 * Tracks the active configuration and what is known about each node in it,
 * in particular the index each one has acknowledged, from which the
 * committed index follows (etcd's `ProgressTracker`).
 *
 * @example A single voter commits what it holds
 * ```ts
 * import { Inflights, Progress } from "@raft-ts/raft";
 * import { newProgressTracker } from "./tracker.ts";
 * const trk = newProgressTracker(256, 0);
 * trk.config.voters.incoming.add(1);
 * trk.progress.set(1, new Progress({ match: 7, next: 8, inflights: new Inflights(256, 0) }));
 * if (!trk.isSingleton() || trk.committed() !== 7) throw new Error("unexpected");
 * ```
 */
export class ProgressTracker {
  /** The active configuration. */
  config: TrackerConfig;
  /** The progress of every voter and learner of `config`. */
  progress: ProgressMap;
  /** The votes received in the current election, by voter. */
  votes: Map<NodeId, boolean>;
  /** The most MsgApp messages in flight per follower. */
  maxInflight: number;
  /** The most bytes in flight per follower; 0 means no limit. */
  maxInflightBytes: number;
  /** Reads `match` of the current progress map. */
  readonly #matchAckIndexer: AckedIndexer;

  /**
   * Creates a tracker with an empty configuration.
   *
   * @param maxInflight The most MsgApp messages in flight per follower.
   * @param maxInflightBytes The most bytes in flight per follower; 0 means no limit.
   */
  constructor(maxInflight: number, maxInflightBytes: number) {
    this.maxInflight = maxInflight;
    this.maxInflightBytes = maxInflightBytes;
    this.config = new TrackerConfig();
    this.progress = new ProgressMap();
    this.votes = new Map();
    this.#matchAckIndexer = {
      ackedIndex: (id: NodeId): Index | undefined => this.progress.get(id)?.match,
    };
  }

  /**
   * Describes the active configuration.
   *
   * @returns A new ConfState with sorted ID lists.
   */
  confState(): ConfState {
    return {
      voters: this.config.voters.incoming.slice(),
      learners: sortedIds(this.config.learners),
      votersOutgoing: this.config.voters.outgoing.slice(),
      learnersNext: sortedIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  /**
   * Tells whether there is exactly one voter (and the config is not joint).
   *
   * @returns `true` for a single-voter configuration.
   */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  /**
   * Computes the highest index acknowledged by a quorum of the voters.
   *
   * @returns The committed index; `Infinity` when there are no voters.
   */
  committed(): Index {
    return this.config.voters.committedIndex(this.#matchAckIndexer);
  }

  /**
   * Calls `f` for every tracked node, in ascending ID order.
   *
   * @param f Called with each ID and its progress.
   */
  visit(f: (id: NodeId, pr: Progress) => void): void {
    const ids = this.progress.sortedIds();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const pr = this.progress.get(id);
      if (pr !== undefined) f(id, pr);
    }
  }

  /**
   * Tells whether a quorum of the voters has been recently active, from this
   * node's point of view.
   *
   * @returns `true` when the recently active voters win a vote.
   */
  quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>();
    this.visit((id, pr) => {
      if (pr.isLearner) return;
      votes.set(id, pr.recentActive);
    });
    return this.config.voters.voteResult(votes) === VoteResult.VoteWon;
  }

  /**
   * Lists the voters of both halves.
   *
   * @returns A new array of voter IDs, ascending.
   */
  voterNodes(): NodeId[] {
    return sortedIds(this.config.voters.ids());
  }

  /**
   * Lists the learners.
   *
   * @returns A new array of learner IDs, ascending.
   */
  learnerNodes(): NodeId[] {
    return sortedIds(this.config.learners);
  }

  /** Forgets the votes, for a new election. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /**
   * Records a vote; only the first vote of each node counts.
   *
   * @param id The voter.
   * @param v Whether it granted its vote.
   */
  recordVote(id: NodeId, v: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, v);
  }

  /**
   * Counts the votes of the current voters and learns the election's outcome.
   *
   * @returns The votes granted and rejected by tracked non-learners, and the
   *   election's result.
   */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.voteResult() };
  }

  /**
   * Learns the election's outcome from the votes recorded so far.
   *
   * @returns The result of the recorded votes in the active configuration.
   */
  voteResult(): VoteResult {
    return this.config.voters.voteResult(this.votes);
  }
}

/**
 * Creates a tracker with an empty configuration (etcd's `MakeProgressTracker`).
 *
 * @param maxInflight The most MsgApp messages in flight per follower.
 * @param maxBytes The most bytes in flight per follower; 0 means no limit.
 * @returns The tracker.
 *
 * @example Creating a tracker
 * ```ts
 * import { newProgressTracker } from "./tracker.ts";
 * const trk = newProgressTracker(256, 0);
 * if (trk.config.toString() !== "voters=()") throw new Error("unexpected");
 * ```
 */
export function newProgressTracker(maxInflight: number, maxBytes: number): ProgressTracker {
  return new ProgressTracker(maxInflight, maxBytes);
}
