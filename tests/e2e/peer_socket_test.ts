/**
 * One port for clients and peers: a WebSocket transport (`server: "none"`)
 * takes its peers' sockets from the Hono app's peer route (`peerSocket`),
 * with no second socket per connection; snapshots and their
 * acknowledgements flow on it. Peers that cannot authenticate, or are not
 * members, are refused over HTTP and logged with their own address.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { Hono } from "hono";
import { encodePeerContext, WebSocketTransport } from "../../adapters/websocket/mod.ts";
import { peerSocket, type UpgradeWebSocketLike } from "../../adapters/hono/mod.ts";
import { importSecret, protocolName, signToken } from "../../adapters/websocket/_auth.ts";
import { CaptureLogger } from "../../adapters/websocket/_test_util.ts";
import { detectClient } from "../../adapters/websocket/_runtime.ts";
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

const secret = "peer-socket-secret-0123456789";
const clusterId = "one-port";

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

/** Counts `new WebSocket(...)` in this process while `fn` runs. */
async function countingWebSockets<T>(fn: (count: () => number) => Promise<T>): Promise<T> {
  const g = globalThis as { WebSocket: typeof WebSocket };
  const original = g.WebSocket;
  let n = 0;
  g.WebSocket = new Proxy(original, {
    construct(target, args, newTarget) {
      n++;
      return Reflect.construct(target, args, newTarget);
    },
  });
  try {
    return await fn(() => n);
  } finally {
    g.WebSocket = original;
  }
}

/** Hono's upgradeWebSocket, counting the upgrades it performs. */
async function countingUpgrade(): Promise<{ upgrade: UpgradeWebSocketLike; count(): number }> {
  const inner = await upgradeWebSocket();
  let n = 0;
  return {
    upgrade: (c, events) => {
      n++;
      return inner(c, events);
    },
    count: () => n,
  };
}

test("peerSocket() hands a peer's socket on the API port to the transport: one socket per connection, snapshots and acks included", async () => {
  await countingWebSockets(async (webSockets) => {
    const a = new WebSocketTransport({
      id: 1,
      clusterId,
      secret,
      server: "none",
      peers: new Map(), // a never dials b here
    });
    a.addPeer(2, new Uint8Array());
    const b = new WebSocketTransport({ id: 2, clusterId, secret, client: "auto" });
    const upgrades = await countingUpgrade();
    const app = new Hono();
    app.get("/raft", peerSocket(a, { upgradeWebSocket: upgrades.upgrade }));
    const served = await serve(app);
    const ra = recorder(1);
    const rb = recorder(2);
    try {
      a.start(ra);
      b.start(rb);
      await assert.rejects(a.listen(), /no server of its own/);
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

      // One connection, one socket: b's client socket, upgraded once by the
      // app and read by the transport itself (no relay socket).
      // (On Node, b's client is `ws`, so no standard WebSocket is opened at all.)
      assert.equal(webSockets(), detectClient() === "native" ? 1 : 0, "WebSockets opened here");
      assert.equal(upgrades.count(), 1, "upgrades on the API port");
      const ma = a.metrics();
      assert.equal(ma.url, undefined, "the transport has no listener of its own");
      assert.equal(ma.server, "none");
      assert.equal(ma.inboundConnections, 1);
      assert.equal(ma.protocolErrors, 0);
      assert.equal(ma.peers.find((p) => p.id === 2)?.snapshotsReceived, 1);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await served.stop();
    }
  });
});

/** Sends a WebSocket upgrade over a raw TCP socket; returns the status line and the client's port. */
function rawUpgrade(
  port: number,
  protocols: string,
): Promise<{ status: number; localPort: number; response: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let response = "";
    let localPort = 0;
    sock.on("connect", () => {
      localPort = sock.localPort ?? 0;
      sock.write(
        "GET /raft HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
          `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${btoa("0123456789abcdef")}\r\n` +
          `Sec-WebSocket-Protocol: ${protocols}\r\n\r\n`,
      );
    });
    sock.on("data", (d: Uint8Array) => {
      response += new TextDecoder().decode(d);
      if (response.includes("\r\n\r\n")) {
        sock.destroy();
        resolve({ status: Number(response.split(" ")[1]), localPort, response });
      }
    });
    sock.on("error", reject);
  });
}

test("peerSocket() refuses non-members, wrong secrets and plain requests, logging the client's own address", async () => {
  const log = new CaptureLogger("a: ");
  const a = new WebSocketTransport({ id: 1, clusterId, secret, server: "none", logger: log });
  a.addPeer(2, new Uint8Array());
  a.start(recorder(1));
  const app = new Hono();
  app.get("/raft", peerSocket(a, { upgradeWebSocket: await upgradeWebSocket() }));
  const served = await serve(app);
  const intruder = new WebSocketTransport({ id: 2, clusterId, secret: "not-the-cluster-secret" });
  try {
    const plain = await fetch(`${served.url}/raft`);
    assert.equal(plain.status, 426);
    assert.equal((await plain.json()).error.code, "upgrade_required");

    // Signed with the cluster secret, but node 7 is not a member.
    const key = await importSecret(new TextEncoder().encode(secret));
    const token = await signToken(key, {
      clusterId,
      from: 7,
      to: 1,
      timestampMs: Date.now(),
      advertiseUrl: "ws://127.0.0.1:9/raft",
    });
    const res = await rawUpgrade(served.port, `${protocolName}, ${token}`);
    assert.equal(res.status, 403, res.response);
    assert.ok(
      log.has(
        `refused a connection from 127.0.0.1:${res.localPort}: 403 Forbidden: node 7 is not a member`,
      ),
      log.lines.join("\n"),
    );
    assert.equal(
      a.metrics().peers.some((p) => p.id === 7),
      false,
      "no address learnt, no state kept",
    );

    intruder.start(recorder(2));
    intruder.addPeer(1, encodePeerContext({ url: `ws://127.0.0.1:${served.port}/raft` }));
    intruder.send([newMessage({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: 1 })]);
    await until(() => a.metrics().connectionsRefused >= 2, "the refusal");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.metrics().messagesReceived, 0);
    assert.equal(intruder.metrics().peers.find((p) => p.id === 1)!.connects, 0);
  } finally {
    await Promise.all([a.close(), intruder.close()]);
    await served.stop();
  }
});
