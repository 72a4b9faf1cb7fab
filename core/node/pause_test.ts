import { test } from "node:test";
import assert from "node:assert/strict";
import { PausedError } from "../errors.ts";
import { RaftNode } from "../node.ts";
import { MemoryStorage } from "../storage.ts";
import { ReadOnlyOption } from "../types.ts";
import type { Scheduler } from "./scheduler.ts";
import { VirtualScheduler } from "../../adapters/memory/mod.ts";
import { Machine } from "../../tests/cluster/harness.ts";
import { recordingLogger } from "../../tests/_util.ts";

/** A virtual scheduler whose clock can jump, as a paused process sees it after it resumes. */
function pausable(clock: VirtualScheduler): Scheduler & { pause(ms: number): void } {
  let skewMs = 0;
  return {
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h),
    yieldToIo: (fn) => clock.yieldToIo(fn),
    nowMs: () => clock.now + skewMs,
    pause: (ms) => void (skewMs += ms),
  };
}

async function leaseLeader(readOnlyOption: ReadOnlyOption) {
  const clock = new VirtualScheduler();
  const scheduler = pausable(clock);
  const log = recordingLogger();
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    storage: new MemoryStorage(),
    transport: { start() {}, send() {}, close() {} },
    stateMachine: new Machine(),
    scheduler,
    tickMs: 10,
    readOnlyOption,
    logger: log,
  });
  await clock.run(node.waitForLeader());
  return { clock, scheduler, log, node };
}

test("RaftNode notices a pause longer than its election timeout through its scheduler's clock", async () => {
  const { clock, scheduler, log, node } = await leaseLeader(ReadOnlyOption.ReadOnlySafe);
  await clock.advance(50);
  assert.equal(log.lines.filter((l) => /paused/.test(l)).length, 0);
  scheduler.pause(3000);
  await clock.advance(10);
  assert.ok(
    log.lines.some((l) =>
      /WARN 1 was paused for 30\d\d ms, longer than its election timeout/.test(l)
    ),
    log.lines.join("\n"),
  );
  // Safe reads confirm leadership anyway: served at once.
  const t0 = clock.now;
  await clock.run(node.read());
  assert.ok(clock.now - t0 < 50);
  await node.close();
});

test("RaftNode checks its quorum again before a lease-based read after a pause, and answers what it held", async () => {
  const { clock, scheduler, node } = await leaseLeader(ReadOnlyOption.ReadOnlyLeaseBased);
  scheduler.pause(3000);
  await clock.advance(10);
  // Held for two election timeouts (200 ms of ticks), then served.
  const t0 = clock.now;
  await clock.run(node.read());
  assert.ok(clock.now - t0 >= 190, `served after ${clock.now - t0} ms`);
  // A read held during a second pause is answered with PausedError.
  scheduler.pause(3000);
  await clock.advance(10);
  const held = node.read();
  held.catch(() => {});
  scheduler.pause(3000);
  await clock.advance(10);
  await assert.rejects(held, (e) => {
    assert.ok(e instanceof PausedError);
    assert.equal(e.code, "paused");
    assert.match(e.message, /node 1 was paused for 30\d\d ms.*it was not applied, retry/);
    return true;
  });
  await node.close();
});
