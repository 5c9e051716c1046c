/**
 * How a worker reaches the Bots service: over gRPC ({@link GrpcBotsTransport},
 * `kiln worker`), or by direct calls into the server's Bots logic
 * ({@link InProcessBotsTransport}, the worker inside `kiln serve`). The worker
 * agent is the same either way; only the transport differs.
 */
import {
  type Channel,
  type ChannelCredentials,
  type Interceptor,
  Metadata,
  status,
} from '@grpc/grpc-js';
import { CLIENT_CHANNEL_OPTIONS } from '../client/channel-options.ts';
import { KilnError } from '../errors.ts';
import {
  type BotSession,
  BotsClient,
  type CreateBotSessionRequest,
  type UpdateBotSessionRequest,
} from '../gen/google/devtools/remoteworkers/v1test2/bots.js';
import type { BotsCore } from '../services/bots-service.ts';
import { RECONNECT_CHANNEL_OPTIONS } from './reconnect-backoff.ts';

/** Per-call options of a {@link BotsTransport}. */
export interface BotsCallOptions {
  /** Absolute deadline, epoch milliseconds. */
  readonly deadlineMs: number;
  /**
   * Ends a long poll early. The transport then either rejects with CANCELLED
   * (gRPC: the reply is lost, and the server re-sends its leases next time) or
   * resolves with what the poll got so far (in process).
   */
  readonly signal?: AbortSignal;
}

/** The two Bots calls a worker makes. Errors carry a gRPC `code`. */
export interface BotsTransport {
  createBotSession(req: CreateBotSessionRequest, options: BotsCallOptions): Promise<BotSession>;
  updateBotSession(req: UpdateBotSessionRequest, options: BotsCallOptions): Promise<BotSession>;
  close(): void;
}

/** Bots over gRPC; its channel also carries the worker's CAS traffic. */
export class GrpcBotsTransport implements BotsTransport {
  readonly #client: BotsClient;

  /**
   * Connects to `address` (`host:port`) with `credentials` (plaintext or
   * TLS); `interceptors` go around every call (a bearer token, say).
   */
  constructor(address: string, credentials: ChannelCredentials, interceptors: Interceptor[] = []) {
    this.#client = new BotsClient(address, credentials, {
      ...CLIENT_CHANNEL_OPTIONS,
      ...RECONNECT_CHANNEL_OPTIONS,
      interceptors,
    });
  }

  /** The channel, for CAS clients that share the connection. */
  get channel(): Channel {
    return this.#client.getChannel() as Channel;
  }

  createBotSession(req: CreateBotSessionRequest, options: BotsCallOptions): Promise<BotSession> {
    return new Promise((resolve, reject) => {
      this.#client.createBotSession(
        req,
        new Metadata(),
        { deadline: options.deadlineMs },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });
  }

  updateBotSession(req: UpdateBotSessionRequest, options: BotsCallOptions): Promise<BotSession> {
    return new Promise((resolve, reject) => {
      const call = this.#client.updateBotSession(
        req,
        new Metadata(),
        { deadline: options.deadlineMs },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
      const { signal } = options;
      if (signal === undefined) return;
      if (signal.aborted) call.cancel();
      else signal.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  close(): void {
    this.#client.close();
  }
}

/**
 * Bots by direct calls into the server's Bots logic: no protobuf encoding of
 * the session messages, no HTTP/2, no second connection to its own process.
 */
export class InProcessBotsTransport implements BotsTransport {
  readonly #core: BotsCore;
  #closed = false;

  constructor(core: BotsCore) {
    this.#core = core;
  }

  createBotSession(req: CreateBotSessionRequest, _options: BotsCallOptions): Promise<BotSession> {
    this.#checkOpen();
    return this.#core.createBotSession(req);
  }

  updateBotSession(req: UpdateBotSessionRequest, options: BotsCallOptions): Promise<BotSession> {
    this.#checkOpen();
    return this.#core.updateBotSession(req, {
      signal: options.signal ?? new AbortController().signal,
      deadlineMs: options.deadlineMs,
    });
  }

  close(): void {
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new KilnError(status.CANCELLED, 'the worker is stopping');
  }
}
