/**
 * A queue of virtual timers: a binary min-heap ordered by due time, ties in
 * the order they were added, with cancellation. Shared by
 * `VirtualScheduler` and the simulator's clock.
 *
 * @module
 */

/** One timer in a {@linkcode TimerQueue}. */
export interface QueuedTimer {
  /** Its handle. */
  id: number;
  /** When it is due, in virtual milliseconds. */
  due: number;
  /** Insertion order, which breaks ties between equal due times. */
  seq: number;
  /** Who set it (for traces); empty when unused. */
  label: string;
  /** What it runs. */
  fn: () => void;
}

function before(a: QueuedTimer, b: QueuedTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/** Timers ordered by (due, insertion order), with cancellation by handle. */
export class TimerQueue {
  #seq = 0;
  #nextId = 1;
  /** A binary min-heap by (due, seq); cancelled timers stay until they reach the top. */
  readonly #heap: QueuedTimer[] = [];
  /** Live timers by handle. */
  readonly #live = new Map<number, QueuedTimer>();

  /** The number of live (not fired, not cancelled) timers. */
  get size(): number {
    return this.#live.size;
  }

  /**
   * Adds a timer.
   *
   * @param due When it is due.
   * @param fn What it runs.
   * @param label Who set it.
   * @returns Its handle.
   */
  add(due: number, fn: () => void, label = ""): number {
    const t: QueuedTimer = { id: this.#nextId++, due, seq: this.#seq++, label, fn };
    this.#live.set(t.id, t);
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
    return t.id;
  }

  /**
   * Cancels a timer; a no-op for one that fired or was cancelled already.
   *
   * @param id Its handle.
   */
  cancel(id: number): void {
    this.#live.delete(id);
  }

  /**
   * The earliest live timer, without removing it.
   *
   * @returns The timer, or `undefined` when none is left.
   */
  peek(): QueuedTimer | undefined {
    while (this.#heap.length > 0) {
      const t = this.#heap[0]!;
      if (this.#live.get(t.id) === t) return t;
      this.#removeTop();
    }
    return undefined;
  }

  /**
   * Removes and returns the earliest live timer.
   *
   * @returns The timer, or `undefined` when none is left.
   */
  take(): QueuedTimer | undefined {
    const t = this.peek();
    if (t === undefined) return undefined;
    this.#removeTop();
    this.#live.delete(t.id);
    return t;
  }

  /** Drops every timer. */
  clear(): void {
    this.#live.clear();
    this.#heap.length = 0;
  }

  #removeTop(): void {
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

type ImmediateFn = (fn: () => void) => unknown;

/**
 * Resolves once every microtask queued so far (and those they queue) has
 * run: on the next macrotask.
 *
 * @returns The promise.
 */
export function nextMacrotask(): Promise<void> {
  const g = globalThis as { setImmediate?: ImmediateFn };
  return new Promise<void>((resolve) => {
    if (typeof g.setImmediate === "function") g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
