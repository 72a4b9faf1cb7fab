/**
 * Coalesced heartbeats: the heartbeats and heartbeat responses the groups
 * of a host send to one peer host in one turn leave folded into one
 * host-level message (group 0), and are expanded on receipt into each
 * group's own message with the term and commit its leader gave it. A
 * heartbeat with a context (a ReadIndex round) is sent as it is.
 *
 * @module
 */

import { assert } from "../_assert.ts";
import { type Message, MessageType, newMessage } from "../types.ts";
import {
  type CoalescedHeartbeat,
  type CoalescedResponse,
  hostGroupId,
  hostMessage,
  type HostNotices,
  noNotices,
  readHostNotices,
} from "./host_wire.ts";
import type { GroupMessage, HostId } from "./seams.ts";

/** Whether a group's message can be folded into a host-level message. */
function foldable(m: Message): boolean {
  return (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgHeartbeatResp) &&
    m.context.length === 0;
}

/**
 * Folds the heartbeats and responses of a batch into one host-level
 * message per destination host (merged with the host-level message to
 * that host already in the batch, if any).
 *
 * @param hostId The sending host.
 * @param batch The pairs of one turn.
 * @returns The batch to send, and how many group messages were folded.
 */
export function coalesceHeartbeats(
  hostId: HostId,
  batch: GroupMessage[],
): { batch: GroupMessage[]; folded: number } {
  let byHost: Map<HostId, { hb: CoalescedHeartbeat[]; resp: CoalescedResponse[] }> | undefined;
  let folded = 0;
  const out: GroupMessage[] = [];
  /** Where the last host-level message to each host sits in `out`. */
  const hostAt = new Map<HostId, number>();
  for (const p of batch) {
    const m = p.message;
    if (p.groupId !== hostGroupId && foldable(m)) {
      byHost ??= new Map();
      let e = byHost.get(m.to);
      if (e === undefined) byHost.set(m.to, e = { hb: [], resp: [] });
      if (m.type === MessageType.MsgHeartbeat) {
        e.hb.push({ groupId: p.groupId, term: m.term, commit: m.commit });
      } else e.resp.push({ groupId: p.groupId, term: m.term });
      folded++;
      continue;
    }
    if (p.groupId === hostGroupId) hostAt.set(m.to, out.length);
    out.push(p);
  }
  if (byHost === undefined) return { batch, folded: 0 };
  for (const [to, e] of byHost) {
    const at = hostAt.get(to);
    let base: HostNotices = noNotices;
    if (at !== undefined) {
      const read = readHostNotices(out[at]!.message);
      assert(typeof read !== "string", "a host-level message of this host reads back");
      base = read as HostNotices;
    }
    const message = hostMessage(hostId, to, {
      ...base,
      heartbeats: [...base.heartbeats, ...e.hb],
      responses: [...base.responses, ...e.resp],
    });
    if (at === undefined) out.push({ groupId: hostGroupId, message });
    else out[at] = { groupId: hostGroupId, message };
  }
  return { batch: out, folded };
}

/**
 * Expands the coalesced heartbeats and responses of a host-level message
 * into each group's own message.
 *
 * @param from The sending host.
 * @param to This host.
 * @param notices The message's notices.
 * @returns The groups' messages.
 */
export function expandHeartbeats(from: HostId, to: HostId, notices: HostNotices): GroupMessage[] {
  const out: GroupMessage[] = [];
  for (const hb of notices.heartbeats) {
    out.push({
      groupId: hb.groupId,
      message: newMessage({
        type: MessageType.MsgHeartbeat,
        from,
        to,
        term: hb.term,
        commit: hb.commit,
      }),
    });
  }
  for (const r of notices.responses) {
    out.push({
      groupId: r.groupId,
      message: newMessage({ type: MessageType.MsgHeartbeatResp, from, to, term: r.term }),
    });
  }
  return out;
}
