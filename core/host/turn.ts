/**
 * The scheduler a host's groups see: the host's own, except that the hops
 * to pending I/O the groups ask for (`yieldToIo`, before each Ready that
 * writes) in one turn share one hop of the host's scheduler.
 *
 * @module
 */

import type { Scheduler, TimerHandle } from "../node/scheduler.ts";

/** A group's pending hop, told apart from the host scheduler's handles by `clearTimeout`. */
class HopHandle {
  readonly fn: () => void;
  constructor(fn: () => void) {
    this.fn = fn;
  }
}

/**
 * Creates the groups' view of a host's scheduler. Without `yieldToIo` on
 * the host's scheduler the view has none either (groups then never yield).
 *
 * @param inner The host's scheduler.
 * @returns The groups' scheduler.
 */
export function sharedHopScheduler(inner: Scheduler): Scheduler {
  const innerYield = inner.yieldToIo;
  /** The hops asked for since the shared one was scheduled; at most one per group. */
  let waiting = new Set<HopHandle>();
  let scheduled = false;
  const view: Scheduler = {
    setTimeout: (fn: () => void, delayMs: number): TimerHandle => inner.setTimeout(fn, delayMs),
    clearTimeout: (handle: TimerHandle): void => {
      if (handle instanceof HopHandle) waiting.delete(handle);
      else inner.clearTimeout(handle);
    },
  };
  if (inner.nowMs !== undefined) view.nowMs = (): number => inner.nowMs!();
  if (innerYield === undefined) return view;
  const run = (): void => {
    scheduled = false;
    const due = waiting;
    waiting = new Set();
    for (const h of due) h.fn();
  };
  view.yieldToIo = (fn: () => void): TimerHandle => {
    const h = new HopHandle(fn);
    waiting.add(h);
    if (!scheduled) {
      scheduled = true;
      innerYield.call(inner, run);
    }
    return h;
  };
  return view;
}
