/**
 * Failures of a fetch that are outside the server's control (the origin
 * answered 404, refused the connection, sent other bytes than the checksum
 * promised, was too large or too slow, or is not an allowed origin). The
 * Remote Asset API reports these in the response's `status` field; every
 * other error of a Fetch call is an RPC error.
 */
import { status } from '@grpc/grpc-js';
import { KilnError } from '../errors.ts';

/** A fetch failure to report in `FetchBlobResponse.status` / `FetchDirectoryResponse.status`. */
export class OriginError extends KilnError {
  constructor(code: status, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.name = 'OriginError';
  }
}

/** The origin has no such asset (HTTP 404 or 410). */
export const originNotFound = (message: string): OriginError =>
  new OriginError(status.NOT_FOUND, message);
/** The origin refused us, or policy forbids the origin. */
export const originDenied = (message: string, cause?: unknown): OriginError =>
  new OriginError(status.PERMISSION_DENIED, message, cause);
/** The origin could not be reached or failed. */
export const originUnavailable = (message: string, cause?: unknown): OriginError =>
  new OriginError(status.UNAVAILABLE, message, cause);
/** The content failed a consistency check (checksum mismatch). */
export const contentMismatch = (message: string): OriginError =>
  new OriginError(status.ABORTED, message);
/** The content exceeds a limit. */
export const contentTooLarge = (message: string): OriginError =>
  new OriginError(status.RESOURCE_EXHAUSTED, message);
/** The fetch did not finish within its time limit. */
export const fetchTimedOut = (message: string): OriginError =>
  new OriginError(status.DEADLINE_EXCEEDED, message);

/** The OriginError in `err` or its chain of causes, if any. */
export function findOriginError(err: unknown): OriginError | undefined {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof OriginError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
