import { test } from "node:test";
import assert from "node:assert/strict";
import type { Transport } from "./seams.ts";
import type { MemoryStorage } from "../storage.ts";
import { RaftNode } from "../node.ts";
import { Machine, withCluster } from "../../tests/cluster/harness.ts";
import { decodeSnapshotData, emptyReplicatedState, encodeSnapshotData } from "./replicated.ts";

const enc = new TextEncoder();

test("encodeSnapshotData() round-trips the driver's replicated state and the state machine's data", () => {
  const data = enc.encode("state");
  const empty = decodeSnapshotData(encodeSnapshotData(emptyReplicatedState(), data));
  assert.deepEqual([...empty.state.removed], []);
  assert.equal(empty.state.contexts.size, 0);
  assert.deepEqual(empty.data, data);

  const s = emptyReplicatedState();
  s.removed.add(300).add(3).add(2 ** 40);
  s.contexts.set(5, enc.encode("ws://a")).set(2, new Uint8Array([0]));
  s.sessions.register(77, 1000);
  const got = decodeSnapshotData(encodeSnapshotData(s, data));
  assert.deepEqual([...got.state.removed].sort((a, b) => a - b), [3, 300, 2 ** 40]);
  assert.deepEqual([...got.state.contexts].sort((a, b) => a[0] - b[0]), [
    [2, new Uint8Array([0])],
    [5, enc.encode("ws://a")],
  ]);
  assert.ok(got.state.sessions.hasSession(77));
  assert.deepEqual(got.data, data);

  assert.throws(() => decodeSnapshotData(data), /does not start with the driver's header/);
  const bytes = encodeSnapshotData(s, data);
  for (const cut of [5, 8, 12]) {
    assert.throws(() => decodeSnapshotData(bytes.subarray(0, cut)), /Cannot read/);
  }
});

test("RaftNode tells the transport of members whose addition was compacted into a snapshot", async () => {
  await withCluster({
    size: 1,
    node: { snapshotEntries: 3, snapshotCatchUpEntries: 0 },
  }, async (c) => {
    const l = await c.leader();
    await c.run(l.addLearner(5, { context: enc.encode("ws://five") }));
    await c.run(l.addLearner(6, { context: enc.encode("ws://six") }));
    await c.run(l.removeNode(6));
    for (let i = 0; i < 5; i++) await c.run(l.propose(new Uint8Array([i])));
    const storage = c.storages.get(1)!;
    assert.ok(storage.firstIndex() > 4, "the additions were compacted away");
    await c.stop(1);

    // Restarted on its storage, with a transport that records what it is told.
    const calls: string[] = [];
    const transport: Transport = {
      start() {},
      send() {},
      close() {},
      addPeer: (id, ctx) => calls.push(`add ${id} ${new TextDecoder().decode(ctx)}`),
      removePeer: (id) => calls.push(`remove ${id}`),
    };
    const n = await RaftNode.start({
      id: 1,
      storage: storage as MemoryStorage,
      transport,
      stateMachine: new Machine(),
      scheduler: c.clock,
      tickMs: 10,
    });
    assert.deepEqual(calls, ["add 5 ws://five"]);
    await n.close();
  });
});
