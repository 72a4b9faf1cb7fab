/**
 * Shared quorum vocabulary: vote outcomes, and the lookup of the log index
 * each voter has acknowledged. Ported from etcd raft's `quorum` package.
 *
 * @module
 */

import type { Index, NodeId } from "../types.ts";

/** The outcome of a vote, as seen by a majority or joint quorum. */
export const VoteResult = {
  /** Neither "yes" nor "no" has reached a quorum yet: more votes decide. */
  VotePending: 1,
  /** A quorum has voted "no" (or can no longer vote "yes"). */
  VoteLost: 2,
  /** A quorum has voted "yes". */
  VoteWon: 3,
} as const;
/** The outcome of a vote, as seen by a majority or joint quorum. */
export type VoteResult = typeof VoteResult[keyof typeof VoteResult];

const voteResultNames: readonly string[] = ["", "VotePending", "VoteLost", "VoteWon"];

/**
 * Names a vote result the way etcd prints it.
 *
 * @param r The vote result.
 * @returns `"VotePending"`, `"VoteLost"` or `"VoteWon"`; `"VoteResult(<n>)"` for
 *   any other value.
 *
 * @example Naming a result
 * ```ts
 * import { VoteResult, voteResultToString } from "./quorum.ts";
 * if (voteResultToString(VoteResult.VoteWon) !== "VoteWon") throw new Error("unexpected");
 * ```
 */
export function voteResultToString(r: VoteResult): string {
  return voteResultNames[r] ?? `VoteResult(${r})`;
}

/**
 * Looks up the log index a voter has acknowledged.
 *
 * Implementations must not compute a committed index themselves: the
 * quorum code reuses one scratch buffer while it queries them.
 */
export interface AckedIndexer {
  /**
   * Looks up the index a voter has acknowledged.
   *
   * @param voterId The voter.
   * @returns The highest index the voter is known to hold, or `undefined`
   *   when nothing is known about it (which differs from index 0).
   */
  ackedIndex(voterId: NodeId): Index | undefined;
}

/**
 * An {@linkcode AckedIndexer} backed by a map from voter ID to acknowledged
 * index (etcd's `mapAckIndexer`).
 *
 * @example Looking up acknowledged indexes
 * ```ts
 * import { MapAckIndexer } from "@raft-ts/raft";
 * const l = new MapAckIndexer([[1, 10], [2, 7]]);
 * if (l.ackedIndex(2) !== 7 || l.ackedIndex(3) !== undefined) throw new Error("unexpected");
 * ```
 */
export class MapAckIndexer extends Map<NodeId, Index> implements AckedIndexer {
  /**
   * Looks up the index a voter has acknowledged.
   *
   * @param voterId The voter.
   * @returns Its acknowledged index, or `undefined` when absent.
   */
  ackedIndex(voterId: NodeId): Index | undefined {
    return this.get(voterId);
  }
}

/**
 * Formats a committed index, printing `∞` for the index of an empty
 * configuration (`Infinity`, etcd's 2^64−1).
 *
 * @param i The index.
 * @returns Its decimal form, or `"∞"`.
 *
 * @example Formatting indexes
 * ```ts
 * import { indexToString } from "./quorum.ts";
 * if (indexToString(12) !== "12" || indexToString(Infinity) !== "∞") throw new Error("unexpected");
 * ```
 */
export function indexToString(i: Index): string {
  return i === Infinity ? "∞" : String(i);
}
