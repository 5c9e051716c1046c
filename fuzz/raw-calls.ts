/**
 * gRPC calls with raw bytes: identity serializers, so anything can be sent
 * and every response arrives as it was encoded. Every call has a deadline,
 * and every way of ending a call (reading everything, cancelling, never
 * reading, half-closing early) resolves to one {@link CallOutcome}.
 */
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';

/** How a call ended. */
export interface CallOutcome {
  /** The gRPC status code. */
  readonly code: number;
  readonly details: string;
  /** Response messages received, up to the call's `keepBytes`. */
  readonly responses: readonly Buffer[];
  /** True when the fuzzer cancelled the call on purpose (its CANCELLED is expected). */
  readonly cancelledByUs: boolean;
  readonly ms: number;
}

/** Options shared by every call. */
export interface CallOptions {
  /** Milliseconds until the deadline. */
  readonly deadlineMs: number;
  readonly metadata?: Metadata;
  /** Most response bytes kept in {@link CallOutcome.responses}; 0 by default. */
  readonly keepBytes?: number;
}

/** How to consume a server stream. */
export type ReadMode =
  | { readonly kind: 'all' }
  | { readonly kind: 'cancel-after-messages'; readonly messages: number }
  | { readonly kind: 'cancel-after-ms'; readonly ms: number }
  | { readonly kind: 'never-read'; readonly cancelAfterMs: number };

/** How to end a client stream after its messages. */
export type WriteEnd =
  | { readonly kind: 'half-close' }
  | { readonly kind: 'cancel'; readonly afterMs: number }
  | { readonly kind: 'leave-open' };

const identity = (b: Buffer): Buffer => b;

/** Channel options: large messages both ways, one connection per channel. */
export function channelOptions(compress: boolean): Record<string, number | string> {
  return {
    'grpc.max_receive_message_length': 256 * 1024 * 1024,
    'grpc.max_send_message_length': -1,
    'grpc.use_local_subchannel_pool': 1,
    ...(compress ? { 'grpc.default_compression_algorithm': 2 } : {}),
  };
}

/** Opens a raw client (its own connection) to `address`; `compress` sends gzip messages. */
export function rawClient(address: string, compress = false): Client {
  return new Client(address, credentials.createInsecure(), channelOptions(compress));
}

function deadline(options: CallOptions): { deadline: number } {
  return { deadline: Date.now() + options.deadlineMs };
}

/** Collects response buffers up to a byte limit. */
class Keeper {
  readonly responses: Buffer[] = [];
  #bytes = 0;
  readonly #limit: number;
  constructor(limit: number) {
    this.#limit = limit;
  }
  add(message: Buffer): void {
    if (this.#bytes + message.length > this.#limit) return;
    this.responses.push(message);
    this.#bytes += message.length;
  }
}

/** One request, one response. */
export function unaryCall(
  client: Client,
  path: string,
  request: Buffer,
  options: CallOptions,
): Promise<CallOutcome> {
  const start = performance.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      request,
      options.metadata ?? new Metadata(),
      deadline(options),
      (err, response) => {
        const keep = new Keeper(options.keepBytes ?? 0);
        if (response) keep.add(response);
        resolve({
          code: err ? err.code : status.OK,
          details: err ? err.details : '',
          responses: keep.responses,
          cancelledByUs: false,
          ms: performance.now() - start,
        });
      },
    );
  });
}

/** One request, a stream of responses, consumed as `mode` says. */
export function serverStreamCall(
  client: Client,
  path: string,
  request: Buffer,
  mode: ReadMode,
  options: CallOptions,
): Promise<CallOutcome> {
  const start = performance.now();
  const keep = new Keeper(options.keepBytes ?? 0);
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(
      path,
      identity,
      identity,
      request,
      options.metadata ?? new Metadata(),
      deadline(options),
    );
    let cancelledByUs = false;
    let timer: NodeJS.Timeout | undefined;
    const cancel = (): void => {
      cancelledByUs = true;
      call.cancel();
    };
    let received = 0;
    call.on('error', () => {});
    call.on('status', (s) => {
      clearTimeout(timer);
      resolve({
        code: s.code,
        details: s.details,
        responses: keep.responses,
        cancelledByUs: cancelledByUs && s.code === status.CANCELLED,
        ms: performance.now() - start,
      });
    });
    if (mode.kind === 'never-read') {
      timer = setTimeout(cancel, mode.cancelAfterMs);
      return;
    }
    if (mode.kind === 'cancel-after-ms') timer = setTimeout(cancel, mode.ms);
    call.on('data', (message: Buffer) => {
      keep.add(message);
      received++;
      if (mode.kind === 'cancel-after-messages' && received >= mode.messages && !cancelledByUs) {
        cancel();
      }
    });
  });
}

/** A stream of requests (written with backpressure), one response, ended as `end` says. */
export function clientStreamCall(
  client: Client,
  path: string,
  requests: Iterable<Buffer>,
  end: WriteEnd,
  options: CallOptions,
): Promise<CallOutcome> {
  const start = performance.now();
  return new Promise((resolve) => {
    let cancelledByUs = false;
    let finished = false;
    const keep = new Keeper(options.keepBytes ?? 0);
    let timer: NodeJS.Timeout | undefined;
    const call = client.makeClientStreamRequest(
      path,
      identity,
      identity,
      options.metadata ?? new Metadata(),
      deadline(options),
      (err, response) => {
        finished = true;
        clearTimeout(timer);
        if (response) keep.add(response);
        const code = err ? err.code : status.OK;
        resolve({
          code,
          details: err ? err.details : '',
          responses: keep.responses,
          cancelledByUs: cancelledByUs && code === status.CANCELLED,
          ms: performance.now() - start,
        });
      },
    );
    call.on('error', () => {});
    const iterator = requests[Symbol.iterator]();
    const writeMore = (): void => {
      while (!finished) {
        const next = iterator.next();
        if (next.done) {
          if (end.kind === 'half-close') call.end();
          else if (end.kind === 'cancel') {
            timer = setTimeout(() => {
              cancelledByUs = true;
              call.cancel();
            }, end.afterMs);
          }
          return;
        }
        if (!call.write(next.value)) {
          call.once('drain', writeMore);
          return;
        }
      }
    };
    writeMore();
  });
}
