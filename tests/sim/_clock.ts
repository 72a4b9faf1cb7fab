/**
 * The simulator's virtual clock: a timer heap that fires one timer per
 * step, in (due time, insertion order) order, and lets every promise
 * continuation the timer started run before the next one fires. Each
 * component gets its own labelled (and optionally skewed) view of it as a
 * `Scheduler`, and every fired timer is mixed into the run's trace hash.
 *
 * @module
 */

import type { Scheduler, TimerHandle } from "../../core/node.ts";
import { Hasher } from "./_prng.ts";

interface Timer {
  id: number;
  due: number;
  seq: number;
  label: string;
  fn: () => void;
}

function before(a: Timer, b: Timer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

type ImmediateFn = (fn: () => void) => unknown;
const immediate = (globalThis as { setImmediate?: ImmediateFn }).setImmediate;

/** Resolves after every microtask queued so far (and those they queue) has run. */
export function drainMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => {
    if (immediate !== undefined) immediate(resolve);
    else setTimeout(resolve, 0);
  });
}

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
  #seq = 0;
  #nextId = 1;
  #fired = 0;
  readonly #heap: Timer[] = [];
  readonly #live = new Map<number, Timer>();
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
    return this.#live.size;
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
    const t: Timer = { id: this.#nextId++, due: this.#now + d, seq: this.#seq++, label, fn };
    this.#live.set(t.id, t);
    this.#push(t);
    return t.id;
  }

  /**
   * Cancels a timer; a no-op for one that fired already.
   *
   * @param handle A handle from `setTimeout`.
   */
  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === "number") this.#live.delete(handle);
  }

  /**
   * A `Scheduler` view of this clock whose timers carry `label` and whose
   * delays are multiplied by `rate` (a node's clock running slow or fast).
   *
   * @param label The label of its timers.
   * @param rate The skew factor; 1 is exact.
   * @returns The scheduler.
   */
  scheduler(label: string, rate = 1): Scheduler {
    return {
      setTimeout: (fn: () => void, delayMs: number): TimerHandle =>
        this.setTimeout(fn, delayMs * rate, label),
      clearTimeout: (h: TimerHandle): void => this.clearTimeout(h),
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
    return this.#peek()?.due;
  }

  /**
   * Fires the next timer, then lets the microtasks it queued run.
   *
   * @returns What fired, or `undefined` when no timer is left.
   */
  async step(): Promise<FiredTimer | undefined> {
    const t = this.#peek();
    if (t === undefined) return undefined;
    this.#pop();
    this.#live.delete(t.id);
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
    this.#live.clear();
    this.#heap.length = 0;
  }

  #peek(): Timer | undefined {
    while (this.#heap.length > 0) {
      const t = this.#heap[0]!;
      if (this.#live.get(t.id) === t) return t;
      this.#pop();
    }
    return undefined;
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
