import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryHostNetwork, VirtualScheduler } from "./mod.ts";
import type { GroupId, GroupMessage, HostId, HostTransportHandler } from "../../core/host.ts";
import { MessageType, newMessage, newSnapshot, SnapshotStatus } from "../../core/types.ts";

interface Probe {
  handler: HostTransportHandler;
  /** Received batches, as `from:group,group,...`. */
  frames: string[];
  unreachable: string[];
  snaps: string[];
}

function probe(hostId: HostId): Probe {
  const p: Probe = {
    frames: [],
    unreachable: [],
    snaps: [],
    handler: {
      hostId,
      receive: (from, batch) => p.frames.push(`${from}:${batch.map((x) => x.groupId).join(",")}`),
      reportUnreachable: (g, to) => p.unreachable.push(`${g}>${to}`),
      reportSnapshot: (g, to, st) => p.snaps.push(`${g}>${to}:${st}`),
    },
  };
  return p;
}

function pair(
  groupId: GroupId,
  from: HostId,
  to: HostId,
  type: MessageType = MessageType.MsgApp,
): GroupMessage {
  return {
    groupId,
    message: newMessage({
      type,
      from,
      to,
      term: 1,
      ...(type === MessageType.MsgSnap ? { snapshot: newSnapshot({ index: 5, term: 1 }) } : {}),
    }),
  };
}

function hosts(codec = false) {
  const clock = new VirtualScheduler();
  const net = new MemoryHostNetwork({ scheduler: clock, delayMs: 2, codec });
  const probes = [1, 2, 3].map((id) => {
    const p = probe(id);
    net.connect(id).start(p.handler);
    return p;
  });
  return { clock, net, probes };
}

test("MemoryHostNetwork sends one frame per destination host holding its groups' messages", async () => {
  for (const codec of [false, true]) {
    const { clock, net, probes } = hosts(codec);
    const a = net.connect(4);
    a.start(probe(4).handler);
    a.send([pair(1, 4, 2), pair(2, 4, 3), pair(3, 4, 2), pair(4, 4, 2)]);
    await clock.advance(1);
    assert.deepEqual(probes[1]!.frames, [], "delayed by 2 ms");
    await clock.advance(1);
    assert.deepEqual(probes[1]!.frames, ["4:1,3,4"]);
    assert.deepEqual(probes[2]!.frames, ["4:2"]);
    assert.deepEqual(net.stats, { frames: 2, messages: 4, delivered: 4, dropped: 0 });
    net.close();
  }
});

test("MemoryHostNetwork reports each lost message to its group, and a delivered snapshot as finished", async () => {
  const { clock, net, probes } = hosts();
  // Host 5 was never connected; the link from 6 to 3 is cut.
  const sender = probe(6);
  const t6 = net.connect(6);
  t6.start(sender.handler);
  net.partition([6], [3]);
  t6.send([
    pair(1, 6, 3),
    pair(2, 6, 3, MessageType.MsgSnap),
    pair(3, 6, 5),
    pair(4, 6, 2, MessageType.MsgSnap),
  ]);
  await clock.advance(5);
  assert.deepEqual(sender.unreachable, ["1>3", "3>5"]);
  assert.deepEqual(sender.snaps, [
    `2>3:${SnapshotStatus.SnapshotFailure}`,
    `4>2:${SnapshotStatus.SnapshotFinish}`,
  ]);
  assert.deepEqual(probes[1]!.frames, ["6:4"]);
  assert.equal(net.stats.dropped, 3);
  net.heal();
  t6.send([pair(1, 6, 3)]);
  await clock.advance(5);
  assert.deepEqual(probes[2]!.frames, ["6:1"]);
  assert.deepEqual(probes[0]!.frames, []);
  assert.throws(() => net.connect(2), /Cannot connect host 2: it is connected already/);
  net.close();
});
