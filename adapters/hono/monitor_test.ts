import { test } from "node:test";
import assert from "node:assert/strict";
import { TransportMonitor } from "./monitor.ts";
import type { Transport, TransportHandler } from "../../core/node.ts";
import { type Message, MessageType, newMessage } from "../../core/types.ts";

function fakeTransport(): Transport & {
  sent: Message[];
  handler?: TransportHandler;
  peers: number[];
} {
  const t: Transport & { sent: Message[]; handler?: TransportHandler; peers: number[] } = {
    sent: [],
    peers: [],
    start(h) {
      t.handler = h;
    },
    send(ms) {
      t.sent.push(...ms);
    },
    addPeer(id) {
      t.peers.push(id);
    },
    close() {},
  };
  return t;
}

test("TransportMonitor counts traffic per peer, notes when peers were heard from and isolates", () => {
  let now = 1000;
  const mon = new TransportMonitor({ now: () => now });
  const inner = fakeTransport();
  const wrapped = mon.wrap(inner);
  const stepped: Message[] = [];
  wrapped.start({
    id: 1,
    step: (m) => stepped.push(m),
    reportUnreachable() {},
    reportSnapshot() {},
  });
  wrapped.addPeer!(2, new Uint8Array());
  assert.deepEqual(inner.peers, [2]);
  assert.equal(mon.peer(2), undefined);

  wrapped.send([newMessage({ type: MessageType.MsgApp, from: 1, to: 2, term: 3, index: 4 })]);
  assert.deepEqual(mon.peer(2), {
    id: 2,
    messagesSent: 1,
    messagesReceived: 0,
    lastReceivedAt: undefined,
    unreachableAt: undefined,
  });
  const resp = (index: number, term: number, reject = false) =>
    newMessage({ type: MessageType.MsgAppResp, from: 2, to: 1, term, index, reject });
  inner.handler!.step(resp(7, 3));
  inner.handler!.step(resp(9, 3, true));
  now = 2000;
  inner.handler!.step(resp(2, 4));
  inner.handler!.step(newMessage({ type: MessageType.MsgHeartbeatResp, from: 3, to: 1, term: 4 }));
  assert.deepEqual(mon.peer(2), {
    id: 2,
    messagesSent: 1,
    messagesReceived: 3,
    lastReceivedAt: 2000,
    unreachableAt: undefined,
  });
  assert.deepEqual(mon.peers().map((p) => p.id), [2, 3]);
  assert.equal(stepped.length, 4);

  mon.isolated = true;
  wrapped.send([newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 4 })]);
  now = 3000;
  inner.handler!.step(resp(3, 4));
  assert.equal(inner.sent.length, 1);
  assert.equal(stepped.length, 4);
  assert.equal(mon.peer(2)!.lastReceivedAt, 2000, "dropped messages do not count as heard");
  const s = mon.stats();
  assert.equal(s.messagesDropped, 2);
  assert.deepEqual(s.sentByType, { MsgApp: 1 });
  assert.deepEqual(s.receivedByType, { MsgAppResp: 3, MsgHeartbeatResp: 1 });
  assert.throws(() => mon.wrap(inner), TypeError);
});

test("TransportMonitor.reachable() is false from a report of unreachability until the peer is heard again", () => {
  let now = 1000;
  const mon = new TransportMonitor({ now: () => now });
  const inner = fakeTransport();
  const unreachable: number[] = [];
  mon.wrap(inner).start({
    id: 1,
    step() {},
    reportUnreachable: (id) => unreachable.push(id),
    reportSnapshot() {},
  });
  assert.equal(mon.reachable(2), true, "nothing known");
  inner.handler!.step(newMessage({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1, term: 1 }));
  now = 1050;
  inner.handler!.reportUnreachable(2);
  assert.deepEqual(unreachable, [2], "the report reaches the node");
  assert.equal(mon.peer(2)!.unreachableAt, 1050);
  assert.equal(mon.reachable(2), false);
  assert.equal(mon.reachable(3), true);
  now = 1100;
  inner.handler!.step(newMessage({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1, term: 1 }));
  assert.equal(mon.reachable(2), true, "heard from again");
});

test("TransportMonitor passes the transport's reachability check through", () => {
  const mon = new TransportMonitor();
  const inner = {
    start() {},
    send() {},
    close() {},
    checkPeer: (id: number) => id === 9 ? "no address for node 9" : undefined,
  };
  const wrapped = mon.wrap(inner);
  assert.equal(wrapped.checkPeer!(9, new Uint8Array()), "no address for node 9");
  assert.equal(wrapped.checkPeer!(2, new Uint8Array()), undefined);
  // A transport without the check answers nothing.
  const bare = new TransportMonitor().wrap({ start() {}, send() {}, close() {} });
  assert.equal(bare.checkPeer!(9, new Uint8Array()), undefined);
});

test("TransportMonitor keeps a transport that streams snapshots streaming them", () => {
  const inner = Object.assign(fakeTransport(), { streamsSnapshots: true });
  const wrapped = new TransportMonitor().wrap(inner);
  assert.equal(wrapped.streamsSnapshots, true);
  const snapshotStreams = {
    dataBytes: () => undefined,
    read: () => {
      throw new Error("not read");
    },
    receive: () => {
      throw new Error("not received");
    },
  };
  wrapped.start({
    id: 1,
    step() {},
    reportUnreachable() {},
    reportSnapshot() {},
    snapshotStreams,
  });
  assert.equal(inner.handler?.snapshotStreams, snapshotStreams, "the node's snapshot streams");
  // One that does not, does not.
  assert.equal(new TransportMonitor().wrap(fakeTransport()).streamsSnapshots, false);
});
