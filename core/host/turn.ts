/**
 * {@linkcode NextTurn}: what a host does once in a later turn of the event
 * loop however often it is asked for in this one (write the gathered
 * saves, send the gathered messages), and the scheduler its groups see.
 *
 * @module
 */

import type { Scheduler, TimerHandle } from "../node/scheduler.ts";

/**
 * The scheduler a host's groups see: the host's own without `yieldToIo`,
 * so that a group does not yield before a Ready that writes. The host's
 * storage batcher takes that hop for all of them: the saves the groups
 * issue in one turn wait for one later turn together and become one batch,
 * and proposals that arrive meanwhile join each group's next Ready.
 *
 * @param inner The host's scheduler.
 * @returns The groups' scheduler.
 */
export function groupScheduler(inner: Scheduler): Scheduler {
  const view: Scheduler = {
    setTimeout: (fn: () => void, delayMs: number): TimerHandle => inner.setTimeout(fn, delayMs),
    clearTimeout: (handle: TimerHandle): void => inner.clearTimeout(handle),
  };
  if (inner.nowMs !== undefined) view.nowMs = (): number => inner.nowMs!();
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
