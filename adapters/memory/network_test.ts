import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryNetwork, VirtualScheduler } from "./mod.ts";
import type { TransportHandler } from "../../core/node.ts";
import {
  type Message,
  MessageType,
  newMessage,
  newSnapshot,
  type NodeId,
  SnapshotStatus,
} from "../../core/types.ts";

interface Probe {
  handler: TransportHandler;
  got: Message[];
  unreachable: NodeId[];
  snaps: [NodeId, SnapshotStatus][];
}

function probe(id: NodeId): Probe {
  const p: Probe = {
    got: [],
    unreachable: [],
    snaps: [],
    handler: {
      id,
      step: (m) => p.got.push(m),
      reportUnreachable: (to) => p.unreachable.push(to),
      reportSnapshot: (to, st) => p.snaps.push([to, st]),
    },
  };
  return p;
}

function msg(from: NodeId, to: NodeId, index = 0, type: MessageType = MessageType.MsgApp): Message {
  return newMessage({
    type,
    from,
    to,
    term: 1,
    index,
    entries: [{ term: 1, index: index + 1, type: 0, data: new Uint8Array([index & 0xff]) }],
  });
}

/** Two connected probes on a virtual-time network. */
function pair(
  opts: ConstructorParameters<typeof MemoryNetwork>[0] = {},
): {
  clock: VirtualScheduler;
  net: MemoryNetwork;
  a: Probe;
  b: Probe;
  send: (ms: Message[]) => void;
} {
  const clock = new VirtualScheduler();
  const net = new MemoryNetwork({ ...opts, scheduler: clock });
  const a = probe(1);
  const b = probe(2);
  const ta = net.connect(1);
  net.connect(2).start(b.handler);
  ta.start(a.handler);
  return { clock, net, a, b, send: (ms) => ta.send(ms) };
}

test("MemoryNetwork delivers deep copies, so nodes share nothing", async () => {
  for (const codec of [false, true]) {
    const { clock, b, send } = pair({ codec });
    const m = msg(1, 2, 7);
    m.snapshot = newSnapshot({ index: 3, term: 1, data: new Uint8Array([1, 2]) });
    send([m]);
    await clock.advance(0);
    assert.equal(b.got.length, 1);
    const got = b.got[0]!;
    assert.notEqual(got, m);
    assert.deepEqual(got.entries, m.entries);
    got.entries[0]!.data[0] = 99;
    got.snapshot!.data[0] = 99;
    assert.equal(m.entries[0]!.data[0], 7, `codec=${codec}`);
    assert.equal(m.snapshot.data[0], 1, `codec=${codec}`);
  }
});

test("MemoryNetwork delays messages on its scheduler and jitter reorders them", async () => {
  const { clock, b, send } = pair({ delayMs: 5, jitterMs: 20, seed: 3 });
  send(Array.from({ length: 20 }, (_, i) => msg(1, 2, i)));
  await clock.advance(4);
  assert.equal(b.got.length, 0, "nothing before the fixed delay");
  await clock.advance(30);
  assert.equal(b.got.length, 20);
  const order = b.got.map((m) => m.index);
  assert.notDeepEqual(order, [...order].sort((x, y) => x - y), "jitter reordered messages");
});

test("MemoryNetwork keeps per-link order without jitter", async () => {
  const { clock, b, send } = pair({ delayMs: 3 });
  for (let i = 0; i < 10; i++) send([msg(1, 2, i)]);
  await clock.advance(3);
  assert.deepEqual(b.got.map((m) => m.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test("MemoryNetwork drops and duplicates at seeded rates, reproducibly", async () => {
  const run = async (): Promise<number[]> => {
    const { clock, net, b, send } = pair({ dropRate: 0.3, duplicateRate: 0.2, seed: 42 });
    send(Array.from({ length: 1000 }, (_, i) => msg(1, 2, i)));
    await clock.advance(0);
    const s = net.stats;
    assert.equal(s.sent, 1000);
    assert.ok(s.dropped > 220 && s.dropped < 380, `dropped ${s.dropped}`);
    assert.ok(s.duplicated > 90 && s.duplicated < 190, `duplicated ${s.duplicated}`);
    assert.equal(s.delivered, 1000 - s.dropped + s.duplicated);
    assert.equal(b.got.length, s.delivered);
    return b.got.map((m) => m.index);
  };
  assert.deepEqual(await run(), await run());
});

test("MemoryNetwork.partition() cuts links both ways and reports them unreachable", async () => {
  const clock = new VirtualScheduler();
  const net = new MemoryNetwork({ scheduler: clock });
  const ps = [1, 2, 3].map((id) => probe(id));
  const ts = [1, 2, 3].map((id) => net.connect(id));
  ts.forEach((t, i) => t.start(ps[i]!.handler));
  net.partition([1], [2, 3]);
  ts[0]!.send([msg(1, 2), msg(1, 3)]);
  ts[1]!.send([msg(2, 1), msg(2, 3)]);
  await clock.advance(0);
  assert.equal(ps[1]!.got.length, 0);
  assert.equal(ps[0]!.got.length, 0);
  assert.equal(ps[2]!.got.length, 1, "2 -> 3 is up");
  assert.deepEqual(ps[0]!.unreachable, [2, 3]);
  assert.deepEqual(ps[1]!.unreachable, [1]);
  assert.equal(net.linked(1, 2), false);
  net.heal();
  assert.equal(net.linked(1, 2), true);
  ts[0]!.send([msg(1, 2)]);
  await clock.advance(0);
  assert.equal(ps[1]!.got.length, 1);
  net.close();
});

test("MemoryNetwork.isolate() and cutLink() block the chosen directions", async () => {
  const { clock, net, a, b, send } = pair();
  net.cutLink(1, 2);
  assert.equal(net.linked(1, 2), false);
  assert.equal(net.linked(2, 1), true);
  send([msg(1, 2)]);
  await clock.advance(0);
  assert.equal(b.got.length, 0);
  net.heal();
  net.isolate(2);
  send([msg(1, 2)]);
  await clock.advance(0);
  assert.equal(b.got.length, 0);
  assert.deepEqual(a.unreachable, [2, 2]);
  net.close();
});

test("MemoryNetwork drops messages cut while in flight", async () => {
  const { clock, net, b, send } = pair({ delayMs: 10 });
  send([msg(1, 2)]);
  await clock.advance(5);
  net.partition(1, 2);
  await clock.advance(10);
  assert.equal(b.got.length, 0);
  assert.equal(net.stats.dropped, 1);
});

test("MemoryNetwork reports snapshot delivery as finished, and loss as failed", async () => {
  const { clock, net, a, send } = pair();
  const snap = (): Message => {
    const m = msg(1, 2, 0, MessageType.MsgSnap);
    m.snapshot = newSnapshot({ index: 5, term: 1 });
    return m;
  };
  send([snap()]);
  await clock.advance(0);
  net.setFilter((m) => m.type !== MessageType.MsgSnap);
  send([snap()]);
  await clock.advance(0);
  assert.deepEqual(a.snaps, [[2, SnapshotStatus.SnapshotFinish], [
    2,
    SnapshotStatus.SnapshotFailure,
  ]]);
});

test("MemoryNetwork drops messages to closed nodes and lets them reconnect", async () => {
  const clock = new VirtualScheduler();
  const net = new MemoryNetwork({ scheduler: clock });
  const a = probe(1);
  const ta = net.connect(1);
  ta.start(a.handler);
  const tb = net.connect(2);
  assert.throws(() => net.connect(2), /connected already/);
  tb.close();
  ta.send([msg(1, 2)]);
  await clock.advance(0);
  assert.deepEqual(a.unreachable, [2]);
  const b = probe(2);
  net.connect(2).start(b.handler);
  assert.deepEqual(net.nodes, [1, 2]);
  ta.send([msg(1, 2)]);
  await clock.advance(0);
  assert.equal(b.got.length, 1);
  net.close();
  assert.deepEqual(net.nodes, []);
});

test("MemoryNetwork.close() cancels deliveries in flight", async () => {
  const { clock, net, b, send } = pair({ delayMs: 10 });
  send([msg(1, 2), msg(1, 2)]);
  net.close();
  assert.equal(clock.pendingTimers, 0);
  await clock.advance(20);
  assert.equal(b.got.length, 0);
});

test("MemoryNetwork refuses rates outside [0, 1] and negative delays", () => {
  assert.throws(() => new MemoryNetwork({ dropRate: 1.5 }), RangeError);
  assert.throws(() => new MemoryNetwork({ delayMs: -1 }), RangeError);
  const net = new MemoryNetwork();
  assert.throws(() => net.setDuplicateRate(-0.1), RangeError);
});

test("VirtualScheduler fires timers in due order, ties in setting order, and skips cleared ones", async () => {
  const clock = new VirtualScheduler();
  const out: string[] = [];
  clock.setTimeout(() => out.push("b"), 20);
  clock.setTimeout(() => out.push("a"), 10);
  clock.setTimeout(() => out.push("c"), 20);
  const h = clock.setTimeout(() => out.push("x"), 15);
  clock.clearTimeout(h);
  clock.setTimeout(() => {
    out.push("d");
    clock.setTimeout(() => out.push("e"), 0);
  }, 30);
  await clock.advance(29);
  assert.deepEqual(out, ["a", "b", "c"]);
  assert.equal(clock.now, 29);
  await clock.advance(1);
  assert.deepEqual(out, ["a", "b", "c", "d", "e"]);
});

test("VirtualScheduler lets promise chains finish between timers", async () => {
  const clock = new VirtualScheduler();
  const out: number[] = [];
  clock.setTimeout(() => {
    void (async () => {
      for (let i = 0; i < 50; i++) await Promise.resolve();
      out.push(clock.now);
    })();
  }, 5);
  clock.setTimeout(() => out.push(-clock.now), 5);
  await clock.advance(10);
  assert.deepEqual(
    out,
    [5, -5],
    "the chain started by the first timer ended before the second fired",
  );
});

test("VirtualScheduler.run() and until() give up after their virtual time budget", async () => {
  const clock = new VirtualScheduler();
  const never = new Promise<void>(() => {});
  await assert.rejects(clock.run(never, 100), /not reached within 100 ms/);
  let ticks = 0;
  const tick = (): void => {
    ticks++;
    clock.setTimeout(tick, 10);
  };
  tick();
  await clock.until(() => ticks >= 5);
  assert.equal(clock.now, 40);
  await assert.rejects(clock.until(() => false, 50), /condition/);
  const later = new Promise<number>((r) => clock.setTimeout(() => r(7), 25));
  assert.equal(await clock.run(later), 7);
});
