/**
 * Host-level traffic: what one host tells another about all the groups
 * they share, carried as pairs of the reserved group 0. Its `Message` is a
 * `MsgHeartbeat` from host to host (the host-level heartbeat); its
 * `context` holds the quiesce notices (a leader's last word before its
 * group rests), wake notices (a follower asking a resting leader to tick
 * again), and the groups' coalesced heartbeats and heartbeat responses.
 *
 * Encoding of the context: a version byte (1), then the number of quiesce
 * notices and, for each, its group, term, commit and last index; the
 * number of wake notices and their groups; the number of heartbeats and,
 * for each, its group, term and commit; the number of heartbeat responses
 * and, for each, its group and term. All varints. Nothing to say: no bytes.
 *
 * @module
 */

import { type Message, MessageType, newMessage } from "../types.ts";
import { pushVarint, readSafeVarint, type VarintCursor } from "../varint.ts";
import type { GroupId, HostId } from "./seams.ts";

/** The group ID of host-level traffic; no Raft group has it. */
export const hostGroupId = 0;

/** Notices in one host-level message at most (each kind); more is a bad frame. */
const noticesMax = 1 << 20;

const version = 1;

/** A leader's last word before its group rests: the state followers must agree with. */
export interface QuiesceNotice {
  readonly groupId: GroupId;
  readonly term: number;
  readonly commit: number;
  readonly lastIndex: number;
}

/** A group's heartbeat (`MsgHeartbeat` without context), folded into a host-level message. */
export interface CoalescedHeartbeat {
  readonly groupId: GroupId;
  readonly term: number;
  readonly commit: number;
}

/** A group's heartbeat response (`MsgHeartbeatResp` without context), folded likewise. */
export interface CoalescedResponse {
  readonly groupId: GroupId;
  readonly term: number;
}

/** What a host-level message says besides "alive". */
export interface HostNotices {
  /** Groups led by the sender that rest from now on. */
  readonly quiesce: readonly QuiesceNotice[];
  /** Groups whose replica on the receiver (their leader) should tick again. */
  readonly wake: readonly GroupId[];
  /** Heartbeats of groups led by the sender, to their replicas on the receiver. */
  readonly heartbeats: readonly CoalescedHeartbeat[];
  /** Responses to the receiver's heartbeats. */
  readonly responses: readonly CoalescedResponse[];
}

/** A host-level message that says nothing but "alive". */
export const noNotices: HostNotices = { quiesce: [], wake: [], heartbeats: [], responses: [] };

/**
 * A host-level heartbeat.
 *
 * @param from The sending host.
 * @param to The receiving host.
 * @param notices What it carries.
 * @returns The message.
 */
export function hostMessage(from: HostId, to: HostId, notices: HostNotices): Message {
  const out: number[] = [version];
  pushVarint(out, notices.quiesce.length);
  for (const n of notices.quiesce) {
    pushVarint(out, n.groupId);
    pushVarint(out, n.term);
    pushVarint(out, n.commit);
    pushVarint(out, n.lastIndex);
  }
  pushVarint(out, notices.wake.length);
  for (const g of notices.wake) pushVarint(out, g);
  pushVarint(out, notices.heartbeats.length);
  for (const hb of notices.heartbeats) {
    pushVarint(out, hb.groupId);
    pushVarint(out, hb.term);
    pushVarint(out, hb.commit);
  }
  pushVarint(out, notices.responses.length);
  for (const r of notices.responses) {
    pushVarint(out, r.groupId);
    pushVarint(out, r.term);
  }
  const empty = out.length === 5;
  return newMessage({
    type: MessageType.MsgHeartbeat,
    from,
    to,
    context: empty ? new Uint8Array(0) : new Uint8Array(out),
  });
}

/**
 * Reads the notices of a host-level message.
 *
 * @param m The message (of group 0).
 * @returns Its notices, or why they cannot be read.
 */
export function readHostNotices(m: Message): HostNotices | string {
  if (m.type !== MessageType.MsgHeartbeat) return `unknown host-level message type ${m.type}`;
  const b = m.context;
  if (b.length === 0) return noNotices;
  if (b[0] !== version) return `unknown host-level message version ${b[0]}`;
  const c: VarintCursor = { pos: 1 };
  const next = (): number => readSafeVarint(b, b.length, c);
  const nq = next();
  if (nq < 0 || nq > noticesMax) return "bad quiesce notice count";
  const quiesce: QuiesceNotice[] = [];
  for (let i = 0; i < nq; i++) {
    const groupId = next(), term = next(), commit = next(), lastIndex = next();
    if (groupId < 1 || term < 0 || commit < 0 || lastIndex < 0) return "bad quiesce notice";
    quiesce.push({ groupId, term, commit, lastIndex });
  }
  const nw = next();
  if (nw < 0 || nw > noticesMax) return "bad wake notice count";
  const wake: GroupId[] = [];
  for (let i = 0; i < nw; i++) {
    const g = next();
    if (g < 1) return "bad wake notice";
    wake.push(g);
  }
  const nh = next();
  if (nh < 0 || nh > noticesMax) return "bad heartbeat count";
  const heartbeats: CoalescedHeartbeat[] = [];
  for (let i = 0; i < nh; i++) {
    const groupId = next(), term = next(), commit = next();
    if (groupId < 1 || term < 0 || commit < 0) return "bad heartbeat";
    heartbeats.push({ groupId, term, commit });
  }
  const nr = next();
  if (nr < 0 || nr > noticesMax) return "bad heartbeat response count";
  const responses: CoalescedResponse[] = [];
  for (let i = 0; i < nr; i++) {
    const groupId = next(), term = next();
    if (groupId < 1 || term < 0) return "bad heartbeat response";
    responses.push({ groupId, term });
  }
  if (c.pos !== b.length) return "trailing bytes";
  return { quiesce, wake, heartbeats, responses };
}
