/**
 * The JSON bodies of the status routes (`GET /raft/status`,
 * `GET /raft/cluster`, the member lists), and how they are built from the
 * node's status.
 *
 * @module
 */

import type { MemberProgress, MemberProgressState } from "../../core/node.ts";
import type { ConfState, NodeId } from "../../core/types.ts";
import { type AppContext, memberIds } from "./_context.ts";
import { roleName } from "./metrics.ts";

/**
 * The leader's view of one member's log, as `GET /raft/status` reports it:
 * the node's {@linkcode MemberProgress} without the ID, plus when the
 * member was last heard from.
 */
export interface MemberProgressJson {
  /** The highest index known to match the leader's log. */
  match: number;
  /** The index of the next entry the leader sends it: `match < next`. */
  next: number;
  /** `"probe"`, `"replicate"` or `"snapshot"`: how the leader replicates to it. */
  state: MemberProgressState;
  /** The leader's `recentActive` flag for it (Raft's own activity tracking). */
  recentActive: boolean;
  /** Whether it is a learner. */
  isLearner: boolean;
  /** Whether sending entries to it is throttled. */
  paused: boolean;
  /** The index of the snapshot being sent to it, or 0. */
  pendingSnapshot: number;
  /** Appends sent to it and not yet acknowledged. */
  inflight: number;
  /**
   * Milliseconds since it was last heard from (`null`: never, self, or no
   * transport monitor).
   */
  lastHeardMsAgo: number | null;
  /**
   * Whether it was heard from recently: within `activeWindowMs` with a
   * transport monitor, else the leader's `recentActive`; always for self.
   */
  active: boolean;
}

/** One member, as `GET /raft/status` reports it. */
export interface MemberStatusJson {
  /** The member's ID. */
  id: NodeId;
  /** `"voter"` or `"learner"`. */
  role: "voter" | "learner";
  /** Whether it is a voter of the outgoing configuration (joint consensus). */
  outgoing: boolean;
  /** Its HTTP API URL, when known. */
  apiUrl: string | null;
  /** Its peer URL, when known. */
  peerUrl: string | null;
  /** Whether it is the node that answered. */
  self: boolean;
  /** Whether the answering node sees it as the leader. */
  leader: boolean;
  /** The leader's view of its log; `null` unless the answering node leads. */
  progress: MemberProgressJson | null;
}

/** The body of `GET /raft/status`. */
export interface RaftStatusJson {
  /** The answering node's ID. */
  id: NodeId;
  /** Its HTTP API URL, when known. */
  apiUrl: string | null;
  /** `"follower"`, `"candidate"`, `"pre-candidate"` or `"leader"`. */
  role: string;
  /** The current term. */
  term: number;
  /** The vote in the current term (0: none). */
  vote: NodeId;
  /** The known leader (0: none). */
  leaderId: NodeId;
  /** The leader's HTTP API URL, when known. */
  leaderUrl: string | null;
  /** The commit index. */
  commit: number;
  /** The applied index. */
  applied: number;
  /** The index of the last entry in the answering node's log. */
  lastIndex: number;
  /** The latest snapshot's index. */
  snapshotIndex: number;
  /** Whether the configuration is joint. */
  joint: boolean;
  /** The members, by ascending ID. */
  members: MemberStatusJson[];
  /** Proposals and membership changes in flight. */
  pendingProposals: number;
  /** Reads, transfers and leader waits in flight. */
  pendingReads: number;
  /** Whether the node is closed. */
  closed: boolean;
  /** Whether the node is cut off from its peers (demo partition). */
  isolated: boolean;
}

/** One node in `GET /raft/cluster`. */
export interface ClusterNodeJson {
  /** The member's ID. */
  id: NodeId;
  /** Its HTTP API URL, when known. */
  apiUrl: string | null;
  /** Its status, or `null` when it could not be reached. */
  status: RaftStatusJson | null;
  /** Why it could not be reached. */
  error: string | null;
}

/** The body of `GET /raft/cluster`. */
export interface ClusterJson {
  /** The answering node. */
  self: NodeId;
  /** Every member, by ascending ID. */
  nodes: ClusterNodeJson[];
}

function progressJson(ctx: AppContext, p: MemberProgress, t: number): MemberProgressJson {
  const json: MemberProgressJson = {
    match: p.match,
    next: p.next,
    state: p.state,
    recentActive: p.recentActive,
    isLearner: p.isLearner,
    paused: p.paused,
    pendingSnapshot: p.pendingSnapshot,
    inflight: p.inflight,
    lastHeardMsAgo: null,
    active: p.recentActive,
  };
  if (p.id === ctx.node.id) json.active = true;
  else if (ctx.monitor !== undefined) {
    const heard = ctx.monitor.peer(p.id)?.lastReceivedAt;
    json.lastHeardMsAgo = heard === undefined ? null : Math.max(0, t - heard);
    json.active = json.lastHeardMsAgo !== null && json.lastHeardMsAgo <= ctx.activeWindowMs;
  }
  return json;
}

function roleIn(cs: ConfState, id: NodeId): "voter" | "learner" {
  const voter = cs.voters.includes(id) ||
    (cs.votersOutgoing.includes(id) && !cs.learners.includes(id) &&
      !cs.learnersNext.includes(id));
  return voter ? "voter" : "learner";
}

/** The body of `GET /raft/status` for the app's node. */
export function statusJson(ctx: AppContext): RaftStatusJson {
  const { node, directory } = ctx;
  const st = node.status();
  const cs = st.confState;
  const t = ctx.now();
  // Empty unless this node leads; sorted by ID, like memberIds(cs).
  const progressById = new Map(st.progress.map((p) => [p.id, p]));
  const members: MemberStatusJson[] = memberIds(cs).map((id) => {
    const a = directory.get(id) ?? {};
    const p = progressById.get(id);
    return {
      id,
      role: roleIn(cs, id),
      outgoing: cs.votersOutgoing.includes(id),
      apiUrl: a.apiUrl ?? null,
      peerUrl: a.peerUrl ?? null,
      self: id === node.id,
      leader: id === st.leaderId,
      progress: p === undefined ? null : progressJson(ctx, p, t),
    };
  });
  return {
    id: node.id,
    apiUrl: directory.get(node.id)?.apiUrl ?? null,
    role: st.closed ? "stopped" : roleName(st.raftState),
    term: st.term,
    vote: st.vote,
    leaderId: st.leaderId,
    leaderUrl: st.leaderId === 0 ? null : directory.get(st.leaderId)?.apiUrl ?? null,
    commit: st.commit,
    applied: st.applied,
    lastIndex: st.lastIndex,
    snapshotIndex: st.snapshotIndex,
    joint: cs.votersOutgoing.length > 0,
    members,
    pendingProposals: st.pendingProposals,
    pendingReads: st.pendingReads,
    closed: st.closed,
    isolated: ctx.monitor?.isolated ?? false,
  };
}

/** The members as the membership routes answer them after a change. */
export function memberView(
  ctx: AppContext,
  cs: ConfState,
): { id: NodeId; role: string; apiUrl: string | null }[] {
  return memberIds(cs).map((id) => ({
    id,
    role: cs.learners.includes(id) ? "learner" : "voter",
    apiUrl: ctx.directory.get(id)?.apiUrl ?? null,
  }));
}
