/**
 * Time as the worker sees it, injectable so that tests can control it, and
 * conversion to `google.protobuf.Timestamp`.
 */
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';

/** A source of wall-clock time. */
export interface Clock {
  /** Milliseconds since the Unix epoch, with a fractional part where the clock has one. */
  nowMs(): number;
}

/**
 * The system clock with sub-millisecond resolution: the high-resolution
 * monotonic timer anchored at the process's start time, so that stage
 * timestamps of one action are ordered even within one millisecond.
 */
export const systemClock: Clock = {
  nowMs: () => performance.timeOrigin + performance.now(),
};

/** Converts epoch milliseconds to a protobuf Timestamp (nanos in [0, 1e9)). */
export function toTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.min(999_999_999, Math.max(0, Math.round((ms - seconds * 1000) * 1e6)));
  return { seconds, nanos };
}
