/**
 * Where the driver's time comes from: the {@linkcode Scheduler} seam and
 * the default {@linkcode globalScheduler} over the runtime's timers. The
 * driver is the only part of `core/` that schedules anything, and only
 * through a `Scheduler`, so a simulation can run it on virtual time.
 *
 * @module
 */

/** An opaque timer handle returned by {@linkcode Scheduler.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Where the driver's time comes from: a `setTimeout`/`clearTimeout` pair,
 * plus an optional `yieldToIo` for the hop the driver takes before a
 * storage write. Pass a virtual scheduler to run nodes on simulated time.
 */
export interface Scheduler {
  /**
   * Calls `fn` once, after `delayMs` milliseconds.
   *
   * @param fn The callback.
   * @param delayMs The delay.
   * @returns A handle for `clearTimeout`.
   */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  /**
   * Cancels a pending callback; a no-op for one that already ran.
   *
   * @param handle The handle `setTimeout` returned.
   */
  clearTimeout(handle: TimerHandle): void;
  /**
   * Calls `fn` once, as a new macrotask: after the callbacks of I/O that
   * is already pending (requests that arrived, messages from peers) had a
   * chance to run. On a real event loop that is `setImmediate`; a virtual
   * scheduler runs it as a timer of zero delay, in the order it was asked
   * for among the timers due at the same time.
   *
   * The driver calls it before it takes a Ready that writes to storage
   * (see {@linkcode RaftNodeOptions.yieldBeforeSave}): a synchronous write
   * (SQLite's fsync) blocks the event loop, so the requests that arrive
   * meanwhile can only run once the driver yields; yielding before the
   * next Ready lets them join it and share its write, instead of each
   * paying a write of its own.
   *
   * Optional: without it the driver never yields before a write, as if
   * `yieldBeforeSave` were `false` (a scheduler that only knows timers
   * could offer a zero-delay timer, but real timers of 0 ms are clamped to
   * 1 to 4 ms, far more than the hop is worth).
   *
   * @param fn The callback.
   * @returns A handle that `clearTimeout` cancels.
   */
  yieldToIo?(fn: () => void): TimerHandle;
  /**
   * A monotonic clock, in ms (any origin). The driver reads it at each
   * tick to notice that it was paused (a stopped process, a long GC or VM
   * stall): a gap between two ticks longer than the election timeout.
   * Optional: without it the driver does not notice pauses.
   *
   * @returns The time.
   */
  nowMs?(): number;
}

type ImmediateGlobals = {
  setImmediate?: (fn: () => void) => unknown;
  clearImmediate?: (handle: unknown) => void;
};

/** A `setImmediate` handle, told apart from timer handles by `clearTimeout`. */
class ImmediateHandle {
  readonly immediate: unknown;
  constructor(immediate: unknown) {
    this.immediate = immediate;
  }
}

/**
 * The scheduler that uses the runtime's global timers. The default.
 * `yieldToIo` uses `setImmediate` where the runtime has it (Node, Bun,
 * Deno), else `setTimeout(fn, 0)`. `nowMs` is `performance.now()`.
 */
export const globalScheduler: Scheduler = {
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return setTimeout(fn, delayMs);
  },
  clearTimeout(handle: TimerHandle): void {
    if (handle instanceof ImmediateHandle) {
      (globalThis as ImmediateGlobals).clearImmediate?.(handle.immediate);
      return;
    }
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
  yieldToIo(fn: () => void): TimerHandle {
    const g = globalThis as ImmediateGlobals;
    if (typeof g.setImmediate === "function") return new ImmediateHandle(g.setImmediate(fn));
    return setTimeout(fn, 0);
  },
  nowMs(): number {
    return performance.now();
  },
};
