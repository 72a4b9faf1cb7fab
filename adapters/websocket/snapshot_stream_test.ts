/**
 * Snapshots whose state machine data is held in storage, streamed over
 * the WebSocket transport: end to end between RaftNodes on SqliteStorage
 * (and to a node on MemoryStorage, which gathers it), and against a
 * hostile peer that truncates, reorders, duplicates or corrupts chunks.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftNode, type SnapshotStreams } from "../../core/node.ts";
import { NodeSnapshotStreams } from "../../core/node/snapshot_streams.ts";
import {
  decodeSnapshotData,
  emptyReplicatedState,
  encodeSnapshotData,
} from "../../core/node/replicated.ts";
import { defaultSessionLimits } from "../../core/node/sessions.ts";
import { crc32c } from "../../core/crc32c.ts";
import { MemoryStorage } from "../../core/storage.ts";
import {
  type Message,
  MessageType,
  newConfState,
  newMessage,
  newSnapshot,
  type NodeId,
} from "../../core/types.ts";
import { cmd, Machine } from "../../tests/cluster/harness.ts";
import { openSqliteStorage, type SqliteStorage } from "../sqlite/mod.ts";
import { tempDir } from "../sqlite/_test_util.ts";
import { encodePeerContext, WebSocketTransport } from "./mod.ts";
import {
  AckStatus,
  decodeWire,
  encodeSnapshotBegin,
  encodeSnapshotChunk,
  FrameKind,
} from "./_wire.ts";
import {
  CaptureLogger,
  impls,
  rawClient,
  Recorder,
  testOptions,
  waitFor,
  within,
} from "./_test_util.ts";

interface Member {
  id: NodeId;
  node: RaftNode<string>;
  transport: WebSocketTransport;
  machine: Machine;
  storage: SqliteStorage | MemoryStorage;
  url: string;
  port: number;
}

const nodeOptions = { tickMs: 10, electionTick: 10, heartbeatTick: 1 };
const compact = { snapshotEntries: 10, snapshotCatchUpEntries: 2 };

async function startMember(
  id: NodeId,
  storage: SqliteStorage | MemoryStorage,
  peers: Map<NodeId, string>,
  bootstrap: NodeId[],
  port?: number,
): Promise<Member> {
  const transport = new WebSocketTransport(
    testOptions(id, { server: "auto", client: "auto" }, {
      reconnectMaxMs: 200,
      snapshotChunkBytes: 64,
      logger: new CaptureLogger(`${id}: `),
      peers,
      ...(port !== undefined ? { port } : {}),
    }),
  );
  const addr = await transport.listen();
  const machine = new Machine(false, 50);
  const node = await RaftNode.start<string>({
    ...nodeOptions,
    ...compact,
    id,
    peers: bootstrap,
    storage,
    transport,
    stateMachine: machine,
  });
  return { id, node, transport, machine, storage, url: addr.url, port: addr.port };
}

test("RaftNode over WebSocket streams a snapshot held in SqliteStorage to new members, chunk by chunk", async () => {
  const tmp = tempDir();
  const members: Member[] = [];
  try {
    // Three nodes; the URLs are known only once they listen, so they join one by one.
    const s1 = await openSqliteStorage(tmp.file("1.db"), { snapshotChunkBytes: 100 });
    const first = await startMember(1, s1, new Map(), [1]);
    members.push(first);
    await first.node.waitForLeader();
    for (let i = 0; i < 40; i++) await first.node.propose(cmd(`k${i}=${i}`));
    assert.ok(s1.firstIndex() > 2, "the leader compacted its log");
    const stored = decodeSnapshotData(s1.snapshot().data).stored;
    assert.ok(stored !== undefined && stored.length > 300, "its snapshot data is held in chunks");

    const join = async (id: NodeId, storage: SqliteStorage | MemoryStorage): Promise<Member> => {
      const peers = new Map(members.map((m) => [m.id, m.url]));
      const m = await startMember(id, storage, peers, []);
      members.push(m);
      await first.node.addVoter(id, { context: encodePeerContext({ url: m.url }) });
      await waitFor(() => m.machine.history.length >= 40, `node ${id} to catch up`, 20_000);
      return m;
    };
    // On SqliteStorage: staged, checked, installed and restored in chunks.
    const s2 = await openSqliteStorage(tmp.file("2.db"), { snapshotChunkBytes: 100 });
    const second = await join(2, s2);
    assert.equal(second.machine.restores, 1);
    assert.ok(second.machine.chunksRestored > 3, `${second.machine.chunksRestored} chunks`);
    const got = decodeSnapshotData(s2.snapshot().data).stored;
    assert.ok(got !== undefined, "node 2 holds the snapshot's data in chunks");
    const toSecond = first.transport.metrics().peers.find((p) => p.id === 2)!;
    await waitFor(
      () => first.transport.metrics().peers.find((p) => p.id === 2)!.snapshotsSent >= 1,
      "the ack",
    );
    assert.ok(toSecond.framesSent > 5, "in several frames");
    // On MemoryStorage: gathered into the snapshot's data.
    const ms = new MemoryStorage();
    const third = await join(3, ms);
    assert.equal(third.machine.restores, 1);
    assert.equal(decodeSnapshotData(ms.snapshot().data).stored, undefined, "inline on node 3");
    for (const m of members) assert.deepEqual(m.machine.history, first.machine.history);
    // Node 2 restarts from its chunked snapshot.
    await second.node.close();
    s2.close();
    members.splice(members.indexOf(second), 1);
    const s2b = await openSqliteStorage(tmp.file("2.db"), { snapshotChunkBytes: 100 });
    const again = await startMember(
      2,
      s2b,
      new Map(members.map((m) => [m.id, m.url])),
      [],
      second.port,
    );
    members.push(again);
    assert.ok(again.machine.chunksRestored > 3, "restored from the stored chunks");
    await first.node.propose(cmd("after=1"));
    await waitFor(
      () => again.machine.history.length >= 41,
      "node 2 to catch up after restart",
      20_000,
    );
  } finally {
    for (const m of members) {
      await m.node.close();
      if (!(m.storage instanceof MemoryStorage)) await m.storage.close();
    }
    tmp.remove();
  }
});

/** The streamed snapshot a hostile peer sends: header (driver format 2) and data. */
function streamedSnapshot(n: number): { m: Message; data: Uint8Array } {
  const data = new Uint8Array(n).map((_, i) => (i * 31) & 255);
  const snap = newSnapshot({ index: 50, term: 3, confState: newConfState({ voters: [1, 2] }) });
  snap.data = encodeSnapshotData(emptyReplicatedState(), { length: n, checksum: crc32c(data) });
  const m = newMessage({ type: MessageType.MsgSnap, from: 1, to: 2, term: 3, snapshot: snap });
  return { m, data };
}

test("WebSocketTransport discards a truncated, reordered, duplicated or corrupted snapshot stream, installing nothing", async () => {
  const tmp = tempDir();
  const storage = await openSqliteStorage(tmp.file("2.db"), { snapshotChunkBytes: 256 });
  const log = new CaptureLogger("b: ");
  const b = new WebSocketTransport(testOptions(2, impls[0]!, { logger: log }));
  const streams: SnapshotStreams = new NodeSnapshotStreams(storage, defaultSessionLimits, 1 << 20);
  const rb = Object.assign(new Recorder(2), { snapshotStreams: streams });
  const n = 5000;
  const { m, data } = streamedSnapshot(n);
  const chunk = (at: number, len = 500): Uint8Array =>
    encodeSnapshotChunk(7, at, data.subarray(at, Math.min(n, at + len)));
  const acks = (raw: { received: (Uint8Array | string)[] }): number[] =>
    raw.received.map((d) => decodeWire(d as Uint8Array, 1 << 20))
      .filter((f) => f.kind === FrameKind.SnapshotAck)
      .map((f) => (f as { status: number }).status);
  /** Staged data sets left (read through the store: none may be readable). */
  const readable = (): boolean => {
    try {
      storage.snapshotChunks.read({ length: n, checksum: crc32c(data) });
      return true;
    } catch {
      return false;
    }
  };
  try {
    const addrB = await b.listen();
    b.addPeer(1, new Uint8Array());
    b.start(rb);
    const cases: { name: string; frames: () => Uint8Array[]; closes: boolean }[] = [
      { name: "truncated", frames: () => [chunk(0), chunk(500)], closes: false },
      { name: "reordered", frames: () => [chunk(0), chunk(1000), chunk(500)], closes: true },
      { name: "duplicated", frames: () => [chunk(0), chunk(500), chunk(500)], closes: true },
      {
        name: "corrupted",
        frames: () => {
          const out: Uint8Array[] = [];
          for (let at = 0; at < n; at += 500) {
            const part = data.slice(at, at + 500);
            if (at === 1500) part[7]! ^= 0x10; // a valid frame around wrong bytes
            out.push(encodeSnapshotChunk(7, at, part));
          }
          return out;
        },
        closes: false,
      },
      {
        name: "longer than described",
        frames: () => [encodeSnapshotChunk(7, 0, new Uint8Array(n + 1))],
        closes: true,
      },
    ];
    for (const c of cases) {
      const raw = await rawClient(addrB.url, 1, 2, "native");
      await within(raw.opened, `${c.name}: the connection`);
      const errors = b.metrics().protocolErrors;
      raw.socket.send(encodeSnapshotBegin(7, n, m) as Uint8Array<ArrayBuffer>);
      for (const f of c.frames()) raw.socket.send(f as Uint8Array<ArrayBuffer>);
      if (c.closes) {
        const closed = await within(raw.closed, `${c.name}: the close`);
        assert.notEqual(closed.code, 1000, c.name);
        await waitFor(() => b.metrics().protocolErrors > errors, `${c.name}: the protocol error`);
      } else if (c.name === "corrupted") {
        await waitFor(() => acks(raw).length === 1, `${c.name}: the refusal`);
        assert.deepEqual(acks(raw), [AckStatus.Refused], c.name);
        assert.ok(log.has("its checksum is"), `${c.name}: ${log.lines.join("\n")}`);
        raw.socket.close(1000, "");
      } else {
        // Truncated: the sender goes away mid-stream.
        raw.socket.close(1000, "");
        await within(raw.closed, `${c.name}: the close`);
      }
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(rb.messages.length, 0, `${c.name}: nothing stepped`);
      assert.equal(readable(), false, `${c.name}: nothing staged stays readable`);
    }
    // The whole stream, intact, is installed (stepped) and acknowledged.
    const raw = await rawClient(addrB.url, 1, 2, "native");
    await within(raw.opened, "the good connection");
    raw.socket.send(encodeSnapshotBegin(7, n, m) as Uint8Array<ArrayBuffer>);
    for (let at = 0; at < n; at += 500) raw.socket.send(chunk(at) as Uint8Array<ArrayBuffer>);
    await waitFor(() => rb.messages.length === 1, "the snapshot stepped");
    await waitFor(() => acks(raw).length === 1, "the acknowledgement");
    assert.deepEqual(acks(raw), [AckStatus.Received]);
    assert.deepEqual(rb.messages[0]!.snapshot!.data, m.snapshot!.data);
    assert.equal(readable(), true, "its data is staged for the install");
    raw.socket.close(1000, "");
  } finally {
    await b.close();
    storage.close();
    // Nothing half-written survives a reopen either.
    const again = await openSqliteStorage(tmp.file("2.db"));
    assert.equal(again.snapshot().metadata.index, 0);
    again.close();
    tmp.remove();
  }
});
