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

test("TransportMonitor tracks match indexes per term, counts traffic and isolates", () => {
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

  wrapped.send([newMessage({ type: MessageType.MsgApp, from: 1, to: 2, term: 3, index: 4 })]);
  const resp = (index: number, term: number, reject = false) =>
    newMessage({ type: MessageType.MsgAppResp, from: 2, to: 1, term, index, reject });
  inner.handler!.step(resp(7, 3));
  inner.handler!.step(resp(5, 3)); // stale: match stays 7
  inner.handler!.step(resp(9, 3, true)); // rejection: ignored
  assert.equal(mon.peer(2)!.match, 7);
  now = 2000;
  inner.handler!.step(resp(2, 4)); // new term: match restarts
  assert.deepEqual(mon.peer(2), {
    id: 2,
    messagesSent: 1,
    messagesReceived: 4,
    lastReceivedAt: 2000,
    match: 2,
    matchTerm: 4,
  });
  assert.equal(stepped.length, 4);

  mon.isolated = true;
  wrapped.send([newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 4 })]);
  inner.handler!.step(resp(3, 4));
  assert.equal(inner.sent.length, 1);
  assert.equal(stepped.length, 4);
  const s = mon.stats();
  assert.equal(s.messagesDropped, 2);
  assert.deepEqual(s.sentByType, { MsgApp: 1 });
  assert.deepEqual(s.receivedByType, { MsgAppResp: 4 });
  assert.throws(() => mon.wrap(inner), TypeError);
});
