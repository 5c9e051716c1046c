/**
 * The delays a worker waits between attempts to reach a scheduler it lost:
 * exponential growth from `baseMs`, capped at `capMs`, with full jitter (each
 * delay drawn uniformly from zero to the exponential bound). After a server
 * restart, a fleet that lost its connections at the same instant thus comes
 * back spread over the cap instead of in synchronised waves.
 */

/** Options for {@link ReconnectBackoff}. */
export interface ReconnectBackoffOptions {
  /** Bound of the first delay; 100 ms by default. */
  readonly baseMs?: number;
  /** Largest bound of any delay; 5 s by default. */
  readonly capMs?: number;
  /** A number in [0, 1); `Math.random` by default (tests pass a seeded one). */
  readonly random?: () => number;
}

/** Default bound of the first delay. */
export const RECONNECT_BASE_MS = 100;
/** Default largest delay. */
export const RECONNECT_CAP_MS = 5000;

/**
 * grpc-js keeps its own schedule for re-dialling a lost connection (1 s
 * growing to 120 s by default), during which calls fail at once. A worker
 * must notice a restarted scheduler within its own backoff cap, so its
 * channel's schedule is held to the same bounds.
 */
export const RECONNECT_CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': RECONNECT_BASE_MS,
  'grpc.max_reconnect_backoff_ms': RECONNECT_CAP_MS,
} as const;

/** One outage's retry schedule: call {@link next} before each retry, {@link reset} once through. */
export class ReconnectBackoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: ReconnectBackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? RECONNECT_BASE_MS;
    this.#capMs = options.capMs ?? RECONNECT_CAP_MS;
    this.#random = options.random ?? Math.random;
    if (!(this.#baseMs > 0) || !(this.#capMs >= this.#baseMs)) {
      throw new Error(
        `reconnect backoff: base ${this.#baseMs} ms must be positive and at most the cap ${this.#capMs} ms`,
      );
    }
  }

  /** Failed attempts since the last {@link reset}. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The bound of the delay before retry number `attempt` (0-based): base·2^attempt, capped. */
  boundMs(attempt: number): number {
    // 2^31 is far past any cap; stop doubling there so the number stays finite.
    return Math.min(this.#capMs, this.#baseMs * 2 ** Math.min(attempt, 31));
  }

  /** Counts a failed attempt and returns how long to wait before the next one. */
  next(): number {
    const bound = this.boundMs(this.#attempt);
    this.#attempt++;
    return Math.floor(this.#random() * bound);
  }

  /** Back in contact: the next outage starts from the base again. */
  reset(): void {
    this.#attempt = 0;
  }
}
