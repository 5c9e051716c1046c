/**
 * Glue between async service code and grpc-js handlers: every handler is
 * wrapped so that thrown errors become gRPC statuses (KilnError codes kept,
 * anything else INTERNAL and logged), and the request's REAPI
 * RequestMetadata is attached to log lines. The edge interceptor
 * (edge-interceptor.ts) reports every call's outcome to an {@link RpcObserver},
 * whichever service handled it.
 */

import {
  type handleBidiStreamingCall,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  Metadata,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import type { Identity } from '../auth/permissions.ts';
import { cutStatusMessage, KilnError } from '../errors.ts';
import { RequestMetadata } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { Status } from '../gen/google/rpc/status.js';
import type { Logger } from '../util/logger.ts';
import { identityOf } from './call-auth.ts';
import type { TurnSlicer } from './turn-slicer.ts';

const REQUEST_METADATA_KEY = 'build.bazel.remote.execution.v2.requestmetadata-bin';

/**
 * The reason of every cancelled call's signal: given to `abort()`, it spares
 * the DOMException (with its stack trace) that a reasonless abort creates.
 * Clients cancel calls routinely (Bazel ends Execute streams that way).
 */
const CALL_CANCELLED = new Error('the client cancelled the call');

const noop = (): void => {};

/** What a handler knows about its call besides the request message. */
export interface RpcContext {
  /** Logger with method, tool invocation id and action id bound. */
  readonly log: Logger;
  /** The call's REAPI RequestMetadata, when the client sent one. */
  readonly requestMetadata: RequestMetadata | undefined;
  /** True once the client cancelled or the deadline passed. */
  readonly cancelled: () => boolean;
  /** Aborts when the client cancels the call or its deadline passes. */
  readonly signal: AbortSignal;
  /**
   * Calls `listener` once when the client cancels the call or its deadline
   * passes (at once if that already happened) and returns what stops it.
   * For a call that waits long (a long poll): unlike `signal`, it makes no
   * AbortController, and every idle worker holds such a call. Absent on
   * contexts made outside a gRPC handler: use `signal` there.
   */
  readonly onCancel?: (listener: () => void) => () => void;
  /** The call's deadline in epoch milliseconds, or undefined when it has none. */
  readonly deadlineMs: number | undefined;
  /**
   * Who is calling, as the authentication interceptor resolved it; undefined
   * on a server without it. Permissions are already checked before the handler runs.
   */
  readonly identity: Identity | undefined;
}

/** Decodes REAPI RequestMetadata from call metadata, ignoring malformed values. */
export function requestMetadataOf(metadata: Metadata): RequestMetadata | undefined {
  const raw = metadata.get(REQUEST_METADATA_KEY)[0];
  if (!(raw instanceof Buffer)) return undefined;
  try {
    return RequestMetadata.decode(raw);
  } catch {
    return undefined;
  }
}

/**
 * The largest encoded `google.rpc.Status` sent as `grpc-status-details-bin`.
 * It travels base64-encoded in the trailers, beside the status message (at
 * most STATUS_MESSAGE_LIMIT characters): gRPC Java (Bazel) refuses a call
 * whose metadata passes 8 KiB, and grpc-js fails the whole connection, every
 * call on it, on trailers over its header-list limit. Larger details are left
 * out: the code and message still tell the client what happened.
 */
export const STATUS_DETAILS_LIMIT = 4096;

/** Converts any thrown value into a grpc-js ServiceError with rich status details. */
export function toServiceError(err: unknown, log: Logger, method: string): Partial<ServiceError> {
  if (err instanceof KilnError) {
    const trailer = new Metadata();
    const message = cutStatusMessage(err.message);
    if (err.details.length > 0) {
      const encoded = Status.encode({
        code: err.code,
        message,
        details: err.details.map((d) => ({ typeUrl: d.typeUrl, value: d.value })),
      }).finish();
      if (encoded.byteLength <= STATUS_DETAILS_LIMIT) {
        trailer.set('grpc-status-details-bin', Buffer.from(encoded));
      } else {
        log.warn(
          { method, code: status[err.code], bytes: encoded.byteLength },
          'status details too large for a trailer; sent without them',
        );
      }
    }
    if (err.code === status.INTERNAL) {
      log.error({ err, method }, 'rpc failed');
    } else if (err.code === status.UNAVAILABLE) {
      // Operational (a backend down, a server draining), not a fault in Kiln:
      // one line, no stack, so that a busy drain does not flood the log.
      log.warn({ code: 'UNAVAILABLE', msg: message, method }, 'rpc unavailable');
    } else {
      log.debug({ code: status[err.code], msg: message, method }, 'rpc rejected');
    }
    return { code: err.code, details: message, metadata: trailer };
  }
  log.error({ err, method }, 'rpc failed with an unexpected error');
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.INTERNAL, details: cutStatusMessage(`internal error: ${message}`) };
}

/** The parts of a grpc-js call that an {@link RpcContext} reads. */
interface ContextCall {
  metadata: Metadata;
  cancelled: boolean;
  on(event: 'cancelled', fn: () => void): unknown;
  off(event: 'cancelled', fn: () => void): unknown;
  getDeadline(): Date | number;
}

/**
 * An {@link RpcContext} that builds each part on first use. Most calls use
 * none of them (a FindMissingBlobs that succeeds logs nothing and never
 * waits), and profiles showed the child logger, the AbortController and the
 * RequestMetadata decode as a tenth of such a call's server time.
 */
class LazyContext implements RpcContext {
  readonly #base: Logger;
  readonly #method: string;
  readonly #call: ContextCall;
  #log: Logger | undefined;
  #metadataDecoded = false;
  #requestMetadata: RequestMetadata | undefined;
  #abort: AbortController | undefined;

  constructor(base: Logger, method: string, call: ContextCall) {
    this.#base = base;
    this.#method = method;
    this.#call = call;
  }

  #cancelled: (() => boolean) | undefined;

  /**
   * A function that keeps working when taken off the context, made on first
   * use: most calls never ask, and a long poll would hold it while it waits.
   */
  get cancelled(): () => boolean {
    if (this.#cancelled === undefined) {
      const call = this.#call;
      this.#cancelled = () => call.cancelled;
    }
    return this.#cancelled;
  }

  get log(): Logger {
    if (this.#log === undefined) {
      const requestMetadata = this.requestMetadata;
      const bindings: Record<string, string> = { method: this.#method };
      if (requestMetadata?.toolInvocationId) bindings.invocation = requestMetadata.toolInvocationId;
      if (requestMetadata?.actionId) bindings.actionId = requestMetadata.actionId;
      this.#log = this.#base.child(bindings);
    }
    return this.#log;
  }

  get requestMetadata(): RequestMetadata | undefined {
    if (!this.#metadataDecoded) {
      this.#requestMetadata = requestMetadataOf(this.#call.metadata);
      this.#metadataDecoded = true;
    }
    return this.#requestMetadata;
  }

  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      const abort = new AbortController();
      this.#abort = abort;
      // A call cancelled before anyone asked for the signal has already
      // emitted 'cancelled'. `on`, not `once`: grpc-js emits it once per
      // call, and `once` would add a wrapper and its state to every waiting call.
      if (this.#call.cancelled) abort.abort(CALL_CANCELLED);
      else this.#call.on('cancelled', () => abort.abort(CALL_CANCELLED));
    }
    return this.#abort.signal;
  }

  onCancel(listener: () => void): () => void {
    const call = this.#call;
    if (call.cancelled) {
      listener();
      return noop;
    }
    call.on('cancelled', listener);
    return () => call.off('cancelled', listener);
  }

  get deadlineMs(): number | undefined {
    return deadlineOf(this.#call.getDeadline());
  }

  get identity(): Identity | undefined {
    return identityOf(this.#call.metadata);
  }
}

function contextFor(base: Logger, method: string, call: ContextCall): RpcContext {
  return new LazyContext(base, method, call);
}

/** A grpc-js deadline in epoch milliseconds, or undefined when the call has none. */
export function deadlineOf(deadline: Date | number): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/** How a handler starts. */
export interface HandlerOptions {
  /**
   * Starts the handler through this slicer (see turn-slicer.ts): for heavy
   * methods that arrive in waves, so that lighter calls are answered between.
   */
  readonly slicer?: TurnSlicer;
}

/** Wraps an async unary handler. */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  fn: (request: Req, ctx: RpcContext, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  options: HandlerOptions = {},
): handleUnaryCall<Req, Res> {
  const { slicer } = options;
  const handle: handleUnaryCall<Req, Res> = (call, callback) => {
    const ctx = contextFor(log, method, call);
    fn(call.request, ctx, call).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err, ctx.log, method)),
    );
  };
  if (slicer === undefined) return handle;
  return (call, callback) => slicer.run(() => handle(call, callback));
}

/** Wraps an async server-streaming handler; it writes with `send`, which honours backpressure. */
export function serverStreaming<Req, Res>(
  log: Logger,
  method: string,
  fn: (
    request: Req,
    send: (message: Res) => Promise<void>,
    ctx: RpcContext,
    call: ServerWritableStream<Req, Res>,
  ) => Promise<void>,
  options: HandlerOptions = {},
): handleServerStreamingCall<Req, Res> {
  const { slicer } = options;
  const handle: handleServerStreamingCall<Req, Res> = (call) => {
    const ctx = contextFor(log, method, call);
    const send = (message: Res): Promise<void> => writeWithBackpressure(call, message);
    fn(call.request, send, ctx, call).then(
      () => call.end(),
      (err: unknown) => {
        if (!call.cancelled)
          call.emit('error', toServiceError(err, ctx.log, method) as ServiceError);
      },
    );
  };
  if (slicer === undefined) return handle;
  return (call) => slicer.run(() => handle(call));
}

/** Wraps an async client-streaming handler. */
export function clientStreaming<Req, Res>(
  log: Logger,
  method: string,
  fn: (call: ServerReadableStream<Req, Res>, ctx: RpcContext) => Promise<Res>,
): handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const ctx = contextFor(log, method, call);
    fn(call, ctx).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err, ctx.log, method)),
    );
  };
}

/** Wraps an async bidirectional-streaming handler. */
export function bidiStreaming<Req, Res>(
  log: Logger,
  method: string,
  fn: (call: ServerDuplexStream<Req, Res>, ctx: RpcContext) => Promise<void>,
): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const ctx = contextFor(log, method, call);
    fn(call, ctx).then(
      () => call.end(),
      (err: unknown) => {
        if (!call.cancelled)
          call.emit('error', toServiceError(err, ctx.log, method) as ServiceError);
      },
    );
  };
}

/** Writes one message, resolving once the stream can take more. */
export function writeWithBackpressure<Res>(
  call: ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>,
  message: Res,
): Promise<void> {
  if (call.cancelled) return Promise.reject(new KilnError(status.CANCELLED, 'call cancelled'));
  if (call.write(message)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      call.off('drain', onDrain);
      call.off('cancelled', onCancel);
      call.off('close', onCancel);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onCancel = (): void => {
      cleanup();
      reject(new KilnError(status.CANCELLED, 'call cancelled'));
    };
    call.on('drain', onDrain);
    call.on('cancelled', onCancel);
    call.on('close', onCancel);
  });
}

/** How one RPC ended, for metrics and the list of recent errors. */
export interface RpcOutcome {
  /** The service's short name, e.g. `ContentAddressableStorage` or `ByteStream`. */
  readonly service: string;
  /** The method's name, e.g. `FindMissingBlobs`. */
  readonly method: string;
  /** The gRPC status code sent (CANCELLED when the client went away first). */
  readonly code: status;
  /** The status message; empty on success. */
  readonly message: string;
  /** From the call's arrival to its status, in milliseconds. */
  readonly durationMs: number;
  /** The call's metadata, to read RequestMetadata from ({@link requestMetadataOf}) when needed. */
  readonly metadata: Metadata | undefined;
}

/** Receives the outcome of every RPC. Must be cheap and must not throw. */
export interface RpcObserver {
  rpcFinished(outcome: RpcOutcome): void;
}

/** `/pkg.Service/Method` → short service and method names, cached per path. */
const methodNames = new Map<string, { service: string; method: string }>();

/** The short service and method names of a method path (the same object for every call). */
export function namesOf(path: string): { service: string; method: string } {
  let names = methodNames.get(path);
  if (names === undefined) {
    const slash = path.lastIndexOf('/');
    const qualified = path.slice(1, slash);
    names = {
      service: qualified.slice(qualified.lastIndexOf('.') + 1),
      method: path.slice(slash + 1),
    };
    methodNames.set(path, names);
  }
  return names;
}
