/**
 * The latest RPC failures, for the web UI's "what went wrong lately" list:
 * a fixed-size ring buffer, so a storm of errors costs no more memory than a
 * quiet day.
 */
import { status } from '@grpc/grpc-js';

/** One failed RPC. */
export interface RecentError {
  /** When it failed, ms since the epoch. */
  readonly timeMs: number;
  /** `Service.Method`, e.g. `ByteStream.Write`. */
  readonly method: string;
  /** The gRPC status code's name, e.g. `INTERNAL`. */
  readonly code: string;
  readonly message: string;
  /** The caller's tool invocation id; empty when it sent none. */
  readonly invocationId: string;
}

/** Options for {@link RecentErrors}. */
export interface RecentErrorsOptions {
  /** Failures kept; older ones are overwritten. Default 100. */
  readonly capacity?: number;
}

/**
 * Lookups whose NOT_FOUND is an ordinary answer (a cache miss), not a failure.
 * The Remote Asset Fetch methods answer a missing asset the same way.
 */
const LOOKUP_METHODS: ReadonlySet<string> = new Set([
  'ActionCache.GetActionResult',
  'Fetch.FetchBlob',
  'Fetch.FetchDirectory',
]);

/**
 * Whether an RPC outcome belongs in the list: every failure except a lookup's
 * NOT_FOUND (a cache miss) and CANCELLED (the client gave up; nothing went
 * wrong here). Client errors such as INVALID_ARGUMENT stay in: they are how
 * a misconfigured client shows up.
 */
export function isNotableFailure(method: string, code: number): boolean {
  if (code === status.OK || code === status.CANCELLED) return false;
  return !(code === status.NOT_FOUND && LOOKUP_METHODS.has(method));
}

/** A ring buffer of the latest RPC failures. */
export class RecentErrors {
  readonly #capacity: number;
  readonly #ring: RecentError[] = [];
  /** Where the next entry goes once the ring is full. */
  #next = 0;

  constructor(options: RecentErrorsOptions = {}) {
    const capacity = options.capacity ?? 100;
    if (!Number.isSafeInteger(capacity) || capacity <= 0) {
      throw new RangeError(`capacity ${capacity} must be a positive integer`);
    }
    this.#capacity = capacity;
  }

  /** Adds a failure, overwriting the oldest when full. */
  record(error: RecentError): void {
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(error);
      return;
    }
    this.#ring[this.#next] = error;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** The kept failures, the most recent first. */
  list(): RecentError[] {
    const chronological = [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return chronological.reverse();
  }
}
