/**
 * How the client commands report failure: one line on stderr that says what
 * went wrong in the user's terms (the server is unreachable, a blob is not
 * in the CAS, the server refused), and an exit code: 2 for a malformed
 * command line, 1 for everything else.
 */
import { status } from '@grpc/grpc-js';
import { fromGrpcError, isServiceError } from '../client/grpc-error.ts';
import { KilnError } from '../errors.ts';

/** A malformed command line: unknown option, bad digest syntax, missing argument. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit status of a command that failed with `err`. */
export function exitCodeOf(err: unknown): number {
  return err instanceof UsageError || isParseArgsError(err) ? 2 : 1;
}

/**
 * One line describing `err` for the user. `address` is the server the
 * command talked to, named when it could not be reached.
 */
export function describeError(err: unknown, address?: string): string {
  const error = isServiceError(err) ? fromGrpcError(err, 'call') : err;
  let message: string;
  if (error instanceof KilnError) {
    const where = address === undefined ? 'the server' : `the server at ${address}`;
    switch (error.code) {
      case status.UNAVAILABLE: {
        // grpc-js says "No connection established. Last error: Error: connect ECONNREFUSED …".
        const cause = /Last error: (?:Error: )?(.*?)\.?(?:\s*Resolution note:.*)?$/s.exec(
          error.message,
        );
        // grpc-js appends the time of the failure in parentheses.
        const why = (cause?.[1] ?? error.message).replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)$/, '');
        // A refused handshake means the server runs, but the TLS options do not fit it.
        message = /wrong version number|packet length too long|http request/i.test(why)
          ? `${where} answered in plaintext, not TLS: drop grpcs:// and the --tls-* options, or enable TLS on the server`
          : /^Protocol error$/i.test(why)
            ? `${where} does not speak gRPC (HTTP/2 "Protocol error"): is it the HTTP port of the web UI? Kiln's gRPC port is server.listen (default 8980), the HTTP port usually the one after it`
            : /shutting down/.test(why)
              ? `${where} is shutting down (UNAVAILABLE): ${why}`
              : /SSL|TLS|certificate/i.test(why)
                ? `cannot reach ${where} over TLS (see --tls-ca, --tls-cert and --tls-key): ${why}`
                : `cannot reach ${where} (is it running? see --server): ${why}`;
        break;
      }
      case status.PERMISSION_DENIED:
        message = `permission denied by ${where}: ${error.message}`;
        break;
      case status.UNAUTHENTICATED:
        message = `not authenticated by ${where} (pass a token with --token-file or KILN_TOKEN): ${error.message}`;
        break;
      case status.DEADLINE_EXCEEDED:
        message = `timed out: ${error.message}`;
        break;
      case status.NOT_FOUND:
      case status.INVALID_ARGUMENT:
      case status.FAILED_PRECONDITION:
        message = error.message;
        break;
      default:
        message = `${error.message} (${status[error.code] ?? error.code})`;
    }
  } else if (error instanceof Error) {
    message = error.message;
  } else {
    message = String(error);
  }
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/** The errors node:util parseArgs throws for unknown options and missing values. */
function isParseArgsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
