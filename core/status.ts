/**
 * Snapshots of a Raft node's state for monitoring and debugging.
 *
 * @module
 */

import type { Raft } from "./raft.ts";
import type { Progress } from "./tracker/progress.ts";
import { progressStateNames } from "./tracker/state.ts";
import type { TrackerConfig } from "./tracker/tracker.ts";
import {
  type HardState,
  type Index,
  type NodeId,
  type SoftState,
  StateType,
  stateTypeNames,
} from "./types.ts";

/**
 * Basic information about a Raft node. Cheap to build: no maps are copied.
 * It holds the fields of the node's HardState (`term`, `vote`, `commit`) and
 * SoftState (`lead`, `raftState`), as etcd's embedded structs do.
 */
export interface BasicStatus extends HardState, SoftState {
  /** The node's ID. */
  id: NodeId;
  /** The applied index. */
  applied: Index;
  /** The target of a leadership transfer in progress, or 0 (None). */
  leadTransferee: NodeId;
}

/** A node's full status: the basics plus its configuration and, on a leader, every peer's progress. */
export interface Status extends BasicStatus {
  /** A copy of the active configuration. */
  config: TrackerConfig;
  /** Copies of the peers' progress, keyed by ID. Empty unless the node leads. */
  progress: Map<NodeId, Progress>;
}

/**
 * Reads a node's basic status (etcd's `getBasicStatus`).
 *
 * @param r The Raft node.
 * @returns A new BasicStatus.
 *
 * @example Usage
 * ```ts
 * import { rawNodeRaft, RawNode } from "./raw_node.ts";
 * import { MemoryStorage } from "@raft-ts/raft";
 * import { getBasicStatus } from "./status.ts";
 * const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });
 * if (getBasicStatus(rawNodeRaft(rn)).id !== 1) throw new Error("unexpected");
 * ```
 */
export function getBasicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    term: r.term,
    vote: r.vote,
    commit: r.raftLog.committed,
    lead: r.lead,
    raftState: r.state,
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
}

/**
 * Reads a node's full status (etcd's `getStatus`). Copies the progress map
 * (leaders only) and the configuration.
 *
 * @param r The Raft node.
 * @returns A new Status.
 *
 * @example Usage
 * ```ts
 * import { rawNodeRaft, RawNode } from "./raw_node.ts";
 * import { MemoryStorage } from "@raft-ts/raft";
 * import { getStatus } from "./status.ts";
 * const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });
 * if (getStatus(rawNodeRaft(rn)).progress.size !== 0) throw new Error("followers report no progress");
 * ```
 */
export function getStatus(r: Raft): Status {
  const basic = getBasicStatus(r);
  const progress = new Map<NodeId, Progress>();
  if (basic.raftState === StateType.StateLeader) {
    for (const id of r.trk.progress.sortedIds()) progress.set(id, r.trk.progress.get(id)!.clone());
  }
  return { ...basic, config: r.trk.config.clone(), progress };
}

/**
 * Renders a status as JSON in etcd's format (`Status.MarshalJSON`), with the
 * progress entries sorted by ID:
 * `{"id":"1","term":2,"vote":"1","commit":5,"lead":"1","raftState":"StateLeader","applied":5,"progress":{"1":{"match":5,"next":6,"state":"StateReplicate"}},"leadtransferee":"0"}`.
 * IDs are lowercase hex strings.
 *
 * @param s The status.
 * @returns The JSON text.
 *
 * @example Usage
 * ```ts
 * import { RawNode, MemoryStorage, statusToJSON } from "@raft-ts/raft";
 * const rn = new RawNode({ id: 10, electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });
 * const json = JSON.parse(statusToJSON(rn.status()));
 * if (json.id !== "a" || json.raftState !== "StateFollower") throw new Error("unexpected");
 * ```
 */
export function statusToJSON(s: Status): string {
  let j = `{"id":"${s.id.toString(16)}","term":${s.term},"vote":"${
    s.vote.toString(16)
  }","commit":${s.commit},"lead":"${s.lead.toString(16)}","raftState":"${
    stateTypeNames[s.raftState]
  }","applied":${s.applied},"progress":{`;
  const ids = [...s.progress.keys()].sort((a, b) => a - b);
  for (let i = 0; i < ids.length; i++) {
    const pr = s.progress.get(ids[i]!)!;
    if (i > 0) j += ",";
    j += `"${ids[i]!.toString(16)}":{"match":${pr.match},"next":${pr.next},"state":"${
      progressStateNames[pr.state]
    }"}`;
  }
  j += `},"leadtransferee":"${s.leadTransferee.toString(16)}"}`;
  return j;
}
