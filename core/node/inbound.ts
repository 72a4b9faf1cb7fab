/**
 * What the driver checks in a message from a peer before Raft sees it.
 *
 * Raft trusts its members; the transport admits only members. These checks
 * keep a malformed or out-of-range message, from a member with a bug or a
 * compromised one, from stopping a node or becoming durable: a refused
 * message is dropped, as if the network had lost it, which Raft tolerates
 * by design. The rules:
 *
 * - **Terms far ahead are refused.** A message whose term is more than
 *   `termAheadMax` (2^20) above the node's own is dropped. Honest terms
 *   grow by one per election; a gap of a million elections between
 *   members does not happen (with PreVote, terms do not even grow during a
 *   partition), so no honest message is dropped, while one forged message
 *   can no longer push every node to a term that leaves no room for the
 *   next election. A node at term 0 (a new member) takes the cluster's
 *   term from its first message, whatever it is.
 * - **Commit indexes stay within the log.** A heartbeat whose commit index
 *   is past the node's last index is dropped (a leader only sends commit
 *   indexes the follower holds; Raft would stop the node on it).
 * - **Appends are contiguous.** A `MsgApp` whose entries do not follow its
 *   index one by one, or whose entry terms go down or past the message's
 *   term, is dropped.
 * - **Entries are the driver's.** Every command entry carries the driver's
 *   envelope, every membership change decodes: in appends and in forwarded
 *   proposals alike, so that nothing is committed that a node could not
 *   apply. A forwarded proposal holds at least one entry.
 * - **Snapshots carry the driver's header** (removed members, sessions) and
 *   a membership.
 *
 * @module
 */

import { decodeConfChange, decodeConfChangeV2 } from "../codec.ts";
import {
  type Entry,
  EntryType,
  type Index,
  type Message,
  MessageType,
  type Term,
} from "../types.ts";
import { readEnvelope } from "./envelope.ts";
import { decodeSnapshotData } from "./replicated.ts";

/** How far above a node's own term a message's term may be. */
export const termAheadMax = 2 ** 20;

/** What the checks need to know of the node. */
export interface InboundView {
  /** The node's current term. */
  term: Term;
  /** The node's last log index. */
  lastIndex: Index;
}

/** Why an entry cannot be applied by the driver; `undefined` when it can. */
export function checkEntry(e: Entry): string | undefined {
  switch (e.type) {
    case EntryType.EntryNormal:
      // Raft's own empty entries have no data; every proposal has an envelope.
      if (e.data.length > 0 && readEnvelope(e.data) === undefined) {
        return `entry ${e.index} has no driver envelope`;
      }
      return undefined;
    case EntryType.EntryConfChange:
    case EntryType.EntryConfChangeV2:
      try {
        if (e.type === EntryType.EntryConfChange) decodeConfChange(e.data);
        else decodeConfChangeV2(e.data);
      } catch (err) {
        return `entry ${e.index} holds no valid membership change (${
          err instanceof Error ? err.message : err
        })`;
      }
      return undefined;
    default:
      return `entry ${e.index} has unknown type ${e.type}`;
  }
}

function checkEntries(entries: readonly Entry[]): string | undefined {
  for (const e of entries) {
    const bad = checkEntry(e);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/**
 * Checks a message from a peer against the rules of this module.
 *
 * @param m The message, as decoded from the wire.
 * @param view The node's term and last index.
 * @returns Why the message must be dropped; `undefined` when it may be stepped.
 */
export function checkPeerMessage(m: Message, view: InboundView): string | undefined {
  if (view.term > 0 && m.term > view.term + termAheadMax) {
    return `its term ${m.term} is more than ${termAheadMax} above this node's term ${view.term}`;
  }
  switch (m.type) {
    case MessageType.MsgHeartbeat:
      if (m.commit > view.lastIndex) {
        return `its commit index ${m.commit} is past this node's last index ${view.lastIndex}`;
      }
      return undefined;
    case MessageType.MsgApp: {
      let prevTerm = m.logTerm;
      for (let k = 0; k < m.entries.length; k++) {
        const e = m.entries[k]!;
        if (e.index !== m.index + 1 + k) {
          return `entry ${k} has index ${e.index}, not ${m.index + 1 + k}`;
        }
        if (e.term < prevTerm || e.term > m.term) {
          return `entry ${e.index} has term ${e.term}, outside ${prevTerm}..${m.term}`;
        }
        prevTerm = e.term;
      }
      return checkEntries(m.entries);
    }
    case MessageType.MsgProp:
      if (m.entries.length === 0) return "it proposes no entry";
      return checkEntries(m.entries);
    case MessageType.MsgSnap: {
      const s = m.snapshot;
      if (s === undefined || s.metadata.index === 0) return "it holds no snapshot";
      if (s.metadata.confState.voters.length === 0) return "its snapshot has no voters";
      if (s.metadata.term > m.term) {
        return `its snapshot's term ${s.metadata.term} is past the message's term ${m.term}`;
      }
      try {
        decodeSnapshotData(s.data);
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
      return undefined;
    }
    default:
      return undefined;
  }
}
