import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualScheduler } from "../../adapters/memory/mod.ts";
import { groupScheduler } from "./turn.ts";

test("groupScheduler passes timers and the clock through, and has no hop to pending I/O", async () => {
  const clock = new VirtualScheduler();
  const s = groupScheduler(clock);
  assert.equal(s.yieldToIo, undefined, "groups do not yield before a write: the batcher does");
  const ran: string[] = [];
  s.setTimeout(() => ran.push("a"), 5);
  const t = s.setTimeout(() => ran.push("b"), 5);
  s.clearTimeout(t);
  await clock.advance(10);
  assert.deepEqual(ran, ["a"]);
  assert.equal(s.nowMs!(), 10);
});
