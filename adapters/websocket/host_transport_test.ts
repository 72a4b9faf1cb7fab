/**
 * WebSocketHostTransport on real loopback sockets: RaftHosts of many
 * groups over one connection per peer host, frames of many (group,
 * message) pairs, restart and snapshot catch-up, and hostile input.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeMessageFrame } from "../../core/codec.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GroupMessage, HostStorage, HostTransportHandler } from "../../core/host/seams.ts";
import { openSqliteHostStorage } from "../sqlite/mod.ts";
import { decodeSnapshotData } from "../../core/node/replicated.ts";
import type { Message, NodeId, Snapshot } from "../../core/types.ts";
import type { SnapshotReceiver, SnapshotStreams } from "../../core/node.ts";
import {
  MemoryHostStorage,
  MessageType,
  newConfState,
  newMessage,
  newSnapshot,
  RaftHost,
  SnapshotStatus,
} from "../../mod.ts";
import { encodePeerContext, WebSocketHostTransport, WebSocketTransport } from "./mod.ts";
import { hostProtocolName } from "./_auth.ts";
import { encodeGroupMessageFrame, FrameKind, packMessages } from "./_wire.ts";
import {
  CaptureLogger,
  impls,
  ListMachine,
  rawClient,
  sleep,
  testOptions,
  waitFor,
  within,
} from "./_test_util.ts";

const impl = impls[0]!;
const groupCount = 16;
const groupIds = Array.from({ length: groupCount }, (_, i) => i + 1);
const hostIds = [1, 2, 3];

/** A host handler that records what the transport hands it. */
class HostRecorder implements HostTransportHandler {
  readonly hostId: NodeId;
  readonly batches: { from: NodeId; batch: readonly GroupMessage[] }[] = [];
  readonly unreachable: { groupId: number; to: NodeId }[] = [];
  readonly snapshots: { groupId: number; to: NodeId; status: SnapshotStatus }[] = [];
  /** The groups whose snapshot data is held "in storage", in chunks. */
  readonly streams = new Map<number, SnapshotStreams>();
  constructor(hostId: NodeId) {
    this.hostId = hostId;
  }
  receive(from: NodeId, batch: readonly GroupMessage[]): void {
    this.batches.push({ from, batch });
  }
  reportUnreachable(groupId: number, to: NodeId): void {
    this.unreachable.push({ groupId, to });
  }
  reportSnapshot(groupId: number, to: NodeId, status: SnapshotStatus): void {
    this.snapshots.push({ groupId, to, status });
  }
  snapshotStreams(groupId: number): SnapshotStreams | undefined {
    return this.streams.get(groupId);
  }
  get pairs(): GroupMessage[] {
    return this.batches.flatMap((b) => b.batch);
  }
}

function heartbeat(from: number, to: number): Message {
  return newMessage({ type: MessageType.MsgHeartbeat, from, to, term: 1 });
}

/** A MsgSnap from host 1 to host 2 whose snapshot holds `data`. */
function snapshotMessage(data: Uint8Array): Message {
  const confState = newConfState({ voters: [1, 2] });
  const snapshot = newSnapshot({ data, index: 10, term: 1, confState });
  return newMessage({ type: MessageType.MsgSnap, from: 1, to: 2, term: 1, snapshot });
}

/** Two host transports that know each other, started with recorders. */
async function withPair(
  extra: Parameters<typeof testOptions>[2],
  fn: (
    a: WebSocketHostTransport,
    b: WebSocketHostTransport,
    ra: HostRecorder,
    rb: HostRecorder,
  ) => Promise<void>,
): Promise<void> {
  const a = new WebSocketHostTransport(testOptions(1, impl, extra));
  const b = new WebSocketHostTransport(testOptions(2, impl, extra));
  try {
    const [ua, ub] = await Promise.all([a.listen(), b.listen()]);
    a.addPeer(2, encodePeerContext({ url: ub.url }));
    b.addPeer(1, encodePeerContext({ url: ua.url }));
    const [ra, rb] = [new HostRecorder(1), new HostRecorder(2)];
    a.start(ra);
    b.start(rb);
    await fn(a, b, ra, rb);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

test("WebSocketHostTransport carries the pairs of one send, group 0 included, as one frame, and a group's snapshot in chunks", async () => {
  const log = new CaptureLogger("");
  await withPair({ snapshotChunkBytes: 1000, logger: log }, async (a, _b, ra, rb) => {
    const batch: GroupMessage[] = [0, 5, 9, 0, 123456789].map((groupId) => ({
      groupId,
      message: heartbeat(1, 2),
    }));
    a.send(batch);
    await waitFor(() => rb.pairs.length === 5, "five pairs");
    assert.equal(rb.batches.length, 1);
    assert.deepEqual(rb.pairs.map((p) => p.groupId), [0, 5, 9, 0, 123456789]);
    assert.equal(rb.batches[0]!.from, 1);
    const data = new Uint8Array(10_000).map((_, i) => i % 251);
    const snap = snapshotMessage(data);
    // Two groups' snapshots to one host: streamed one after the other, neither superseding the other.
    a.send([
      { groupId: 3, message: snap },
      { groupId: 4, message: snap },
      { groupId: 5, message: heartbeat(1, 2) },
    ]);
    await waitFor(() => ra.snapshots.length === 2, "both snapshots acknowledged");
    assert.deepEqual(ra.snapshots, [
      { groupId: 3, to: 2, status: SnapshotStatus.SnapshotFinish },
      { groupId: 4, to: 2, status: SnapshotStatus.SnapshotFinish },
    ]);
    const got = rb.pairs.filter((p) => p.message.type === MessageType.MsgSnap);
    assert.deepEqual(got.map((p) => p.groupId), [3, 4]);
    for (const p of got) assert.deepEqual(p.message.snapshot!.data, data);
    assert.ok(rb.pairs.some((p) => p.groupId === 5));
    const m = a.metrics();
    assert.equal(m.peers[0]!.snapshotsSent, 2);
    // Per snapshot a begin frame and ten chunks, beside the two message frames.
    assert.ok(m.peers[0]!.framesSent >= 24, `frames sent: ${m.peers[0]!.framesSent}`);
  });
});

/**
 * Snapshot data held "in storage": `stored`, read in chunks of 4 KiB; the
 * reader holds every chunk after the first until `release()`.
 */
class HeldStreams implements SnapshotStreams {
  readonly stored: Uint8Array;
  readonly #gate: Promise<void>;
  release!: () => void;
  constructor(stored: Uint8Array) {
    this.stored = stored;
    this.#gate = new Promise((r) => (this.release = r));
  }
  dataBytes(snap: Snapshot): number | undefined {
    return snap.data.length > 0 ? this.stored.length : undefined;
  }
  async *read(): AsyncIterable<Uint8Array> {
    for (let at = 0; at < this.stored.length; at += 4096) {
      if (at > 0) await this.#gate;
      yield this.stored.subarray(at, at + 4096);
    }
  }
  receive(snap: Snapshot): SnapshotReceiver {
    const parts: number[] = [];
    return {
      write: (c: Uint8Array): void => void parts.push(...c),
      finish: (): Promise<Snapshot> => Promise.resolve({ ...snap, data: new Uint8Array(parts) }),
      abort: (): void => {},
    };
  }
}

test("WebSocketHostTransport streams a group's snapshot from its storage while other groups' messages pass", async () => {
  await withPair({ snapshotChunkBytes: 1024 }, async (a, b, ra, rb) => {
    const data = new Uint8Array(20_000).map((_, i) => i % 253);
    const held = new HeldStreams(data);
    ra.streams.set(3, held);
    rb.streams.set(3, new HeldStreams(data));
    // The header's data is the storage's descriptor; here one marker byte.
    const snap = snapshotMessage(new Uint8Array([1]));
    a.send([{ groupId: 3, message: snap }]);
    // The begin frame and the first stored chunk are out; the rest waits on storage.
    await waitFor(() => (b.metrics().peers[0]?.framesReceived ?? 0) >= 5, "the stream under way");
    a.send([{ groupId: 9, message: heartbeat(1, 2) }]);
    await waitFor(() => rb.pairs.some((p) => p.groupId === 9), "group 9's message");
    assert.equal(rb.pairs.filter((p) => p.message.type === MessageType.MsgSnap).length, 0);
    assert.equal(ra.snapshots.length, 0);
    held.release();
    await waitFor(() => ra.snapshots.length === 1, "the snapshot acknowledged");
    assert.deepEqual(ra.snapshots, [{ groupId: 3, to: 2, status: SnapshotStatus.SnapshotFinish }]);
    const got = rb.pairs.find((p) => p.message.type === MessageType.MsgSnap)!;
    assert.equal(got.groupId, 3);
    assert.deepEqual(got.message.snapshot!.data, data);
  });
});

test("WebSocketHostTransport drops what does not fit its queue and reports each group of the dropped pairs", async () => {
  await withPair({ maxQueuedMessages: 4 }, async (a, _b, ra, rb) => {
    // Queued while connecting: the first four fit, the rest are dropped.
    a.send([1, 2, 3].map((groupId) => ({ groupId, message: heartbeat(1, 2) })));
    a.send([4, 5, 6, 5].map((groupId) => ({ groupId, message: heartbeat(1, 2) })));
    assert.deepEqual(ra.unreachable, [{ groupId: 4, to: 2 }, { groupId: 5, to: 2 }, {
      groupId: 6,
      to: 2,
    }]);
    assert.equal(a.metrics().messagesDropped, 4);
    assert.equal(a.metrics().unreachableReports, 3);
    await waitFor(() => rb.pairs.length === 3, "the pairs that fit");
    assert.deepEqual(rb.pairs.map((p) => p.groupId), [1, 2, 3]);
  });
});

function counterMachine(): ListMachine {
  return new ListMachine();
}

interface Cluster {
  transports: WebSocketHostTransport[];
  hosts: (RaftHost<number> | undefined)[];
  machines: Map<number, ListMachine>[];
  storages: HostStorage[];
  urls: string[];
  logs: CaptureLogger[];
}

const snapshotGroups = new Set([1, 2, 3, 4]);

function groupOptions(groupId: number, sm: ListMachine, peers?: number[]) {
  return {
    groupId,
    stateMachine: sm,
    ...(peers === undefined ? {} : { peers }),
    // The first groups snapshot and compact often, so a lagging replica needs a snapshot.
    ...(snapshotGroups.has(groupId) ? { snapshotEntries: 5, snapshotCatchUpEntries: 0 } : {}),
  };
}

/**
 * Every group ticks and heartbeats (no quiescence), so that the frames
 * carry the pairs of many groups; quiescence over this transport runs in
 * the sharded key-value end-to-end test.
 */
const hostsQuiesce = false;

/** Starts host `i` on its transport (which learns every host's URL) and storage. */
async function hostOn(c: Cluster, i: number): Promise<RaftHost<number>> {
  const t = c.transports[i]!;
  for (const [j, u] of c.urls.entries()) t.addPeer(hostIds[j]!, encodePeerContext({ url: u }));
  return await RaftHost.start<number>({
    hostId: hostIds[i]!,
    transport: t,
    storage: c.storages[i]!,
    tickMs: 20,
    quiesce: hostsQuiesce,
  });
}

async function startHost(c: Cluster, i: number, port?: number): Promise<void> {
  const id = hostIds[i]!;
  const t = new WebSocketHostTransport(
    testOptions(id, impl, { logger: c.logs[i]!, ...(port === undefined ? {} : { port }) }),
  );
  c.urls[i] = (await t.listen()).url;
  c.transports[i] = t;
  const host = await hostOn(c, i);
  const fresh = c.storages[i]!.groupIds().length === 0;
  c.machines[i] = new Map();
  for (const g of groupIds) {
    const sm = counterMachine();
    c.machines[i]!.set(g, sm);
    await host.addGroup(groupOptions(g, sm, fresh ? hostIds : undefined));
  }
  c.hosts[i] = host;
}

/** Each host's storage: in memory, or one `SqliteHostStorage` file per host (chunked snapshots). */
async function hostStorages(kind: "memory" | "sqlite", dir: string): Promise<HostStorage[]> {
  if (kind === "memory") return hostIds.map(() => new MemoryHostStorage());
  return await Promise.all(
    hostIds.map((id) => openSqliteHostStorage(join(dir, `host-${id}.db`))),
  );
}

async function withCluster(
  fn: (c: Cluster) => Promise<void>,
  kind: "memory" | "sqlite" = "memory",
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "raft-ts-host-ws-"));
  const c: Cluster = {
    transports: [],
    hosts: [],
    machines: [],
    storages: await hostStorages(kind, dir),
    urls: [],
    logs: hostIds.map((id) => new CaptureLogger(`${id}: `)),
  };
  try {
    // Every transport listens first, so each knows every URL.
    for (const [i, id] of hostIds.entries()) {
      const t = new WebSocketHostTransport(testOptions(id, impl, { logger: c.logs[i]! }));
      c.urls[i] = (await t.listen()).url;
      c.transports[i] = t;
    }
    for (const i of hostIds.keys()) {
      c.hosts[i] = await hostOn(c, i);
      c.machines[i] = new Map();
    }
    for (const [i, host] of c.hosts.entries()) {
      for (const g of groupIds) {
        const sm = counterMachine();
        c.machines[i]!.set(g, sm);
        await host!.addGroup(groupOptions(g, sm, hostIds));
      }
    }
    await fn(c);
  } finally {
    await Promise.all(c.hosts.map((h) => h?.close()));
    await Promise.all(c.transports.map((t) => t.close()));
    for (const st of c.storages) (st as { close?: () => void }).close?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes `value` to group `g` through its leader, retrying while leadership moves (bounded). */
async function put(c: Cluster, g: number, value: string): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < 100; attempt++) {
    const live = c.hosts.filter((h): h is RaftHost<number> => h !== undefined && !h.closed);
    const lead = live.map((h) => h.group(g).status().leaderId).find((l) => l !== 0);
    const host = live.find((h) => h.hostId === lead);
    if (host !== undefined) {
      try {
        await within(
          host.group(g).propose(new TextEncoder().encode(value)),
          `put ${value}`,
          10_000,
        );
        return;
      } catch (e) {
        last = e;
      }
    }
    await sleep(50);
  }
  throw new Error(`Cannot write ${value} to group ${g}: ${last}`);
}

function pairsPerFrame(t: WebSocketHostTransport): number {
  const m = t.metrics();
  const pairs = m.peers.reduce((n, p) => n + p.messagesSent, 0);
  const frames = m.peers.reduce((n, p) => n + p.framesSent, 0);
  return pairs / frames;
}

test("3 RaftHosts × 16 groups over WebSocketHostTransport: every group elects and writes, over one connection per peer host, frames of many pairs", async () => {
  await withCluster(async (c) => {
    for (const g of groupIds) {
      await within(c.hosts[0]!.group(g).waitForLeader(), `a leader of group ${g}`, 20_000);
    }
    await Promise.all(groupIds.map((g) => put(c, g, `first ${g}`)));
    for (const [i] of hostIds.entries()) {
      for (const g of groupIds) {
        await waitFor(
          () => c.machines[i]!.get(g)!.values.includes(`first ${g}`),
          `group ${g} applied on host ${hostIds[i]}`,
          20_000,
        );
      }
    }
    const lines: string[] = [];
    for (const t of c.transports) {
      const m = t.metrics();
      // One outbound connection to each peer host and one inbound from each, whatever the groups.
      assert.equal(m.peers.filter((p) => p.state === "open").length, 2);
      assert.equal(m.inboundConnections, 2);
      assert.ok(pairsPerFrame(t) > 2, `pairs per frame: ${pairsPerFrame(t)}`);
      assert.ok(m.pairsSent >= m.sendCalls);
      lines.push(
        `host ${m.id}: ${m.sendCalls} sends, ${m.pairsSent} pairs in ${
          m.peers.reduce((n, p) => n + p.framesSent, 0)
        } frames (${pairsPerFrame(t).toFixed(1)} pairs per frame), ${
          m.peers.map((p) => p.connects).join("+")
        } connects, ${m.inboundConnections} inbound`,
      );
    }
    console.log(lines.join("\n"));
  });
});

for (const kind of ["memory", "sqlite"] as const) {
  test(`WebSocketHostTransport (${kind} host storage): a restarted host reconnects and catches up, by snapshot where the leader compacted, while other groups keep writing`, async () => {
    await restartCatchUp(kind);
  });
}

async function restartCatchUp(kind: "memory" | "sqlite"): Promise<void> {
  await withCluster(async (c) => {
    for (const g of groupIds) {
      await within(c.hosts[0]!.group(g).waitForLeader(), `a leader of group ${g}`, 20_000);
    }
    // Host 3 stops; its storage stays, as after a crash.
    await c.hosts[2]!.close();
    await c.transports[2]!.close();
    c.hosts[2] = undefined;
    const port = Number(new URL(c.urls[2]!).port);
    for (const g of groupIds) {
      const n = snapshotGroups.has(g) ? 12 : 2;
      for (let k = 0; k < n; k++) await put(c, g, `down ${g}.${k}`);
    }
    for (const g of snapshotGroups) {
      const lead = c.hosts[0]!.group(g).status().leaderId;
      const st = c.hosts[lead - 1]!.group(g).status();
      assert.ok(st.snapshotIndex > 0, `group ${g} compacted on its leader`);
      if (kind === "sqlite") {
        // The group's snapshot data lives in its storage's chunks (the Raft
        // snapshot holds only their descriptor), so the transport streams it.
        const snap = c.storages[lead - 1]!.openGroup(g).snapshot();
        assert.ok(decodeSnapshotData(snap.data).stored !== undefined, `group ${g}: chunked`);
      }
    }
    // Other groups keep writing while host 3 comes back.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      for (let k = 0; writing; k++) {
        await Promise.all(
          groupIds.filter((g) => !snapshotGroups.has(g)).map((g) => put(c, g, `live ${g}.${k}`)),
        );
        written++;
      }
    })();
    await startHost(c, 2, port);
    try {
      for (const g of groupIds) {
        const want = c.machines[0]!.get(g)!;
        await waitFor(
          () => {
            const got = c.machines[2]!.get(g)!.values;
            return want.values.filter((v) => v.startsWith("down")).every((v) => got.includes(v));
          },
          `group ${g} caught up on the restarted host`,
          30_000,
        );
      }
    } finally {
      writing = false;
      await writer;
    }
    assert.ok(written > 0);
    const restored = [...snapshotGroups].map((g) => c.machines[2]!.get(g)!.restores);
    assert.ok(restored.every((n) => n > 0), `restores on host 3: ${restored}`);
    if (kind === "sqlite") {
      for (const g of snapshotGroups) {
        const snap = c.storages[2]!.openGroup(g).snapshot();
        assert.ok(
          decodeSnapshotData(snap.data).stored !== undefined,
          `group ${g}: host 3 received the snapshot into its storage's chunks`,
        );
      }
    }
    const sent = c.transports.slice(0, 2).reduce(
      (n, t) => n + t.metrics().peers.find((p) => p.id === 3)!.snapshotsSent,
      0,
    );
    assert.ok(sent >= snapshotGroups.size, `snapshots sent to host 3: ${sent}`);
    const reconnects = c.transports.slice(0, 2).map((t) =>
      t.metrics().peers.find((p) => p.id === 3)!.reconnects
    );
    assert.ok(reconnects.every((n) => n >= 1), `reconnects to host 3: ${reconnects}`);
    console.log(
      `restart (${kind}): ${sent} group snapshots sent to host 3, reconnects ${reconnects}, ${written} rounds of live writes meanwhile`,
    );
  }, kind);
}

function groupFrame(groupVarint: Uint8Array, m: Message): Uint8Array {
  const f = encodeMessageFrame(m);
  const out = new Uint8Array(1 + groupVarint.length + f.length);
  out[0] = FrameKind.GroupMessages;
  out.set(groupVarint, 1);
  out.set(f, 1 + groupVarint.length);
  return out;
}

test("WebSocketHostTransport closes a connection that sends bad input, with a logged reason, and loses nothing else", async () => {
  const log = new CaptureLogger("b: ");
  await withPair({ logger: log, maxFrameBytes: 4096 }, async (a, b, _ra, rb) => {
    const url = b.url!;
    b.addPeer(3, new Uint8Array()); // a member that may connect but is never dialled
    const good =
      packMessages([encodeGroupMessageFrame(7, heartbeat(3, 2))], 4096, FrameKind.GroupMessages)[0]!
        .data;
    const outOfRange = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    const cases: [string, Uint8Array | string, RegExp][] = [
      [
        "malformed frame",
        new Uint8Array([FrameKind.GroupMessages, 7, 1, 2, 3]),
        /bad message frame|truncated/,
      ],
      ["unknown frame kind", new Uint8Array([42, 1, 2]), /unknown frame kind 42/],
      [
        "single-group frame",
        packMessages([encodeMessageFrame(heartbeat(3, 2))], 4096)[0]!.data,
        /single-group frame/,
      ],
      ["wrong group tag", groupFrame(outOfRange, heartbeat(3, 2)), /group id out of range/],
      [
        "oversized frame",
        new Uint8Array(8192).fill(FrameKind.GroupMessages),
        /above maxFrameBytes|too big|1009/i,
      ],
    ];
    for (const [name, data, why] of cases) {
      const raw = await rawClient(url, 3, 2, "native", { protocol: hostProtocolName });
      await within(raw.opened, `${name}: open`);
      raw.socket.send(good as Uint8Array<ArrayBuffer>);
      await waitFor(() => rb.pairs.length > 0, `${name}: the good frame`);
      const before = rb.pairs.length;
      raw.socket.send(data as Uint8Array<ArrayBuffer>);
      const closed = await within(raw.closed, `${name}: closed`);
      assert.notEqual(closed.code, 1000, name);
      assert.ok(log.lines.some((l) => why.test(l)), `${name}: logged reason ${why}`);
      assert.equal(rb.pairs.length, before, `${name}: nothing delivered`);
      // The real peer's connection carries on.
      a.send([{ groupId: 11, message: heartbeat(1, 2) }]);
      await waitFor(
        () => rb.pairs.some((p) => p.groupId === 11 && rb.pairs.length > before),
        `${name}: traffic after`,
      );
      rb.batches.length = 0;
    }
    // Bun's server closes an oversized message itself (1009) before the transport sees it.
    assert.ok(b.metrics().protocolErrors >= cases.length - 1);
    // The real peer's connection was never lost.
    assert.equal(a.metrics().peers[0]!.disconnects, 0);
    // Unauthenticated: refused at the upgrade, before any frame.
    const refusedBefore = b.metrics().connectionsRefused;
    const anon = await rawClient(url, 3, 2, "native", { protocols: [hostProtocolName] });
    await within(anon.closed, "unauthenticated closed");
    // At least this one (Node's client may knock twice).
    assert.ok(b.metrics().connectionsRefused >= refusedBefore + 1);
    assert.ok(log.has("no handshake token"));
    a.send([{ groupId: 12, message: heartbeat(1, 2) }]);
    await waitFor(() => rb.pairs.some((p) => p.groupId === 12), "traffic after the refusal");
  });
});

test("A single-group WebSocketTransport and a WebSocketHostTransport refuse each other with a clear reason", async () => {
  const hostLog = new CaptureLogger("host: ");
  const nodeLog = new CaptureLogger("node: ");
  const host = new WebSocketHostTransport(testOptions(1, impl, { logger: hostLog }));
  const node = new WebSocketTransport(testOptions(2, impl, { logger: nodeLog }));
  try {
    const [uh, un] = await Promise.all([host.listen(), node.listen()]);
    host.addPeer(2, encodePeerContext({ url: un.url }));
    node.addPeer(1, encodePeerContext({ url: uh.url }));
    host.start(new HostRecorder(1));
    node.start({ id: 2, step() {}, reportUnreachable() {}, reportSnapshot() {} });
    host.send([{ groupId: 1, message: heartbeat(1, 2) }]);
    node.send([heartbeat(2, 1)]);
    await waitFor(
      () =>
        hostLog.has("a single-group WebSocketTransport") && nodeLog.has("a WebSocketHostTransport"),
      "both refusals logged",
      10_000,
    );
    assert.ok(host.metrics().connectionsRefused >= 1);
    assert.ok(node.metrics().connectionsRefused >= 1);
    assert.equal(host.metrics().inboundConnections, 0);
    assert.equal(node.metrics().inboundConnections, 0);
  } finally {
    await Promise.all([host.close(), node.close()]);
  }
});
