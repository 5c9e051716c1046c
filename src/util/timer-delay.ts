/**
 * Bounds for delays that become Node timers. Node stores a timer's delay as a
 * signed 32-bit count of milliseconds: a longer one (about 24.8 days) fires
 * after 1 ms and prints a TimeoutOverflowWarning, so a client asking to wait
 * 35 days would be answered at once.
 */

/** The longest delay `setTimeout` honours: 2^31 - 1 ms, about 24.8 days. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * `ms` as a delay `setTimeout` honours: at most {@link MAX_TIMER_DELAY_MS}
 * (a longer or infinite one waits that long), at least 0 (also for NaN). Use it
 * wherever a duration from a request or the configuration becomes a timer.
 */
export function timerDelayMs(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(ms, MAX_TIMER_DELAY_MS);
}
