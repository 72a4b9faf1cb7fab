/**
 * Membership changes as the driver means them: each change carries an
 * intent, checked when the change is proposed and again, on every node
 * alike, when it is applied; IDs removed from the cluster are never
 * admitted again. The set of removed IDs is replicated state (see
 * `replicated.ts`).
 *
 * @module
 */

import { ConfChangeError } from "../errors.ts";
import { type ConfChangeSingle, ConfChangeType, type ConfState, type NodeId } from "../types.ts";
import type { MembershipIntent } from "./envelope.ts";

export type { MembershipIntent } from "./envelope.ts";

/** Whether the configuration is joint (it has outgoing voters). */
export function isJoint(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0;
}

/** The Raft change type that carries each intent. */
export function changeTypeOf(intent: MembershipIntent): ConfChangeType {
  switch (intent) {
    case "addVoter":
    case "promote":
      return ConfChangeType.ConfChangeAddNode;
    case "addLearner":
    case "demote":
      return ConfChangeType.ConfChangeAddLearnerNode;
    case "remove":
      return ConfChangeType.ConfChangeRemoveNode;
  }
}

function isVoter(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.votersOutgoing.includes(id);
}

function isLearner(cs: ConfState, id: NodeId): boolean {
  return cs.learners.includes(id) || cs.learnersNext.includes(id);
}

/**
 * What a change of Raft's kind means against `cs`, for callers that give
 * Raft change types rather than intents: adding a learner as a voter
 * promotes it, adding a voter as a learner demotes it.
 *
 * @returns The intent; `undefined` for a change type that has none (update).
 */
export function intentOf(cs: ConfState, c: ConfChangeSingle): MembershipIntent | undefined {
  switch (c.type) {
    case ConfChangeType.ConfChangeAddNode:
      return isLearner(cs, c.nodeId) ? "promote" : "addVoter";
    case ConfChangeType.ConfChangeAddLearnerNode:
      return isVoter(cs, c.nodeId) ? "demote" : "addLearner";
    case ConfChangeType.ConfChangeRemoveNode:
      return "remove";
    default:
      return undefined;
  }
}

function removedError(id: NodeId): ConfChangeError {
  return new ConfChangeError(
    `Cannot add node ${id}: it was removed from the cluster, and a removed ID is never admitted again; give the new node a new ID`,
    "removed_id",
  );
}

function checkOne(
  cs: ConfState,
  removed: ReadonlySet<NodeId>,
  intent: MembershipIntent,
  id: NodeId,
): ConfChangeError | undefined {
  const voter = isVoter(cs, id);
  const learner = isLearner(cs, id);
  switch (intent) {
    case "addVoter":
    case "addLearner": {
      if (removed.has(id)) return removedError(id);
      if (!voter && !learner) return undefined;
      const as = intent === "addVoter" ? "a voter" : "a learner";
      const hint = intent === "addVoter" && learner ? " (promote it instead)" : "";
      return new ConfChangeError(
        `Cannot add node ${id} as ${as}: it is already ${voter ? "a voter" : "a learner"}${hint}`,
        "already_member",
      );
    }
    case "promote":
      if (learner) return undefined;
      return new ConfChangeError(
        `Cannot promote node ${id}: it is not a learner${
          voter ? " (it is a voter)" : removed.has(id) ? " (it was removed)" : ""
        }`,
        "not_learner",
      );
    case "demote":
      if (voter) return undefined;
      return new ConfChangeError(
        `Cannot demote node ${id}: it is not a voter${
          learner ? " (it is a learner)" : removed.has(id) ? " (it was removed)" : ""
        }`,
        "not_voter",
      );
    case "remove":
      if (voter || learner) return undefined;
      return new ConfChangeError(
        `Cannot remove node ${id}: it is not a member${
          removed.has(id) ? " (already removed)" : ""
        }`,
        "not_member",
      );
  }
}

/**
 * Checks that each change still means what it was proposed for, against
 * the configuration `cs` it would apply to and the IDs removed so far.
 * Changes proposed without intents (by a program that steps Raft's change
 * types directly) are held only to the rule that a removed ID is never
 * added again.
 *
 * @param cs The configuration the changes would apply to.
 * @param removed The IDs removed from the cluster.
 * @param changes The changes, in order.
 * @param intents One intent per change, or `undefined`.
 * @returns Why the changes are refused; `undefined` when they hold.
 */
export function checkIntents(
  cs: ConfState,
  removed: ReadonlySet<NodeId>,
  changes: readonly ConfChangeSingle[],
  intents: readonly MembershipIntent[] | undefined,
): ConfChangeError | undefined {
  if (intents !== undefined && intents.length !== changes.length) {
    return new ConfChangeError(
      `Cannot apply the membership change: it names ${changes.length} changes but carries ${intents.length} intents`,
    );
  }
  const seen = new Set<NodeId>();
  for (let k = 0; k < changes.length; k++) {
    const c = changes[k]!;
    if (seen.has(c.nodeId)) {
      return new ConfChangeError(
        `Cannot apply the membership change: it changes node ${c.nodeId} twice`,
      );
    }
    seen.add(c.nodeId);
    const intent = intents?.[k];
    if (intent === undefined) {
      const adds = c.type === ConfChangeType.ConfChangeAddNode ||
        c.type === ConfChangeType.ConfChangeAddLearnerNode;
      if (adds && removed.has(c.nodeId) && !isVoter(cs, c.nodeId) && !isLearner(cs, c.nodeId)) {
        return removedError(c.nodeId);
      }
      continue;
    }
    if (changeTypeOf(intent) !== c.type) {
      return new ConfChangeError(
        `Cannot apply the membership change: intent ${intent} does not match change type ${c.type} for node ${c.nodeId}`,
      );
    }
    const refused = checkOne(cs, removed, intent, c.nodeId);
    if (refused !== undefined) return refused;
  }
  return undefined;
}
