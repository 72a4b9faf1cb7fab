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

/**
 * Runs a callback once in a later turn of the event loop (the scheduler's
 * hop to pending I/O, else a zero-delay timer), however often it is asked
 * for before then.
 */
export class NextTurn {
  readonly #scheduler: Scheduler;
  readonly #fn: () => void;
  #handle: TimerHandle = undefined;
  #scheduled = false;

  /**
   * @param scheduler Where the turn comes from.
   * @param fn What runs in it.
   */
  constructor(scheduler: Scheduler, fn: () => void) {
    this.#scheduler = scheduler;
    this.#fn = fn;
  }

  /** Runs the callback in a later turn, unless that is already asked for. */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const run = (): void => {
      this.#scheduled = false;
      this.#handle = undefined;
      this.#fn();
    };
    const s = this.#scheduler;
    this.#handle = typeof s.yieldToIo === "function" ? s.yieldToIo(run) : s.setTimeout(run, 0);
  }

  /** Forgets a scheduled run (the caller does the work now). */
  cancel(): void {
    if (!this.#scheduled) return;
    this.#scheduler.clearTimeout(this.#handle);
    this.#scheduled = false;
    this.#handle = undefined;
  }
}
