/**
 * Quantiles of the simulator's latency samples.
 *
 * @module
 */

/**
 * The `q`-quantile of `samples` by the nearest-rank method.
 *
 * @param samples The samples, in any order.
 * @param q The quantile, in `[0, 1]`.
 * @returns The quantile, or `undefined` without samples.
 */
export function quantile(samples: readonly number[], q: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/**
 * The median, 99th percentile and maximum of `samples`, as text.
 *
 * @param samples Durations in ms.
 * @returns Such as `p50 12.3 ms, p99 410.0 ms, max 980.2 ms`, or `no samples`.
 */
export function formatPercentiles(samples: readonly number[]): string {
  if (samples.length === 0) return "no samples";
  const f = (q: number): string => quantile(samples, q)!.toFixed(1);
  return `p50 ${f(0.5)} ms, p99 ${f(0.99)} ms, max ${f(1)} ms`;
}
