/**
 * The key-value server's HTTP server (`examples/_serve.ts`) cuts off slow
 * and idle clients on every runtime, over real sockets: half a request line,
 * a body that stops arriving, an idle keep-alive connection. Ordinary
 * requests and peers' WebSocket upgrades on the same port keep working, and
 * an upgraded peer socket is not cut off by the idle timeout.
 *
 * The timeouts are one or two seconds here; each test only asserts that
 * the server closes the connection within a generous bound (30 s).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { Hono } from "hono";
import { encodePeerContext, WebSocketTransport } from "../../adapters/websocket/mod.ts";
import { peerSocket } from "../../adapters/hono/mod.ts";
import type { TransportHandler } from "../../core/node.ts";
import { type Message, MessageType, newMessage } from "../../core/types.ts";
import {
  defaultHttpTimeouts,
  type HttpTimeouts,
  runtimeServer,
  type ServedHttp,
} from "../../examples/_serve.ts";

const timeouts: HttpTimeouts = { headersMs: 1000, requestMs: 2000, idleMs: 1000 };
/** How long a test waits for the server to close a connection. */
const closeWithinMs = 30_000;
const secret = "http-timeouts-secret-0123456789";
const clusterId = "http-timeouts";

interface Served {
  served: ServedHttp;
  /** The transport that takes peers' sockets from the server's `/raft`. */
  transport: WebSocketTransport;
  received: Message[];
}

/** Serves an echo route and peers' sockets with `timeouts`, and stops it all after `fn`. */
async function withServer(
  fn: (s: Served) => Promise<void>,
  options: { denoServe?: boolean } = {},
): Promise<void> {
  const runtime = await runtimeServer(timeouts, options);
  const received: Message[] = [];
  const transport = new WebSocketTransport({ id: 1, clusterId, secret, server: "none" });
  transport.addPeer(2, new Uint8Array());
  transport.start(handler(1, received));
  const app = new Hono();
  app.post("/echo", async (c) => c.text(`got ${(await c.req.text()).length}`));
  app.get("/echo", (c) => c.text("got 0"));
  // A body the client abandoned is no error worth a stack trace here.
  app.onError((_e, c) => c.text("failed", 500));
  if (runtime.upgradeWebSocket !== undefined) {
    app.get("/raft", peerSocket(transport, { upgradeWebSocket: runtime.upgradeWebSocket }));
  }
  const peers = runtime.upgradeWebSocket === undefined
    ? { path: "/raft", acceptor: transport }
    : undefined;
  const served = await runtime.serve(app.fetch, "127.0.0.1", 0, peers);
  try {
    await fn({ served, transport, received });
  } finally {
    await transport.close();
    await served.stop();
  }
}

function handler(id: number, received: Message[]): TransportHandler {
  return {
    id,
    step: (m) => void received.push(m),
    reportUnreachable() {},
    reportSnapshot() {},
  };
}

/**
 * Connects, writes `text`, and reports what the server sent once it closed
 * the connection, or `closed: false` when it was still open after
 * {@linkcode closeWithinMs}.
 */
function sendAndWait(port: number, text: string): Promise<{ closed: boolean; received: string }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let received = "";
    const limit = setTimeout(() => {
      sock.destroy();
      resolve({ closed: false, received });
    }, closeWithinMs);
    sock.on("connect", () => sock.write(text));
    sock.on("data", (d: Uint8Array) => (received += new TextDecoder().decode(d)));
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(limit);
      resolve({ closed: true, received });
    });
  });
}

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test(
  "a client that sends half a request line and stalls is disconnected",
  { timeout: 60_000 },
  async () => {
    await withServer(async ({ served }) => {
      const r = await sendAndWait(served.port, "GET /echo HT");
      assert.ok(r.closed, `still open after ${closeWithinMs} ms`);
      // Deno and Node answer 408 first; Bun closes without a word.
      assert.match(r.received, /^(HTTP\/1\.1 408 [^\r]*\r\n)?/);
      assert.doesNotMatch(r.received, /got/);
    });
  },
);

test("a client that sends its headers and part of its body is answered 408 or disconnected", {
  timeout: 60_000,
}, async () => {
  await withServer(async ({ served }) => {
    const r = await sendAndWait(
      served.port,
      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n" +
        "Content-Length: 100\r\n\r\nabc",
    );
    assert.ok(r.closed, `still open after ${closeWithinMs} ms`);
    assert.ok(r.received === "" || r.received.startsWith("HTTP/1.1 408 "), r.received);
  });
});

test(
  "an idle keep-alive connection is closed after its request was answered",
  { timeout: 60_000 },
  async () => {
    await withServer(async ({ served }) => {
      const r = await sendAndWait(
        served.port,
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
      );
      assert.ok(r.closed, `still open after ${closeWithinMs} ms`);
      assert.match(r.received, /^HTTP\/1\.1 200 /);
      assert.match(r.received, /got 0$/);
    });
  },
);

/** A request with a body, then a peer's socket that stays open while idle. */
async function requestAndPeer({ served, transport, received }: Served): Promise<void> {
  const url = `http://127.0.0.1:${served.port}`;
  const res = await fetch(`${url}/echo`, { method: "POST", body: "x".repeat(70_000) });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "got 70000");

  const peer = new WebSocketTransport({ id: 2, clusterId, secret, client: "auto" });
  peer.start(handler(2, []));
  try {
    peer.addPeer(1, encodePeerContext({ url: `ws://127.0.0.1:${served.port}/raft` }));
    const beat = (term: number): Message =>
      newMessage({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term });
    peer.send([beat(1)]);
    await until(() => received.length === 1, "the first heartbeat");
    // Three idle timeouts without a frame: the upgraded socket is no HTTP connection.
    await new Promise((r) => setTimeout(r, 3 * timeouts.idleMs));
    peer.send([beat(2)]);
    await until(() => received.length === 2, "the second heartbeat");
    assert.deepEqual(received.map((m) => m.term), [1, 2]);
    assert.equal(peer.metrics().peers.find((p) => p.id === 1)?.connects, 1, "one connection");
    assert.equal(transport.metrics().inboundConnections, 1);
  } finally {
    await peer.close();
  }
}

test("requests and peers' WebSocket upgrades still work, and an idle peer socket stays open", {
  timeout: 60_000,
}, async () => {
  await withServer(requestAndPeer);
});

test(
  "with denoServe, Deno serves with Deno.serve (peers through Hono's upgrade); elsewhere the option changes nothing",
  {
    timeout: 60_000,
  },
  async () => {
    const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
    const onBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
    const runtime = await runtimeServer(timeouts, { denoServe: true });
    // Bun.serve and Deno.serve upgrade through Hono's helper; node:http through the transport.
    assert.equal(runtime.upgradeWebSocket !== undefined, onDeno || onBun);
    await withServer(requestAndPeer, { denoServe: true });
  },
);

test("runtimeServer() refuses timeouts that are not positive integers, or headers allowed longer than the request", async () => {
  await assert.rejects(runtimeServer({ headersMs: 0 }), {
    name: "RangeError",
    message: "Cannot serve HTTP as 'headersMs' must be a positive integer: current value 0",
  });
  await assert.rejects(runtimeServer({ idleMs: 1.5 }), RangeError);
  await assert.rejects(runtimeServer({ headersMs: 5000, requestMs: 4000 }), {
    name: "RangeError",
    message:
      "Cannot serve HTTP as 'headersMs' must not exceed 'requestMs': current values 5000, 4000",
  });
  assert.deepEqual({ ...defaultHttpTimeouts }, {
    headersMs: 10_000,
    requestMs: 30_000,
    idleMs: 10_000,
  });
});
