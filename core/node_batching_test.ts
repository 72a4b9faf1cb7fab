/**
 * RaftNode yields to pending I/O before a Ready that writes
 * (`yieldBeforeSave`), so that requests arriving while a synchronous save
 * blocks the event loop join the next Ready and share its write.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import {
  globalScheduler,
  memoryNodeStorage,
  type NodeStorage,
  RaftNode,
  type Scheduler,
  type StorageUpdate,
  type TimerHandle,
  type Transport,
} from "./node.ts";
import { MemoryStorage } from "./storage.ts";
import { MemoryNetwork, VirtualScheduler } from "../adapters/memory/mod.ts";
import { cmd, Machine } from "../tests/cluster/harness.ts";

const nullTransport: Transport = { start() {}, send() {}, close() {} };
const dec = new TextDecoder();

/** The proposals (`a0`, `b3`, ...) among a save's entries, by their payload's tail. */
function proposalsIn(u: StorageUpdate): string[] {
  const out: string[] = [];
  for (const e of u.entries) {
    const m = /([a-z]\d+)$/.exec(dec.decode(e.data));
    if (m !== null) out.push(m[1]!);
  }
  return out;
}

/**
 * A synchronous storage over a MemoryStorage that records the proposals of
 * each save and calls `onSave` inside the save (while it "blocks").
 */
function recordingStorage(
  onSave: (u: StorageUpdate) => void = () => {},
): { storage: NodeStorage; saves: string[][]; count: () => number } {
  const base = memoryNodeStorage(new MemoryStorage());
  const saves: string[][] = [];
  let count = 0;
  return {
    storage: {
      ...base,
      save(u: StorageUpdate): void {
        count++;
        saves.push(proposalsIn(u));
        onSave(u);
        base.save(u);
      },
    },
    saves,
    count: () => count,
  };
}

/** A view of `clock` that counts the yields asked of it (and has none when `withYield` is false). */
function countingScheduler(
  clock: VirtualScheduler,
  withYield = true,
): { scheduler: Scheduler; yields: () => number } {
  let yields = 0;
  const scheduler: Scheduler = {
    setTimeout: (fn: () => void, delayMs: number): TimerHandle => clock.setTimeout(fn, delayMs),
    clearTimeout: (h: TimerHandle): void => clock.clearTimeout(h),
  };
  if (withYield) {
    scheduler.yieldToIo = (fn: () => void): TimerHandle => {
      yields++;
      return clock.yieldToIo(fn);
    };
  }
  return { scheduler, yields: () => yields };
}

const burstSize = 10;

interface BurstSetup {
  /** Node options under test. */
  scheduler: Scheduler | undefined;
  yieldBeforeSave: boolean | undefined;
  /** Runs `fn` as a later macrotask: a request that arrives during the save. */
  arrive: (fn: () => void) => void;
  /** Waits for `p`, driving time if needed. */
  drive: <T>(p: Promise<T>) => Promise<T>;
}

/**
 * A single-node leader; while it saves proposal `a0`, `burstSize` proposals
 * arrive (each in a macrotask of its own). Returns the proposals of every
 * save that carried one of them.
 */
async function burstDuringSave(setup: BurstSetup): Promise<string[][]> {
  const burst: Promise<string>[] = [];
  let release!: (all: Promise<string[]>) => void;
  const allProposed = new Promise<string[]>((r) => {
    release = r;
  });
  let armed = false;
  const { storage, saves } = recordingStorage((u) => {
    if (!armed || !proposalsIn(u).includes("a0")) return;
    armed = false;
    for (let k = 1; k <= burstSize; k++) {
      setup.arrive(() => {
        burst.push(node.propose(cmd(`b${k}`)));
        if (burst.length === burstSize) release(Promise.all(burst));
      });
    }
  });
  // `node` is used by the storage only once armed, after it started.
  const node: RaftNode<string> = await RaftNode.start<string>({
    id: 1,
    peers: [1],
    storage,
    transport: nullTransport,
    stateMachine: new Machine(),
    tickMs: 2,
    ...(setup.scheduler !== undefined ? { scheduler: setup.scheduler } : {}),
    ...(setup.yieldBeforeSave !== undefined ? { yieldBeforeSave: setup.yieldBeforeSave } : {}),
  });
  try {
    await setup.drive(node.waitForLeader());
    armed = true;
    assert.match(await setup.drive(node.propose(cmd("a0"))), /^a0@\d+$/);
    const results = await setup.drive(allProposed);
    assert.deepEqual(
      results.map((r) => r.split("@")[0]),
      Array.from({ length: burstSize }, (_, i) => `b${i + 1}`),
      "every proposal of the burst applied, in order",
    );
  } finally {
    await node.close();
  }
  return saves.filter((s) => s.some((p) => p.startsWith("b")));
}

function virtualSetup(
  opts: { yieldBeforeSave?: boolean; withYield?: boolean } = {},
): BurstSetup {
  const clock = new VirtualScheduler();
  return {
    scheduler: opts.withYield === false ? countingScheduler(clock, false).scheduler : clock,
    yieldBeforeSave: opts.yieldBeforeSave,
    arrive: (fn) => clock.setTimeout(fn, 0),
    drive: (p) => clock.run(p),
  };
}

const allInOne = [Array.from({ length: burstSize }, (_, i) => `b${i + 1}`)];
const oneEach = Array.from({ length: burstSize }, (_, i) => [`b${i + 1}`]);

test("RaftNode lets proposals that arrive during a synchronous save share the next save", async () => {
  const saves = await burstDuringSave({
    scheduler: undefined, // globalScheduler: setImmediate
    yieldBeforeSave: undefined, // on by default
    arrive: (fn) => setImmediate(fn),
    drive: (p) => p,
  });
  assert.deepEqual(saves, allInOne);
});

test("RaftNode with yieldBeforeSave: false saves each proposal that arrived during a save on its own", async () => {
  const saves = await burstDuringSave({
    scheduler: undefined,
    yieldBeforeSave: false,
    arrive: (fn) => setImmediate(fn),
    drive: (p) => p,
  });
  assert.deepEqual(saves, oneEach);
});

test("RaftNode batches a burst during a save on virtual time as on the global timers", async () => {
  const cases: Array<{ name: string; setup: BurstSetup; want: string[][] }> = [
    { name: "VirtualScheduler, default", setup: virtualSetup(), want: allInOne },
    {
      name: "VirtualScheduler, yieldBeforeSave: false",
      setup: virtualSetup({ yieldBeforeSave: false }),
      want: oneEach,
    },
    {
      name: "a scheduler without yieldToIo never yields",
      setup: virtualSetup({ withYield: false }),
      want: oneEach,
    },
  ];
  for (const c of cases) {
    assert.deepEqual(await burstDuringSave(c.setup), c.want, c.name);
  }
});

test("RaftNode yields once before each Ready that writes and never before one that does not", async () => {
  const clock = new VirtualScheduler();
  const net = new MemoryNetwork({ scheduler: clock, seed: 3, delayMs: 1 });
  const ids = [1, 2, 3];
  const probes = new Map<number, { yields: () => number; saves: () => number }>();
  const nodes = await Promise.all(ids.map((id) => {
    const sched = countingScheduler(clock);
    const rec = recordingStorage();
    probes.set(id, { yields: sched.yields, saves: rec.count });
    return RaftNode.start<string>({
      id,
      peers: ids,
      storage: rec.storage,
      transport: net.connect(id),
      stateMachine: new Machine(),
      scheduler: sched.scheduler,
      tickMs: 10,
    });
  }));
  const counts = (): string =>
    ids.map((id) => `${probes.get(id)!.yields()}/${probes.get(id)!.saves()}`).join(" ");
  try {
    const leaderId = await clock.run(nodes[0]!.waitForLeader());
    const leader = nodes[leaderId - 1]!;
    for (let k = 0; k < 3; k++) await clock.run(leader.propose(cmd(`c${k}`)));
    await clock.advance(100); // followers learn the commit index
    for (const id of ids) {
      const p = probes.get(id)!;
      assert.ok(p.saves() > 0, `node ${id} saved`);
      assert.equal(p.yields(), p.saves(), `node ${id}: one yield per save (${counts()})`);
    }
    const before = counts();
    // Reads (heartbeat rounds) and idle heartbeats write nothing: no hop.
    await clock.run(leader.read());
    await clock.run(nodes.find((n) => n.id !== leaderId)!.read());
    await clock.advance(500);
    assert.equal(counts(), before, "yields/saves per node unchanged");
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    net.close();
  }
});

test("RaftNode.close() wakes a loop waiting in yieldToIo and cancels the yield", async () => {
  const clock = new VirtualScheduler();
  const rec = recordingStorage();
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    storage: rec.storage,
    transport: nullTransport,
    stateMachine: new Machine(),
    scheduler: clock,
    tickMs: 10,
  });
  // The bootstrap's Ready writes: the loop waits for its yield, which only
  // the clock can fire.
  assert.equal(clock.pendingTimers, 2, "the tick timer and the yield");
  let closed = false;
  const closing = node.close().then(() => {
    closed = true;
  });
  // No virtual time passes: close() must not need the clock.
  for (let k = 0; k < 5 && !closed; k++) await new Promise<void>((r) => setImmediate(r));
  assert.equal(closed, true, "close() settled without the clock");
  await closing;
  assert.equal(clock.pendingTimers, 0, "tick and yield cancelled");
  assert.equal(rec.count(), 0, "the Ready it waited for was not taken");
  await clock.advance(100);
  assert.equal(rec.count(), 0);
});

test("globalScheduler.yieldToIo() runs its callback in a later macrotask; clearTimeout() cancels it", async () => {
  const order: string[] = [];
  const h = globalScheduler.yieldToIo!(() => order.push("yield"));
  const cancelled = globalScheduler.yieldToIo!(() => order.push("cancelled"));
  globalScheduler.clearTimeout(cancelled);
  queueMicrotask(() => order.push("microtask"));
  order.push("sync");
  assert.notEqual(h, undefined);
  await new Promise<void>((r) => setImmediate(r));
  await new Promise<void>((r) => setImmediate(r));
  assert.deepEqual(order, ["sync", "microtask", "yield"]);
});
