import { test } from "node:test";
import assert from "node:assert/strict";
import { JointConfig } from "./quorum/joint.ts";
import { MajorityConfig } from "./quorum/majority.ts";
import { ReadOnly } from "./read_only.ts";
import { MessageType, newMessage, ReadOnlyOption } from "./types.ts";

function req(n: number) {
  return newMessage({ type: MessageType.MsgReadIndex, from: n });
}

test("ReadOnly.heartbeatCtx() is empty with nothing queued", () => {
  const ro = new ReadOnly(ReadOnlyOption.ReadOnlySafe);
  assert.equal(ro.heartbeatCtx().length, 0);
});

test("ReadOnly.maybeAdvance() confirms reads once a quorum acknowledged them", () => {
  const ro = new ReadOnly(ReadOnlyOption.ReadOnlySafe);
  const voters = new JointConfig(new MajorityConfig([1, 2, 3]));
  ro.addRequest(10, req(1));
  const ctx1 = ro.heartbeatCtx();
  ro.addRequest(11, req(2));
  const ctx2 = ro.heartbeatCtx();
  assert.equal(ctx1.length, 8);
  assert.deepEqual([...ctx2], [2, 0, 0, 0, 0, 0, 0, 0]);

  ro.recvAck(1, ctx1);
  assert.deepEqual(ro.maybeAdvance(voters), []);
  ro.recvAck(2, ctx1);
  const first = ro.maybeAdvance(voters);
  assert.deepEqual(first.map((r) => r.index), [10]);
  ro.recvAck(3, ctx2);
  ro.recvAck(1, ctx2);
  assert.deepEqual(ro.maybeAdvance(voters).map((r) => r.index), [11]);
  assert.equal(ro.unconfirmedReads.length, 0);
  assert.equal(ro.confirmedReads, 2);
});

test("ReadOnly.recvAck() keeps the highest position and ignores empty contexts", () => {
  const ro = new ReadOnly(ReadOnlyOption.ReadOnlySafe);
  ro.addRequest(1, req(1));
  ro.addRequest(2, req(1));
  const high = ro.heartbeatCtx();
  ro.recvAck(2, high);
  ro.recvAck(2, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  ro.recvAck(3, new Uint8Array(0));
  assert.equal(ro.ackedIndex(2), 2);
  assert.equal(ro.ackedIndex(3), undefined);
});
