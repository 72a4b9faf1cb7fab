/**
 * The simulator's virtual clock: a timer heap that fires one timer per
 * step, in (due time, insertion order) order, and lets every promise
 * continuation the timer started run before the next one fires. Each
 * component gets its own labelled (and optionally skewed) view of it as a
 * `Scheduler`, and every fired timer is mixed into the run's trace hash.
 *
 * @module
 */

import type { Scheduler, TimerHandle } from "../core/node.ts";
import { Hasher } from "./_prng.ts";
import { nextMacrotask, TimerQueue } from "../adapters/memory/_timer_queue.ts";

/** Resolves after every microtask queued so far (and those they queue) has run. */
export const drainMicrotasks: () => Promise<void> = nextMacrotask;

/** What one step fired. */
export interface FiredTimer {
  /** The virtual time it fired at. */
  time: number;
  /** Its label (which component set it). */
  label: string;
}

/** The virtual clock of one simulation run. */
export class SimClock {
  #now = 0;
  #fired = 0;
  readonly #timers = new TimerQueue();
  /** The run's trace: every fired timer, plus what components mix in. */
  readonly trace: Hasher = new Hasher();
  /** When set, receives one line per fired timer (for debugging). */
  onFire: ((t: FiredTimer) => void) | undefined = undefined;

  /** The current virtual time, in milliseconds. */
  get now(): number {
    return this.#now;
  }

  /** The number of timers fired so far. */
  get fired(): number {
    return this.#fired;
  }

  /** The number of live timers. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Schedules `fn` after `delayMs` of virtual time.
   *
   * @param fn The callback.
   * @param delayMs The delay; negative or non-finite counts as 0.
   * @param label Who set it, for the trace.
   * @returns A handle for {@linkcode SimClock.clearTimeout}.
   */
  setTimeout(fn: () => void, delayMs: number, label: string): number {
    const d = Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0;
    return this.#timers.add(this.#now + d, fn, label);
  }

  /**
   * Cancels a timer; a no-op for one that fired already.
   *
   * @param handle A handle from `setTimeout`.
   */
  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === "number") this.#timers.cancel(handle);
  }

  /**
   * A `Scheduler` view of this clock whose timers carry `label` and whose
   * delays are multiplied by `rate` (a node's clock running slow or fast).
   * Its `yieldToIo` is a zero-delay timer labelled `<label>.io`.
   *
   * @param label The label of its timers.
   * @param rate The skew factor; 1 is exact.
   * @returns The scheduler.
   */
  scheduler(label: string, rate = 1): Scheduler {
    const ioLabel = `${label}.io`;
    return {
      setTimeout: (fn: () => void, delayMs: number): TimerHandle =>
        this.setTimeout(fn, delayMs * rate, label),
      clearTimeout: (h: TimerHandle): void => this.clearTimeout(h),
      // A zero-delay timer (FIFO among the timers due now), labelled apart.
      yieldToIo: (fn: () => void): TimerHandle => this.setTimeout(fn, 0, ioLabel),
    };
  }

  /**
   * A promise that resolves after `ms` of virtual time.
   *
   * @param ms The delay.
   * @param label The timer's label.
   * @returns The promise.
   */
  sleep(ms: number, label: string): Promise<void> {
    return new Promise<void>((resolve) => {
      this.setTimeout(resolve, ms, label);
    });
  }

  /** The due time of the next live timer, or `undefined`. */
  peekDue(): number | undefined {
    return this.#timers.peek()?.due;
  }

  /**
   * Fires the next timer, then lets the microtasks it queued run.
   *
   * @returns What fired, or `undefined` when no timer is left.
   */
  async step(): Promise<FiredTimer | undefined> {
    const t = this.#timers.take();
    if (t === undefined) return undefined;
    if (t.due > this.#now) this.#now = t.due;
    this.#fired++;
    this.trace.num(this.#now).str(t.label);
    const fired = { time: this.#now, label: t.label };
    this.onFire?.(fired);
    t.fn();
    await drainMicrotasks();
    return fired;
  }

  /** Drops every timer (end of a run). */
  clear(): void {
    this.#timers.clear();
  }
}
