/**
 * Errors that carry a gRPC status code from where they are raised to the RPC
 * boundary. Wrapping with {@link withContext} adds context and keeps the code;
 * a service maps anything else to INTERNAL.
 */
import { status } from '@grpc/grpc-js';

/** A status detail attached to an error, already encoded as `google.protobuf.Any`. */
export interface ErrorDetail {
  readonly typeUrl: string;
  readonly value: Buffer;
}

/** An error with the gRPC status code a client should see. */
export class KilnError extends Error {
  readonly code: status;
  readonly details: readonly ErrorDetail[];

  constructor(
    code: status,
    message: string,
    options?: { cause?: unknown; details?: ErrorDetail[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    this.details = options?.details ?? [];
  }
}

export const invalidArgument = (message: string): KilnError =>
  new KilnError(status.INVALID_ARGUMENT, message);
/**
 * NOT_FOUND is an everyday answer (every action cache miss raises one, twice),
 * not a fault to trace: its error skips capturing a stack trace.
 */
export const notFound = (message: string): KilnError =>
  withoutStack(() => new KilnError(status.NOT_FOUND, message));
export const outOfRange = (message: string): KilnError =>
  new KilnError(status.OUT_OF_RANGE, message);
export const permissionDenied = (message: string): KilnError =>
  new KilnError(status.PERMISSION_DENIED, message);
export const failedPrecondition = (message: string): KilnError =>
  new KilnError(status.FAILED_PRECONDITION, message);
export const resourceExhausted = (message: string, cause?: unknown): KilnError =>
  new KilnError(status.RESOURCE_EXHAUSTED, message, { cause });
export const unavailable = (message: string, cause?: unknown): KilnError =>
  new KilnError(status.UNAVAILABLE, message, { cause });
export const internal = (message: string, cause?: unknown): KilnError =>
  new KilnError(status.INTERNAL, message, { cause });
export const aborted = (message: string): KilnError => new KilnError(status.ABORTED, message);
export const unimplemented = (message: string): KilnError =>
  new KilnError(status.UNIMPLEMENTED, message);

function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** How many characters of a client's string an error message quotes by default. */
export const QUOTE_LIMIT = 200;

/**
 * `value` in double quotes for an error message, cut to `limit` characters
 * (with the full length noted). Use it wherever a message quotes client input:
 * a client can send megabytes of instance name or page token, and a status
 * message that echoes it whole is too large for clients to accept.
 */
export function quote(value: string, limit = QUOTE_LIMIT): string {
  if (value.length <= limit) return `"${value}"`;
  return `"${value.slice(0, limit)}…" (${value.length} characters)`;
}

/** The longest status message the server sends; longer ones are cut by {@link cutStatusMessage}. */
export const STATUS_MESSAGE_LIMIT = 1000;

/**
 * `message` cut to {@link STATUS_MESSAGE_LIMIT} characters, saying so. Status
 * messages travel in one HTTP/2 trailer, and grpc-js clients fail the whole
 * connection (every call on it) on a trailer over their header-list limit.
 */
export function cutStatusMessage(message: string, limit = STATUS_MESSAGE_LIMIT): string {
  if (message.length <= limit) return message;
  return `${message.slice(0, limit)}… (message cut at ${limit} characters)`;
}

/** The gRPC code of any thrown value: a KilnError's own code, otherwise INTERNAL. */
export function codeOf(err: unknown): status {
  return err instanceof KilnError ? err.code : status.INTERNAL;
}

/** True when `err` is a KilnError with the given code. */
export function hasCode(err: unknown, code: status): boolean {
  return err instanceof KilnError && err.code === code;
}

/** Prefixes the message with context, keeping the code (INTERNAL for foreign errors). */
export function withContext(err: unknown, context: string): KilnError {
  if (err instanceof KilnError) {
    return new KilnError(err.code, `${context}: ${err.message}`, {
      cause: err,
      details: [...err.details],
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new KilnError(status.INTERNAL, `${context}: ${message}`, { cause: err });
}

/** Maps a Node.js file system error to a KilnError with a fitting code. */
export function fromFsError(err: unknown, context: string): KilnError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new KilnError(status.NOT_FOUND, `${context}: not found`, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
      return resourceExhausted(`${context}: storage is full (${code})`, err);
    case 'EMFILE':
    case 'ENFILE':
      return resourceExhausted(`${context}: too many open files (${code})`, err);
    default:
      return withContext(err, context);
  }
}
