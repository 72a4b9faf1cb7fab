import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type Message,
  MessageType,
  type NodeId,
  RaftNode,
  type SnapshotStatus,
  type Transport,
  type TransportHandler,
} from "../../mod.ts";
import { SnapshotStatus as Status, StateType } from "../../core/types.ts";
import { cmd, Machine } from "../../tests/cluster/harness.ts";
import { MemoryNetwork, VirtualScheduler } from "../memory/mod.ts";
import { newRand } from "../../core/rand.ts";
import { openSqliteStorage, type SqliteStorage } from "./mod.ts";
import { tempDir } from "./_test_util.ts";

/**
 * A MemoryNetwork transport that streams snapshot data held in storage:
 * a MsgSnap's chunks go from the sender's storage to the receiver's
 * staging, then the MsgSnap is stepped; `tamper` may change a chunk.
 */
class StreamingTransport implements Transport {
  readonly streamsSnapshots = true;
  readonly #inner: Transport;
  readonly #handlers: Map<NodeId, TransportHandler>;
  readonly #hooks: Hooks;
  #handler: TransportHandler | undefined;

  constructor(inner: Transport, handlers: Map<NodeId, TransportHandler>, hooks: Hooks) {
    this.#inner = inner;
    this.#handlers = handlers;
    this.#hooks = hooks;
  }

  start(h: TransportHandler): void {
    this.#handler = h;
    this.#handlers.set(h.id, h);
    this.#inner.start(h);
  }

  send(messages: readonly Message[]): void {
    const rest: Message[] = [];
    for (const m of messages) {
      if (m.type === MessageType.MsgSnap && m.snapshot !== undefined) void this.#stream(m);
      else rest.push(m);
    }
    this.#inner.send(rest);
  }

  async #stream(m: Message): Promise<void> {
    const from = this.#handler!;
    const report = (s: SnapshotStatus): void => from.reportSnapshot(m.to, s);
    const to = this.#handlers.get(m.to);
    const n = from.snapshotStreams!.dataBytes(m.snapshot!);
    if (to === undefined || n === undefined) {
      this.#hooks.inline++;
      this.#inner.send([m]);
      return;
    }
    const rx = to.snapshotStreams!.receive(m.snapshot!);
    try {
      let k = 0;
      for await (const c of from.snapshotStreams!.read(m.snapshot!)) {
        await rx.write(this.#hooks.tamper?.(c, k++) ?? c);
      }
      const snap = await rx.finish();
      this.#hooks.streamed++;
      to.step({ ...m, snapshot: snap });
      report(Status.SnapshotFinish);
    } catch (e) {
      this.#hooks.failures.push((e as Error).message);
      await rx.abort();
      report(Status.SnapshotFailure);
    }
  }

  close(): void {
    this.#handlers.delete(this.#handler?.id ?? 0);
    this.#inner.close();
  }
}

interface Hooks {
  streamed: number;
  inline: number;
  failures: string[];
  tamper?: ((c: Uint8Array, k: number) => Uint8Array | undefined) | undefined;
}

test("RaftNode on SqliteStorage takes, streams, stages, installs and restores snapshots in chunks", async () => {
  const tmp = tempDir();
  const clock = new VirtualScheduler();
  const net = new MemoryNetwork({ seed: 3, scheduler: clock });
  const handlers = new Map<NodeId, TransportHandler>();
  const hooks: Hooks = { streamed: 0, inline: 0, failures: [] };
  const storages = new Map<NodeId, SqliteStorage>();
  const machines = new Map<NodeId, Machine>();
  const nodes = new Map<NodeId, RaftNode<string>>();
  const start = async (id: NodeId, peers: NodeId[]): Promise<RaftNode<string>> => {
    const storage = await openSqliteStorage(tmp.file(`n${id}.db`), { snapshotChunkBytes: 100 });
    storages.set(id, storage);
    const machine = new Machine(false, 37);
    machines.set(id, machine);
    const node = await RaftNode.start<string>({
      id,
      peers,
      storage,
      transport: new StreamingTransport(net.connect(id), handlers, hooks),
      stateMachine: machine,
      scheduler: clock,
      tickMs: 10,
      rand: newRand(id * 7 + 1),
      snapshotEntries: 10,
      snapshotCatchUpEntries: 2,
    });
    nodes.set(id, node);
    return node;
  };
  const stop = async (id: NodeId): Promise<void> => {
    await nodes.get(id)!.close();
    nodes.delete(id);
    storages.get(id)!.close();
  };
  try {
    for (const id of [1, 2, 3]) await start(id, [1, 2, 3]);
    let leader: RaftNode<string> | undefined;
    await clock.until(() => {
      leader = [...nodes.values()].find((n) => n.status().raftState === StateType.StateLeader);
      return leader !== undefined;
    }, 10_000);
    const l = leader!;
    const f = [1, 2, 3].find((id) => id !== l.id)!;
    await clock.run(l.propose(cmd("k0=0")));
    net.isolate(f);
    for (let i = 1; i < 40; i++) await clock.run(l.propose(cmd(`k${i}=${i}`)));
    const ls = storages.get(l.id)!;
    assert.ok(ls.firstIndex() > storages.get(f)!.lastIndex() + 1, "the leader compacted");
    assert.ok(ls.snapshotChunks !== undefined);

    // The first transfer is corrupted in flight: refused, reported, retried.
    let tampered = 0;
    hooks.tamper = (c, k): Uint8Array | undefined => {
      if (k !== 1 || tampered > 0) return undefined;
      tampered++;
      const bad = c.slice();
      bad[0]! ^= 1;
      return bad;
    };
    net.heal();
    await clock.until(() => machines.get(f)!.history.length >= 40, 20_000);
    assert.equal(tampered, 1);
    assert.ok(hooks.failures.some((m) => /checksum/.test(m)), hooks.failures.join("; "));
    assert.ok(hooks.streamed >= 1, "a snapshot was streamed");
    assert.equal(hooks.inline, 0, "no snapshot was sent inline");
    assert.ok(machines.get(f)!.chunksRestored > 1, "restored from several chunks");
    assert.deepEqual(machines.get(f)!.history, machines.get(l.id)!.history);

    // The follower restarts from its own chunked snapshot.
    const snapIndex = storages.get(f)!.snapshot().metadata.index;
    assert.ok(snapIndex > 0);
    await stop(f);
    const again = await start(f, []);
    assert.ok(machines.get(f)!.chunksRestored > 1, "restored from the stored chunks at start");
    assert.equal(machines.get(f)!.restores, 1);
    await clock.until(() => again.status().applied >= l.status().applied, 10_000);
    await clock.run(l.propose(cmd("after=1")));
    await clock.until(() => machines.get(f)!.history.length >= 41, 10_000);
    assert.deepEqual(machines.get(f)!.history, machines.get(l.id)!.history);
  } finally {
    for (const id of [...nodes.keys()]) await stop(id);
    net.close();
    tmp.remove();
  }
});
