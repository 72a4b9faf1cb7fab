import { test } from "node:test";
import assert from "node:assert/strict";

import {
  confChangesFromString,
  confChangesToString,
  describeConfChange,
  describeConfState,
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeSoftState,
  describeTarget,
  goQuote,
} from "./describe.ts";
import { decodeConfChangeV2 } from "./codec.ts";
import {
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  LocalAppendThread,
  LocalApplyThread,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newConfState,
  newEntry,
  newHardState,
  newMessage,
  newSnapshot,
  type Ready,
  StateType,
} from "./types.ts";

const enc = new TextEncoder();
const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const utf8 = (s: string): Uint8Array => enc.encode(s);

test("goQuote() matches Go's %q", () => {
  const cases: { name: string; in: Uint8Array; want: string }[] = [
    { name: "empty", in: bytes(), want: '""' },
    { name: "ascii", in: utf8("prop_1 foo'bar"), want: `"prop_1 foo'bar"` },
    { name: "quotes and backslashes", in: utf8('"foo"\\'), want: `"\\"foo\\"\\\\"` },
    {
      name: "short escapes",
      in: bytes(0x07, 0x08, 0x0c, 0x0a, 0x0d, 0x09, 0x0b),
      want: `"\\a\\b\\f\\n\\r\\t\\v"`,
    },
    { name: "other controls", in: bytes(0x00, 0x01, 0x1b, 0x1f), want: `"\\x00\\x01\\x1b\\x1f"` },
    { name: "DEL", in: bytes(0x61, 0x7f, 0x62), want: `"a\\x7fb"` },
    { name: "C1 control U+0085", in: bytes(0xc2, 0x85), want: `"\\u0085"` },
    { name: "invalid bytes", in: bytes(0xff, 0x80, 0xfe, 0x41), want: `"\\xff\\x80\\xfeA"` },
    { name: "overlong encoding", in: bytes(0xc0, 0xaf), want: `"\\xc0\\xaf"` },
    { name: "encoded surrogate", in: bytes(0xed, 0xa0, 0x80), want: `"\\xed\\xa0\\x80"` },
    { name: "above U+10FFFF", in: bytes(0xf4, 0x90, 0x80, 0x80), want: `"\\xf4\\x90\\x80\\x80"` },
    { name: "truncated sequence", in: bytes(0xe2, 0x82, 0x41), want: `"\\xe2\\x82A"` },
    { name: "truncated at end", in: bytes(0x61, 0xf0, 0x9f, 0x98), want: `"a\\xf0\\x9f\\x98"` },
    { name: "valid U+FFFD", in: bytes(0xef, 0xbf, 0xbd), want: `"\u{fffd}"` },
    { name: "printable letters", in: utf8("héllo wörld €"), want: `"héllo wörld €"` },
    { name: "combining mark", in: utf8("e\u0301"), want: `"e\u0301"` },
    { name: "NBSP", in: utf8("a\u00a0b"), want: `"a\\u00a0b"` },
    { name: "soft hyphen", in: utf8("\u00ad"), want: `"\\u00ad"` },
    { name: "ideographic space", in: utf8("\u3000"), want: `"\\u3000"` },
    { name: "zero width space", in: utf8("\u200b"), want: `"\\u200b"` },
    { name: "BOM", in: utf8("\ufeff"), want: `"\\ufeff"` },
    { name: "line separator", in: utf8("\u2028"), want: `"\\u2028"` },
    { name: "astral non-printable", in: utf8("\u{e0001}"), want: `"\\U000e0001"` },
    { name: "astral private use", in: utf8("\u{f0000}"), want: `"\\U000f0000"` },
    { name: "printable astral", in: utf8("\u{1f600}\u{1d11e}"), want: `"\u{1f600}\u{1d11e}"` },
    { name: "CJK", in: utf8("日本"), want: `"日本"` },
  ];
  for (const c of cases) {
    assert.equal(goQuote(c.in), c.want, c.name);
  }
});

test("goQuote() handles long printable runs", () => {
  const data = new Uint8Array(200_000).fill(0x61);
  const q = goQuote(data);
  assert.equal(q.length, 200_002);
  assert.equal(q, '"' + "a".repeat(200_000) + '"');
});

test("describeTarget() names None, the storage threads and hex IDs", () => {
  assert.equal(describeTarget(0), "None");
  assert.equal(describeTarget(LocalAppendThread), "AppendThread");
  assert.equal(describeTarget(LocalApplyThread), "ApplyThread");
  assert.equal(describeTarget(1), "1");
  assert.equal(describeTarget(10), "a");
  assert.equal(describeTarget(255), "ff");
});

// Hand-encoded protobuf payloads (raftpb field numbers).
// ConfChangeV2 {changes: [{AddNode 2}, {AddNode 3}]}
const ccV2AddV2V3 = bytes(0x12, 0x04, 0x08, 0x00, 0x10, 0x02, 0x12, 0x04, 0x08, 0x00, 0x10, 0x03);
// ConfChangeV2 {changes: [{RemoveNode 1}, {AddNode 4}]}
const ccV2R1V4 = bytes(0x12, 0x04, 0x08, 0x01, 0x10, 0x01, 0x12, 0x04, 0x08, 0x00, 0x10, 0x04);
// ConfChangeV2 {transition: JointExplicit, changes: [{AddLearnerNode 5}], context: "hi"}
const ccV2L5 = bytes(0x08, 0x02, 0x12, 0x04, 0x08, 0x03, 0x10, 0x05, 0x1a, 0x02, 0x68, 0x69);
// ConfChange {id: 7, type: AddNode, node_id: 2, context: "x"}
const ccV1V2 = bytes(0x08, 0x07, 0x10, 0x00, 0x18, 0x02, 0x22, 0x01, 0x78);

test("describeEntry() formats normal and conf change entries", () => {
  const cases: { name: string; e: Parameters<typeof describeEntry>[0]; want: string }[] = [
    { name: "empty normal", e: newEntry({ term: 8, index: 21 }), want: '8/21 EntryNormal ""' },
    {
      name: "normal data",
      e: newEntry({ term: 6, index: 20, data: utf8("prop_6_20") }),
      want: '6/20 EntryNormal "prop_6_20"',
    },
    {
      name: "quoted data",
      e: newEntry({ term: 1, index: 3, data: utf8('"foo"') }),
      want: '1/3 EntryNormal "\\"foo\\""',
    },
    {
      name: "V2 two adds",
      e: newEntry({ term: 1, index: 4, type: EntryType.EntryConfChangeV2, data: ccV2AddV2V3 }),
      want: "1/4 EntryConfChangeV2 v2 v3",
    },
    {
      name: "V2 remove and add",
      e: newEntry({ term: 2, index: 5, type: EntryType.EntryConfChangeV2, data: ccV2R1V4 }),
      want: "2/5 EntryConfChangeV2 r1 v4",
    },
    {
      name: "V2 transition and context do not print",
      e: newEntry({ term: 1, index: 5, type: EntryType.EntryConfChangeV2, data: ccV2L5 }),
      want: "1/5 EntryConfChangeV2 l5",
    },
    {
      name: "V2 empty (auto-leave)",
      e: newEntry({ term: 1, index: 6, type: EntryType.EntryConfChangeV2 }),
      want: "1/6 EntryConfChangeV2",
    },
    {
      name: "forwarded proposal",
      e: newEntry({ type: EntryType.EntryConfChangeV2 }),
      want: "0/0 EntryConfChangeV2",
    },
    {
      name: "V1: id and context do not print",
      e: newEntry({ term: 1, index: 3, type: EntryType.EntryConfChange, data: ccV1V2 }),
      want: "1/3 EntryConfChange v2",
    },
    {
      name: "V1 empty data is AddNode 0",
      e: newEntry({ term: 1, index: 3, type: EntryType.EntryConfChange }),
      want: "1/3 EntryConfChange v0",
    },
  ];
  for (const c of cases) {
    assert.equal(describeEntry(c.e), c.want, c.name);
  }
});

test("describeEntry() prints the decoder's error for undecodable conf changes", () => {
  const bad = bytes(0x12, 0x10, 0x08); // length runs past the end
  let msg = "";
  try {
    decodeConfChangeV2(bad);
  } catch (err) {
    msg = (err as Error).message;
  }
  assert.notEqual(msg, "");
  const e = newEntry({ term: 1, index: 2, type: EntryType.EntryConfChangeV2, data: bad });
  assert.equal(describeEntry(e), "1/2 EntryConfChangeV2 " + msg);
});

test("describeEntry() uses the EntryFormatter for normal entries only", () => {
  const f = (d: Uint8Array): string => `<${d.length} bytes>`;
  assert.equal(
    describeEntry(newEntry({ term: 1, index: 1, data: utf8("abc") }), f),
    "1/1 EntryNormal <3 bytes>",
  );
  assert.equal(describeEntry(newEntry({ term: 1, index: 1 }), () => ""), "1/1 EntryNormal");
  const cc = newEntry({ term: 1, index: 2, type: EntryType.EntryConfChangeV2, data: ccV2AddV2V3 });
  assert.equal(describeEntry(cc, f), "1/2 EntryConfChangeV2 v2 v3");
});

test("describeEntries() ends every entry with a newline", () => {
  assert.equal(describeEntries([]), "");
  assert.equal(
    describeEntries([
      newEntry({ term: 1, index: 7, data: utf8("foo") }),
      newEntry({ term: 1, index: 9, type: EntryType.EntryConfChangeV2 }),
    ]),
    '1/7 EntryNormal "foo"\n1/9 EntryConfChangeV2\n',
  );
});

const snap4 = newSnapshot({
  index: 4,
  term: 1,
  data: utf8("never printed"),
  confState: newConfState({ voters: [1, 2] }),
});
const snap4Text =
  "Index:4 Term:1 ConfState:Voters:[1 2] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false";

test("describeMessage() prints the header with zero fields", () => {
  assert.equal(
    describeMessage(newMessage({ type: MessageType.MsgProp, from: 1, to: 1 })),
    "1->1 MsgProp Term:0 Log:0/0",
  );
  assert.equal(
    describeMessage(
      newMessage({ type: MessageType.MsgStorageApply, from: 1, to: LocalApplyThread }),
    ),
    "1->ApplyThread MsgStorageApply Term:0 Log:0/0",
  );
});

test("describeMessage() prints rejections, commit and vote, never the context", () => {
  assert.equal(
    describeMessage(
      newMessage({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 1, index: 3, reject: true }),
    ),
    "2->1 MsgAppResp Term:1 Log:0/3 Rejected (Hint: 0)",
  );
  assert.equal(
    describeMessage(
      newMessage({
        type: MessageType.MsgAppResp,
        from: 3,
        to: 1,
        term: 1,
        logTerm: 1,
        index: 10,
        reject: true,
        rejectHint: 5,
      }),
    ),
    "3->1 MsgAppResp Term:1 Log:1/10 Rejected (Hint: 5)",
  );
  assert.equal(
    describeMessage(
      newMessage({
        type: MessageType.MsgVote,
        from: 1,
        to: 2,
        term: 2,
        logTerm: 1,
        index: 11,
        context: utf8("CampaignTransfer"),
      }),
    ),
    "1->2 MsgVote Term:2 Log:1/11",
  );
  assert.equal(
    describeMessage(
      newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 3, term: 1, commit: 11 }),
    ),
    "1->3 MsgHeartbeat Term:1 Log:0/0 Commit:11",
  );
  assert.equal(
    describeMessage(
      newMessage({
        type: MessageType.MsgStorageAppend,
        from: 1,
        to: LocalAppendThread,
        term: 1,
        vote: 1,
        commit: 2,
      }),
    ),
    "1->AppendThread MsgStorageAppend Term:1 Log:0/0 Commit:2 Vote:1",
  );
});

test("describeMessage() prints one entry inline and several on their own lines", () => {
  assert.equal(
    describeMessage(
      newMessage({
        type: MessageType.MsgProp,
        from: 2,
        to: 1,
        entries: [newEntry({ type: EntryType.EntryConfChangeV2 })],
      }),
    ),
    "2->1 MsgProp Term:0 Log:0/0 Entries:[0/0 EntryConfChangeV2]",
  );
  assert.equal(
    describeMessage(
      newMessage({
        type: MessageType.MsgApp,
        from: 1,
        to: 2,
        term: 8,
        logTerm: 6,
        index: 19,
        commit: 18,
        entries: [
          newEntry({ term: 6, index: 20, data: utf8("prop_6_20") }),
          newEntry({ term: 8, index: 21 }),
        ],
      }),
    ),
    '1->2 MsgApp Term:8 Log:6/19 Commit:18 Entries:[\n  6/20 EntryNormal "prop_6_20"\n  8/21 EntryNormal ""\n]',
  );
});

test("describeMessage() prints a snapshot on its own line, not its data", () => {
  assert.equal(
    describeMessage(
      newMessage({ type: MessageType.MsgSnap, from: 1, to: 2, term: 1, snapshot: snap4 }),
    ),
    "1->2 MsgSnap Term:1 Log:0/0\n  Snapshot: " + snap4Text,
  );
  assert.equal(
    describeMessage(
      newMessage({ type: MessageType.MsgSnap, from: 1, to: 2, term: 1, snapshot: newSnapshot() }),
    ),
    "1->2 MsgSnap Term:1 Log:0/0",
  );
});

test("describeMessage() nests responses with deeper indentation", () => {
  const m = newMessage({
    type: MessageType.MsgStorageAppend,
    from: 1,
    to: LocalAppendThread,
    entries: [newEntry({ term: 1, index: 11 })],
    responses: [
      newMessage({ type: MessageType.MsgAppResp, from: 1, to: 1, term: 1, index: 11 }),
      newMessage({
        type: MessageType.MsgStorageAppendResp,
        from: LocalAppendThread,
        to: 1,
        term: 1,
        logTerm: 1,
        index: 11,
      }),
    ],
  });
  assert.equal(
    describeMessage(m),
    [
      '1->AppendThread MsgStorageAppend Term:0 Log:0/0 Entries:[1/11 EntryNormal ""] Responses:[',
      "  1->1 MsgAppResp Term:1 Log:0/11",
      "  AppendThread->1 MsgStorageAppendResp Term:1 Log:1/11",
      "]",
    ].join("\n"),
  );
});

test("describeMessage() renders the HARNESS.md §5.2 snapshot-with-responses example", () => {
  const m = newMessage({
    type: MessageType.MsgStorageAppend,
    from: 2,
    to: LocalAppendThread,
    term: 1,
    commit: 4,
    vote: 1,
    snapshot: snap4,
    responses: [
      newMessage({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 1, index: 4 }),
      newMessage({
        type: MessageType.MsgStorageAppendResp,
        from: LocalAppendThread,
        to: 2,
        term: 1,
        snapshot: snap4,
      }),
    ],
  });
  assert.equal(
    describeMessage(m),
    [
      "2->AppendThread MsgStorageAppend Term:1 Log:0/0 Commit:4 Vote:1",
      "  Snapshot: Index:4 Term:1 ConfState:Voters:[1 2] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false Responses:[",
      "  2->1 MsgAppResp Term:1 Log:0/4",
      "  AppendThread->2 MsgStorageAppendResp Term:1 Log:0/0",
      "    Snapshot: Index:4 Term:1 ConfState:Voters:[1 2] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false",
      "]",
    ].join("\n"),
  );
});

test("describeMessage() indents the entries of a nested response", () => {
  const m = newMessage({
    type: MessageType.MsgStorageApply,
    from: 1,
    to: LocalApplyThread,
    responses: [
      newMessage({
        type: MessageType.MsgStorageApplyResp,
        from: LocalApplyThread,
        to: 1,
        entries: [newEntry({ term: 1, index: 1 }), newEntry({ term: 1, index: 2 })],
      }),
    ],
  });
  assert.equal(
    describeMessage(m),
    [
      "1->ApplyThread MsgStorageApply Term:0 Log:0/0 Responses:[",
      "  ApplyThread->1 MsgStorageApplyResp Term:0 Log:0/0 Entries:[",
      '    1/1 EntryNormal ""',
      '    1/2 EntryNormal ""',
      "  ]",
      "]",
    ].join("\n"),
  );
});

test("describeHardState(), describeSoftState(), describeConfState() and describeSnapshot()", () => {
  assert.equal(
    describeHardState(newHardState({ term: 1, vote: 1, commit: 2 })),
    "Term:1 Vote:1 Commit:2",
  );
  assert.equal(describeHardState(newHardState({ term: 1 })), "Term:1 Commit:0");
  assert.equal(
    describeSoftState({ lead: 0, raftState: StateType.StateFollower }),
    "Lead:0 State:StateFollower",
  );
  assert.equal(
    describeSoftState({ lead: 12, raftState: StateType.StatePreCandidate }),
    "Lead:12 State:StatePreCandidate",
  );
  assert.equal(
    describeConfState(
      newConfState({
        voters: [3, 1, 2],
        votersOutgoing: [1],
        learners: [4],
        learnersNext: [5],
        autoLeave: true,
      }),
    ),
    "Voters:[3 1 2] VotersOutgoing:[1] Learners:[4] LearnersNext:[5] AutoLeave:true",
  );
  assert.equal(describeSnapshot(snap4), snap4Text);
});

function emptyReady(): Ready {
  return {
    softState: undefined,
    hardState: newHardState(),
    readStates: [],
    entries: [],
    snapshot: undefined,
    committedEntries: [],
    messages: [],
    mustSync: false,
  };
}

test("describeReady() prints <empty Ready> when nothing is set", () => {
  assert.equal(describeReady(emptyReady()), "<empty Ready>");
  assert.equal(describeReady({ ...emptyReady(), mustSync: true }), "<empty Ready>");
  assert.equal(describeReady({ ...emptyReady(), snapshot: newSnapshot() }), "<empty Ready>");
});

test("describeReady() renders the HARNESS.md §5.6 examples", () => {
  const appResp = (index: number) =>
    newMessage({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 1, index });
  const rd: Ready = {
    ...emptyReady(),
    hardState: newHardState({ term: 1, commit: 6 }),
    entries: [
      newEntry({ term: 1, index: 7, data: utf8("foo") }),
      newEntry({ term: 1, index: 8, data: utf8("bar") }),
      newEntry({ term: 1, index: 9, type: EntryType.EntryConfChangeV2 }),
    ],
    committedEntries: [
      newEntry({
        term: 1,
        index: 6,
        type: EntryType.EntryConfChangeV2,
        // ConfChangeV2 {changes: [{RemoveNode 2}, {RemoveNode 3}]}
        data: bytes(0x12, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x04, 0x08, 0x01, 0x10, 0x03),
      }),
    ],
    messages: [appResp(7), appResp(8), appResp(8), appResp(9)],
    mustSync: true,
  };
  assert.equal(
    describeReady(rd),
    [
      "Ready MustSync=true:",
      "HardState Term:1 Commit:6",
      "Entries:",
      '1/7 EntryNormal "foo"',
      '1/8 EntryNormal "bar"',
      "1/9 EntryConfChangeV2",
      "CommittedEntries:",
      "1/6 EntryConfChangeV2 r2 r3",
      "Messages:",
      "2->1 MsgAppResp Term:1 Log:0/7",
      "2->1 MsgAppResp Term:1 Log:0/8",
      "2->1 MsgAppResp Term:1 Log:0/8",
      "2->1 MsgAppResp Term:1 Log:0/9",
      "",
    ].join("\n"),
  );

  const restored: Ready = {
    ...emptyReady(),
    hardState: newHardState({ term: 1, commit: 4 }),
    snapshot: newSnapshot({
      index: 4,
      term: 1,
      confState: newConfState({ voters: [1, 2, 3], votersOutgoing: [1], autoLeave: true }),
    }),
    messages: [appResp(4)],
  };
  assert.equal(
    describeReady(restored),
    [
      "Ready MustSync=false:",
      "HardState Term:1 Commit:4",
      "Snapshot Index:4 Term:1 ConfState:Voters:[1 2 3] VotersOutgoing:[1] Learners:[] LearnersNext:[] AutoLeave:true",
      "Messages:",
      "2->1 MsgAppResp Term:1 Log:0/4",
      "",
    ].join("\n"),
  );
});

test("describeReady() prints every section in order", () => {
  const rd: Ready = {
    softState: { lead: 1, raftState: StateType.StateLeader },
    hardState: newHardState({ term: 2, vote: 1, commit: 3 }),
    readStates: [{ index: 5, requestCtx: utf8("ctx") }, { index: 7, requestCtx: bytes() }],
    entries: [newEntry({ term: 2, index: 4 })],
    snapshot: snap4,
    committedEntries: [newEntry({ term: 2, index: 3, data: utf8("x") })],
    messages: [newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 2 })],
    mustSync: true,
  };
  assert.equal(
    describeReady(rd),
    [
      "Ready MustSync=true:",
      "Lead:1 State:StateLeader",
      "HardState Term:2 Vote:1 Commit:3",
      "ReadStates [{5 [99 116 120]} {7 []}]",
      "Entries:",
      '2/4 EntryNormal ""',
      "Snapshot " + snap4Text,
      "CommittedEntries:",
      '2/3 EntryNormal "x"',
      "Messages:",
      "1->2 MsgHeartbeat Term:2 Log:0/0",
      "",
    ].join("\n"),
  );
  // A SoftState alone is enough for a non-empty Ready.
  assert.equal(
    describeReady({ ...emptyReady(), softState: { lead: 0, raftState: StateType.StateCandidate } }),
    "Ready MustSync=false:\nLead:0 State:StateCandidate\n",
  );
});

test("describeConfChange() describes both forms through V2", () => {
  const add = (nodeId: number): ConfChangeSingle => ({
    type: ConfChangeType.ConfChangeAddNode,
    nodeId,
  });
  assert.equal(
    describeConfChange(newConfChangeV2({ changes: [add(3), add(4)] })),
    "transition:ConfChangeTransitionAuto changes:{type:ConfChangeAddNode node_id:3} changes:{type:ConfChangeAddNode node_id:4}",
  );
  assert.equal(describeConfChange(newConfChangeV2()), "transition:ConfChangeTransitionAuto");
  assert.equal(
    describeConfChange(
      newConfChangeV2({
        transition: ConfChangeTransition.ConfChangeTransitionJointExplicit,
        changes: [{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 2 }],
        context: utf8('a"b\n'),
      }),
    ),
    'transition:ConfChangeTransitionJointExplicit changes:{type:ConfChangeAddLearnerNode node_id:2} context:"a\\"b\\n"',
  );
  assert.equal(
    describeConfChange(
      newConfChange({
        type: ConfChangeType.ConfChangeRemoveNode,
        nodeId: 5,
        id: 9,
        context: utf8("c"),
      }),
    ),
    'transition:ConfChangeTransitionAuto changes:{type:ConfChangeRemoveNode node_id:5} context:"c"',
  );
  assert.equal(
    describeConfChange(
      newConfChangeV2({
        transition: ConfChangeTransition.ConfChangeTransitionJointImplicit,
        changes: [{ type: ConfChangeType.ConfChangeUpdateNode, nodeId: 1 }],
      }),
    ),
    "transition:ConfChangeTransitionJointImplicit changes:{type:ConfChangeUpdateNode node_id:1}",
  );
});

test("confChangesFromString() and confChangesToString() round-trip", () => {
  const cases: { in: string; want: ConfChangeSingle[]; str: string }[] = [
    { in: "", want: [], str: "" },
    { in: "   \n", want: [], str: "" },
    {
      in: "v1 l2 r3 u4",
      want: [
        { type: ConfChangeType.ConfChangeAddNode, nodeId: 1 },
        { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 2 },
        { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3 },
        { type: ConfChangeType.ConfChangeUpdateNode, nodeId: 4 },
      ],
      str: "v1 l2 r3 u4",
    },
    {
      in: "\t v10 r007 \n",
      want: [
        { type: ConfChangeType.ConfChangeAddNode, nodeId: 10 },
        { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 7 },
      ],
      str: "v10 r7",
    },
    {
      in: "v9007199254740991",
      want: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: Number.MAX_SAFE_INTEGER }],
      str: "v9007199254740991",
    },
  ];
  for (const c of cases) {
    const got = confChangesFromString(c.in);
    assert.deepEqual(got, c.want, JSON.stringify(c.in));
    assert.equal(confChangesToString(got), c.str);
    assert.deepEqual(confChangesFromString(confChangesToString(got)), c.want);
  }
  assert.equal(
    confChangesToString([{ type: 7 as ConfChangeType, nodeId: 2 }, { type: 0, nodeId: 0 }]),
    "unknown2 v0",
  );
});

test("confChangesFromString() throws etcd's error texts", () => {
  const cases: { in: string; want: string }[] = [
    { in: "v", want: "unknown token v" },
    { in: "v1 x", want: "unknown token x" },
    { in: "v1  v2", want: "unknown token " },
    { in: "x1", want: "unknown input: x1" },
    { in: "V1", want: "unknown input: V1" },
    { in: "é", want: "unknown input: é" },
    { in: "vx", want: 'strconv.ParseUint: parsing "x": invalid syntax' },
    { in: "v1 v-1", want: 'strconv.ParseUint: parsing "-1": invalid syntax' },
    { in: "v+1", want: 'strconv.ParseUint: parsing "+1": invalid syntax' },
    { in: "v1_0", want: 'strconv.ParseUint: parsing "1_0": invalid syntax' },
    { in: "v1\tv2", want: 'strconv.ParseUint: parsing "1\\tv2": invalid syntax' },
    {
      in: "v18446744073709551616",
      want: 'strconv.ParseUint: parsing "18446744073709551616": value out of range',
    },
    {
      in: "v9007199254740992",
      want: 'strconv.ParseUint: parsing "9007199254740992": value out of range',
    },
  ];
  for (const c of cases) {
    assert.throws(() => confChangesFromString(c.in), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.equal(err.message, c.want, JSON.stringify(c.in));
      return true;
    });
  }
});
