/**
 * The {@linkcode HostedNode} type: a `RaftNode` run by a host (`RaftHost`)
 * among many groups, ticked by the host and let rest when idle.
 *
 * @module
 */

import type { RawNode } from "../raw_node.ts";
import type { ConfState, NodeId } from "../types.ts";
import type { RaftNode } from "./raft_node.ts";

/** A node started for a host: the node, the tick its host calls instead of a timer, and what lets it rest. */
export interface HostedNode<R> {
  /** The node (its own timer never runs). */
  readonly node: RaftNode<R>;
  /** One Raft tick, as the node's own timer would give it; a no-op once it is closed. */
  tick(): void;
  /** The node's Raft state, for the host to read (never to step or tick). */
  readonly rawNode: RawNode;
  /** The membership as applied. */
  confState(): ConfState;
  /** Whether `id` was removed from the group (its messages are dropped unread). */
  wasRemoved(id: NodeId): boolean;
  /** Whether no request waits on this node (proposal, read, membership change, transfer). */
  idle(): boolean;
  /**
   * Ticks again after a rest (quiescence): the election clock restarts
   * (`RawNode.resetElectionClock`) and a leader holds lease-based reads
   * until CheckQuorum ran on what it heard since.
   */
  wake(forgetLeader: boolean): void;
}
