import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeMessageFrame } from "../../core/codec.ts";
import { MessageType, newConfState, newEntry, newMessage, newSnapshot } from "../../core/types.ts";
import {
  AckStatus,
  CloseCode,
  decodeWire,
  encodeGroupMessageFrame,
  encodeSnapshotAck,
  encodeSnapshotBegin,
  encodeSnapshotChunk,
  FrameKind,
  getUvarint,
  packMessages,
  WireError,
} from "./_wire.ts";
import { varintSize, writeVarint } from "../../core/varint.ts";

test("writeVarint() and getUvarint() round-trip up to the largest safe integer", () => {
  for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
    const buf = new Uint8Array(10);
    const end = writeVarint(buf, 0, v);
    assert.equal(end, varintSize(v));
    assert.deepEqual(getUvarint(buf, 0, "v"), [v, end]);
  }
  assert.throws(() => getUvarint(new Uint8Array([0x80]), 0, "v"), /truncated v/);
  assert.throws(() => getUvarint(new Uint8Array(11).fill(0xff), 0, "v"), /v out of range/);
});

test("packMessages() fits frames into as few WebSocket messages as the limit allows", () => {
  const frames = [10, 20, 30, 40].map((n) => new Uint8Array(n).fill(n));
  const one = packMessages(frames, 1000);
  assert.equal(one.length, 1);
  assert.equal(one[0]!.count, 4);
  assert.equal(one[0]!.data.length, 101);
  assert.equal(one[0]!.data[0], FrameKind.Messages);
  const split = packMessages(frames, 61);
  assert.deepEqual(split.map((f) => f.count), [3, 1]);
  // A frame above the limit still goes out, alone (the caller drops it).
  assert.deepEqual(packMessages([new Uint8Array(500)], 100).map((f) => f.count), [1]);
});

test("decodeWire() reads back batches, snapshot streams and acknowledgements", () => {
  const msgs = [
    newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 3 }),
    newMessage({
      type: MessageType.MsgApp,
      from: 1,
      to: 2,
      entries: [newEntry({ term: 3, index: 4, data: new Uint8Array([1, 2]) })],
    }),
  ];
  const [packed] = packMessages(msgs.map(encodeMessageFrame), 1 << 20);
  const batch = decodeWire(packed!.data, 1 << 20);
  assert.equal(batch.kind, FrameKind.Messages);
  if (batch.kind === FrameKind.Messages) {
    assert.deepEqual(batch.messages.map((m) => m.type), [
      MessageType.MsgHeartbeat,
      MessageType.MsgApp,
    ]);
    assert.deepEqual([...batch.messages[1]!.entries[0]!.data], [1, 2]);
  }

  const snap = newMessage({
    type: MessageType.MsgSnap,
    from: 1,
    to: 2,
    snapshot: newSnapshot({ index: 9, term: 2, confState: newConfState({ voters: [1, 2] }) }),
  });
  const begin = decodeWire(encodeSnapshotBegin(7, 300, snap), 1 << 20);
  assert.equal(begin.kind, FrameKind.SnapshotBegin);
  if (begin.kind === FrameKind.SnapshotBegin) {
    assert.deepEqual([begin.streamId, begin.dataBytes], [7, 300]);
    assert.equal(begin.message.snapshot?.metadata.index, 9);
  }
  const chunk = decodeWire(encodeSnapshotChunk(7, 256, new Uint8Array([5, 6, 7])), 1 << 20);
  assert.equal(chunk.kind, FrameKind.SnapshotChunk);
  if (chunk.kind === FrameKind.SnapshotChunk) {
    assert.deepEqual([chunk.streamId, chunk.offset, [...chunk.chunk]], [7, 256, [5, 6, 7]]);
  }
  assert.deepEqual(decodeWire(encodeSnapshotAck(7, AckStatus.Refused), 1 << 20), {
    kind: FrameKind.SnapshotAck,
    streamId: 7,
    status: AckStatus.Refused,
  });
});

test("decodeWire() refuses malformed input with the close code to use", () => {
  const hb = encodeMessageFrame(newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2 }));
  const withKind = (k: number, b: Uint8Array): Uint8Array => new Uint8Array([k, ...b]);
  const bigFrame = encodeMessageFrame(
    newMessage({ type: MessageType.MsgApp, entries: [newEntry({ data: new Uint8Array(100) })] }),
  );
  const cases: [string, Uint8Array, number, RegExp][] = [
    ["empty", new Uint8Array(0), CloseCode.InvalidPayload, /empty message/],
    ["empty batch", new Uint8Array([FrameKind.Messages]), CloseCode.InvalidPayload, /empty batch/],
    [
      "truncated frame",
      withKind(1, hb.subarray(0, hb.length - 1)),
      CloseCode.InvalidPayload,
      /truncated/,
    ],
    ["frame above the limit", withKind(1, bigFrame), CloseCode.TooBig, /oversized/],
    ["unknown kind", new Uint8Array([42]), CloseCode.InvalidPayload, /unknown frame kind 42/],
    [
      "ack with a bad status",
      new Uint8Array([FrameKind.SnapshotAck, 1, 9]),
      CloseCode.InvalidPayload,
      /bad snapshot acknowledgement/,
    ],
    [
      "chunk with trailing bytes",
      new Uint8Array([...encodeSnapshotChunk(1, 0, new Uint8Array([1])), 0]),
      CloseCode.InvalidPayload,
      /trailing bytes/,
    ],
  ];
  for (const [name, data, code, msg] of cases) {
    assert.throws(() => decodeWire(data, 64), (e: unknown) => {
      assert.ok(e instanceof WireError, name);
      assert.equal(e.closeCode, code, name);
      assert.match(e.message, msg, name);
      return true;
    });
  }
});

test("decodeWire() reads group-tagged batches and group snapshot headers, and refuses bad group IDs", () => {
  const hb = newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 3 });
  const groups = [0, 1, 300, Number.MAX_SAFE_INTEGER];
  const frames = groups.map((g) => encodeGroupMessageFrame(g, hb));
  const [packed] = packMessages(frames, 1 << 20, FrameKind.GroupMessages);
  const f = decodeWire(packed!.data, 1 << 20);
  assert.equal(f.kind, FrameKind.GroupMessages);
  if (f.kind === FrameKind.GroupMessages) {
    assert.deepEqual(f.groups, groups);
    assert.deepEqual(f.messages, groups.map(() => hb));
  }
  const snap = newMessage({
    type: MessageType.MsgSnap,
    from: 1,
    to: 2,
    snapshot: newSnapshot({ index: 5, term: 1, confState: newConfState({ voters: [1, 2] }) }),
  });
  const begin = decodeWire(encodeSnapshotBegin(7, 300, snap, 42), 1 << 20);
  assert.equal(begin.kind, FrameKind.GroupSnapshotBegin);
  if (begin.kind === FrameKind.GroupSnapshotBegin) {
    assert.deepEqual([begin.streamId, begin.groupId, begin.dataBytes], [7, 42, 300]);
    assert.deepEqual(begin.message, snap);
  }
  const tooLarge = new Uint8Array([FrameKind.GroupMessages, ...new Uint8Array(11).fill(0xff)]);
  assert.throws(() => decodeWire(tooLarge, 64), /group id out of range/);
  const truncated = new Uint8Array([FrameKind.GroupMessages, 0x80]);
  assert.throws(() => decodeWire(truncated, 64), /truncated group id/);
});
