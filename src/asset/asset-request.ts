/**
 * Validation of the fields Fetch and Push requests share: URIs, timestamps
 * and durations.
 */
import { invalidArgument } from '../errors.ts';
import type { Duration } from '../gen/google/protobuf/duration.js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';

/** Longest URI accepted, in characters. */
const MAX_URI_LENGTH = 8192;

/**
 * Checks that `uris` is non-empty and that each is an absolute URI (a URL or
 * a URN such as `urn:uuid:…`); errors name the field, e.g. `uris[2]`.
 */
export function validateUris(uris: readonly string[]): string[] {
  if (uris.length === 0) throw invalidArgument('uris is empty; at least one URI is required');
  return uris.map((uri, i) => {
    if (uri.trim() === '') throw invalidArgument(`uris[${i}] is empty`);
    if (uri.length > MAX_URI_LENGTH) {
      throw invalidArgument(`uris[${i}] is longer than ${MAX_URI_LENGTH} characters`);
    }
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri) || !URL.canParse(uri)) {
      throw invalidArgument(
        `uris[${i}] ${JSON.stringify(uri.slice(0, 200))} is not an absolute URI (e.g. https://host/path)`,
      );
    }
    return uri;
  });
}

/** A Timestamp as epoch milliseconds, or undefined when unset; INVALID_ARGUMENT naming `field` when malformed. */
export function timestampMs(ts: Timestamp | undefined, field: string): number | undefined {
  if (ts === undefined) return undefined;
  if (!Number.isFinite(ts.seconds) || ts.nanos < 0 || ts.nanos > 999_999_999) {
    throw invalidArgument(`${field} is not a valid timestamp`);
  }
  return ts.seconds * 1000 + Math.floor(ts.nanos / 1e6);
}

/** Epoch milliseconds as a Timestamp. */
export function toTimestamp(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

/**
 * The time limit of a fetch: the request's `timeout` (zero or unset means
 * `defaultMs`) clamped to `maxMs`, as the Remote Asset API allows.
 */
export function fetchTimeoutMs(
  timeout: Duration | undefined,
  defaultMs: number,
  maxMs: number,
): number {
  if (timeout === undefined) return defaultMs;
  const { seconds, nanos } = timeout;
  if (!Number.isFinite(seconds) || seconds < 0 || nanos < 0 || nanos > 999_999_999) {
    throw invalidArgument('timeout must be a non-negative duration');
  }
  const ms = seconds * 1000 + Math.ceil(nanos / 1e6);
  return ms === 0 ? defaultMs : Math.min(ms, maxMs);
}
