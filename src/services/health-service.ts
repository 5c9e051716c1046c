/**
 * grpc.health.v1.Health: whether this process, or one service it registers,
 * is serving, for load balancers and container probes. The status is
 * SERVING once the port is bound and the server is ready (for `kiln serve`,
 * once every disk store has loaded its index) until shutdown begins, then
 * NOT_SERVING (told to every Watch stream at once), so that a balancer stops
 * sending new calls before the listener closes. The HTTP `/readyz` reads the
 * same status.
 *
 * A storage backend that is down (a `grpc` or `s3` store) does not turn the
 * status NOT_SERVING: every process in a cluster shares that backend, so all
 * of them would leave the balancer together and clients would get the
 * balancer's own error instead of the UNAVAILABLE that REAPI clients retry.
 *
 * Watch streams are long-lived, so they are bounded in total and per client
 * connection like the other streams that pin server resources.
 */
import { type ServerWritableStream, status } from '@grpc/grpc-js';
import { KilnError, notFound, quote, resourceExhausted, unavailable } from '../errors.ts';
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../gen/grpc/health/v1/health.js';
import { unary } from '../rpc/rpc.ts';
import type { Logger } from '../util/logger.ts';

/** Concurrent Watch streams a server takes by default, over all connections. */
export const DEFAULT_MAX_HEALTH_WATCHES = 256;

/** Concurrent Watch streams one client connection may hold by default. */
export const DEFAULT_MAX_HEALTH_WATCHES_PER_CONNECTION = 4;

/** Options for {@link HealthStatus}. */
export interface HealthStatusOptions {
  /** Most Watch streams at once; {@link DEFAULT_MAX_HEALTH_WATCHES} by default. */
  readonly maxWatches?: number;
  /**
   * Most Watch streams at once from one connection (one peer address and
   * port); {@link DEFAULT_MAX_HEALTH_WATCHES_PER_CONNECTION} by default.
   */
  readonly maxWatchesPerConnection?: number;
}

/**
 * Where a server is in its life, as health checks and `/readyz` tell it:
 * `starting` until it serves (the port bound and, for `kiln serve`, every
 * disk store indexed), then `serving`, then `draining` for good once
 * shutdown begins.
 */
export type ServingPhase = 'starting' | 'serving' | 'draining';

const SHUTTING_DOWN = 'Kiln is shutting down; watch the health of another server';

type Watcher = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

/**
 * The serving status of one server and its open Watch streams. Starts
 * NOT_SERVING until {@link serve}; {@link drain} turns it NOT_SERVING for good.
 */
export class HealthStatus {
  readonly #maxWatches: number;
  readonly #maxPerConnection: number;
  #services: ReadonlySet<string> = new Set();
  #serving = false;
  #draining = false;
  /** Set by {@link endWatches}: later Watch streams end at once. */
  #ended = false;
  /** Every open Watch stream, with the service name it watches. */
  readonly #watchers = new Map<Watcher, string>();
  readonly #perConnection = new Map<string, number>();
  #refused = 0;

  constructor(options: HealthStatusOptions = {}) {
    this.#maxWatches = options.maxWatches ?? DEFAULT_MAX_HEALTH_WATCHES;
    this.#maxPerConnection =
      options.maxWatchesPerConnection ?? DEFAULT_MAX_HEALTH_WATCHES_PER_CONNECTION;
  }

  /** Starts serving the given fully qualified service names (and "", the whole server). */
  serve(services: Iterable<string>): void {
    if (this.#draining) return;
    this.#services = new Set(services);
    this.#serving = true;
    this.#tellWatchers();
  }

  /** Shutdown began: NOT_SERVING from now on, told to every Watch stream. Idempotent. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#serving = false;
    this.#tellWatchers();
  }

  /**
   * Ends every Watch stream with UNAVAILABLE after the status it was last
   * sent, so that the server's shutdown does not wait for them.
   */
  endWatches(): void {
    this.#ended = true;
    for (const call of [...this.#watchers.keys()]) {
      this.#forget(call);
      call.emit('error', { code: status.UNAVAILABLE, details: SHUTTING_DOWN });
    }
  }

  /** Where the server is in its life; SERVING in health checks only while `serving`. */
  get phase(): ServingPhase {
    if (this.#draining) return 'draining';
    return this.#serving ? 'serving' : 'starting';
  }

  /** The status of `service` ("" for the whole server). */
  statusOf(service: string): ServingStatus {
    if (service !== '' && !this.#services.has(service)) return ServingStatus.SERVICE_UNKNOWN;
    return this.#serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  /** Watch streams open now. */
  get watches(): number {
    return this.#watchers.size;
  }

  /** Watch streams refused for the bounds, since start. */
  get refusedWatches(): number {
    return this.#refused;
  }

  /** Registers a Watch stream; RESOURCE_EXHAUSTED beyond the bounds. */
  watch(call: Watcher, service: string): void {
    // The server is closing and would wait for this stream: end it now.
    if (this.#ended) throw unavailable(SHUTTING_DOWN);
    const peer = call.getPeer();
    const fromPeer = this.#perConnection.get(peer) ?? 0;
    if (this.#watchers.size >= this.#maxWatches) {
      this.#refused++;
      throw resourceExhausted(
        `too many health Watch streams open (the server's limit is ${this.#maxWatches}); ` +
          'poll with Check instead, or retry later',
      );
    }
    if (fromPeer >= this.#maxPerConnection) {
      this.#refused++;
      throw resourceExhausted(
        `too many health Watch streams on this connection (the limit is ${this.#maxPerConnection}); ` +
          'end one before starting another, or poll with Check',
      );
    }
    this.#watchers.set(call, service);
    this.#perConnection.set(peer, fromPeer + 1);
    const forget = () => this.#forget(call);
    call.once('cancelled', forget);
    call.once('close', forget);
    call.once('finish', forget);
    call.write({ status: this.statusOf(service) });
  }

  #forget(call: Watcher): void {
    if (!this.#watchers.delete(call)) return;
    const peer = call.getPeer();
    const left = (this.#perConnection.get(peer) ?? 1) - 1;
    if (left <= 0) this.#perConnection.delete(peer);
    else this.#perConnection.set(peer, left);
  }

  #tellWatchers(): void {
    for (const [call, service] of this.#watchers) {
      // The status changes at most twice in a server's life (serving, then
      // draining): a few bytes per stream, nothing worth waiting for a reader.
      if (!call.cancelled) call.write({ status: this.statusOf(service) });
    }
  }
}

/** Options for {@link createHealthService}. */
export interface HealthServiceOptions {
  readonly log: Logger;
  readonly health: HealthStatus;
}

/** The Health service over `health`. */
export function createHealthService(options: HealthServiceOptions): HealthServer {
  const { log, health } = options;
  return {
    check: unary<HealthCheckRequest, HealthCheckResponse>(log, 'Check', async (request) => {
      const answer = health.statusOf(request.service);
      if (answer === ServingStatus.SERVICE_UNKNOWN) {
        throw notFound(
          `this server does not serve ${quote(request.service)}; ask about "" for the whole ` +
            'server or a fully qualified service name such as google.bytestream.ByteStream',
        );
      }
      return { status: answer };
    }),
    watch: (call) => {
      try {
        health.watch(call, call.request.service);
      } catch (err) {
        const code = err instanceof KilnError ? err.code : status.INTERNAL;
        call.emit('error', { code, details: (err as Error).message });
      }
    },
  };
}
