import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType, newMessage } from "../types.ts";
import { hostMessage, noNotices, readHostNotices } from "./host_wire.ts";

test("hostMessage() carries quiesce and wake notices that readHostNotices() reads back", () => {
  const notices = {
    quiesce: [{ groupId: 7, term: 3, commit: 2 ** 40, lastIndex: 2 ** 40 }],
    wake: [1, 300],
    heartbeats: [{ groupId: 2, term: 5, commit: 9 }],
    responses: [{ groupId: 3, term: 4 }, { groupId: 4, term: 1 }],
  };
  const m = hostMessage(1, 2, notices);
  assert.equal(m.type, MessageType.MsgHeartbeat);
  assert.equal(m.from, 1);
  assert.equal(m.to, 2);
  assert.deepEqual(readHostNotices(m), notices);
  // A bare heartbeat carries no bytes.
  const bare = hostMessage(1, 2, noNotices);
  assert.equal(bare.context.length, 0);
  assert.deepEqual(readHostNotices(bare), noNotices);
});

test("readHostNotices() refuses a bad host-level message with a sentence", () => {
  const good = hostMessage(1, 2, {
    ...noNotices,
    quiesce: [{ groupId: 1, term: 1, commit: 1, lastIndex: 1 }],
  }).context;
  const cases: [string, Uint8Array, RegExp][] = [
    ["an unknown version", new Uint8Array([9, 0, 0]), /version 9/],
    ["a truncated notice", good.subarray(0, good.length - 4), /bad quiesce notice/],
    ["trailing bytes", new Uint8Array([...good, 0]), /trailing bytes/],
    ["group 0 in a wake notice", new Uint8Array([1, 0, 1, 0, 0, 0]), /bad wake notice/],
    ["group 0 in a heartbeat", new Uint8Array([1, 0, 0, 1, 0, 1, 1, 0]), /bad heartbeat$/],
  ];
  for (const [name, context, why] of cases) {
    const got = readHostNotices(newMessage({ type: MessageType.MsgHeartbeat, context }));
    assert.equal(typeof got, "string", name);
    assert.match(got as string, why, name);
  }
  assert.match(
    readHostNotices(newMessage({ type: MessageType.MsgApp })) as string,
    /unknown host-level message type/,
  );
});
