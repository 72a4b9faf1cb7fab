import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualScheduler } from "../../adapters/memory/mod.ts";
import type { Scheduler } from "../node.ts";
import { sharedHopScheduler } from "./turn.ts";

test("sharedHopScheduler runs the hops asked for in one turn in one hop, except those cancelled", async () => {
  const clock = new VirtualScheduler();
  let hops = 0;
  const inner: Scheduler = {
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h),
    yieldToIo: (fn) => {
      hops++;
      return clock.yieldToIo(fn);
    },
    nowMs: () => clock.nowMs(),
  };
  const s = sharedHopScheduler(inner);
  const ran: string[] = [];
  s.yieldToIo!(() => ran.push("a"));
  const b = s.yieldToIo!(() => ran.push("b"));
  s.yieldToIo!(() => ran.push("c"));
  s.clearTimeout(b);
  await clock.advance(0);
  assert.deepEqual(ran, ["a", "c"]);
  assert.equal(hops, 1);
  s.yieldToIo!(() => ran.push("d"));
  const t = s.setTimeout(() => ran.push("timer"), 5);
  await clock.advance(0);
  assert.equal(hops, 2);
  s.clearTimeout(t);
  await clock.advance(10);
  assert.deepEqual(ran, ["a", "c", "d"]);
  assert.equal(s.nowMs!(), 10);
  const plain = sharedHopScheduler({
    setTimeout: inner.setTimeout,
    clearTimeout: inner.clearTimeout,
  });
  assert.equal(plain.yieldToIo, undefined, "no hop where the host's scheduler has none");
});
