import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import protobuf from "protobufjs";
import {
  CodecError,
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeFrame,
  decodeHardState,
  decodeMessage,
  decodeMessageFrame,
  decodeSnapshot,
  defaultMaxFramePayloadBytes,
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodeEntry,
  encodeEntryFrames,
  encodeEntryInto,
  encodeFrame,
  encodeHardState,
  encodeMessage,
  encodeMessageFrame,
  encodeMessageInto,
  encodeSnapshot,
  frameHeaderBytes,
  marshalConfChange,
  positionMax,
  sizeOfEntry,
  sizeOfMessage,
} from "./codec.ts";
import { crc32c } from "./crc32c.ts";
import {
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  emptyBytes,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newConfState,
  newEntry,
  newHardState,
  newMessage,
  newSnapshot,
  type Snapshot,
} from "./types.ts";
import { entrySize } from "./util.ts";

const MAX = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------
// Arbitraries

/** fc.record() without null-prototype objects, which our decoders never produce. */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

const uint64Arb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.nat({ max: 300 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      0,
      127,
      128,
      16383,
      16384,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 35,
      2 ** 49 - 1,
      2 ** 49,
      2 ** 52,
      MAX - 1,
      MAX,
    ),
  },
  { weight: 2, arbitrary: fc.maxSafeNat() },
);
/** Terms and indexes: at most positionMax. */
const positionArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.nat({ max: 300 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(0, 127, 128, 2 ** 32, 2 ** 47, positionMax - 1, positionMax),
  },
  { weight: 2, arbitrary: fc.nat({ max: positionMax }) },
);
const bytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(emptyBytes),
  fc.uint8Array({ maxLength: 48 }),
);
const idsArb: fc.Arbitrary<number[]> = fc.array(uint64Arb, { maxLength: 5 });

const entryArb: fc.Arbitrary<Entry> = record({
  term: positionArb,
  index: positionArb,
  type: fc.constantFrom(
    EntryType.EntryNormal,
    EntryType.EntryConfChange,
    EntryType.EntryConfChangeV2,
  ),
  data: bytesArb,
});

const confStateArb: fc.Arbitrary<ConfState> = record({
  voters: idsArb,
  learners: idsArb,
  votersOutgoing: idsArb,
  learnersNext: idsArb,
  autoLeave: fc.boolean(),
});

const snapshotArb: fc.Arbitrary<Snapshot> = record({
  data: bytesArb,
  metadata: record({ confState: confStateArb, index: positionArb, term: positionArb }),
});

const hardStateArb: fc.Arbitrary<HardState> = record({
  term: positionArb,
  vote: uint64Arb,
  commit: positionArb,
});

const messageTypeArb = fc.integer({ min: 0, max: 23 }) as fc.Arbitrary<MessageType>;
const confChangeTypeArb = fc.integer({ min: 0, max: 3 }) as fc.Arbitrary<ConfChangeType>;

function messageArb(depth: number): fc.Arbitrary<Message> {
  return record({
    type: messageTypeArb,
    to: uint64Arb,
    from: uint64Arb,
    term: positionArb,
    logTerm: positionArb,
    index: positionArb,
    entries: fc.array(entryArb, { maxLength: 4 }),
    commit: positionArb,
    vote: uint64Arb,
    snapshot: fc.option(snapshotArb, { nil: undefined, freq: 3 }),
    reject: fc.boolean(),
    rejectHint: uint64Arb,
    context: bytesArb,
    responses: depth === 0
      ? fc.constant([] as Message[])
      : fc.array(messageArb(depth - 1), { maxLength: 2 }),
  });
}
const msgArb: fc.Arbitrary<Message> = messageArb(2);

const confChangeArb: fc.Arbitrary<ConfChange> = record({
  type: confChangeTypeArb,
  nodeId: uint64Arb,
  context: bytesArb,
  id: uint64Arb,
});
const confChangeSingleArb: fc.Arbitrary<ConfChangeSingle> = record({
  type: confChangeTypeArb,
  nodeId: uint64Arb,
});
const confChangeV2Arb: fc.Arbitrary<ConfChangeV2> = record({
  transition: fc.integer({ min: 0, max: 2 }) as fc.Arbitrary<ConfChangeTransition>,
  changes: fc.array(confChangeSingleArb, { maxLength: 5 }),
  context: bytesArb,
});

const runs = { numRuns: 300 };

// ---------------------------------------------------------------------------
// Helpers

function assertCodecError(f: () => unknown, reason?: CodecError["reason"]): CodecError {
  try {
    f();
  } catch (e) {
    if (!(e instanceof CodecError)) {
      throw new assert.AssertionError({
        message: `expected a CodecError, got ${String(e)}`,
        actual: e,
      });
    }
    assert.equal(e.code, "codec");
    if (reason !== undefined) assert.equal(e.reason, reason, e.message);
    return e;
  }
  assert.fail("expected a CodecError, but nothing was thrown");
}

/** Runs a decoder on arbitrary bytes: it must return or throw a CodecError. */
function decodeOrCodecError<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof CodecError) return undefined;
    throw e;
  }
}

/** Independent varint writer on BigInt, for crafting inputs. */
function varint(v: number | bigint): number[] {
  let x = BigInt(v);
  const out: number[] = [];
  while (x > 0x7fn) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}
const key = (field: number, wt: number): number[] => varint(field * 8 + wt);
const u8 = (...parts: (number | number[] | Uint8Array)[]): Uint8Array => {
  const flat: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") flat.push(p);
    else flat.push(...p);
  }
  return new Uint8Array(flat);
};
const lenField = (field: number, body: Uint8Array | number[]): number[] => [
  ...key(field, 2),
  ...varint(body.length),
  ...body,
];

/** Splits an encoding into its top-level fields (wire types 0 and 2 only, as we write). */
function splitFields(b: Uint8Array): { field: number; bytes: Uint8Array }[] {
  const out: { field: number; bytes: Uint8Array }[] = [];
  let pos = 0;
  const readVarint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const byte = b[pos++]!;
      v += (byte & 0x7f) * mul;
      mul *= 128;
      if (byte < 0x80) return v;
    }
  };
  while (pos < b.length) {
    const start = pos;
    const k = readVarint();
    if ((k & 7) === 0) readVarint();
    else {
      assert.equal(k & 7, 2);
      const len = readVarint();
      pos += len;
    }
    out.push({ field: Math.floor(k / 8), bytes: b.subarray(start, pos) });
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function isUint(v: unknown): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Checks that a decoded message holds only representable values. */
function assertValidMessage(m: Message): void {
  assert.ok(Number.isInteger(m.type) && m.type >= 0 && m.type <= 23);
  for (const v of [m.to, m.from, m.term, m.logTerm, m.index, m.commit, m.vote, m.rejectHint]) {
    assert.ok(isUint(v), `field value ${v}`);
  }
  for (const e of m.entries) {
    assert.ok(isUint(e.term) && isUint(e.index));
    assert.ok(e.type >= 0 && e.type <= 2);
    assert.ok(e.data instanceof Uint8Array);
  }
  assert.equal(typeof m.reject, "boolean");
  assert.ok(m.context instanceof Uint8Array);
  if (m.snapshot !== undefined) {
    const md = m.snapshot.metadata;
    assert.ok(isUint(md.index) && isUint(md.term));
    for (
      const id of [
        ...md.confState.voters,
        ...md.confState.learners,
        ...md.confState.votersOutgoing,
        ...md.confState.learnersNext,
      ]
    ) assert.ok(isUint(id));
  }
  for (const r of m.responses) assertValidMessage(r);
}

// ---------------------------------------------------------------------------
// protobufjs: an independent implementation of the same schema (raftpb's field numbers)

const PROTO = `
syntax = "proto2";
package raftpb;
enum EntryType { EntryNormal = 0; EntryConfChange = 1; EntryConfChangeV2 = 2; }
message Entry {
  optional EntryType Type = 1;
  optional uint64 Term = 2;
  optional uint64 Index = 3;
  optional bytes Data = 4;
}
message SnapshotMetadata {
  optional ConfState conf_state = 1;
  optional uint64 index = 2;
  optional uint64 term = 3;
}
message Snapshot {
  optional bytes data = 1;
  optional SnapshotMetadata metadata = 2;
}
enum MessageType {
  MsgHup = 0; MsgBeat = 1; MsgProp = 2; MsgApp = 3; MsgAppResp = 4; MsgVote = 5;
  MsgVoteResp = 6; MsgSnap = 7; MsgHeartbeat = 8; MsgHeartbeatResp = 9; MsgUnreachable = 10;
  MsgSnapStatus = 11; MsgCheckQuorum = 12; MsgTransferLeader = 13; MsgTimeoutNow = 14;
  MsgReadIndex = 15; MsgReadIndexResp = 16; MsgPreVote = 17; MsgPreVoteResp = 18;
  MsgStorageAppend = 19; MsgStorageAppendResp = 20; MsgStorageApply = 21;
  MsgStorageApplyResp = 22; MsgForgetLeader = 23;
}
message Message {
  optional MessageType type = 1;
  optional uint64 to = 2;
  optional uint64 from = 3;
  optional uint64 term = 4;
  optional uint64 logTerm = 5;
  optional uint64 index = 6;
  repeated Entry entries = 7;
  optional uint64 commit = 8;
  optional Snapshot snapshot = 9;
  optional bool reject = 10;
  optional uint64 rejectHint = 11;
  optional bytes context = 12;
  optional uint64 vote = 13;
  repeated Message responses = 14;
}
message HardState {
  optional uint64 term = 1;
  optional uint64 vote = 2;
  optional uint64 commit = 3;
}
enum ConfChangeTransition {
  ConfChangeTransitionAuto = 0;
  ConfChangeTransitionJointImplicit = 1;
  ConfChangeTransitionJointExplicit = 2;
}
message ConfState {
  repeated uint64 voters = 1;
  repeated uint64 learners = 2;
  repeated uint64 voters_outgoing = 3;
  repeated uint64 learners_next = 4;
  optional bool auto_leave = 5;
}
enum ConfChangeType {
  ConfChangeAddNode = 0;
  ConfChangeRemoveNode = 1;
  ConfChangeUpdateNode = 2;
  ConfChangeAddLearnerNode = 3;
}
message ConfChange {
  optional uint64 id = 1;
  optional ConfChangeType type = 2;
  optional uint64 node_id = 3;
  optional bytes context = 4;
}
message ConfChangeSingle {
  optional ConfChangeType type = 1;
  optional uint64 node_id = 2;
}
message ConfChangeV2 {
  optional ConfChangeTransition transition = 1;
  repeated ConfChangeSingle changes = 2;
  optional bytes context = 3;
}
`;

const pbRoot = protobuf.parse(PROTO, { keepCase: true }).root;
const pbPackedRoot = protobuf.parse(
  PROTO.replace(/repeated uint64 (\w+) = (\d);/g, "repeated uint64 $1 = $2 [packed = true];"),
  { keepCase: true },
).root;

type Obj = Record<string, unknown>;
const toObjectOptions = {
  longs: String,
  enums: Number,
  bytes: Array,
  defaults: true,
  arrays: true,
};

function pbEncode(type: string, obj: Obj, root = pbRoot): Uint8Array {
  const t = root.lookupType(`raftpb.${type}`);
  assert.equal(t.verify(obj), null);
  return new Uint8Array(t.encode(t.fromObject(obj)).finish());
}

function pbDecode(type: string, b: Uint8Array): Obj {
  const t = pbRoot.lookupType(`raftpb.${type}`);
  return t.toObject(t.decode(b), toObjectOptions) as Obj;
}

// protobufjs object -> our types. uint64 arrive as decimal strings: check they are exact.
function pu(o: Obj, k: string): number {
  const v = o[k];
  assert.equal(typeof v, "string", `field ${k}`);
  const big = BigInt(v as string);
  assert.ok(big <= BigInt(MAX), `field ${k} = ${big} is not a safe integer`);
  return Number(big);
}
function pe<T extends number>(o: Obj, k: string): T {
  const v = o[k];
  assert.equal(typeof v, "number", `field ${k}`);
  return v as T;
}
function pb(o: Obj, k: string): Uint8Array {
  const v = o[k];
  assert.ok(Array.isArray(v), `field ${k}`);
  return (v as number[]).length === 0 ? emptyBytes : new Uint8Array(v as number[]);
}
function pbool(o: Obj, k: string): boolean {
  const v = o[k];
  assert.equal(typeof v, "boolean", `field ${k}`);
  return v as boolean;
}
function parr(o: Obj, k: string): unknown[] {
  const v = o[k];
  assert.ok(Array.isArray(v), `field ${k}`);
  return v as unknown[];
}
function pobj(o: Obj, k: string): Obj | undefined {
  const v = o[k];
  return v === null || v === undefined ? undefined : v as Obj;
}
function pids(o: Obj, k: string): number[] {
  return parr(o, k).map((v) => {
    const big = BigInt(v as string);
    assert.ok(big <= BigInt(MAX));
    return Number(big);
  });
}

function entryFromPb(o: Obj): Entry {
  return { term: pu(o, "Term"), index: pu(o, "Index"), type: pe(o, "Type"), data: pb(o, "Data") };
}
function confStateFromPb(o: Obj): ConfState {
  return {
    voters: pids(o, "voters"),
    learners: pids(o, "learners"),
    votersOutgoing: pids(o, "voters_outgoing"),
    learnersNext: pids(o, "learners_next"),
    autoLeave: pbool(o, "auto_leave"),
  };
}
function snapshotFromPb(o: Obj): Snapshot {
  const md = pobj(o, "metadata");
  assert.ok(md !== undefined, "a snapshot always carries metadata");
  const cs = pobj(md, "conf_state");
  assert.ok(cs !== undefined, "snapshot metadata always carries a conf state");
  return {
    data: pb(o, "data"),
    metadata: { confState: confStateFromPb(cs), index: pu(md, "index"), term: pu(md, "term") },
  };
}
function messageFromPb(o: Obj): Message {
  const snap = pobj(o, "snapshot");
  return {
    type: pe(o, "type"),
    to: pu(o, "to"),
    from: pu(o, "from"),
    term: pu(o, "term"),
    logTerm: pu(o, "logTerm"),
    index: pu(o, "index"),
    entries: parr(o, "entries").map((e) => entryFromPb(e as Obj)),
    commit: pu(o, "commit"),
    vote: pu(o, "vote"),
    snapshot: snap === undefined ? undefined : snapshotFromPb(snap),
    reject: pbool(o, "reject"),
    rejectHint: pu(o, "rejectHint"),
    context: pb(o, "context"),
    responses: parr(o, "responses").map((r) => messageFromPb(r as Obj)),
  };
}
function hardStateFromPb(o: Obj): HardState {
  return { term: pu(o, "term"), vote: pu(o, "vote"), commit: pu(o, "commit") };
}
function confChangeFromPb(o: Obj): ConfChange {
  return {
    type: pe(o, "type"),
    nodeId: pu(o, "node_id"),
    context: pb(o, "context"),
    id: pu(o, "id"),
  };
}
function confChangeV2FromPb(o: Obj): ConfChangeV2 {
  return {
    transition: pe(o, "transition"),
    changes: parr(o, "changes").map((c) => ({
      type: pe<ConfChangeType>(c as Obj, "type"),
      nodeId: pu(c as Obj, "node_id"),
    })),
    context: pb(o, "context"),
  };
}

// Our types -> protobufjs objects. `all` sets every field (defaults included);
// otherwise exactly the fields our encoder writes, so the bytes must match.
function set(o: Obj, k: string, v: unknown, present: boolean): void {
  if (present) o[k] = v;
}
function entryToPb(e: Entry, all: boolean): Obj {
  const o: Obj = { Term: e.term, Index: e.index };
  set(o, "Type", e.type, all || e.type !== 0);
  set(o, "Data", e.data, all || e.data.length > 0);
  return o;
}
function confStateToPb(cs: ConfState): Obj {
  return {
    voters: cs.voters,
    learners: cs.learners,
    voters_outgoing: cs.votersOutgoing,
    learners_next: cs.learnersNext,
    auto_leave: cs.autoLeave,
  };
}
function snapshotToPb(s: Snapshot, all: boolean): Obj {
  const o: Obj = {
    metadata: {
      conf_state: confStateToPb(s.metadata.confState),
      index: s.metadata.index,
      term: s.metadata.term,
    },
  };
  set(o, "data", s.data, all || s.data.length > 0);
  return o;
}
function messageToPb(m: Message, all: boolean): Obj {
  const o: Obj = {};
  set(o, "type", m.type, all || m.type !== 0);
  set(o, "to", m.to, all || m.to !== 0);
  set(o, "from", m.from, all || m.from !== 0);
  set(o, "term", m.term, all || m.term !== 0);
  set(o, "logTerm", m.logTerm, all || m.logTerm !== 0);
  set(o, "index", m.index, all || m.index !== 0);
  o.entries = m.entries.map((e) => entryToPb(e, all));
  set(o, "commit", m.commit, all || m.commit !== 0);
  if (m.snapshot !== undefined) o.snapshot = snapshotToPb(m.snapshot, all);
  set(o, "reject", m.reject, all || m.reject);
  set(o, "rejectHint", m.rejectHint, all || m.rejectHint !== 0);
  set(o, "context", m.context, all || m.context.length > 0);
  set(o, "vote", m.vote, all || m.vote !== 0);
  o.responses = m.responses.map((r) => messageToPb(r, all));
  return o;
}
function hardStateToPb(hs: HardState, all: boolean): Obj {
  const o: Obj = {};
  set(o, "term", hs.term, all || hs.term !== 0);
  set(o, "vote", hs.vote, all || hs.vote !== 0);
  set(o, "commit", hs.commit, all || hs.commit !== 0);
  return o;
}
function confChangeToPb(cc: ConfChange, all: boolean): Obj {
  const o: Obj = {};
  set(o, "id", cc.id, all || cc.id !== 0);
  set(o, "type", cc.type, all || cc.type !== 0);
  set(o, "node_id", cc.nodeId, all || cc.nodeId !== 0);
  set(o, "context", cc.context, all || cc.context.length > 0);
  return o;
}
function confChangeV2ToPb(cc: ConfChangeV2, all: boolean): Obj {
  const o: Obj = {};
  set(o, "transition", cc.transition, all || cc.transition !== 0);
  o.changes = cc.changes.map((c) => {
    const s: Obj = {};
    set(s, "type", c.type, all || c.type !== 0);
    set(s, "node_id", c.nodeId, all || c.nodeId !== 0);
    return s;
  });
  set(o, "context", cc.context, all || cc.context.length > 0);
  return o;
}

interface CrossCase<T> {
  name: string;
  pbType: string;
  arb: fc.Arbitrary<T>;
  encode: (v: T) => Uint8Array;
  decode: (b: Uint8Array) => T;
  toPb: (v: T, all: boolean) => Obj;
  fromPb: (o: Obj) => T;
  /** The all-default value, which an empty input decodes to. */
  empty: T;
}

function crossCase<T>(c: CrossCase<T>): CrossCase<unknown> {
  return c as CrossCase<unknown>;
}

const crossCases: CrossCase<unknown>[] = [
  crossCase({
    name: "Entry",
    pbType: "Entry",
    arb: entryArb,
    encode: encodeEntry,
    decode: (b) => decodeEntry(b),
    toPb: entryToPb,
    fromPb: entryFromPb,
    empty: newEntry(),
  }),
  crossCase({
    name: "Message",
    pbType: "Message",
    arb: msgArb,
    encode: encodeMessage,
    decode: (b) => decodeMessage(b),
    toPb: messageToPb,
    fromPb: messageFromPb,
    empty: newMessage({ type: MessageType.MsgHup }),
  }),
  crossCase({
    name: "HardState",
    pbType: "HardState",
    arb: hardStateArb,
    encode: encodeHardState,
    decode: decodeHardState,
    toPb: hardStateToPb,
    fromPb: hardStateFromPb,
    empty: newHardState(),
  }),
  crossCase({
    name: "ConfState",
    pbType: "ConfState",
    arb: confStateArb,
    encode: encodeConfState,
    decode: decodeConfState,
    toPb: (cs) => confStateToPb(cs),
    fromPb: confStateFromPb,
    empty: newConfState(),
  }),
  crossCase({
    name: "Snapshot",
    pbType: "Snapshot",
    arb: snapshotArb,
    encode: encodeSnapshot,
    decode: (b) => decodeSnapshot(b),
    toPb: snapshotToPb,
    fromPb: snapshotFromPb,
    empty: newSnapshot(),
  }),
  crossCase({
    name: "ConfChange",
    pbType: "ConfChange",
    arb: confChangeArb,
    encode: encodeConfChange,
    decode: (b) => decodeConfChange(b),
    toPb: confChangeToPb,
    fromPb: confChangeFromPb,
    empty: newConfChange(),
  }),
  crossCase({
    name: "ConfChangeV2",
    pbType: "ConfChangeV2",
    arb: confChangeV2Arb,
    encode: encodeConfChangeV2,
    decode: (b) => decodeConfChangeV2(b),
    toPb: confChangeV2ToPb,
    fromPb: confChangeV2FromPb,
    empty: newConfChangeV2(),
  }),
];

// ---------------------------------------------------------------------------
// Round trips and cross-checks

for (const c of crossCases) {
  test(`decode${c.name}() inverts encode${c.name}()`, () => {
    fc.assert(
      fc.property(c.arb, (v) => {
        assert.deepStrictEqual(c.decode(c.encode(v)), v);
      }),
      runs,
    );
  });

  test(`encode${c.name}() output decodes with protobufjs to the same value`, () => {
    fc.assert(
      fc.property(c.arb, (v) => {
        assert.deepStrictEqual(c.fromPb(pbDecode(c.pbType, c.encode(v))), v);
      }),
      runs,
    );
  });

  test(`encode${c.name}() output is byte-identical to protobufjs given the same fields`, () => {
    fc.assert(
      fc.property(c.arb, (v) => {
        assert.deepStrictEqual(c.encode(v), pbEncode(c.pbType, c.toPb(v, false)));
      }),
      runs,
    );
  });

  test(`decode${c.name}() reads protobufjs output with every default written out`, () => {
    fc.assert(
      fc.property(c.arb, (v) => {
        assert.deepStrictEqual(c.decode(pbEncode(c.pbType, c.toPb(v, true))), v);
      }),
      runs,
    );
  });

  test(`decode${c.name}() returns a value or throws CodecError on arbitrary bytes`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const v = decodeOrCodecError(() => c.decode(b));
        // Whatever decodes must be encodable and stable.
        if (v !== undefined) assert.deepStrictEqual(c.decode(c.encode(v)), v);
      }),
      { numRuns: 2000 },
    );
  });

  test(`decode${c.name}() of an empty input returns the all-default value`, () => {
    assert.deepStrictEqual(c.decode(new Uint8Array(0)), c.empty);
  });
}

test("decodeConfState() reads packed repeated fields (as protobufjs writes them with [packed=true])", () => {
  fc.assert(
    fc.property(confStateArb, (cs) => {
      const packed = pbEncode("ConfState", confStateToPb(cs), pbPackedRoot);
      if (cs.voters.length > 0) assert.notDeepStrictEqual(packed, encodeConfState(cs));
      assert.deepStrictEqual(decodeConfState(packed), cs);
    }),
    runs,
  );
});

test("decodeConfState() reads a mix of packed and unpacked values of one field in order", () => {
  const b = u8(key(1, 0), 5, lenField(1, [...varint(7), ...varint(2 ** 40)]), key(1, 0), 1);
  assert.deepStrictEqual(decodeConfState(b).voters, [5, 7, 2 ** 40, 1]);
});

test("encodeEntry() writes exactly entrySize(e) bytes", () => {
  fc.assert(
    fc.property(entryArb, (e) => {
      const b = encodeEntry(e);
      assert.equal(b.length, entrySize(e));
      assert.equal(sizeOfEntry(e), entrySize(e));
    }),
    runs,
  );
});

test("sizeOfMessage() equals the length encodeMessage() writes", () => {
  fc.assert(
    fc.property(msgArb, (m) => {
      assert.equal(encodeMessage(m).length, sizeOfMessage(m));
    }),
    runs,
  );
});

test("encodeMessageInto() writes the same bytes as encodeMessage() at any offset", () => {
  fc.assert(
    fc.property(msgArb, fc.nat({ max: 20 }), fc.nat({ max: 20 }), (m, before, after) => {
      const want = encodeMessage(m);
      const buf = new Uint8Array(before + want.length + after).fill(0xee);
      const end = encodeMessageInto(m, buf, before);
      assert.equal(end, before + want.length);
      assert.deepStrictEqual(buf.subarray(before, end), want);
      assert.ok(buf.subarray(0, before).every((x) => x === 0xee), "bytes before untouched");
      assert.ok(buf.subarray(end).every((x) => x === 0xee), "bytes after untouched");
    }),
    runs,
  );
});

test("encodeEntryFrames() writes the same bytes as one encodeFrame(encodeEntry()) per entry", () => {
  fc.assert(
    fc.property(fc.array(entryArb, { maxLength: 8 }), fc.nat(8), fc.nat(8), (ents, a, b) => {
      const from = Math.min(a, b, ents.length);
      const to = Math.min(Math.max(a, b), ents.length);
      const parts = ents.slice(from, to).map((e) => encodeFrame(encodeEntry(e)));
      const want = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let pos = 0;
      for (const p of parts) {
        want.set(p, pos);
        pos += p.length;
      }
      assert.deepEqual(encodeEntryFrames(ents, from, to), want);
    }),
  );
  const one = [newEntry({ index: 1, term: 1 })];
  assert.throws(() => encodeEntryFrames(one, 1, 0), RangeError);
  assert.throws(() => encodeEntryFrames(one, 0, 2), RangeError);
  assert.throws(() => encodeEntryFrames(one, -1), RangeError);
});

test("encodeEntryInto() writes the same bytes as encodeEntry()", () => {
  const e = newEntry({ term: 3, index: 2 ** 40, type: EntryType.EntryConfChange, data: u8(1, 2) });
  const buf = new Uint8Array(3 + entrySize(e));
  assert.equal(encodeEntryInto(e, buf, 3), buf.length);
  assert.deepStrictEqual(buf.subarray(3), encodeEntry(e));
});

test("encodeMessageInto() throws RangeError when the message does not fit", () => {
  const m = newMessage({ type: MessageType.MsgApp, term: 5, index: 9 });
  const size = sizeOfMessage(m);
  assert.throws(() => encodeMessageInto(m, new Uint8Array(size - 1), 0), RangeError);
  assert.throws(() => encodeMessageInto(m, new Uint8Array(size + 2), 3), RangeError);
  assert.throws(() => encodeMessageInto(m, new Uint8Array(size), -1), RangeError);
  assert.equal(encodeMessageInto(m, new Uint8Array(size + 2), 2), size + 2);
});

test("decodeMessage() accepts top-level fields in any order", () => {
  fc.assert(
    fc.property(
      msgArb,
      fc.array(fc.nat({ max: 100 }), { minLength: 15, maxLength: 15 }),
      (m, prio) => {
        const fields = splitFields(encodeMessage(m));
        // Shuffle by field number, keeping repeated fields in their relative order.
        const order = fields.map((f, i) => ({ f, i, p: prio[f.field]! }));
        order.sort((a, b) => a.p - b.p || a.i - b.i);
        assert.deepStrictEqual(decodeMessage(concat(order.map((o) => o.f.bytes))), m);
      },
    ),
    runs,
  );
});

// Unknown fields of every wire type, including groups, to splice into encodings.
const unknownFieldArb = (minField: number): fc.Arbitrary<Uint8Array> => {
  const field = fc.integer({ min: minField, max: 2 ** 29 - 1 });
  return fc.oneof(
    fc.tuple(field, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([f, v]) =>
      u8(key(f, 0), varint(v))
    ),
    fc.tuple(field, fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([f, b]) =>
      u8(key(f, 1), b)
    ),
    fc.tuple(field, fc.uint8Array({ maxLength: 20 })).map(([f, b]) => u8(lenField(f, b))),
    fc.tuple(field, fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([f, b]) =>
      u8(key(f, 5), b)
    ),
    fc.tuple(field, fc.nat({ max: 2 ** 50 })).map(([f, v]) =>
      // A group holding a varint field and a nested group.
      u8(key(f, 3), key(1, 0), varint(v), key(2, 3), key(3, 2), 1, 9, key(2, 4), key(f, 4))
    ),
  );
};

test("decodeMessage() skips unknown fields of every wire type anywhere", () => {
  fc.assert(
    fc.property(
      msgArb,
      fc.array(fc.tuple(fc.nat(), unknownFieldArb(15)), { maxLength: 5 }),
      (m, extras) => {
        const parts = splitFields(encodeMessage(m)).map((f) => f.bytes);
        for (const [at, extra] of extras) parts.splice(at % (parts.length + 1), 0, extra);
        assert.deepStrictEqual(decodeMessage(concat(parts)), m);
      },
    ),
    runs,
  );
});

test("decodeEntry() and decodeConfChangeV2() skip unknown fields", () => {
  fc.assert(
    fc.property(entryArb, confChangeV2Arb, unknownFieldArb(5), (e, cc, extra) => {
      assert.deepStrictEqual(decodeEntry(concat([extra, encodeEntry(e), extra])), e);
      assert.deepStrictEqual(decodeConfChangeV2(concat([encodeConfChangeV2(cc), extra])), cc);
    }),
    runs,
  );
});

test("decodeMessage() skips unknown fields inside nested entries and snapshots", () => {
  const extra = u8(lenField(99, [1, 2, 3]), key(20, 0), 5);
  const entry = u8(key(2, 0), 4, extra, key(3, 0), 6);
  const cs = u8(key(1, 0), 1, extra, key(5, 0), 1);
  const md = u8(lenField(1, cs), extra, key(2, 0), 9, key(3, 0), 2);
  const snap = u8(extra, lenField(2, md));
  const m = decodeMessage(u8(lenField(7, entry), lenField(9, snap), extra));
  assert.deepStrictEqual(m.entries, [newEntry({ term: 4, index: 6 })]);
  assert.deepStrictEqual(
    m.snapshot,
    newSnapshot({ index: 9, term: 2, confState: newConfState({ voters: [1], autoLeave: true }) }),
  );
});

// ---------------------------------------------------------------------------
// Golden encodings (what Go's protobuf writes for the same fields)

test("encode*() writes the expected bytes for known values", () => {
  const cases: { name: string; got: Uint8Array; want: number[] }[] = [
    { name: "empty message", got: encodeMessage(newMessage({ type: 0 })), want: [] },
    {
      name: "heartbeat",
      got: encodeMessage(
        newMessage({ type: MessageType.MsgHeartbeat, to: 2, from: 1, term: 3, commit: 300 }),
      ),
      want: [0x08, 8, 0x10, 2, 0x18, 1, 0x20, 3, 0x40, 0xac, 0x02],
    },
    {
      name: "rejected append response",
      got: encodeMessage(
        newMessage({ type: MessageType.MsgAppResp, reject: true, rejectHint: 7, vote: 1 }),
      ),
      want: [0x08, 4, 0x50, 1, 0x58, 7, 0x68, 1],
    },
    { name: "entry", got: encodeEntry(newEntry({ term: 1, index: 2 })), want: [0x10, 1, 0x18, 2] },
    {
      name: "conf-change entry with data",
      got: encodeEntry(newEntry({ term: 1, index: 2, type: 1, data: u8(0xab) })),
      want: [0x08, 1, 0x10, 1, 0x18, 2, 0x22, 1, 0xab],
    },
    {
      name: "entry at the largest index (positionMax)",
      got: encodeEntry(newEntry({ term: 0, index: positionMax })),
      want: [0x10, 0, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f],
    },
    {
      name: "hard state",
      got: encodeHardState(newHardState({ term: 1, commit: 3 })),
      want: [8, 1, 24, 3],
    },
    { name: "empty hard state", got: encodeHardState(newHardState()), want: [] },
    {
      name: "empty snapshot (metadata always written)",
      got: encodeSnapshot(newSnapshot()),
      want: [0x12, 8, 0x0a, 2, 0x28, 0, 0x10, 0, 0x18, 0],
    },
    {
      name: "conf state",
      got: encodeConfState(newConfState({ voters: [1, 2], votersOutgoing: [3], autoLeave: true })),
      want: [0x08, 1, 0x08, 2, 0x18, 3, 0x28, 1],
    },
    {
      name: "conf change v1",
      got: encodeConfChange(newConfChange({ type: 3, nodeId: 4, id: 9 })),
      want: [0x08, 9, 0x10, 3, 0x18, 4],
    },
    {
      name: "conf change v2",
      got: encodeConfChangeV2(
        newConfChangeV2({
          transition: 2,
          changes: [{ type: 0, nodeId: 2 }, { type: 1, nodeId: 3 }],
          context: u8(0x78),
        }),
      ),
      want: [0x08, 2, 0x12, 2, 0x10, 2, 0x12, 4, 0x08, 1, 0x10, 3, 0x1a, 1, 0x78],
    },
    { name: "empty conf change v2", got: encodeConfChangeV2(newConfChangeV2()), want: [] },
  ];
  for (const c of cases) assert.deepStrictEqual(c.got, new Uint8Array(c.want), c.name);
});

test("marshalConfChange() picks the entry type as etcd's MarshalConfChange does", () => {
  const v1 = newConfChange({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 5 });
  const r1 = marshalConfChange(v1);
  assert.equal(r1.type, EntryType.EntryConfChange);
  assert.deepStrictEqual(decodeConfChange(r1.data), v1);

  const v2 = newConfChangeV2({
    transition: ConfChangeTransition.ConfChangeTransitionJointImplicit,
    changes: [{ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 2 }],
  });
  const r2 = marshalConfChange(v2);
  assert.equal(r2.type, EntryType.EntryConfChangeV2);
  assert.deepStrictEqual(decodeConfChangeV2(r2.data), v2);

  const leave = marshalConfChange(newConfChangeV2());
  assert.equal(leave.type, EntryType.EntryConfChangeV2);
  assert.equal(leave.data.length, 0);

  const nil = marshalConfChange(undefined);
  assert.equal(nil.type, EntryType.EntryConfChangeV2);
  assert.equal(nil.data.length, 0);
  assert.deepStrictEqual(decodeConfChangeV2(nil.data), newConfChangeV2());
});

// ---------------------------------------------------------------------------
// Edge cases

test("decodeMessage() round-trips the largest value of every integer field", () => {
  const P = positionMax;
  const m = newMessage({
    type: MessageType.MsgForgetLeader,
    to: MAX,
    from: MAX,
    term: P,
    logTerm: P,
    index: P,
    commit: P,
    vote: MAX,
    rejectHint: MAX,
    entries: [newEntry({ term: P, index: P, type: EntryType.EntryConfChangeV2 })],
    snapshot: newSnapshot({
      index: P,
      term: P,
      confState: newConfState({ voters: [MAX], learners: [MAX], votersOutgoing: [MAX] }),
    }),
  });
  const b = encodeMessage(m);
  assert.deepStrictEqual(decodeMessage(b), m);
  assert.deepStrictEqual(messageFromPb(pbDecode("Message", b)), m);
});

test("the codec refuses terms and indexes above positionMax, in both directions", () => {
  assert.equal(positionMax, 2 ** 48 - 1);
  const over = BigInt(positionMax) + 1n;
  // Message: term 4, logTerm 5, index 6, commit 8; Entry: term 2, index 3;
  // HardState: term 1, commit 3; SnapshotMetadata inside a Snapshot.
  for (const field of [4, 5, 6, 8]) {
    assertCodecError(() => decodeMessage(u8(key(field, 0), varint(over))), "overflow");
    assert.equal(decodeMessage(u8(key(field, 0), varint(over - 1n))).type, 0);
  }
  for (const field of [2, 3]) {
    assertCodecError(() => decodeEntry(u8(key(field, 0), varint(over))), "overflow");
  }
  for (const field of [1, 3]) {
    assertCodecError(() => decodeHardState(u8(key(field, 0), varint(over))), "overflow");
  }
  // IDs and vote are not positions: they may use every safe integer.
  assert.equal(decodeHardState(u8(key(2, 0), varint(BigInt(MAX)))).vote, MAX);
  const big = positionMax + 1;
  for (const field of ["term", "logTerm", "index", "commit"] as const) {
    const m = newMessage({ type: MessageType.MsgApp });
    m[field] = big;
    assert.throws(
      () => encodeMessage(m),
      new RegExp(`'${field}' must be an integer from 0 to 2\\^48 - 1`),
    );
  }
  assert.throws(() => encodeEntry(newEntry({ term: big })), /'term'/);
  assert.throws(() => encodeHardState({ term: 0, vote: 0, commit: big }), /'commit'/);
});

test("decodeMessage() rejects integers above Number.MAX_SAFE_INTEGER", () => {
  for (
    const v of [2n ** 53n, 2n ** 53n + 1n, 2n ** 56n - 1n, 2n ** 63n, 2n ** 64n - 1n]
  ) {
    for (const field of [2, 3, 4, 5, 6, 8, 11, 13]) {
      const e = assertCodecError(() => decodeMessage(u8(key(field, 0), varint(v))), "overflow");
      assert.equal(e.offset, 1);
    }
    assertCodecError(() => decodeEntry(u8(key(3, 0), varint(v))), "overflow");
    assertCodecError(() => decodeHardState(u8(key(3, 0), varint(v))), "overflow");
    assertCodecError(() => decodeConfState(u8(key(1, 0), varint(v))), "overflow");
    assertCodecError(() => decodeConfChange(u8(key(1, 0), varint(v))), "overflow");
  }
  // Just below the limit, in the same 8-byte form.
  assert.equal(decodeMessage(u8(key(2, 0), varint(2n ** 53n - 1n))).to, MAX);
});

test("decodeMessage() accepts non-minimal varints up to 10 bytes and rejects longer ones", () => {
  // 5 encoded as 10 bytes: 0x85 0x80 ... 0x00.
  const padded = [0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
  assert.equal(decodeMessage(u8(key(4, 0), padded)).term, 5);
  assertCodecError(
    () => decodeMessage(u8(key(4, 0), [...padded.slice(0, 9), 0x80, 0x00])),
    "malformed",
  );
});

test("decode*() rejects enum values etcd does not define", () => {
  assertCodecError(() => decodeMessage(u8(key(1, 0), 24)), "invalid_enum");
  assertCodecError(() => decodeEntry(u8(key(1, 0), 3)), "invalid_enum");
  assertCodecError(() => decodeConfChange(u8(key(2, 0), 4)), "invalid_enum");
  assertCodecError(() => decodeConfChangeV2(u8(key(1, 0), 3)), "invalid_enum");
  assertCodecError(() => decodeConfChangeV2(u8(lenField(2, u8(key(1, 0), 4)))), "invalid_enum");
  // A negative enum, as Go writes int32(-1): ten bytes.
  assertCodecError(() => decodeMessage(u8(key(1, 0), varint(2n ** 64n - 1n))), "invalid_enum");
  // The largest defined values are accepted.
  assert.equal(decodeMessage(u8(key(1, 0), 23)).type, MessageType.MsgForgetLeader);
  assert.equal(decodeEntry(u8(key(1, 0), 2)).type, EntryType.EntryConfChangeV2);
});

test("decodeMessage() reads any nonzero varint as true for booleans", () => {
  for (const v of [1n, 2n, 300n, 2n ** 53n, 2n ** 64n - 1n]) {
    assert.equal(decodeMessage(u8(key(10, 0), varint(v))).reject, true, `value ${v}`);
    assert.equal(decodeConfState(u8(key(5, 0), varint(v))).autoLeave, true, `value ${v}`);
  }
  assert.equal(decodeMessage(u8(key(10, 0), 0)).reject, false);
  assert.equal(decodeMessage(u8(key(10, 0), 0x80, 0x00)).reject, false);
});

test("decodeMessage() lets the last value of a repeated scalar field win", () => {
  const m = decodeMessage(u8(key(4, 0), 5, key(4, 0), 9, lenField(12, [1]), lenField(12, [2, 3])));
  assert.equal(m.term, 9);
  assert.deepStrictEqual(m.context, u8(2, 3));
});

test("decodeMessage() merges a snapshot field that appears twice", () => {
  const a = encodeSnapshot(
    newSnapshot({ data: u8(1), index: 5, term: 1, confState: newConfState({ voters: [1] }) }),
  );
  // A second, partial snapshot: only metadata.term and one more voter.
  const b = u8(lenField(2, u8(lenField(1, u8(key(1, 0), 2)), key(3, 0), 4)));
  const m = decodeMessage(u8(lenField(9, a), lenField(9, b)));
  assert.deepStrictEqual(
    m.snapshot,
    newSnapshot({
      data: u8(1),
      index: 5,
      term: 4,
      confState: newConfState({ voters: [1, 2] }),
    }),
  );
});

test("decodeMessage() keeps an empty snapshot present (Go's non-nil snapshot)", () => {
  const m = newMessage({ type: MessageType.MsgSnap, snapshot: newSnapshot() });
  const back = decodeMessage(encodeMessage(m));
  assert.notEqual(back.snapshot, undefined);
  assert.deepStrictEqual(back, m);
  // And a bare, empty snapshot field decodes to an all-default snapshot.
  assert.deepStrictEqual(decodeMessage(u8(lenField(9, []))).snapshot, newSnapshot());
  assert.equal(decodeMessage(new Uint8Array(0)).snapshot, undefined);
});

test("encodeMessage() round-trips a snapshot with a joint conf state", () => {
  const m = newMessage({
    type: MessageType.MsgSnap,
    from: 1,
    to: 4,
    term: 9,
    snapshot: newSnapshot({
      data: new TextEncoder().encode("state machine image"),
      index: 1000,
      term: 8,
      confState: newConfState({
        voters: [1, 2, 3],
        learners: [5],
        votersOutgoing: [1, 2, 4],
        learnersNext: [4],
        autoLeave: true,
      }),
    }),
  });
  const b = encodeMessage(m);
  assert.deepStrictEqual(decodeMessage(b), m);
  assert.deepStrictEqual(messageFromPb(pbDecode("Message", b)), m);
});

test("encodeMessage() round-trips nested responses of storage messages", () => {
  const appendResp = newMessage({
    type: MessageType.MsgStorageAppendResp,
    to: 1,
    from: 1,
    index: 12,
    logTerm: 3,
    snapshot: newSnapshot({ index: 10, term: 3, confState: newConfState({ voters: [1] }) }),
  });
  const m = newMessage({
    type: MessageType.MsgStorageAppend,
    to: MAX,
    from: 1,
    term: 3,
    vote: 1,
    commit: 11,
    entries: [newEntry({ term: 3, index: 12, data: u8(1, 2, 3) })],
    responses: [
      appendResp,
      newMessage({ type: MessageType.MsgAppResp, to: 2, from: 1, term: 3, index: 12 }),
      newMessage({
        type: MessageType.MsgStorageApply,
        responses: [newMessage({ type: MessageType.MsgStorageApplyResp, entries: [newEntry()] })],
      }),
    ],
  });
  const b = encodeMessage(m);
  assert.deepStrictEqual(decodeMessage(b), m);
  assert.deepStrictEqual(messageFromPb(pbDecode("Message", b)), m);
});

function nested(depth: number): Message {
  let m = newMessage({ type: MessageType.MsgAppResp, term: depth });
  for (let i = depth - 1; i >= 0; i--) {
    m = newMessage({ type: MessageType.MsgStorageAppend, term: i, responses: [m] });
  }
  return m;
}

test("encodeMessage() and decodeMessage() allow 64 levels of responses, and no more", () => {
  const ok = nested(64);
  assert.deepStrictEqual(decodeMessage(encodeMessage(ok)), ok);
  assert.throws(() => encodeMessage(nested(65)), RangeError);
  // Craft 65 levels by hand (the encoder refuses to).
  let b = encodeMessage(ok);
  b = u8(lenField(14, b));
  assertCodecError(() => decodeMessage(b), "too_deep");
  // Far deeper input does not overflow the stack either.
  let deep: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 1000; i++) deep = u8(lenField(14, deep));
  assertCodecError(() => decodeMessage(deep), "too_deep");
});

test("decodeMessage() rejects groups nested too deep with CodecError", () => {
  const parts: number[] = [];
  for (let i = 0; i < 100000; i++) parts.push(...key(20, 3));
  assertCodecError(() => decodeMessage(new Uint8Array(parts)), "too_deep");
});

test("decode*() rejects malformed encodings", () => {
  const cases: { name: string; input: Uint8Array; reason: CodecError["reason"] }[] = [
    { name: "field number 0", input: u8(0x00, 1), reason: "malformed" },
    { name: "field number 0 with wire type 2", input: u8(0x02, 0), reason: "malformed" },
    { name: "wire type 6", input: u8(key(20, 6), 1), reason: "malformed" },
    { name: "wire type 7", input: u8(key(20, 7), 1), reason: "malformed" },
    { name: "stray end of group", input: u8(key(20, 4)), reason: "malformed" },
    {
      name: "mismatched end of group",
      input: u8(key(20, 3), key(21, 4)),
      reason: "malformed",
    },
    { name: "unterminated group", input: u8(key(20, 3), key(1, 0), 1), reason: "truncated" },
    { name: "term as bytes", input: u8(lenField(4, [1])), reason: "malformed" },
    { name: "type as fixed32", input: u8(key(1, 5), 0, 0, 0, 0), reason: "malformed" },
    { name: "entries as varint", input: u8(key(7, 0), 1), reason: "malformed" },
    { name: "context as varint", input: u8(key(12, 0), 1), reason: "malformed" },
    { name: "truncated tag", input: u8(0x80), reason: "truncated" },
    { name: "truncated varint value", input: u8(key(4, 0), 0xff, 0xff), reason: "truncated" },
    { name: "bytes longer than the input", input: u8(key(12, 2), 5, 1, 2), reason: "truncated" },
    {
      name: "length above 2^53",
      input: u8(key(12, 2), varint(2n ** 60n)),
      reason: "truncated",
    },
    { name: "truncated fixed64", input: u8(key(20, 1), 1, 2, 3), reason: "truncated" },
    { name: "truncated fixed32", input: u8(key(20, 5), 1), reason: "truncated" },
    {
      name: "entry field runs past its entry",
      // The entry is 2 bytes long but its Data claims 3.
      input: u8(key(7, 2), 2, key(4, 2), 3, 9, 9, 9),
      reason: "truncated",
    },
    {
      name: "field tag above 2^32",
      input: u8(varint(2n ** 33n)),
      reason: "malformed",
    },
  ];
  for (const c of cases) {
    assertCodecError(() => decodeMessage(c.input), c.reason);
  }
});

test("encode*() throws RangeError for values that cannot be encoded", () => {
  const bad = [-1, 1.5, NaN, Infinity, 2 ** 53, -0.5];
  for (const v of bad) {
    assert.throws(() => encodeEntry(newEntry({ term: v })), RangeError, `term ${v}`);
    assert.throws(() => encodeMessage(newMessage({ type: 3, commit: v })), RangeError);
    assert.throws(() => encodeHardState(newHardState({ vote: v })), RangeError);
    assert.throws(() => encodeConfState(newConfState({ learners: [1, v] })), RangeError);
    assert.throws(() => encodeConfChange(newConfChange({ nodeId: v })), RangeError);
    assert.throws(
      () => encodeSnapshot(newSnapshot({ index: v })),
      RangeError,
      `snapshot index ${v}`,
    );
  }
  assert.throws(() => encodeMessage(newMessage({ type: 24 as MessageType })), RangeError);
  assert.throws(() => encodeEntry(newEntry({ type: 3 as EntryType })), RangeError);
  assert.throws(
    () =>
      encodeConfChangeV2(
        newConfChangeV2({ changes: [{ type: 9 as ConfChangeType, nodeId: 1 }] }),
      ),
    RangeError,
  );
  assert.throws(
    () => encodeConfChangeV2(newConfChangeV2({ transition: 3 as ConfChangeTransition })),
    RangeError,
  );
  // Entries nested in a message are checked too.
  assert.throws(
    () => encodeMessage(newMessage({ type: 3, entries: [newEntry({ index: -2 })] })),
    RangeError,
  );
});

test("decodeMessage() copies byte fields by default, and aliases them with aliasBytes", () => {
  const m = newMessage({
    type: MessageType.MsgProp,
    context: u8(1, 2),
    entries: [newEntry({ data: u8(3, 4, 5) })],
  });
  const b = encodeMessage(m);
  const copied = decodeMessage(b);
  const aliased = decodeMessage(b, { aliasBytes: true });
  assert.deepStrictEqual(aliased, m);
  b.fill(0);
  assert.deepStrictEqual(copied, m, "copies do not change with the input");
  assert.notEqual(copied.entries[0]!.data.buffer, b.buffer);
  assert.deepStrictEqual(aliased.entries[0]!.data, u8(0, 0, 0), "views do");
  assert.equal(aliased.entries[0]!.data.buffer, b.buffer);
});

test("decodeMessage() accepts a Node Buffer or a view at an offset and returns plain Uint8Arrays", () => {
  const m = newMessage({ type: MessageType.MsgProp, entries: [newEntry({ data: u8(7, 8) })] });
  const enc = encodeMessage(m);
  const big = new Uint8Array(enc.length + 10);
  big.set(enc, 5);
  const view = big.subarray(5, 5 + enc.length);
  for (const input of [Buffer.from(enc), view]) {
    for (const aliasBytes of [false, true]) {
      const got = decodeMessage(input, { aliasBytes });
      assert.deepStrictEqual(got, m);
      assert.equal(Object.getPrototypeOf(got.entries[0]!.data), Uint8Array.prototype);
    }
  }
});

test("decodeMessage() throws TypeError when the input is not a Uint8Array", () => {
  assert.throws(() => decodeMessage([1, 2] as unknown as Uint8Array), TypeError);
});

// ---------------------------------------------------------------------------
// Frames

test("encodeFrame() writes length, CRC-32C of length and payload, then the payload", () => {
  const payload = u8(9, 8, 7);
  const f = encodeFrame(payload);
  assert.equal(f.length, frameHeaderBytes + 3);
  assert.deepStrictEqual(f.subarray(0, 4), u8(3, 0, 0, 0));
  const crc = crc32c(payload, crc32c(f.subarray(0, 4)));
  assert.deepStrictEqual(
    f.subarray(4, 8),
    u8(crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24),
  );
  assert.deepStrictEqual(f.subarray(8), payload);
});

test("decodeFrame() inverts encodeFrame() and returns a view of the payload", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 16 }), (payload, pad) => {
      const frame = encodeFrame(payload);
      const buf = new Uint8Array(pad + frame.length);
      buf.set(frame, pad);
      const got = decodeFrame(buf, pad, { complete: true });
      assert.ok(got !== undefined);
      assert.deepStrictEqual(got.payload, payload);
      assert.equal(got.next, buf.length);
      assert.equal(got.payload.buffer, buf.buffer);
    }),
    runs,
  );
});

test("encodeMessageFrame() equals encodeFrame(encodeMessage(m))", () => {
  fc.assert(
    fc.property(msgArb, (m) => {
      const frame = encodeMessageFrame(m);
      assert.deepStrictEqual(frame, encodeFrame(encodeMessage(m)));
      const got = decodeMessageFrame(frame, 0, { complete: true });
      assert.ok(got !== undefined);
      assert.deepStrictEqual(got.message, m);
      assert.equal(got.next, frame.length);
    }),
    { numRuns: 100 },
  );
});

test("decodeMessageFrame() reads a stream of frames delivered in arbitrary chunks", () => {
  fc.assert(
    fc.property(
      fc.array(msgArb, { minLength: 1, maxLength: 5 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1 }),
      (msgs, chunkSizes) => {
        const stream = concat(msgs.map(encodeMessageFrame));
        const got: Message[] = [];
        let pending: Uint8Array = new Uint8Array(0);
        let pos = 0;
        let chunk = 0;
        while (pos < stream.length) {
          const n = chunkSizes[chunk++ % chunkSizes.length]!;
          pending = concat([pending, stream.subarray(pos, pos + n)]);
          pos += n;
          for (;;) {
            const r = decodeMessageFrame(pending, 0);
            if (r === undefined) break;
            got.push(r.message);
            pending = pending.subarray(r.next);
          }
        }
        assert.equal(pending.length, 0);
        assert.deepStrictEqual(got, msgs);
      },
    ),
    { numRuns: 100 },
  );
});

test("decodeFrame() returns undefined at the end of input, even when complete", () => {
  const f = encodeFrame(u8(1));
  assert.equal(decodeFrame(f, f.length, { complete: true }), undefined);
  assert.equal(decodeFrame(new Uint8Array(0), 0, { complete: true }), undefined);
});

test("decodeFrame() throws RangeError for an offset outside the input or a bad limit", () => {
  const f = encodeFrame(u8(1));
  assert.throws(() => decodeFrame(f, f.length + 1), RangeError);
  assert.throws(() => decodeFrame(f, -1), RangeError);
  assert.throws(() => decodeFrame(f, 0.5), RangeError);
  assert.throws(() => decodeFrame(f, 0, { maxPayloadBytes: NaN }), RangeError);
  assert.throws(() => decodeFrame(f, 0, { maxPayloadBytes: -1 }), RangeError);
});

test("decodeFrame() rejects a length prefix above the limit as soon as the header is in", () => {
  const frame = encodeFrame(new Uint8Array(100));
  assertCodecError(() => decodeFrame(frame, 0, { maxPayloadBytes: 99 }), "oversized");
  assert.ok(decodeFrame(frame, 0, { maxPayloadBytes: 100 }) !== undefined);
  // Only the header has arrived: the limit applies already.
  assertCodecError(
    () => decodeFrame(frame.subarray(0, frameHeaderBytes), 0, { maxPayloadBytes: 10 }),
    "oversized",
  );
  // The default limit.
  for (const len of [defaultMaxFramePayloadBytes + 1, 0x80000000, 0xffffffff]) {
    const header = u8(len & 0xff, (len >>> 8) & 0xff, (len >>> 16) & 0xff, len >>> 24, 0, 0, 0, 0);
    assertCodecError(() => decodeFrame(header, 0), "oversized");
  }
});

/** Sample messages for the corruption corpus, deterministic. */
const corpus: Message[] = [
  newMessage({ type: 0 }),
  newMessage({ type: MessageType.MsgHeartbeat, to: 2, from: 1, term: 3 }),
  nested(3),
  ...fc.sample(msgArb, { seed: 42, numRuns: 25 }),
];

test("decodeMessageFrame() rejects every truncation of a frame when the input is complete", () => {
  for (const m of corpus) {
    const frame = encodeMessageFrame(m);
    for (let n = 1; n < frame.length; n++) {
      const cut = frame.subarray(0, n);
      assert.equal(decodeMessageFrame(cut, 0), undefined, "incomplete: wait for more");
      assertCodecError(() => decodeMessageFrame(cut, 0, { complete: true }), "truncated");
    }
  }
});

test("decodeMessageFrame() rejects every single-bit flip in a frame", () => {
  let flips = 0;
  for (const m of corpus) {
    const frame = encodeMessageFrame(m);
    const bits = frame.length * 8;
    // Every bit of small frames; a fixed stride through larger ones.
    const step = bits <= 4096 ? 1 : 7;
    for (let bit = 0; bit < bits; bit += step) {
      const bad = frame.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      assertCodecError(() => decodeMessageFrame(bad, 0, { complete: true }));
      flips++;
    }
  }
  assert.ok(flips > 1000, `only ${flips} flips tried`);
});

test("decodeMessageFrame() rejects random byte corruptions of a frame", () => {
  fc.assert(
    fc.property(
      msgArb,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      (m, edits) => {
        const bad = encodeMessageFrame(m);
        // XOR with nonzero values at distinct positions always changes the frame.
        const seen = new Set<number>();
        for (const [at, x] of edits) {
          const i = at % bad.length;
          if (seen.has(i)) continue;
          seen.add(i);
          bad[i]! ^= x;
        }
        assertCodecError(() => decodeMessageFrame(bad, 0, { complete: true }));
      },
    ),
    { numRuns: 500 },
  );
});

test("decodeMessageFrame() rejects garbage with CodecError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (garbage) => {
      assertCodecError(() => decodeMessageFrame(garbage, 0, { complete: true }));
    }),
    { numRuns: 2000 },
  );
});

test("decodeMessageFrame() on a valid frame of garbage returns a valid message or throws CodecError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (garbage) => {
      const r = decodeOrCodecError(() =>
        decodeMessageFrame(encodeFrame(garbage), 0, { complete: true })
      );
      if (r !== undefined) {
        assertValidMessage(r.message);
        assert.deepStrictEqual(decodeMessage(encodeMessage(r.message)), r.message);
      }
    }),
    { numRuns: 2000 },
  );
});

test("decodeMessage() on mutated encodings returns a valid message or throws CodecError", () => {
  fc.assert(
    fc.property(
      msgArb,
      fc.nat(),
      fc.integer({ min: 0, max: 3 }),
      fc.uint8Array({ minLength: 1, maxLength: 4 }),
      (m, at, op, junk) => {
        const b = encodeMessage(m);
        const i = b.length === 0 ? 0 : at % b.length;
        let bad: Uint8Array;
        switch (op) {
          case 0: // truncate
            bad = b.subarray(0, i);
            break;
          case 1: // overwrite
            bad = b.slice();
            bad.set(junk.subarray(0, Math.max(0, b.length - i)), i);
            break;
          case 2: // insert
            bad = concat([b.subarray(0, i), junk, b.subarray(i)]);
            break;
          default: // delete
            bad = concat([b.subarray(0, i), b.subarray(i + junk.length)]);
        }
        const got = decodeOrCodecError(() => decodeMessage(bad));
        if (got !== undefined) {
          assertValidMessage(got);
          assert.deepStrictEqual(decodeMessage(encodeMessage(got)), got);
        }
      },
    ),
    { numRuns: 2000 },
  );
});
