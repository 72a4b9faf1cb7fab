import { test } from "node:test";
import assert from "node:assert/strict";
import { isLocalMessage, parseDeliverMsgs, splitMsgs } from "./recipients.ts";
import { DataDrivenError, parseDirective, type TestData } from "../datadriven.ts";
import {
  LocalAppendThread,
  LocalApplyThread,
  type Message,
  MessageType,
  newMessage,
} from "../../../core/types.ts";

function directive(line: string): TestData {
  const { cmd, cmdArgs } = parseDirective(line);
  return { pos: "test:1", cmd, cmdArgs, input: "", expected: "" };
}

function msg(from: number, to: number, type: MessageType = MessageType.MsgApp): Message {
  return newMessage({ type, from, to, term: 1 });
}

test("isLocalMessage() is true for self-addressed and storage-thread messages", () => {
  assert.equal(isLocalMessage(msg(1, 1, MessageType.MsgAppResp)), true);
  assert.equal(isLocalMessage(msg(1, LocalAppendThread, MessageType.MsgStorageAppend)), true);
  assert.equal(isLocalMessage(msg(LocalApplyThread, 1, MessageType.MsgStorageApplyResp)), true);
  assert.equal(isLocalMessage(msg(1, 2)), false);
});

test("splitMsgs() takes the recipient's messages in order and keeps the rest in order", () => {
  const a = msg(1, 2);
  const b = msg(1, 3);
  const c = msg(3, 2, MessageType.MsgAppResp);
  const d = msg(1, 3, MessageType.MsgHeartbeat);
  const { selected, rest } = splitMsgs([a, b, c, d], 2, undefined, false);
  assert.deepEqual(selected, [a, c]);
  assert.equal(selected[0], a);
  assert.deepEqual(rest, [b, d]);
});

test("splitMsgs() filters by type", () => {
  const a = msg(1, 3, MessageType.MsgApp);
  const b = msg(1, 3, MessageType.MsgHeartbeat);
  const { selected, rest } = splitMsgs([a, b], 3, MessageType.MsgHeartbeat, false);
  assert.deepEqual(selected, [b]);
  assert.deepEqual(rest, [a]);
});

test("splitMsgs() never selects local messages for dropping", () => {
  const self = msg(2, 2, MessageType.MsgAppResp);
  const thread = msg(LocalAppendThread, 2, MessageType.MsgStorageAppendResp);
  const remote = msg(1, 2);
  const dropped = splitMsgs([self, thread, remote], 2, undefined, true);
  assert.deepEqual(dropped.selected, [remote]);
  assert.deepEqual(dropped.rest, [self, thread]);
  const delivered = splitMsgs([self, thread, remote], 2, undefined, false);
  assert.deepEqual(delivered.selected, [self, thread, remote]);
});

test("parseDeliverMsgs() keeps delivers and drops in the order written", () => {
  const r = parseDeliverMsgs(directive("deliver-msgs 1 drop=(3,4, 5) 2"));
  assert.deepEqual(r.recipients, [
    { id: 1, drop: false },
    { id: 3, drop: true },
    { id: 4, drop: true },
    { id: 5, drop: true },
    { id: 2, drop: false },
  ]);
  assert.equal(r.type, undefined);
});

test("parseDeliverMsgs() treats drop=3 like drop=(3)", () => {
  assert.deepEqual(
    parseDeliverMsgs(directive("deliver-msgs drop=3")).recipients,
    parseDeliverMsgs(directive("deliver-msgs drop=(3)")).recipients,
  );
});

test("parseDeliverMsgs() reads the type filter and ignores other keys", () => {
  const r = parseDeliverMsgs(directive("deliver-msgs 3 type=MsgApp foo=bar"));
  assert.deepEqual(r.recipients, [{ id: 3, drop: false }]);
  assert.equal(r.type, MessageType.MsgApp);
});

test("parseDeliverMsgs() rejects a drop of an ID listed earlier, but not the reverse", () => {
  assert.throws(() => parseDeliverMsgs(directive("deliver-msgs 1 drop=1")), DataDrivenError);
  assert.throws(() => parseDeliverMsgs(directive("deliver-msgs drop=(2,2)")), DataDrivenError);
  assert.deepEqual(parseDeliverMsgs(directive("deliver-msgs drop=1 1")).recipients, [
    { id: 1, drop: true },
    { id: 1, drop: false },
  ]);
});

test("parseDeliverMsgs() rejects unknown types and malformed IDs", () => {
  assert.throws(
    () => parseDeliverMsgs(directive("deliver-msgs 1 type=MsgFoo")),
    /unknown message type/,
  );
  assert.throws(() => parseDeliverMsgs(directive("deliver-msgs x")), DataDrivenError);
  assert.throws(() => parseDeliverMsgs(directive("deliver-msgs drop=-1")), DataDrivenError);
});
