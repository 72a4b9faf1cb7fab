/**
 * Typed errors for expected outcomes. Each carries a literal `code` and the
 * message etcd raft uses for the same condition.
 *
 * @module
 */

import { type NodeId, None } from "./types.ts";

/** Codes of the errors raft-ts throws for expected outcomes. */
export type RaftErrorCode =
  | "compacted"
  | "snap_out_of_date"
  | "unavailable"
  | "snapshot_temporarily_unavailable"
  | "proposal_dropped"
  | "step_local_msg"
  | "step_peer_not_found"
  | "conf_change"
  | NodeErrorCode
  | SessionErrorCode;

/** Codes of the errors the driver (`RaftNode`) rejects requests with. */
export type NodeErrorCode =
  | "not_leader"
  | "timeout"
  | "node_closed"
  | "busy"
  | "leader_changed"
  | "paused"
  | "group_not_found";

/** Base class of the errors raft-ts throws for expected outcomes. */
export class RaftError extends Error {
  /** Literal code for programmatic checks. */
  readonly code: RaftErrorCode;
  /**
   * Creates the error.
   *
   * @param code The error's code.
   * @param message The error's message.
   * @param options The error's cause, if any.
   */
  constructor(code: RaftErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RaftError";
    this.code = code;
  }
}

/** The requested index is older than the first index kept in storage. */
export class CompactedError extends RaftError {
  /** Creates the error with etcd's message. */
  constructor() {
    super("compacted", "requested index is unavailable due to compaction");
    this.name = "CompactedError";
  }
}

/** The snapshot is older than the one already stored. */
export class SnapOutOfDateError extends RaftError {
  /** Creates the error with etcd's message. */
  constructor() {
    super("snap_out_of_date", "requested index is older than the existing snapshot");
    this.name = "SnapOutOfDateError";
  }
}

/** The requested entry is past the last index in storage. */
export class UnavailableError extends RaftError {
  /** Creates the error with etcd's message. */
  constructor() {
    super("unavailable", "requested entry at index is unavailable");
    this.name = "UnavailableError";
  }
}

/** The storage cannot produce a snapshot right now; Raft retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  /** Creates the error with etcd's message. */
  constructor() {
    super("snapshot_temporarily_unavailable", "snapshot is temporarily unavailable");
    this.name = "SnapshotTemporarilyUnavailableError";
  }
}

/** A proposal was dropped (no leader, leadership transfer, size limit, ...). */
export class ProposalDroppedError extends RaftError {
  /** Creates the error with etcd's message. */
  constructor() {
    super("proposal_dropped", "raft proposal dropped");
    this.name = "ProposalDroppedError";
  }
}

/** A local message type was handed to `RawNode.step()`. */
export class StepLocalMsgError extends RaftError {
  /** Creates the error with etcd's message. */
  constructor() {
    super("step_local_msg", "raft: cannot step raft local message");
    this.name = "StepLocalMsgError";
  }
}

/** A response arrived from a node that is not in the configuration. */
export class StepPeerNotFoundError extends RaftError {
  /** Creates the error with etcd's message. */
  constructor() {
    super("step_peer_not_found", "raft: cannot step as peer not found");
    this.name = "StepPeerNotFoundError";
  }
}

/**
 * Why a membership change was refused:
 * - `invalid`: Raft cannot apply it to the configuration (for example it
 *   removes the last voter, or changes voters while in a joint configuration);
 * - `already_member`: it adds a node that is already a voter or a learner;
 * - `not_member`: it removes a node that is not a member;
 * - `not_learner`: it promotes a node that is not a learner;
 * - `not_voter`: it demotes a node that is not a voter;
 * - `removed_id`: it adds a node ID that was removed from the cluster (a
 *   removed ID is never admitted again: the new node needs a new ID);
 * - `unreachable`: it adds a voter the transport has no address for.
 */
export type ConfChangeRefusal =
  | "invalid"
  | "already_member"
  | "not_member"
  | "not_learner"
  | "not_voter"
  | "removed_id"
  | "unreachable";

/**
 * Why an exactly-once command was refused (it was not applied by this
 * attempt):
 * - `session_expired`: its client session expired or was evicted; an
 *   earlier attempt may have applied (open a new session);
 * - `session_stale`: it applied already and the client acknowledged its
 *   result (or the result was not kept across a restart), so the result
 *   cannot be returned again;
 * - `session_busy`: the session holds too many unacknowledged results;
 * - `key_reused`: its idempotency key names another request.
 */
export type SessionErrorCode = "session_expired" | "session_stale" | "session_busy" | "key_reused";

/** An exactly-once command was refused; see {@linkcode SessionErrorCode}. */
export class SessionError extends RaftError {
  /** Why the command was refused. */
  declare readonly code: SessionErrorCode;
  /**
   * Creates the error.
   *
   * @param code Why.
   * @param message The explanation.
   */
  constructor(code: SessionErrorCode, message: string) {
    super(code, message);
    this.name = "SessionError";
  }
}

/** A membership change cannot be applied to the current configuration. */
export class ConfChangeError extends RaftError {
  /** Why the change was refused. */
  readonly reason: ConfChangeRefusal;

  /**
   * Creates the error.
   *
   * @param message Why the change cannot be applied.
   * @param reason The refusal's kind.
   */
  constructor(message: string, reason: ConfChangeRefusal = "invalid") {
    super("conf_change", message);
    this.name = "ConfChangeError";
    this.reason = reason;
  }
}

/** Base class of the driver's errors. Each carries a literal `code`. */
export class NodeError extends RaftError {
  /** Literal code for programmatic checks. */
  declare readonly code: NodeErrorCode;
  /**
   * Creates a driver error.
   *
   * @param code The error's code.
   * @param message The error's message.
   * @param options The error's cause, if any.
   */
  constructor(code: NodeErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "NodeError";
  }
}

/** The request needs the leader and this node is not it. */
export class NotLeaderError extends NodeError {
  /** The leader this node knows of, or `0` (None) when it knows none. */
  readonly leaderId: NodeId;
  /**
   * Creates the error.
   *
   * @param nodeId This node's ID.
   * @param leaderId The known leader, or `0`.
   */
  constructor(nodeId: NodeId, leaderId: NodeId) {
    super(
      "not_leader",
      `Cannot serve the request: node ${nodeId} is not the leader (${
        leaderId === None ? "no leader known" : `leader is ${leaderId}`
      })`,
    );
    this.name = "NotLeaderError";
    this.leaderId = leaderId;
  }
}

/**
 * The request did not complete in time. For proposals and membership
 * changes the outcome is unknown: the entry may still be applied later.
 */
export class TimeoutError extends NodeError {
  /**
   * Creates the error.
   *
   * @param what The request that timed out.
   * @param timeoutMs Its timeout.
   */
  constructor(what: string, timeoutMs: number) {
    super("timeout", `Cannot complete ${what}: timed out after ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

/** The node is closed (by `close()`, or by a fatal error, then in `cause`). */
export class NodeClosedError extends NodeError {
  /**
   * Creates the error.
   *
   * @param nodeId The node's ID.
   * @param cause The fatal error that closed the node, if any.
   */
  constructor(nodeId: NodeId, cause?: unknown) {
    super(
      "node_closed",
      cause === undefined
        ? `Cannot serve the request: node ${nodeId} is closed`
        : `Cannot serve the request: node ${nodeId} is closed after a fatal error: ${
          cause instanceof Error ? cause.message : String(cause)
        }`,
      cause === undefined ? undefined : { cause },
    );
    this.name = "NodeClosedError";
  }
}

/**
 * The leader changed, or stopped answering, while a request waited on it.
 * For a proposal or membership change forwarded to that leader the outcome
 * is unknown, as after a timeout: it may still be applied. Retry through
 * the current leader (with a client session, a retry cannot apply twice).
 */
export class LeaderChangedError extends NodeError {
  /**
   * Creates the error.
   *
   * @param what The request.
   * @param previous The leader it was sent to.
   */
  constructor(what: string, previous: NodeId) {
    super(
      "leader_changed",
      `Cannot complete ${what}: leader ${previous} changed or stopped answering while it was in flight; the outcome is unknown`,
    );
    this.name = "LeaderChangedError";
  }
}

/**
 * The node noticed it had been paused (a stopped process, a long GC or VM
 * stall) for longer than its election timeout while it led: requests that
 * waited meanwhile were not applied and are answered with this error, as
 * the cluster may have a new leader. Retry.
 */
export class PausedError extends NodeError {
  /**
   * Creates the error.
   *
   * @param what The request.
   * @param nodeId The node.
   * @param pausedMs How long it was paused.
   */
  constructor(what: string, nodeId: NodeId, pausedMs: number) {
    super(
      "paused",
      `Cannot complete ${what}: node ${nodeId} was paused for ${
        Math.round(pausedMs)
      } ms, longer than its election timeout, and may no longer lead; it was not applied, retry`,
    );
    this.name = "PausedError";
  }
}

/** Too many requests of this kind are pending; try again later. */
export class BusyError extends NodeError {
  /**
   * Creates the error.
   *
   * @param what The kind of request.
   * @param limit The limit that was reached.
   */
  constructor(what: string, limit: number) {
    super("busy", `Cannot accept the ${what}: ${limit} already pending`);
    this.name = "BusyError";
  }
}

/** A host (`RaftHost`) was asked for a group it does not run. */
export class GroupNotFoundError extends NodeError {
  /** The group asked for. */
  readonly groupId: number;
  /**
   * Creates the error.
   *
   * @param hostId The host's ID.
   * @param groupId The group asked for.
   */
  constructor(hostId: NodeId, groupId: number) {
    super("group_not_found", `Cannot find group ${groupId}: host ${hostId} does not run it`);
    this.name = "GroupNotFoundError";
    this.groupId = groupId;
  }
}
