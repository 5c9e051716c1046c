/**
 * Conversion of errors raised by grpc-js client calls into KilnErrors, so code
 * above the client sees one error type whatever the transport: the server's
 * status code is kept (NOT_FOUND stays NOT_FOUND, UNAVAILABLE stays
 * UNAVAILABLE, …) and so are its rich status details.
 */
import { type ServiceError, status } from '@grpc/grpc-js';
import { type ErrorDetail, KilnError, withContext } from '../errors.ts';
import { Status } from '../gen/google/rpc/status.js';

const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** True for the error objects grpc-js passes to callbacks and emits on streams. */
export function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === 'number' &&
    typeof (err as Partial<ServiceError>).details === 'string'
  );
}

/** Decodes `google.rpc.Status` details from a failed call's trailers, ignoring malformed ones. */
function detailsOf(err: ServiceError): ErrorDetail[] {
  const raw = err.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return [];
  try {
    return Status.decode(raw).details.map((d) => ({ typeUrl: d.typeUrl, value: d.value }));
  } catch {
    return [];
  }
}

/**
 * Wraps any error from a client call as a KilnError with `context` (what the
 * client was doing) in front of the message. gRPC errors keep their code and
 * details; KilnErrors keep theirs; anything else becomes INTERNAL.
 */
export function fromGrpcError(err: unknown, context: string): KilnError {
  if (isServiceError(err)) {
    const message = err.details === '' ? status[err.code] : err.details;
    return new KilnError(err.code, `${context}: ${message}`, {
      cause: err,
      details: detailsOf(err),
    });
  }
  return withContext(err, context);
}
