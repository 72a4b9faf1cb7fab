/**
 * A fast message constructor for the hot paths of the core. Every message
 * it builds has the same shape (field order) as `newMessage`'s, so property
 * accesses stay monomorphic, and it avoids reading an options object of a
 * different shape at each call site.
 *
 * @module
 */

import type { Entry, Index, Message, MessageType, NodeId, Term } from "./types.ts";
import { emptyBytes } from "./types.ts";

/**
 * Builds a message with the common fields; the others take their defaults.
 *
 * @param type The message type.
 * @param from The sender (0 lets `Raft.send` fill it in).
 * @param to The recipient.
 * @param term The term (0 lets `Raft.send` fill it in where it should).
 * @param logTerm The log term.
 * @param index The index.
 * @param entries The entries, or `undefined` for none (a new empty array).
 * @param commit The commit index.
 * @returns The message.
 */
export function makeMessage(
  type: MessageType,
  from: NodeId,
  to: NodeId,
  term: Term,
  logTerm: Term,
  index: Index,
  entries: Entry[] | undefined,
  commit: Index,
): Message {
  return {
    type,
    to,
    from,
    term,
    logTerm,
    index,
    entries: entries ?? [],
    commit,
    vote: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: emptyBytes,
    responses: [],
  };
}
