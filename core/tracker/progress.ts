/**
 * A follower's replication progress, as the leader sees it. Ported from
 * etcd raft's `tracker/progress.go`.
 *
 * @module
 */

import { RaftInvariantError } from "../_assert.ts";
import type { Index, NodeId } from "../types.ts";
import type { Inflights } from "./inflights.ts";
import { ProgressState, progressStateNames } from "./state.ts";

/** The fields of a new {@linkcode Progress}; absent ones are zero or `false`. */
export interface ProgressInit {
  /**
   * See {@linkcode Progress.match}.
   * @default {0}
   */
  match?: Index;
  /**
   * See {@linkcode Progress.next}.
   * @default {0}
   */
  next?: Index;
  /**
   * See {@linkcode Progress.sentCommit}.
   * @default {0}
   */
  sentCommit?: Index;
  /**
   * See {@linkcode Progress.state}.
   * @default {ProgressState.StateProbe}
   */
  state?: ProgressState;
  /**
   * See {@linkcode Progress.pendingSnapshot}.
   * @default {0}
   */
  pendingSnapshot?: Index;
  /**
   * See {@linkcode Progress.recentActive}.
   * @default {false}
   */
  recentActive?: boolean;
  /**
   * See {@linkcode Progress.msgAppFlowPaused}.
   * @default {false}
   */
  msgAppFlowPaused?: boolean;
  /** The flow-control window. Required. */
  inflights: Inflights;
  /**
   * See {@linkcode Progress.isLearner}.
   * @default {false}
   */
  isLearner?: boolean;
}

/**
 * A follower's progress in the leader's view: what it holds, what was sent
 * to it, and how the leader replicates to it (etcd's `Progress`). Most
 * transitions are driven by `Raft`.
 *
 * @example Probing, then replicating
 * ```ts
 * import { Inflights, Progress } from "@raft-ts/raft";
 * const pr = new Progress({ match: 0, next: 5, inflights: new Inflights(256, 0) });
 * pr.maybeUpdate(4);
 * pr.becomeReplicate();
 * if (pr.toString() !== "StateReplicate match=4 next=5 inactive") throw new Error("unexpected");
 * ```
 */
export class Progress {
  /** The index up to which the follower's log is known to match the leader's. */
  match: Index;
  /**
   * The index of the next entry to send. Entries in (match, next) are in
   * flight. Invariant: `0 <= match < next`; in StateSnapshot,
   * `next === pendingSnapshot + 1`.
   */
  next: Index;
  /**
   * The highest commit index sent to the follower. Mostly monotonic, but
   * lowered on becoming a probe and on rejections. In StateSnapshot,
   * `sentCommit === pendingSnapshot === next - 1`.
   */
  sentCommit: Index;
  /** How the leader replicates to the follower. */
  state: ProgressState;
  /**
   * In StateSnapshot: the leader's last index when it decided a snapshot was
   * needed (the index of the MsgSnap it sent). 0 otherwise.
   */
  pendingSnapshot: Index;
  /**
   * Whether the follower was heard from recently (since the last CheckQuorum
   * round). Always true on the leader itself.
   */
  recentActive: boolean;
  /**
   * Whether the MsgApp flow is throttled: set after a probe in StateProbe, or
   * when the window is full in StateReplicate; cleared by a heartbeat
   * response or an acknowledgement. See {@linkcode Progress.isPaused}.
   */
  msgAppFlowPaused: boolean;
  /** The MsgApp messages in flight, bounded in count and bytes. */
  inflights: Inflights;
  /** Whether the follower is a learner. */
  isLearner: boolean;

  /**
   * Creates a progress.
   *
   * @param init The fields; only `inflights` is required.
   */
  constructor(init: ProgressInit) {
    this.match = init.match ?? 0;
    this.next = init.next ?? 0;
    this.sentCommit = init.sentCommit ?? 0;
    this.state = init.state ?? ProgressState.StateProbe;
    this.pendingSnapshot = init.pendingSnapshot ?? 0;
    this.recentActive = init.recentActive ?? false;
    this.msgAppFlowPaused = init.msgAppFlowPaused ?? false;
    this.inflights = init.inflights;
    this.isLearner = init.isLearner ?? false;
  }

  /**
   * Copies the progress, with its own copy of the in-flight window.
   *
   * @returns A progress that shares no mutable state with this one.
   */
  clone(): Progress {
    return new Progress({
      match: this.match,
      next: this.next,
      sentCommit: this.sentCommit,
      state: this.state,
      pendingSnapshot: this.pendingSnapshot,
      recentActive: this.recentActive,
      msgAppFlowPaused: this.msgAppFlowPaused,
      inflights: this.inflights.clone(),
      isLearner: this.isLearner,
    });
  }

  /**
   * Moves to a state, clearing the pause flag, the pending snapshot and the
   * in-flight window.
   *
   * @param state The new state.
   */
  resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /**
   * Moves to StateProbe. `next` becomes `match + 1`, or, coming from
   * StateSnapshot, the index after the pending snapshot if that is larger.
   */
  becomeProbe(): void {
    if (this.state === ProgressState.StateSnapshot) {
      // The snapshot was delivered: probe from just after it.
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState(ProgressState.StateProbe);
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState(ProgressState.StateProbe);
      this.next = this.match + 1;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
  }

  /** Moves to StateReplicate, with `next = match + 1`. */
  becomeReplicate(): void {
    this.resetState(ProgressState.StateReplicate);
    this.next = this.match + 1;
  }

  /**
   * Moves to StateSnapshot, waiting for the snapshot at `snapshoti`.
   *
   * @param snapshoti The index of the snapshot sent.
   */
  becomeSnapshot(snapshoti: Index): void {
    this.resetState(ProgressState.StateSnapshot);
    this.pendingSnapshot = snapshoti;
    this.next = snapshoti + 1;
    this.sentCommit = snapshoti;
  }

  /**
   * Records a MsgApp carrying `entries` consecutive entries from `next` on.
   * In StateReplicate, advances `next`, records the message in the window,
   * and pauses when the window is full; in StateProbe, a non-empty message
   * pauses the flow.
   *
   * @param entries The number of entries sent.
   * @param bytes Their total payload size.
   * @throws {RaftInvariantError} In StateSnapshot.
   */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case ProgressState.StateReplicate:
        if (entries > 0) {
          this.next += entries;
          this.inflights.add(this.next - 1, bytes);
        }
        // A message that fills the window, or is sent with a full window,
        // counts as a probe: pause the flow.
        this.msgAppFlowPaused = this.inflights.full();
        break;
      case ProgressState.StateProbe:
        if (entries > 0) this.msgAppFlowPaused = true;
        break;
      default:
        throw new RaftInvariantError(
          `sending append in unhandled state ${progressStateNames[this.state]}`,
        );
    }
  }

  /**
   * Tells whether sending a commit index could advance the follower's
   * commit index.
   *
   * @param index The commit index to send.
   * @returns `true` when `index` is above the commit index already sent, and
   *   that one did not already cover everything up to `next - 1`.
   */
  canBumpCommit(index: Index): boolean {
    return index > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /**
   * Records the commit index sent to the follower (etcd's `SentCommit`,
   * renamed because `sentCommit` is the field).
   *
   * @param commit The commit index sent.
   */
  setSentCommit(commit: Index): void {
    this.sentCommit = commit;
  }

  /**
   * Takes in an acknowledgement (MsgAppResp) of index `n`.
   *
   * @param n The index the follower acknowledged.
   * @returns `false` when `n` is stale (not above `match`); else updates
   *   `match`, raises `next` past it, unpauses, and returns `true`.
   */
  maybeUpdate(n: Index): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * Takes in a rejected MsgApp.
   *
   * @param rejected The index of the rejected append.
   * @param matchHint The follower's hint of where its log may match.
   * @returns `false` for a stale rejection (out of order or duplicated),
   *   leaving the progress as is; else lowers `next`, unpauses in
   *   StateProbe, and returns `true`.
   */
  maybeDecrTo(rejected: Index, matchHint: Index): boolean {
    if (this.state === ProgressState.StateReplicate) {
      // Stale if this index was already acknowledged.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      this.sentCommit = Math.min(this.sentCommit, this.next - 1);
      return true;
    }
    // Outside StateReplicate one entry is probed at a time: a rejection of
    // anything but next - 1 is stale.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * Tells whether sending entries to the follower is throttled: always in
   * StateSnapshot, and while `msgAppFlowPaused` in the other states.
   *
   * @returns `true` when throttled.
   * @throws {RaftInvariantError} On an unknown state.
   */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.StateProbe:
        return this.msgAppFlowPaused;
      case ProgressState.StateReplicate:
        return this.msgAppFlowPaused;
      case ProgressState.StateSnapshot:
        return true;
      default:
        throw new RaftInvariantError("unexpected state");
    }
  }

  /**
   * Formats the progress as etcd does (HARNESS.md §5.8).
   *
   * @returns For example
   *   `"StateSnapshot match=1 next=2 learner paused pendingSnap=123 inactive inflight=1[full]"`.
   */
  toString(): string {
    let buf = `${progressStateNames[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) buf += " learner";
    if (this.isPaused()) buf += " paused";
    if (this.pendingSnapshot > 0) buf += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) buf += " inactive";
    const n = this.inflights.count();
    if (n > 0) {
      buf += ` inflight=${n}`;
      if (this.inflights.full()) buf += "[full]";
    }
    return buf;
  }
}

/**
 * The progress of every tracked node, by ID (etcd's `ProgressMap`).
 *
 * Keeps a cached list of its IDs in ascending order for
 * {@linkcode ProgressMap.sortedIds}, rebuilt after an ID is added or removed.
 *
 * @example Formatting a progress map
 * ```ts
 * import { Inflights, Progress, ProgressMap } from "@raft-ts/raft";
 * const m = new ProgressMap();
 * m.set(2, new Progress({ next: 1, recentActive: true, inflights: new Inflights(10, 0) }));
 * m.set(1, new Progress({ next: 1, recentActive: true, inflights: new Inflights(10, 0) }));
 * if (m.toString() !== "1: StateProbe match=0 next=1\n2: StateProbe match=0 next=1\n") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export class ProgressMap extends Map<NodeId, Progress> {
  /** The keys in ascending order; `undefined` when stale. Never mutated once built. */
  #sortedIds: readonly NodeId[] | undefined = undefined;

  /**
   * Creates a progress map.
   *
   * @param entries Initial `[id, progress]` pairs.
   */
  constructor(entries?: Iterable<readonly [NodeId, Progress]>) {
    super();
    if (entries !== undefined) {
      for (const [id, pr] of entries) this.set(id, pr);
    }
  }

  /**
   * Sets the progress of a node.
   *
   * @param id The node.
   * @param pr Its progress.
   * @returns This map.
   */
  override set(id: NodeId, pr: Progress): this {
    if (this.#sortedIds !== undefined && !this.has(id)) this.#sortedIds = undefined;
    return super.set(id, pr);
  }

  /**
   * Removes the progress of a node.
   *
   * @param id The node.
   * @returns Whether it was present.
   */
  override delete(id: NodeId): boolean {
    const ok = super.delete(id);
    if (ok) this.#sortedIds = undefined;
    return ok;
  }

  /** Removes every entry. */
  override clear(): void {
    super.clear();
    this.#sortedIds = undefined;
  }

  /**
   * Lists the IDs in ascending order. The array is cached until an ID is
   * added or removed; callers must not modify it.
   *
   * @returns The IDs, ascending.
   */
  sortedIds(): readonly NodeId[] {
    if (this.#sortedIds === undefined) {
      this.#sortedIds = Array.from(this.keys()).sort((a, b) => a - b);
    }
    return this.#sortedIds;
  }

  /**
   * Formats the map as etcd does: one `<id>: <progress>` line per node, in
   * ascending ID order, each ending in a newline.
   *
   * @returns The lines; `""` for an empty map.
   */
  override toString(): string {
    let buf = "";
    for (const id of this.sortedIds()) buf += `${id}: ${this.get(id)}\n`;
    return buf;
  }
}
