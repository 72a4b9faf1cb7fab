/**
 * Small helpers shared by the core: message classes and entry sizes.
 *
 * @module
 */

import {
  type Entry,
  LocalAppendThread,
  LocalApplyThread,
  MessageType,
  type NodeId,
} from "./types.ts";
import { assert } from "./_assert.ts";
import { varintSize } from "./varint.ts";

const localMsgs: boolean[] = [];
for (
  const t of [
    MessageType.MsgHup,
    MessageType.MsgBeat,
    MessageType.MsgUnreachable,
    MessageType.MsgSnapStatus,
    MessageType.MsgCheckQuorum,
    MessageType.MsgStorageAppend,
    MessageType.MsgStorageAppendResp,
    MessageType.MsgStorageApply,
    MessageType.MsgStorageApplyResp,
  ]
) localMsgs[t] = true;

const responseMsgs: boolean[] = [];
for (
  const t of [
    MessageType.MsgAppResp,
    MessageType.MsgVoteResp,
    MessageType.MsgHeartbeatResp,
    MessageType.MsgUnreachable,
    MessageType.MsgReadIndexResp,
    MessageType.MsgPreVoteResp,
    MessageType.MsgStorageAppendResp,
    MessageType.MsgStorageApplyResp,
  ]
) responseMsgs[t] = true;

/**
 * Tells whether a message type is local to a node (never sent over the network).
 *
 * @param t The message type.
 * @returns `true` for MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus,
 *   MsgCheckQuorum and the MsgStorage* types.
 */
export function isLocalMsg(t: MessageType): boolean {
  return localMsgs[t] === true;
}

/**
 * Tells whether a message type is a response.
 *
 * @param t The message type.
 * @returns `true` for response types.
 */
export function isResponseMsg(t: MessageType): boolean {
  return responseMsgs[t] === true;
}

/**
 * Tells whether an ID names a local storage thread.
 *
 * @param id The target ID.
 * @returns `true` for `LocalAppendThread` and `LocalApplyThread`.
 */
export function isLocalMsgTarget(id: NodeId): boolean {
  return id === LocalAppendThread || id === LocalApplyThread;
}

/**
 * The response type of a vote request type.
 *
 * @param t MsgVote or MsgPreVote.
 * @returns MsgVoteResp or MsgPreVoteResp.
 */
export function voteRespMsgType(t: MessageType): MessageType {
  switch (t) {
    case MessageType.MsgVote:
      return MessageType.MsgVoteResp;
    case MessageType.MsgPreVote:
      return MessageType.MsgPreVoteResp;
    default:
      throw new RangeError(`Cannot answer a vote: not a vote message type ${t}`);
  }
}

/**
 * The protobuf-encoded size of an entry, as the codec writes it: term and
 * index always, type when not EntryNormal, data when non-empty. Size limits
 * (`maxSizePerMsg`, `maxCommittedSizePerReady`) count this.
 *
 * @param e The entry.
 * @returns Its encoded size in bytes.
 */
export function entrySize(e: Entry): number {
  let n = 2 + varintSize(e.term) + varintSize(e.index);
  if (e.type !== 0) n += 1 + varintSize(e.type);
  const len = e.data.length;
  if (len > 0) n += 1 + varintSize(len) + len;
  return n;
}

/**
 * The total encoded size of entries.
 *
 * @param ents The entries.
 * @returns The sum of `entrySize`.
 */
export function entsSize(ents: readonly Entry[]): number {
  let n = 0;
  for (let i = 0; i < ents.length; i++) n += entrySize(ents[i]!);
  return n;
}

/**
 * The longest prefix of `ents` whose encoded size is at most `maxSize`,
 * but never fewer than one entry (when `ents` is non-empty).
 *
 * @param ents The entries.
 * @param maxSize The byte limit.
 * @returns `ents` itself when it fits, else a prefix of it.
 */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySize(ents[0]!);
  let limit = 1;
  for (; limit < ents.length; limit++) {
    size += entrySize(ents[limit]!);
    if (size > maxSize) break;
  }
  return limit === ents.length ? ents : ents.slice(0, limit);
}

/**
 * The payload size of an entry: the length of its data. The uncommitted
 * size and in-flight byte limits count this.
 *
 * @param e The entry.
 * @returns `e.data.length`.
 */
export function payloadSize(e: Entry): number {
  return e.data.length;
}

/**
 * The total payload size of entries.
 *
 * @param ents The entries.
 * @returns The sum of `payloadSize`.
 */
export function payloadsSize(ents: readonly Entry[]): number {
  let n = 0;
  for (let i = 0; i < ents.length; i++) n += ents[i]!.data.length;
  return n;
}

/**
 * Appends `vals` to `dst`, always returning a new array so that callers
 * holding `dst` never see the appended entries.
 *
 * @param dst The first part.
 * @param vals The entries to append.
 * @returns A new array with both.
 */
export function extend(dst: readonly Entry[], vals: readonly Entry[]): Entry[] {
  const out = new Array<Entry>(dst.length + vals.length);
  let i = 0;
  for (; i < dst.length; i++) out[i] = dst[i]!;
  for (let j = 0; j < vals.length; j++) out[i + j] = vals[j]!;
  return out;
}

/**
 * Asserts that a list of entries has consecutive indexes.
 *
 * @param ents The entries.
 * @throws {RaftInvariantError} When an index is not the previous one plus one.
 */
export function assertContiguous(ents: readonly Entry[]): void {
  for (let i = 1; i < ents.length; i++) {
    if (ents[i]!.index !== ents[i - 1]!.index + 1) {
      assert(
        false,
        `entries not contiguous: index ${ents[i - 1]!.index} followed by ${ents[i]!.index}`,
      );
    }
  }
}

/**
 * Joins byte arrays into one.
 *
 * @param chunks The chunks, in order.
 * @param n Their total length.
 * @returns The bytes (the only chunk itself when there is one).
 */
export function joinBytes(chunks: readonly Uint8Array[], n: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
