import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType, newMessage } from "../types.ts";
import { coalesceHeartbeats, expandHeartbeats } from "./coalesce.ts";
import { hostGroupId, hostMessage, noNotices, readHostNotices } from "./host_wire.ts";
import type { GroupMessage } from "./seams.ts";

const groups = Array.from({ length: 16 }, (_, i) => i + 1);

/** What host 1's groups send in one turn: a heartbeat per group to hosts 2 and 3, and more. */
function turnOfHost1(): GroupMessage[] {
  const batch: GroupMessage[] = [];
  for (const to of [2, 3]) {
    for (const g of groups) {
      batch.push({
        groupId: g,
        message: newMessage({
          type: MessageType.MsgHeartbeat,
          from: 1,
          to,
          term: g,
          commit: 10 * g,
        }),
      });
    }
  }
  batch.push(
    { groupId: 5, message: newMessage({ type: MessageType.MsgApp, from: 1, to: 2, term: 5 }) },
    {
      groupId: 6,
      message: newMessage({
        type: MessageType.MsgHeartbeat,
        from: 1,
        to: 2,
        term: 6,
        context: new Uint8Array([7]),
      }),
    },
    {
      groupId: 7,
      message: newMessage({ type: MessageType.MsgHeartbeatResp, from: 1, to: 3, term: 2 }),
    },
    { groupId: hostGroupId, message: hostMessage(1, 2, { ...noNotices, wake: [9] }) },
  );
  return batch;
}

test("coalesceHeartbeats() folds one turn's heartbeats into one host-level message per peer host", () => {
  const { batch, folded } = coalesceHeartbeats(1, turnOfHost1());
  assert.equal(folded, 33);
  // The append and the ReadIndex heartbeat (with a context) go as they are.
  assert.deepEqual(
    batch.map((p) => [p.groupId, p.message.type, p.message.to]),
    [
      [5, MessageType.MsgApp, 2],
      [6, MessageType.MsgHeartbeat, 2],
      [hostGroupId, MessageType.MsgHeartbeat, 2],
      [hostGroupId, MessageType.MsgHeartbeat, 3],
    ],
  );
  const to2 = readHostNotices(batch[2]!.message);
  assert.ok(typeof to2 !== "string");
  assert.deepEqual(to2.wake, [9], "merged with the host-level message already there");
  assert.deepEqual(to2.heartbeats, groups.map((g) => ({ groupId: g, term: g, commit: 10 * g })));
  const to3 = readHostNotices(batch[3]!.message);
  assert.ok(typeof to3 !== "string");
  assert.equal(to3.heartbeats.length, 16);
  assert.deepEqual(to3.responses, [{ groupId: 7, term: 2 }]);
});

test("expandHeartbeats() gives each group the heartbeat its leader sent", () => {
  const { batch } = coalesceHeartbeats(1, turnOfHost1());
  const notices = readHostNotices(batch[3]!.message);
  assert.ok(typeof notices !== "string");
  const expanded = expandHeartbeats(1, 3, notices);
  const sent = turnOfHost1().filter((p) =>
    p.message.to === 3 && p.groupId !== hostGroupId && p.message.context.length === 0
  );
  assert.deepEqual(expanded, sent);
});

test("coalesceHeartbeats() leaves a batch without heartbeats as it is", () => {
  const batch: GroupMessage[] = [
    { groupId: 1, message: newMessage({ type: MessageType.MsgApp, from: 1, to: 2 }) },
  ];
  const c = coalesceHeartbeats(1, batch);
  assert.equal(c.batch, batch);
  assert.equal(c.folded, 0);
});
