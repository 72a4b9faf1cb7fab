/**
 * The transport against hostile peers that know the cluster secret, built
 * on the transport's own wire code (handshake tokens and frames): only
 * members connect, a connection is bound to its member and dropped when
 * the member is removed, advertised addresses are never dialled, one peer
 * cannot use up another's handshake capacity, and refusals cannot flood
 * the log.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeMessageFrame } from "../../core/codec.ts";
import { type Message, MessageType, newEntry, newMessage } from "../../core/types.ts";
import { encodePeerContext, WebSocketTransport } from "./mod.ts";
import { importSecret, protocolName, signToken } from "./_auth.ts";
import { handshakesPerPeerMax } from "./_inbound.ts";
import { packMessages } from "./_wire.ts";
import {
  CaptureLogger,
  clusterId,
  impls,
  rawClient,
  Recorder,
  secret,
  testOptions,
  waitFor,
  within,
} from "./_test_util.ts";

const impl = impls[0]!;

/** A put at the current term, as a non-member would forge it. */
function forgedAppend(from: number, to: number): Message {
  return newMessage({
    type: MessageType.MsgApp,
    from,
    to,
    term: 1,
    logTerm: 1,
    index: 0,
    commit: 1,
    entries: [newEntry({ term: 1, index: 1, data: new TextEncoder().encode("injected") })],
  });
}

function batch(m: Message): Uint8Array {
  return packMessages([encodeMessageFrame(m)], 1 << 20)[0]!.data;
}

async function token(from: number, to: number, advertiseUrl = "", at = Date.now()) {
  const key = await importSecret(new TextEncoder().encode(secret));
  return await signToken(key, { clusterId, from, to, timestampMs: at, advertiseUrl });
}

test("WebSocketTransport refuses a signed handshake from a non-member and never dials the address it advertises", async () => {
  const log = new CaptureLogger("b: ");
  const b = new WebSocketTransport(testOptions(2, impl, { logger: log }));
  const bait = new WebSocketTransport(testOptions(99, impl)); // where "peer 99" says it lives
  try {
    const [addrB, addrBait] = await Promise.all([b.listen(), bait.listen()]);
    b.addPeer(1, new Uint8Array());
    const rb = new Recorder(2);
    b.start(rb);
    bait.start(new Recorder(99));
    for (const id of [7, 98, 99, Number.MAX_SAFE_INTEGER]) {
      const d = await b.acceptPeer({
        protocols: [protocolName, await token(id, 2, addrBait.url)],
        remoteAddress: "10.9.9.9:4444",
      });
      assert.equal(d.accept, false, `node ${id}`);
      assert.equal(d.accept ? 0 : d.status, 403);
      assert.match(d.accept ? "" : d.reason, new RegExp(`node ${id} is not a member`));
    }
    // Over a real socket too, with a forged append that must never be stepped.
    const raw = await rawClient(addrB.url, 7, 2, "native");
    const closed = await within(raw.closed, "the refusal");
    assert.notEqual(closed.code, 1000);
    raw.socket.close(1000, "");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(rb.messages.length, 0);
    assert.ok(
      log.has("refused a connection from 10.9.9.9:4444: 403 Forbidden: node 7 is not a member"),
    );
    const m = b.metrics();
    assert.deepEqual(m.peers.map((p) => p.id), [1], "no state for non-members");
    assert.equal(bait.metrics().inboundConnections, 0, "the advertised address was never dialled");
    assert.equal(m.connectionsRefused, 5);
    // The member is accepted.
    const ok = await b.acceptPeer({ protocols: [protocolName, await token(1, 2)] });
    assert.equal(ok.accept, true);
  } finally {
    await Promise.all([b.close(), bait.close()]);
  }
});

test("WebSocketTransport binds a connection to its member, drops it when the member is removed and keeps refusing it", async () => {
  const log = new CaptureLogger("b: ");
  const b = new WebSocketTransport(testOptions(2, impl, { logger: log }));
  try {
    const addrB = await b.listen();
    b.addPeer(3, new Uint8Array());
    const rb = new Recorder(2);
    b.start(rb);
    const raw = await rawClient(addrB.url, 3, 2, "native");
    await within(raw.opened, "the member's connection");
    raw.socket.send(batch(newMessage({ type: MessageType.MsgHeartbeat, from: 3, to: 2, term: 1 })));
    await waitFor(() => rb.messages.length === 1, "the member's heartbeat");
    // Bound to node 3: a message in the name of node 1 closes it.
    raw.socket.send(batch(forgedAppend(1, 2)));
    const spoofed = await within(raw.closed, "the spoofed sender's close");
    assert.equal(spoofed.code, 1008);
    assert.match(spoofed.reason, /authenticated as node 3/);
    assert.equal(rb.messages.length, 1);

    b.removePeer(3);
    for (let i = 0; i < 3; i++) {
      const d = await b.acceptPeer({ protocols: [protocolName, await token(3, 2)] });
      assert.equal(d.accept ? 0 : d.status, 403);
      assert.match(d.accept ? "" : d.reason, /node 3 was removed from the cluster/);
    }
    const again = await rawClient(addrB.url, 3, 2, "native");
    const refused = await within(again.closed, "the refusal");
    assert.notEqual(refused.code, 1000);
    assert.equal(rb.messages.length, 1, "nothing from the removed member was stepped");
    assert.equal(b.metrics().inboundConnections, 0);
  } finally {
    await b.close();
  }
});

test("WebSocketTransport removePeer() closes an open connection of the member", async () => {
  const b = new WebSocketTransport(testOptions(2, impl));
  try {
    const addrB = await b.listen();
    b.addPeer(3, new Uint8Array());
    b.start(new Recorder(2));
    const raw = await rawClient(addrB.url, 3, 2, "native");
    await within(raw.opened, "the member's connection");
    await waitFor(() => b.metrics().inboundConnections === 1, "the connection");
    b.removePeer(3);
    const closed = await within(raw.closed, "the close");
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /removed from the cluster/);
  } finally {
    await b.close();
  }
});

test("WebSocketTransport keeps each peer's handshake capacity its own", async () => {
  const b = new WebSocketTransport(testOptions(2, impl));
  try {
    await b.listen();
    b.addPeer(1, new Uint8Array());
    b.addPeer(3, new Uint8Array());
    b.start(new Recorder(2));
    const accept = async (from: number) =>
      await b.acceptPeer({ protocols: [protocolName, await token(from, 2)] });
    // A non-member's handshakes take no room at all.
    for (let i = 0; i < 2 * handshakesPerPeerMax; i++) {
      const d = await accept(7);
      assert.equal(d.accept ? 0 : d.status, 403);
    }
    // A hostile member fills its own share, then is refused.
    for (let i = 0; i < handshakesPerPeerMax; i++) {
      assert.equal((await accept(3)).accept, true, `handshake ${i} of node 3`);
    }
    const over = await accept(3);
    assert.equal(over.accept ? 0 : over.status, 429);
    // The other member still connects.
    const d = await accept(1);
    assert.equal(d.accept, true);
  } finally {
    await b.close();
  }
});

test("WebSocketTransport logs refused upgrades at a bounded rate and counts them all", async () => {
  let nowMs = Date.now();
  const log = new CaptureLogger("b: ");
  const b = new WebSocketTransport(testOptions(2, impl, { logger: log, now: () => nowMs }));
  try {
    b.start(new Recorder(2));
    const refused = (): number =>
      log.lines.filter((l) => l.includes("refused a connection")).length;
    for (let i = 0; i < 200; i++) {
      const d = await b.acceptPeer({ protocols: "raft-ts.v1", remoteAddress: `10.0.0.9:${i}` });
      assert.equal(d.accept, false);
    }
    assert.equal(b.metrics().connectionsRefused, 200);
    assert.equal(refused(), 10, "a burst of ten lines, then silence");
    nowMs += 3000;
    await b.acceptPeer({ protocols: "raft-ts.v1", remoteAddress: "10.0.0.9:1" });
    assert.equal(refused(), 11);
    assert.ok(log.has("(190 more refusals not logged)"), log.lines.at(-1));
  } finally {
    await b.close();
  }
});

test("WebSocketTransport accepts a member added at run time once addPeer admits it", async () => {
  const b = new WebSocketTransport(testOptions(2, impl));
  try {
    await b.listen();
    b.start(new Recorder(2));
    const before = await b.acceptPeer({ protocols: [protocolName, await token(4, 2)] });
    assert.equal(before.accept ? 0 : before.status, 403);
    b.addPeer(4, encodePeerContext({ url: "ws://127.0.0.1:9/raft" }));
    const after = await b.acceptPeer({ protocols: [protocolName, await token(4, 2)] });
    assert.equal(after.accept, true);
  } finally {
    await b.close();
  }
});
