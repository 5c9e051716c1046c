/**
 * Small computations of the fleet bench, kept apart from the processes and
 * sockets so that they can be tested alone: percentiles of latencies and the
 * simulated workers' reconnection backoff.
 */

/** First delay before a simulated worker retries, and the longest. */
export const BACKOFF_BASE_MS = 100;
export const BACKOFF_MAX_MS = 5000;

/**
 * Delay before retry number `attempt` (0 first): exponential from
 * {@link BACKOFF_BASE_MS}, capped at {@link BACKOFF_MAX_MS}, with "equal
 * jitter": half the step fixed, half random (`random` in [0, 1)), so that
 * workers that failed together do not come back together.
 */
export function jitteredBackoffMs(attempt: number, random: number): number {
  const step = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 30));
  return step / 2 + (random * step) / 2;
}

/** The value below which `fraction` of `values` lie (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] as number;
}
