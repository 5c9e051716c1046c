/**
 * Small computations of the fleet bench, kept apart from the processes and
 * sockets so that they can be tested alone: percentiles of latencies.
 */

/** The value below which `fraction` of `values` lie (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] as number;
}
