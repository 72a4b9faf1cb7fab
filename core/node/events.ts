/**
 * What the driver tells the application: its status
 * ({@linkcode RaftNodeStatus}, with the leader's replication progress) and
 * its events ({@linkcode RaftNodeEvents}), delivered by a small listener
 * registry.
 *
 * @module
 */

import type { Logger } from "../logger.ts";
import type { RawNode } from "../raw_node.ts";
import type { ConfChangeSingle, ConfState, Index, NodeId, StateType, Term } from "../types.ts";

/** A snapshot of the driver's state. */
export interface RaftNodeStatus {
  /** This node's ID. */
  id: NodeId;
  /** The leader this node knows of, or 0 (also once the node is closed). */
  leaderId: NodeId;
  /** This node's role (`StateFollower` once the node is closed: see `closed`). */
  raftState: StateType;
  /**
   * How long ago this node last heard from the leader it knows, in ms
   * (counted in ticks: a multiple of `tickMs`); 0 on the leader itself;
   * `undefined` when no leader is known. A follower that has not heard
   * from its leader for `electionTimeoutMs` has reason to think it gone.
   */
  leaderContactAgeMs: number | undefined;
  /** The election timeout, in ms (`electionTick` ticks of `tickMs`). */
  electionTimeoutMs: number;
  /** The current term. */
  term: Term;
  /** The vote in the current term, or 0. */
  vote: NodeId;
  /** The commit index. */
  commit: Index;
  /** The index of the last entry applied by this driver. */
  applied: Index;
  /** The index of the latest snapshot in storage. */
  snapshotIndex: Index;
  /** The membership as of `applied`. */
  confState: ConfState;
  /** Proposals and membership changes waiting for their outcome. */
  pendingProposals: number;
  /** Reads, transfers and leader waits waiting for their outcome. */
  pendingReads: number;
  /** Whether the node is closed. */
  closed: boolean;
  /**
   * The index of the last entry in this node's log, counting entries not
   * yet persisted: `commit <= lastIndex`. After `close()`, the value at
   * close.
   */
  lastIndex: Index;
  /**
   * On the leader, its replication progress for every member (itself
   * included), by ascending ID; empty on any other node, whose progress
   * records are not kept up to date.
   */
  progress: MemberProgress[];
}

/** How the leader replicates to a member (etcd's `ProgressState`, named). */
export type MemberProgressState = "probe" | "replicate" | "snapshot";

/**
 * The leader's view of one member's log, from its progress tracker (the
 * fields of etcd's `tracker.Progress`).
 */
export interface MemberProgress {
  /** The member's ID. */
  id: NodeId;
  /** The highest index known to match the leader's log: `match < next`. */
  match: Index;
  /** The index of the next entry the leader sends to the member. */
  next: Index;
  /**
   * `"probe"`: the member's last index is being looked for, one append at a
   * time; `"replicate"`: appends are streamed; `"snapshot"`: replication
   * waits for a snapshot the member needs.
   */
  state: MemberProgressState;
  /**
   * Whether the member was heard from recently. Set by each message from
   * it; reset once per election timeout only when `checkQuorum` is on.
   */
  recentActive: boolean;
  /** Whether the member is a learner. */
  isLearner: boolean;
  /** Whether sending entries to the member is throttled (always in `"snapshot"`). */
  paused: boolean;
  /** In `"snapshot"`, the index of the snapshot being sent; otherwise 0. */
  pendingSnapshot: Index;
  /** Appends sent to the member and not yet acknowledged: at most `maxInflightMsgs`. */
  inflight: number;
}

/** The events a node emits, by name, with their payloads. */
export interface RaftNodeEvents {
  /** The known leader changed (`leaderId` 0: none known). */
  leader: { leaderId: NodeId; term: Term };
  /** Entries up to `index` were applied. */
  applied: { index: Index };
  /** A membership change was applied. */
  membership: {
    confState: ConfState;
    changes: readonly ConfChangeSingle[];
    context: Uint8Array;
    index: Index;
  };
  /** A snapshot was taken and the log compacted. */
  snapshot: { index: Index };
  /**
   * The node stopped after a fatal error (storage or state machine
   * failed, or a broken invariant): it serves nothing more, and a `close`
   * event follows. A process should exit (or restart the node on its
   * storage) rather than keep running it.
   */
  fatal: { error: Error };
  /** The node closed; `error` is the fatal error, if any. */
  close: { error: Error | undefined };
}

/** The name of an event. */
export type RaftNodeEventName = keyof RaftNodeEvents;

const memberProgressStates: readonly MemberProgressState[] = ["probe", "replicate", "snapshot"];

/**
 * The leader's replication progress for every member, by ascending ID.
 *
 * @param rn The leader's RawNode.
 * @returns One fresh record per member.
 */
export function memberProgress(rn: RawNode): MemberProgress[] {
  const progress: MemberProgress[] = [];
  rn.withProgress((id, _typ, pr) => {
    progress.push({
      id,
      match: pr.match,
      next: pr.next,
      state: memberProgressStates[pr.state]!,
      recentActive: pr.recentActive,
      isLearner: pr.isLearner,
      paused: pr.isPaused(),
      pendingSnapshot: pr.pendingSnapshot,
      inflight: pr.inflights.count(),
    });
  });
  return progress;
}

type Listener<K extends RaftNodeEventName> = (event: RaftNodeEvents[K]) => void;

/** The listeners of a node's events, by event name. */
export class Listeners {
  readonly #id: NodeId;
  readonly #logger: Logger;
  readonly #listeners = new Map<RaftNodeEventName, Set<Listener<RaftNodeEventName>>>();

  /**
   * Creates an empty registry.
   *
   * @param id The node's ID, for log lines.
   * @param logger Where a throwing listener is logged.
   */
  constructor(id: NodeId, logger: Logger) {
    this.#id = id;
    this.#logger = logger;
  }

  /**
   * Subscribes to an event.
   *
   * @param event The event's name.
   * @param fn The listener.
   * @returns A function that unsubscribes.
   */
  on<K extends RaftNodeEventName>(event: K, fn: (e: RaftNodeEvents[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    const l = fn as Listener<RaftNodeEventName>;
    set.add(l);
    return (): void => {
      set.delete(l);
    };
  }

  /**
   * Calls the event's listeners, in the order they subscribed; a throwing
   * listener is logged and ignored.
   *
   * @param event The event's name.
   * @param payload The event.
   */
  emit<K extends RaftNodeEventName>(event: K, payload: RaftNodeEvents[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (e) {
        this.#logger.error(
          `${this.#id} ${event} listener threw: ${e instanceof Error ? e.message : e}`,
        );
      }
    }
  }

  /** Unsubscribes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
