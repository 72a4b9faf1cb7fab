import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeConfChangeV2 } from "../codec.ts";
import {
  type Entry,
  EntryType,
  type Message,
  MessageType,
  newConfChangeV2,
  newConfState,
  newMessage,
  newSnapshot,
} from "../types.ts";
import { envelopeHeader, wrap } from "./envelope.ts";
import { emptyReplicatedState, encodeSnapshotData } from "./replicated.ts";
import { checkEntry, checkPeerMessage, termAheadMax } from "./inbound.ts";
import { withCluster } from "../../tests/cluster/harness.ts";

const view = { term: 5, lastIndex: 10 };
const cmd = (index: number, term = 5): Entry => ({
  index,
  term,
  type: EntryType.EntryNormal,
  data: wrap(envelopeHeader(2, 1, index), new Uint8Array([1])),
});
const msg = (m: Partial<Message> & { type: MessageType }): Message =>
  newMessage({ from: 2, to: 1, term: 5, ...m });

test("checkPeerMessage() refuses a term more than termAheadMax above the node's, except at term 0", () => {
  const hb = (term: number): Message => msg({ type: MessageType.MsgHeartbeat, term });
  assert.equal(checkPeerMessage(hb(5 + termAheadMax), view), undefined);
  assert.match(checkPeerMessage(hb(6 + termAheadMax), view)!, /more than 1048576 above/);
  assert.match(checkPeerMessage(hb(2 ** 48 - 1), view)!, /above this node's term 5/);
  // A new member has no term of its own yet.
  assert.equal(checkPeerMessage(hb(7 + termAheadMax), { term: 0, lastIndex: 0 }), undefined);
});

test("checkPeerMessage() refuses a heartbeat whose commit index is past the log", () => {
  assert.equal(
    checkPeerMessage(msg({ type: MessageType.MsgHeartbeat, commit: 10 }), view),
    undefined,
  );
  assert.match(
    checkPeerMessage(msg({ type: MessageType.MsgHeartbeat, commit: 11 }), view)!,
    /commit index 11 is past this node's last index 10/,
  );
});

test("checkPeerMessage() refuses appends that are not contiguous or whose terms are out of order", () => {
  const app = (entries: Entry[], index = 10, logTerm = 4): Message =>
    msg({ type: MessageType.MsgApp, index, logTerm, entries });
  assert.equal(checkPeerMessage(app([cmd(11), cmd(12)]), view), undefined);
  assert.match(checkPeerMessage(app([cmd(11), cmd(13)]), view)!, /entry 1 has index 13, not 12/);
  assert.match(checkPeerMessage(app([cmd(12)]), view)!, /index 12, not 11/);
  assert.match(checkPeerMessage(app([cmd(11, 3)]), view)!, /term 3, outside 4..5/);
  assert.match(checkPeerMessage(app([cmd(11, 6)]), view)!, /term 6, outside 4..5/);
  assert.match(checkPeerMessage(app([cmd(11, 5), cmd(12, 4)]), view)!, /entry 12 has term 4/);
});

test("checkPeerMessage() refuses entries the driver could not apply, in appends and proposals", () => {
  const raw: Entry = { index: 11, term: 5, type: EntryType.EntryNormal, data: new Uint8Array([7]) };
  const badConf: Entry = {
    index: 11,
    term: 5,
    type: EntryType.EntryConfChangeV2,
    data: new Uint8Array([0xff, 0xff]),
  };
  const goodConf: Entry = {
    index: 11,
    term: 5,
    type: EntryType.EntryConfChangeV2,
    data: encodeConfChangeV2(newConfChangeV2()),
  };
  const empty: Entry = { index: 11, term: 5, type: EntryType.EntryNormal, data: new Uint8Array() };
  for (const type of [MessageType.MsgApp, MessageType.MsgProp]) {
    const m = (e: Entry): Message => msg({ type, index: 10, logTerm: 4, entries: [e] });
    assert.match(checkPeerMessage(m(raw), view)!, /entry 11 has no driver envelope/);
    assert.match(checkPeerMessage(m(badConf), view)!, /no valid membership change/);
    assert.equal(checkPeerMessage(m(goodConf), view), undefined);
    assert.equal(checkPeerMessage(m(empty), view), undefined);
  }
  assert.match(checkPeerMessage(msg({ type: MessageType.MsgProp }), view)!, /proposes no entry/);
  assert.match(checkEntry({ ...raw, type: 7 as EntryType })!, /unknown type 7/);
});

test("checkPeerMessage() refuses a snapshot without the driver's header or without voters", () => {
  const snap = (data: Uint8Array, voters = [1, 2, 3]): Message =>
    msg({
      type: MessageType.MsgSnap,
      snapshot: newSnapshot({ index: 20, term: 5, confState: newConfState({ voters }), data }),
    });
  const good = encodeSnapshotData(emptyReplicatedState(), new TextEncoder().encode("{}"));
  assert.equal(checkPeerMessage(snap(good), view), undefined);
  assert.match(checkPeerMessage(snap(new TextEncoder().encode("garbage")), view)!, /header/);
  assert.match(checkPeerMessage(snap(good.subarray(0, 5)), view)!, /Cannot read/);
  assert.match(checkPeerMessage(snap(good, []), view)!, /no voters/);
});

test("RaftNode drops a peer's message that would wedge the cluster or commit what it cannot apply", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const l = await c.leader();
    await c.run(l.propose(new TextEncoder().encode("a")));
    const f = c.follower(l.id);
    const before = f.status();
    const hostile = c.net.connect(7);
    hostile.start({ id: 7, step() {}, reportUnreachable() {}, reportSnapshot() {} });
    // A heartbeat far ahead in term, one whose commit is past the log, and
    // an append at the current term of an entry without the driver's envelope.
    hostile.send([
      newMessage({
        type: MessageType.MsgHeartbeat,
        from: 7,
        to: f.id,
        term: before.term + termAheadMax + 1,
      }),
      newMessage({
        type: MessageType.MsgHeartbeat,
        from: l.id,
        to: f.id,
        term: before.term,
        commit: before.lastIndex + 50,
      }),
      newMessage({
        type: MessageType.MsgApp,
        from: l.id,
        to: f.id,
        term: before.term,
        index: before.lastIndex,
        logTerm: before.term,
        entries: [{
          index: before.lastIndex + 1,
          term: before.term,
          type: EntryType.EntryNormal,
          data: new Uint8Array([1, 2, 3]),
        }],
      }),
    ]);
    // The cluster goes on in its term, and commits and applies as before.
    const r = await c.run(l.propose(new TextEncoder().encode("b")));
    assert.equal(typeof r, "string");
    await c.converge(2);
    const after = f.status();
    assert.equal(after.term, before.term);
    assert.equal(f.closed, false);
    assert.equal(c.machine(f.id).history.join(","), c.machine(l.id).history.join(","));
    hostile.close();
  });
});

test("RaftNode keeps nothing of a snapshot its state machine cannot restore, and a restart recovers", async () => {
  await withCluster({
    size: 3,
    node: { snapshotEntries: 5, snapshotCatchUpEntries: 0 },
  }, async (c) => {
    const l = await c.leader();
    const f = c.follower(l.id);
    const fid = f.id;
    c.net.isolate(fid);
    for (let i = 0; i < 12; i++) await c.run(l.propose(new TextEncoder().encode(`k${i}=v`)));
    const storage = c.storages.get(fid)!;
    const snapBefore = storage.snapshot().metadata.index;
    assert.ok(c.storages.get(l.id)!.firstIndex() > storage.lastIndex() + 1, "leader compacted");
    // The follower's state machine cannot restore what it is sent.
    c.machine(fid).restore = (): void => {
      throw new SyntaxError("Unexpected token in JSON");
    };
    c.net.heal();
    await c.clock.until(() => f.closed, 10_000);
    assert.match(f.error?.message ?? "", /Unexpected token/);
    assert.equal(storage.snapshot().metadata.index, snapBefore, "the snapshot was not kept");
    // Restarted with a state machine that works, it catches up.
    await c.stop(fid);
    await c.start(fid);
    await c.converge(12, [fid]);
    assert.deepEqual(c.machine(fid).history, c.machine(l.id).history);
  });
});
