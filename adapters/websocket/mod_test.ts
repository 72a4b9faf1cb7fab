/**
 * Transport-level tests of the WebSocket transport over real sockets on
 * 127.0.0.1: delivery, batching, bounded queues, reconnection and backoff,
 * authentication, bad input, snapshot streaming, peer addresses. Each runs
 * with the runtime's native server and client, with `ws` on both sides, and
 * with a native client against a `ws` server.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { encodeFrame, encodeMessageFrame } from "../../core/codec.ts";
import {
  type Message,
  MessageType,
  newConfState,
  newEntry,
  newMessage,
  newSnapshot,
  SnapshotStatus,
} from "../../core/types.ts";
import {
  decodePeerContext,
  encodePeerContext,
  WebSocketTransport,
  type WebSocketTransportOptions,
} from "./mod.ts";
import {
  CaptureLogger,
  clusterId,
  impls,
  rawClient,
  Recorder,
  RecordingScheduler,
  secret,
  testOptions,
  waitFor,
  within,
} from "./_test_util.ts";
import { importSecret, protocolName, signToken } from "./_auth.ts";
import { detectServer } from "./_runtime.ts";

type Impl = (typeof impls)[number];

interface Pair {
  a: WebSocketTransport;
  b: WebSocketTransport;
  ra: Recorder;
  rb: Recorder;
  logA: CaptureLogger;
  logB: CaptureLogger;
  urlA: string;
  urlB: string;
  close(): Promise<void>;
}

/** Two started transports, 1 and 2, that know each other. */
async function pair(
  impl: Impl,
  extraA: Partial<WebSocketTransportOptions> = {},
  extraB: Partial<WebSocketTransportOptions> = {},
): Promise<Pair> {
  const logA = new CaptureLogger("a: ");
  const logB = new CaptureLogger("b: ");
  const a = new WebSocketTransport(testOptions(1, impl, { logger: logA, ...extraA }));
  const b = new WebSocketTransport(testOptions(2, impl, { logger: logB, ...extraB }));
  const [addrA, addrB] = await Promise.all([a.listen(), b.listen()]);
  a.addPeer(2, encodePeerContext({ url: addrB.url }));
  b.addPeer(1, encodePeerContext({ url: addrA.url }));
  const ra = new Recorder(1);
  const rb = new Recorder(2);
  a.start(ra);
  b.start(rb);
  return {
    a,
    b,
    ra,
    rb,
    logA,
    logB,
    urlA: addrA.url,
    urlB: addrB.url,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

function heartbeat(from: number, to: number, term = 1, commit = 0): Message {
  return newMessage({ type: MessageType.MsgHeartbeat, from, to, term, commit });
}

function append(from: number, to: number, index: number, bytes: number): Message {
  return newMessage({
    type: MessageType.MsgApp,
    from,
    to,
    term: 2,
    logTerm: 2,
    index: index - 1,
    commit: index - 1,
    entries: [newEntry({ term: 2, index, data: new Uint8Array(bytes).fill(index & 0xff) })],
  });
}

function peerMetrics(t: WebSocketTransport, id: number) {
  const p = t.metrics().peers.find((x) => x.id === id);
  assert.ok(p, `no metrics for peer ${id}`);
  return p;
}

/** A TCP server that accepts connections and never answers. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.on("error", () => {});
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Sends a WebSocket upgrade request with the given subprotocols; returns the HTTP status and body. */
function upgradeRequest(url: string, protocols: string): Promise<{ status: number; body: string }> {
  const u = new URL(url.replace(/^ws/, "http"));
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": btoa("0123456789abcdef"),
        "Sec-WebSocket-Protocol": protocols,
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, body: "" });
    });
    req.on("error", reject);
    req.end();
  });
}

for (const impl of impls) {
  test(`WebSocketTransport (${impl.name}) delivers messages both ways and counts them`, async () => {
    const p = await pair(impl);
    try {
      p.a.send([heartbeat(1, 2, 5, 7)]);
      p.b.send([newMessage({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1, term: 5 })]);
      await waitFor(() => p.rb.messages.length === 1 && p.ra.messages.length === 1, "delivery");
      const got = p.rb.messages[0]!;
      assert.equal(got.type, MessageType.MsgHeartbeat);
      assert.deepEqual([got.from, got.to, got.term, got.commit], [1, 2, 5, 7]);
      assert.equal(p.ra.messages[0]!.type, MessageType.MsgHeartbeatResp);

      const sent = peerMetrics(p.a, 2);
      assert.equal(sent.state, "open");
      assert.equal(sent.messagesSent, 1);
      assert.equal(sent.framesSent, 1);
      assert.ok(sent.bytesSent > 0);
      const recv = peerMetrics(p.b, 1);
      assert.equal(recv.messagesReceived, 1);
      assert.equal(recv.bytesReceived, sent.bytesSent);
      assert.equal(recv.inboundConnections, 1);
      assert.equal(p.b.metrics().inboundConnections, 1);
      assert.equal(p.a.metrics().messagesDropped, 0);
      // Metrics are plain data.
      assert.deepEqual(JSON.parse(JSON.stringify(p.a.metrics())).peers[0].id, 2);
    } finally {
      await p.close();
    }
  });

  test(`WebSocketTransport.send() (${impl.name}) batches one call's messages per peer into one WebSocket message`, async () => {
    const p = await pair(impl);
    try {
      const batch = Array.from({ length: 50 }, (_, i) => append(1, 2, i + 1, 100));
      p.a.send([...batch, heartbeat(1, 9)]); // and one for an unknown peer
      await waitFor(() => p.rb.messages.length === 50, "the batch");
      assert.deepEqual(p.rb.messages.map((m) => m.entries[0]!.index), batch.map((_, i) => i + 1));
      assert.equal(peerMetrics(p.b, 1).framesReceived, 1);
      assert.equal(peerMetrics(p.a, 2).framesSent, 1);
      assert.equal(peerMetrics(p.a, 2).messagesSent, 50);
      assert.equal(p.a.metrics().messagesDropped, 1, "the message to the unknown peer");
      assert.deepEqual(p.ra.unreachable, [9]);

      p.a.send([heartbeat(1, 2), heartbeat(1, 2, 2)]);
      await waitFor(() => p.rb.messages.length === 52, "the second batch");
      assert.equal(peerMetrics(p.b, 1).framesReceived, 2);
    } finally {
      await p.close();
    }
  });
}

test("WebSocketTransport.send() splits a batch larger than maxFrameBytes", async () => {
  const p = await pair(impls[0]!, { maxFrameBytes: 4096 }, { maxFrameBytes: 4096 });
  try {
    const batch = Array.from({ length: 10 }, (_, i) => append(1, 2, i + 1, 1000));
    p.a.send(batch);
    await waitFor(() => p.rb.messages.length === 10, "the batch");
    const frames = peerMetrics(p.b, 1).framesReceived;
    assert.ok(frames >= 3 && frames <= 4, `frames: ${frames}`);
    assert.deepEqual(p.rb.messages.map((m) => m.entries[0]!.index), batch.map((_, i) => i + 1));
  } finally {
    await p.close();
  }
});

test("WebSocketTransport bounds the send queue in messages and bytes and counts the drops", async () => {
  const hole = await blackHole();
  const url = `ws://127.0.0.1:${hole.port}/raft`;
  const byCount = new WebSocketTransport(testOptions(1, impls[0]!, {
    peers: new Map([[2, url]]),
    maxQueuedMessages: 4,
    connectTimeoutMs: 20_000,
  }));
  const byBytes = new WebSocketTransport(testOptions(1, impls[0]!, {
    peers: new Map([[2, url]]),
    maxFrameBytes: 1024,
    maxQueuedBytes: 2048,
    connectTimeoutMs: 20_000,
  }));
  try {
    const r1 = new Recorder(1);
    byCount.start(r1);
    for (let i = 1; i <= 10; i++) byCount.send([heartbeat(1, 2, i)]);
    let m = peerMetrics(byCount, 2);
    assert.equal(m.state, "connecting");
    assert.equal(m.queuedMessages, 4);
    assert.equal(m.messagesDropped, 6);
    assert.equal(byCount.metrics().messagesDropped, 6);
    assert.deepEqual(r1.unreachable, [2, 2, 2, 2, 2, 2]);

    const r2 = new Recorder(1);
    byBytes.start(r2);
    for (let i = 1; i <= 10; i++) byBytes.send([append(1, 2, i, 500)]);
    m = peerMetrics(byBytes, 2);
    assert.ok(m.queuedBytes <= 2048, `queued ${m.queuedBytes} bytes`);
    assert.equal(m.queuedMessages, 3);
    assert.equal(m.messagesDropped, 7);
  } finally {
    await Promise.all([byCount.close(), byBytes.close()]);
    await hole.close();
  }
});

for (const impl of impls) {
  test(`WebSocketTransport (${impl.name}) reconnects after the peer's server restarts`, async () => {
    const p = await pair(impl);
    let b2: WebSocketTransport | undefined;
    try {
      p.a.send([heartbeat(1, 2)]);
      await waitFor(() => p.rb.messages.length === 1, "first delivery");
      const port = Number(new URL(p.urlB).port);
      await p.b.close();
      await waitFor(() => peerMetrics(p.a, 2).state !== "open", "the loss to be noticed");
      p.a.send([heartbeat(1, 2, 2)]);
      assert.ok(p.ra.unreachable.includes(2), "the peer was reported unreachable");
      assert.ok(peerMetrics(p.a, 2).messagesDropped >= 1);

      b2 = new WebSocketTransport(testOptions(2, impl, { port }));
      b2.addPeer(1, new Uint8Array()); // a member; left to dial back by itself
      await b2.listen();
      const rb2 = new Recorder(2);
      b2.start(rb2);
      await waitFor(() => peerMetrics(p.a, 2).state === "open", "the reconnection");
      p.a.send([heartbeat(1, 2, 3)]);
      await waitFor(() => rb2.messages.some((m) => m.term === 3), "delivery after the restart");
      const m = peerMetrics(p.a, 2);
      assert.ok(m.reconnects >= 1);
      assert.ok(m.disconnects >= 1);
      assert.ok(p.logA.has("lost the connection to 2"));
    } finally {
      await p.close();
      await b2?.close();
    }
  });
}

test("WebSocketTransport backs off exponentially with jitter between reconnection attempts", async () => {
  const port = await deadPort();
  const sched = new RecordingScheduler();
  const randoms: number[] = [];
  const t = new WebSocketTransport(testOptions(1, impls[0]!, {
    peers: new Map([[2, `ws://127.0.0.1:${port}/raft`]]),
    scheduler: sched,
    random: () => {
      randoms.push(0.5);
      return 0.5;
    },
    reconnectBaseMs: 8,
    reconnectMaxMs: 40,
    connectTimeoutMs: 4321,
  }));
  const r = new Recorder(1);
  try {
    t.start(r);
    const retries = (): number[] => sched.delays.filter((d) => d !== 4321);
    await waitFor(() => retries().length >= 6, "six retries");
    // Equal jitter: half the cap plus random() times half the cap; the cap doubles up to 40.
    assert.deepEqual(retries().slice(0, 6), [6, 12, 24, 30, 30, 30]);
    assert.ok(randoms.length >= 6);
    const m = peerMetrics(t, 2);
    assert.ok(m.connectFailures >= 6);
    assert.equal(m.connects, 0);
    assert.ok(r.unreachable.length >= 6, "each failure is reported");
  } finally {
    await t.close();
  }
});

for (const impl of [impls[0]!, impls[1]!]) {
  test(`WebSocketTransport (${impl.name}) dials a peer at once when the peer connects to it during a backoff`, async () => {
    const port = await deadPort();
    const logA = new CaptureLogger("a: ");
    // Backoff of 30 to 60 s: only the peer's own connection can end it within the test.
    const slow = { reconnectBaseMs: 60_000, reconnectMaxMs: 60_000 };
    const a = new WebSocketTransport(testOptions(1, impl, {
      ...slow,
      logger: logA,
      peers: new Map([[2, `ws://127.0.0.1:${port}/raft`]]),
    }));
    let b: WebSocketTransport | undefined;
    try {
      const addrA = await a.listen();
      a.start(new Recorder(1));
      await waitFor(() => peerMetrics(a, 2).state === "backoff", "the first attempt to fail");
      assert.equal(peerMetrics(a, 2).connectFailures, 1);

      // Node 2 comes up on its address and dials node 1.
      b = new WebSocketTransport(testOptions(2, impl, {
        ...slow,
        port,
        peers: new Map([[1, addrA.url]]),
      }));
      await b.listen();
      const rb = new Recorder(2);
      b.start(rb);
      await waitFor(() => peerMetrics(a, 2).state === "open", "node 1 to dial node 2 back", 10_000);
      a.send([heartbeat(1, 2, 7)]);
      await waitFor(() => rb.messages.some((m) => m.term === 7), "delivery");
      assert.equal(peerMetrics(a, 2).connectFailures, 1, "no other attempt was needed");
      assert.ok(logA.has("peer 2 connected to us; dialling it now"));
    } finally {
      await Promise.all([a.close(), b?.close()]);
    }
  });
}

for (const impl of [impls[0]!, impls[1]!]) {
  test(`WebSocketTransport (${impl.name} server) refuses an upgrade without a valid token with 401`, async () => {
    const p = await pair(impl);
    const intruders: WebSocketTransport[] = [];
    try {
      // No token at all.
      let res = await upgradeRequest(p.urlB, protocolName);
      assert.equal(res.status, 401);
      assert.match(res.body, /Unauthorized: no handshake token/);
      // A forged token.
      res = await upgradeRequest(p.urlB, `${protocolName}, rt1.AAAA.BBBB`);
      assert.equal(res.status, 401);
      assert.match(res.body, /Unauthorized: malformed handshake token/);

      // A node with the wrong secret.
      const wrongSecret = new WebSocketTransport(testOptions(3, impl, {
        secret: "not the cluster secret, but long enough",
        peers: new Map([[2, p.urlB]]),
        reconnectBaseMs: 1000,
      }));
      intruders.push(wrongSecret);
      wrongSecret.start(new Recorder(3));
      wrongSecret.send([heartbeat(3, 2)]);
      await waitFor(() => peerMetrics(wrongSecret, 2).connectFailures >= 1, "the refusal");
      assert.match(peerMetrics(wrongSecret, 2).lastError ?? "", /401/);

      // Another cluster, same secret: refused too.
      const otherCluster = new WebSocketTransport(testOptions(4, impl, {
        clusterId: "another-cluster",
        peers: new Map([[2, p.urlB]]),
        reconnectBaseMs: 1000,
      }));
      intruders.push(otherCluster);
      otherCluster.start(new Recorder(4));
      await waitFor(() => peerMetrics(otherCluster, 2).connectFailures >= 1, "the refusal");
      assert.match(peerMetrics(otherCluster, 2).lastError ?? "", /403/);
      assert.ok(p.logB.has("is in cluster 'another-cluster', this node is in 'test-cluster'"));

      // A replayed token (from a member).
      p.b.addPeer(6, new Uint8Array());
      const token = await signToken(await importSecret(new TextEncoder().encode(secret)), {
        clusterId,
        from: 6,
        to: 2,
        timestampMs: Date.now(),
        advertiseUrl: "",
      });
      res = await upgradeRequest(p.urlB, `${protocolName}, ${token}`);
      assert.equal(res.status, 101);
      res = await upgradeRequest(p.urlB, `${protocolName}, ${token}`);
      assert.equal(res.status, 401);
      assert.match(res.body, /replayed/);

      // A token meant for another node.
      const misrouted = await rawClient(p.urlB, 5, 3, "native");
      const closed = await within(misrouted.closed, "the refusal");
      assert.notEqual(closed.code, 1000);

      const mb = p.b.metrics();
      assert.ok(mb.connectionsRefused >= 6, `refused ${mb.connectionsRefused}`);
      assert.equal(mb.peers.find((x) => x.id === 3)?.messagesReceived ?? 0, 0);
      assert.ok(p.logB.has("refused a connection"));

      // The cluster's own traffic is unaffected.
      p.a.send([heartbeat(1, 2, 9)]);
      await waitFor(() => p.rb.messages.some((m) => m.term === 9), "delivery");
      assert.ok(p.rb.messages.every((m) => m.from === 1));
    } finally {
      await Promise.all(intruders.map((t) => t.close()));
      await p.close();
    }
  });
}

/** A message frame with a message type etcd does not define. */
function unknownTypeFrame(): Uint8Array {
  // Message{type: 99, to: 2, from: 3}: field 1 varint 99, field 2 varint 2, field 3 varint 3.
  return encodeFrame(new Uint8Array([0x08, 99, 0x10, 2, 0x18, 3]));
}

function withKind(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

function corrupt(b: Uint8Array): Uint8Array {
  const c = b.slice();
  c[c.length - 1] = c[c.length - 1]! ^ 0xff;
  return c;
}

const badInputs: {
  name: string;
  data: () => Uint8Array | string;
  code: number;
  reason: RegExp;
}[] = [
  {
    name: "a corrupt frame",
    data: () => corrupt(withKind(1, encodeMessageFrame(heartbeat(3, 2)))),
    code: 1007,
    reason: /checksum/,
  },
  {
    name: "an oversized frame",
    data: () => withKind(1, new Uint8Array(70 * 1024)),
    code: 1009,
    reason: /./,
  },
  {
    name: "an unknown message type",
    data: () => withKind(1, unknownTypeFrame()),
    code: 1007,
    reason: /unknown message type/,
  },
  {
    name: "a local message type",
    data: () =>
      withKind(1, encodeMessageFrame(newMessage({ type: MessageType.MsgHup, from: 3, to: 2 }))),
    code: 1008,
    reason: /local message type MsgHup/,
  },
  {
    name: "a spoofed sender",
    data: () => withKind(1, encodeMessageFrame(heartbeat(1, 2))),
    code: 1008,
    reason: /claims to be from node 1 but the connection is authenticated as node 3/,
  },
  {
    name: "a message for another node",
    data: () => withKind(1, encodeMessageFrame(heartbeat(3, 7))),
    code: 1008,
    reason: /addressed to node 7/,
  },
  {
    name: "an unknown frame kind",
    data: () => withKind(9, new Uint8Array(4)),
    code: 1007,
    reason: /unknown frame kind 9/,
  },
  { name: "a text frame", data: () => "hello", code: 1003, reason: /text frames/ },
];

for (const impl of [impls[0]!, impls[1]!]) {
  test(`WebSocketTransport (${impl.name} server) closes a connection that sends bad input and keeps the others`, async () => {
    const p = await pair(impl, {}, { maxFrameBytes: 64 * 1024 });
    p.b.addPeer(3, new Uint8Array()); // a member without an address, sending bad input
    try {
      let errors = 0;
      for (const c of badInputs) {
        const raw = await rawClient(p.urlB, 3, 2, "native");
        await within(raw.opened, `${c.name}: open`);
        raw.socket.send(c.data());
        const closed = await within(raw.closed, `${c.name}: close`);
        assert.equal(closed.code, c.code, `${c.name}: close code`);
        // `ws` closes an oversized frame without a reason; "auto" is `ws` on Node.
        const server = impl.server === "auto" ? detectServer() : impl.server;
        if (c.code !== 1009 || server !== "ws") {
          assert.match(closed.reason, c.reason, `${c.name}: close reason`);
        }
        errors++;
        // The good connection keeps working, and nothing bad was stepped.
        p.a.send([heartbeat(1, 2, 100 + errors)]);
        await waitFor(
          () => p.rb.messages.some((m) => m.term === 100 + errors),
          `delivery after ${c.name}`,
        );
        assert.ok(p.rb.messages.every((m) => m.from === 1 && m.type === MessageType.MsgHeartbeat));
      }
      assert.equal(p.rb.messages.length, badInputs.length);
      assert.ok(p.b.metrics().protocolErrors >= badInputs.length - 1);
      assert.ok(p.logB.has("closed the connection from 3"));
      assert.equal(peerMetrics(p.a, 2).disconnects, 0, "the good connection never dropped");
    } finally {
      await p.close();
    }
  });
}

function snapshotData(bytes: number): Uint8Array {
  const d = new Uint8Array(bytes);
  let x = 12345;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    d[i] = x >>> 24;
  }
  return d;
}

function snapMessage(from: number, to: number, data: Uint8Array): Message {
  return newMessage({
    type: MessageType.MsgSnap,
    from,
    to,
    term: 3,
    snapshot: newSnapshot({
      index: 100,
      term: 3,
      confState: newConfState({ voters: [1, 2] }),
      data,
    }),
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

for (const impl of impls) {
  test(`WebSocketTransport (${impl.name}) streams a large snapshot in chunks and reports it finished`, async () => {
    const limits = { snapshotChunkBytes: 64 * 1024, maxFrameBytes: 256 * 1024 };
    const p = await pair(impl, limits, limits);
    try {
      const data = snapshotData(3 * 1024 * 1024 + 17);
      p.a.send([heartbeat(1, 2, 3), snapMessage(1, 2, data), heartbeat(1, 2, 4)]);
      await waitFor(() => p.ra.snapshots.length === 1, "the snapshot report", 10_000);
      assert.deepEqual(p.ra.snapshots, [{ id: 2, status: SnapshotStatus.SnapshotFinish }]);
      const snaps = p.rb.messages.filter((m) => m.type === MessageType.MsgSnap);
      assert.equal(snaps.length, 1);
      const s = snaps[0]!.snapshot!;
      assert.equal(s.metadata.index, 100);
      assert.deepEqual(s.metadata.confState.voters, [1, 2]);
      assert.ok(sameBytes(s.data, data), "the data arrived intact");
      assert.equal(p.rb.messages.filter((m) => m.type === MessageType.MsgHeartbeat).length, 2);
      const ma = peerMetrics(p.a, 2);
      assert.equal(ma.snapshotsSent, 1);
      assert.ok(ma.framesSent >= 1 + 1 + 49, `frames sent: ${ma.framesSent}`);
      assert.equal(peerMetrics(p.b, 1).snapshotsReceived, 1);
    } finally {
      await p.close();
    }
  });
}

test("WebSocketTransport reports a snapshot failed when it is above the limit on either side", async () => {
  const p = await pair(impls[0]!, { maxSnapshotBytes: 4 << 20 }, { maxSnapshotBytes: 1 << 20 });
  try {
    // Above the sender's limit: failed at once, each time Raft tries, and
    // logged as an error once until a snapshot within the limit goes.
    const tooLarge = (): number =>
      p.logA.lines.filter((l) => l.startsWith("ERROR") && l.includes("above maxSnapshotBytes"))
        .length;
    for (let i = 0; i < 5; i++) p.a.send([snapMessage(1, 2, new Uint8Array(5 << 20))]);
    assert.deepEqual(
      p.ra.snapshots,
      Array(5).fill({ id: 2, status: SnapshotStatus.SnapshotFailure }),
    );
    assert.equal(tooLarge(), 1);
    p.ra.snapshots.length = 1;
    // Above the receiver's limit: refused by the receiver.
    p.a.send([snapMessage(1, 2, new Uint8Array(2 << 20))]);
    await waitFor(() => p.ra.snapshots.length === 2, "the refusal");
    assert.deepEqual(p.ra.snapshots[1], { id: 2, status: SnapshotStatus.SnapshotFailure });
    assert.ok(p.logB.has("refused a snapshot of 2097152 bytes from 1"));
    assert.equal(p.rb.messages.length, 0);
    assert.equal(peerMetrics(p.a, 2).snapshotsFailed, 6);
    // The connection is still good for a snapshot within the limits.
    p.a.send([snapMessage(1, 2, snapshotData(1000))]);
    await waitFor(() => p.ra.snapshots.length === 3, "the third report");
    assert.deepEqual(p.ra.snapshots[2], { id: 2, status: SnapshotStatus.SnapshotFinish });
    // After it, a snapshot above the limit is an error again (once).
    p.a.send([snapMessage(1, 2, new Uint8Array(5 << 20))]);
    p.a.send([snapMessage(1, 2, new Uint8Array(5 << 20))]);
    assert.equal(tooLarge(), 2);
  } finally {
    await p.close();
  }
});

test("WebSocketTransport reports a snapshot failed when the connection is lost mid-stream", async () => {
  const limits = { snapshotChunkBytes: 64 * 1024, maxFrameBytes: 128 * 1024 };
  const p = await pair(impls[0]!, limits, limits);
  try {
    p.a.send([heartbeat(1, 2)]);
    await waitFor(() => peerMetrics(p.a, 2).state === "open", "the connection");
    p.a.send([snapMessage(1, 2, new Uint8Array(16 << 20))]);
    await p.b.close();
    await waitFor(() => p.ra.snapshots.length === 1, "the failure report");
    assert.deepEqual(p.ra.snapshots, [{ id: 2, status: SnapshotStatus.SnapshotFailure }]);
  } finally {
    await p.close();
  }
});

test("encodePeerContext() and decodePeerContext() round-trip a URL and refuse anything else", () => {
  const ctx = encodePeerContext({ url: "ws://10.1.2.3:7000/raft" });
  assert.equal(new TextDecoder().decode(ctx), '{"url":"ws://10.1.2.3:7000/raft"}');
  assert.deepEqual(decodePeerContext(ctx), { url: "ws://10.1.2.3:7000/raft" });
  assert.throws(() => encodePeerContext({ url: "http://10.1.2.3/" }), TypeError);
  for (const bad of ["", "nope", "{}", '{"url":3}', '{"url":"ftp://x/"}', "null"]) {
    assert.throws(() => decodePeerContext(new TextEncoder().encode(bad)), TypeError, bad);
  }
  assert.throws(() => decodePeerContext(new Uint8Array([0xff, 0xfe])), TypeError);
});

test("WebSocketTransport follows a peer to a new address given in a membership context", async () => {
  const p = await pair(impls[0]!);
  const b2 = new WebSocketTransport(testOptions(2, impls[0]!));
  try {
    p.a.send([heartbeat(1, 2)]);
    await waitFor(() => p.rb.messages.length === 1, "delivery to the old address");
    const addr2 = await b2.listen();
    b2.addPeer(1, new Uint8Array());
    const rb2 = new Recorder(2);
    b2.start(rb2);
    p.a.addPeer(2, encodePeerContext({ url: addr2.url }));
    assert.equal(peerMetrics(p.a, 2).url, addr2.url);
    p.a.send([heartbeat(1, 2, 2)]);
    await waitFor(() => rb2.messages.length === 1, "delivery to the new address");
    // An empty context (as in a bootstrap entry) keeps the known address.
    p.a.addPeer(2, new Uint8Array(0));
    assert.equal(peerMetrics(p.a, 2).url, addr2.url);
  } finally {
    await p.close();
    await b2.close();
  }
});

test("WebSocketTransport keeps addresses given at construction over later contexts", async () => {
  const t = new WebSocketTransport(testOptions(1, impls[0]!, {
    peers: new Map([[2, "ws://127.0.0.1:1/raft"]]),
  }));
  try {
    t.addPeer(2, encodePeerContext({ url: "ws://127.0.0.1:2/raft" }));
    assert.equal(peerMetrics(t, 2).url, "ws://127.0.0.1:1/raft");
    t.addPeer(3, encodePeerContext({ url: "ws://127.0.0.1:3/raft" }));
    assert.equal(peerMetrics(t, 3).url, "ws://127.0.0.1:3/raft");
    t.addPeer(4, new TextEncoder().encode("garbage"));
    assert.equal(peerMetrics(t, 4).state, "no-address");
  } finally {
    await t.close();
  }
});

test("WebSocketTransport never dials an address a handshake advertises", async () => {
  const impl = impls[0]!;
  const b = new WebSocketTransport(testOptions(2, impl));
  const c = new WebSocketTransport(testOptions(3, impl));
  try {
    const [addrB, addrC] = await Promise.all([b.listen(), c.listen()]);
    const rb = new Recorder(2);
    const rc = new Recorder(3);
    b.addPeer(3, new Uint8Array()); // a member whose address b was not given
    b.start(rb);
    c.addPeer(2, encodePeerContext({ url: addrB.url }));
    c.start(rc);
    c.send([heartbeat(3, 2, 1)]);
    await waitFor(() => rb.messages.length === 1, "3's connection, advertising its URL");
    assert.equal(addrC.url, c.url);
    b.send([heartbeat(2, 3, 4)]);
    const m = peerMetrics(b, 3);
    assert.equal(m.url, undefined, "the advertised URL was not adopted");
    assert.equal(m.state, "no-address");
    assert.equal(m.connects, 0);
    assert.equal(rc.messages.length, 0);
  } finally {
    await Promise.all([b.close(), c.close()]);
  }
});

test("WebSocketTransport.removePeer() closes the peer's connections and refuses new ones", async () => {
  const p = await pair(impls[0]!);
  try {
    p.a.send([heartbeat(1, 2)]);
    await waitFor(() => p.rb.messages.length === 1, "delivery");
    p.b.removePeer(1);
    assert.equal(p.b.metrics().peers.some((x) => x.id === 1), false);
    await waitFor(() => (peerMetrics(p.a, 2).lastError ?? "").includes("403"), "the refusal");
    assert.ok(p.logB.has("node 1 was removed from the cluster"));
    // Adding it back lets it in again.
    p.b.addPeer(1, encodePeerContext({ url: p.urlA }));
    await waitFor(() => peerMetrics(p.a, 2).state === "open", "the reconnection", 8000);
  } finally {
    await p.close();
  }
});

test("WebSocketTransport validates its options", () => {
  const base = { id: 1, clusterId: "c", secret: "0123456789abcdef" };
  const cases: [Partial<WebSocketTransportOptions>, RegExp][] = [
    [{ id: 0 }, /'id' must be a positive integer/],
    [{ clusterId: "" }, /'clusterId' must be 1 to 64 printable ASCII/],
    [{ secret: "short" }, /'secret' must be at least 16 bytes: current length 5/],
    [{ path: "raft" }, /'path' must start with '\/'/],
    [{ port: 70000 }, /'port' must be an integer from 0 to 65535/],
    [
      { maxFrameBytes: 4096, maxQueuedBytes: 1024 },
      /'maxQueuedBytes' must be at least 'maxFrameBytes'/,
    ],
    [{ maxFrameBytes: 4096, snapshotChunkBytes: 4096 }, /'snapshotChunkBytes' must be at most/],
    [{ reconnectBaseMs: 0 }, /'reconnectBaseMs' must be a positive number/],
  ];
  for (const [extra, msg] of cases) {
    assert.throws(() => new WebSocketTransport({ ...base, ...extra }), msg);
  }
  assert.throws(
    () => new WebSocketTransport({ ...base, peers: new Map([[2, "http://x/"]]) }),
    /URL of peer 2 must be a ws:\/\/ or wss:\/\/ URL/,
  );
  const t = new WebSocketTransport(base);
  assert.throws(
    () => t.start(new Recorder(2)),
    /handler's id must be the transport's: current values 2, 1/,
  );
});
