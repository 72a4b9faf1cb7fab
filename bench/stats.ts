/**
 * Small statistics helpers for the benchmarks: latency percentiles (with
 * the same index rules as the Go anchor `raftanchor`) and min / median / max
 * summaries over runs.
 *
 * @module
 */

/** Latency figures of one run, in microseconds. */
export interface LatencyStats {
  /** Mean latency. */
  meanUs: number;
  /** Median: the sample at index `floor(n / 2)` of the sorted samples. */
  p50Us: number;
  /** 99th percentile: the sample at index `floor(n * 99 / 100)`. */
  p99Us: number;
  /** Largest sample. */
  maxUs: number;
}

/**
 * Computes mean, p50, p99 and max of latency samples, as `raftanchor`'s
 * `fill` does (sorted, then `s[n/2]`, `s[n*99/100]`, `s[n-1]`).
 *
 * @param samplesMs Latency samples in milliseconds; sorted in place.
 * @param count How many leading samples are valid.
 * @returns The figures in microseconds; all zero when `count` is 0.
 *
 * @example Usage
 * ```ts
 * import { latencyStats } from "./stats.ts";
 * const s = latencyStats(new Float64Array([0.003, 0.001, 0.002]), 3);
 * if (s.p50Us !== 2) throw new Error("unexpected");
 * ```
 */
export function latencyStats(samplesMs: Float64Array, count: number): LatencyStats {
  if (count === 0) return { meanUs: 0, p50Us: 0, p99Us: 0, maxUs: 0 };
  const s = samplesMs.subarray(0, count);
  s.sort();
  let sum = 0;
  for (let i = 0; i < count; i++) sum += s[i]!;
  return {
    meanUs: round1((sum / count) * 1000),
    p50Us: round1(s[Math.floor(count / 2)]! * 1000),
    p99Us: round1(s[Math.floor((count * 99) / 100)]! * 1000),
    maxUs: round1(s[count - 1]! * 1000),
  };
}

/** The smallest, median and largest of a set of values. */
export interface Spread {
  /** Smallest value. */
  min: number;
  /** The value at index `floor(n / 2)` of the sorted values (as `raftanchor`). */
  median: number;
  /** Largest value. */
  max: number;
}

/**
 * Computes min / median / max, the median picked as `raftanchor` does
 * (`v[len/2]` of the sorted values, the upper median for an even count).
 *
 * @param values The values (not modified).
 * @returns The spread; `NaN` everywhere for no values.
 *
 * @example Usage
 * ```ts
 * import { spread } from "./stats.ts";
 * const s = spread([3, 1, 2]);
 * if (s.min !== 1 || s.median !== 2 || s.max !== 3) throw new Error("unexpected");
 * ```
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { min: NaN, median: NaN, max: NaN };
  const v = [...values].sort((a, b) => a - b);
  return { min: v[0]!, median: v[Math.floor(v.length / 2)]!, max: v[v.length - 1]! };
}

/**
 * Rounds to one decimal, for printing and JSON.
 *
 * @param x The number.
 * @returns `x` rounded to one decimal place.
 */
export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * Formats a rate compactly: `1.42M`, `187k`, `950`.
 *
 * @param perSec Events per second.
 * @returns The short form (three significant digits).
 *
 * @example Usage
 * ```ts
 * import { formatRate } from "./stats.ts";
 * if (formatRate(1_424_000) !== "1.42M") throw new Error("unexpected");
 * ```
 */
export function formatRate(perSec: number): string {
  if (!Number.isFinite(perSec)) return "-";
  if (perSec >= 1e6) return `${(perSec / 1e6).toPrecision(3)}M`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toPrecision(3)}k`;
  return perSec.toFixed(0);
}
