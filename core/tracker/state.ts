/**
 * The replication states a leader tracks for each follower. Ported from
 * etcd raft's `tracker/state.go`.
 *
 * @module
 */

/** How the leader replicates to a follower. */
export const ProgressState = {
  /**
   * The follower's last index is unknown: the leader sends at most one
   * append per heartbeat interval to find it.
   */
  StateProbe: 0,
  /** The steady state: the leader streams appends to the follower. */
  StateReplicate: 1,
  /**
   * The follower needs entries the leader no longer has: replication waits
   * for a snapshot.
   */
  StateSnapshot: 2,
} as const;
/** How the leader replicates to a follower. */
export type ProgressState = typeof ProgressState[keyof typeof ProgressState];

/**
 * Names of the states, indexed by value (`"StateReplicate"` for 1).
 *
 * @example Naming a state
 * ```ts
 * import { ProgressState, progressStateNames } from "./state.ts";
 * if (progressStateNames[ProgressState.StateSnapshot] !== "StateSnapshot") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export const progressStateNames: readonly string[] = Object.keys(ProgressState);
