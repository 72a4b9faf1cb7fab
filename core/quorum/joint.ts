/**
 * Joint quorums: two majority configs that must both agree, used while the
 * membership moves from one set of voters to another. Ported from etcd
 * raft's `quorum/joint.go`.
 *
 * @module
 */

import type { Index, NodeId } from "../types.ts";
import { MajorityConfig } from "./majority.ts";
import { type AckedIndexer, VoteResult } from "./quorum.ts";

/**
 * Two majority configs whose decisions need both (etcd's `JointConfig`;
 * `incoming` is etcd's `[0]`, `outgoing` its `[1]`). Outside joint
 * consensus `outgoing` is empty, and the config behaves like `incoming`.
 *
 * @example A joint committed index
 * ```ts
 * import { JointConfig, MajorityConfig, MapAckIndexer } from "@raft-ts/raft";
 * const c = new JointConfig(new MajorityConfig([1, 2, 3]), new MajorityConfig([3, 4, 5]));
 * const l = new MapAckIndexer([[1, 9], [2, 9], [3, 9], [4, 2], [5, 1]]);
 * if (c.committedIndex(l) !== 2) throw new Error("unexpected");
 * if (c.toString() !== "(1 2 3)&&(3 4 5)") throw new Error("unexpected");
 * ```
 */
export class JointConfig {
  /** The incoming (new) voters. Changes to voters are always made here. */
  incoming: MajorityConfig;
  /** The outgoing (old) voters; empty unless the config is joint. */
  outgoing: MajorityConfig;

  /**
   * Creates a joint config from its two halves.
   *
   * @param incoming The incoming voters (default: none).
   * @param outgoing The outgoing voters (default: none, i.e. not joint).
   */
  constructor(
    incoming: MajorityConfig = new MajorityConfig(),
    outgoing: MajorityConfig = new MajorityConfig(),
  ) {
    this.incoming = incoming;
    this.outgoing = outgoing;
  }

  /**
   * Formats the config as etcd does.
   *
   * @returns `"<incoming>&&<outgoing>"` when joint, else `"<incoming>"`.
   */
  toString(): string {
    if (this.outgoing.size > 0) return `${this.incoming}&&${this.outgoing}`;
    return this.incoming.toString();
  }

  /**
   * Lists the voters of both halves.
   *
   * @returns A new set holding the union of both halves.
   */
  ids(): Set<NodeId> {
    const m = new Set<NodeId>(this.incoming);
    for (const id of this.outgoing) m.add(id);
    return m;
  }

  /**
   * Draws the acknowledged indexes of the union of both halves (see
   * {@linkcode MajorityConfig.describe}).
   *
   * @param l The acknowledged indexes.
   * @returns The multi-line table.
   */
  describe(l: AckedIndexer): string {
    return new MajorityConfig(this.ids()).describe(l);
  }

  /**
   * Computes the highest index committed in both halves.
   *
   * @param l The acknowledged indexes.
   * @returns The smaller of the two halves' committed indexes (`Infinity`
   *   when both are empty).
   */
  committedIndex(l: AckedIndexer): Index {
    const idx0 = this.incoming.committedIndex(l);
    const idx1 = this.outgoing.committedIndex(l);
    return idx0 < idx1 ? idx0 : idx1;
  }

  /**
   * Tallies votes: the vote is won when both halves win, and lost as soon as
   * either half loses.
   *
   * @param votes Yes (`true`) or no (`false`) per voter.
   * @returns The combined result.
   */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes);
    const r2 = this.outgoing.voteResult(votes);
    if (r1 === r2) return r1;
    if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) return VoteResult.VoteLost;
    return VoteResult.VotePending;
  }
}
