/**
 * One port for clients and peers: a WebSocket transport reached through
 * the Hono app's peer route (`peerProxy`), in both directions, snapshots
 * and their acknowledgements included; a peer with the wrong secret is
 * refused over HTTP.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { encodePeerContext, WebSocketTransport } from "../../adapters/websocket/mod.ts";
import { peerProxy } from "../../adapters/hono/mod.ts";
import type { TransportHandler } from "../../core/node.ts";
import {
  type Message,
  MessageType,
  newConfState,
  newMessage,
  newSnapshot,
  SnapshotStatus,
} from "../../core/types.ts";
import { serve, upgradeWebSocket } from "./_serve.ts";

const secret = "peer-proxy-secret-0123456789";

function recorder(id: number): TransportHandler & {
  messages: Message[];
  snapshots: { id: number; status: SnapshotStatus }[];
} {
  const r = {
    id,
    messages: [] as Message[],
    snapshots: [] as { id: number; status: SnapshotStatus }[],
    step(m: Message): void {
      r.messages.push(m);
    },
    reportUnreachable(): void {},
    reportSnapshot(peer: number, status: SnapshotStatus): void {
      r.snapshots.push({ id: peer, status });
    },
  };
  return r;
}

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("peerProxy() relays peer connections to the transport, snapshots and acks included", async () => {
  const a = new WebSocketTransport({ id: 1, clusterId: "proxy", secret });
  const b = new WebSocketTransport({ id: 2, clusterId: "proxy", secret });
  const aUrl = (await a.listen()).url;
  await b.listen();
  const app = new Hono();
  app.get("/raft", peerProxy({ upgradeWebSocket: await upgradeWebSocket(), target: () => aUrl }));
  const served = await serve(app);
  const ra = recorder(1);
  const rb = recorder(2);
  try {
    a.start(ra);
    b.start(rb);
    // b reaches a only through the app's port.
    b.addPeer(1, encodePeerContext({ url: `ws://127.0.0.1:${served.port}/raft` }));
    const data = new Uint8Array(200_000).map((_, i) => i % 251);
    for (let i = 0; i < 5; i++) {
      b.send([newMessage({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: 1 + i })]);
    }
    b.send([
      newMessage({
        type: MessageType.MsgSnap,
        from: 2,
        to: 1,
        term: 5,
        snapshot: newSnapshot({
          index: 50,
          term: 5,
          confState: newConfState({ voters: [1, 2] }),
          data,
        }),
      }),
    ]);
    await until(() => rb.snapshots.length === 1, "the snapshot acknowledgement");
    assert.deepEqual(rb.snapshots, [{ id: 1, status: SnapshotStatus.SnapshotFinish }]);
    const beats = ra.messages.filter((m) => m.type === MessageType.MsgHeartbeat);
    assert.deepEqual(beats.map((m) => m.term), [1, 2, 3, 4, 5]);
    const snap = ra.messages.find((m) => m.type === MessageType.MsgSnap)!;
    assert.deepEqual(snap.snapshot!.data, data);
    assert.equal(a.metrics().protocolErrors, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await served.stop();
  }
});

test("peerProxy() refuses a peer with the wrong secret, and plain HTTP requests", async () => {
  const a = new WebSocketTransport({ id: 1, clusterId: "proxy", secret });
  const aUrl = (await a.listen()).url;
  a.start(recorder(1));
  const app = new Hono();
  app.get("/raft", peerProxy({ upgradeWebSocket: await upgradeWebSocket(), target: () => aUrl }));
  const served = await serve(app);
  const intruder = new WebSocketTransport({
    id: 2,
    clusterId: "proxy",
    secret: "not-the-cluster-secret",
  });
  const ri = recorder(2);
  try {
    const plain = await fetch(`${served.url}/raft`);
    assert.equal(plain.status, 426);
    assert.equal((await plain.json()).error.code, "upgrade_required");
    intruder.start(ri);
    intruder.addPeer(1, encodePeerContext({ url: `ws://127.0.0.1:${served.port}/raft` }));
    intruder.send([newMessage({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: 1 })]);
    await until(() => a.metrics().connectionsRefused >= 1, "the refusal");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.metrics().messagesReceived, 0);
    const peer = intruder.metrics().peers.find((p) => p.id === 1)!;
    assert.equal(peer.connects, 0);
  } finally {
    await Promise.all([a.close(), intruder.close()]);
    await served.stop();
  }
});
