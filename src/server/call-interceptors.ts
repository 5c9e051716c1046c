/**
 * The server interceptors of every call, per configuration: the edge
 * (authentication, the request boundary, the observer of outcomes) always,
 * as one interceptor, and the tracing interceptor only when tracing is on.
 * Each interceptor costs every call (and every pending long poll) its own
 * intercepting call and listener, so none is installed that would do nothing.
 */
import type { ServerInterceptor } from '@grpc/grpc-js';
import type { Authenticator } from '../auth/authenticator.ts';
import type { Tracing } from '../observe/tracing.ts';
import { tracingInterceptor } from '../observe/tracing-interceptor.ts';
import type { AuthAudit } from '../rpc/call-auth.ts';
import { edgeInterceptor } from '../rpc/edge-interceptor.ts';
import type { RpcObserver } from '../rpc/rpc.ts';

/** What decides the interceptors of a server. */
export interface CallInterceptorOptions {
  /** Who may call what (protected mode at least). */
  readonly authenticator: Authenticator;
  readonly audit?: AuthAudit;
  readonly rpcObserver?: RpcObserver;
  readonly tracing?: Tracing;
}

/**
 * The interceptors, innermost first (grpc-js's order): tracing inside the
 * edge, so that spans end with the statuses the edge sends too.
 */
export function callInterceptors(options: CallInterceptorOptions): ServerInterceptor[] {
  const edge = edgeInterceptor({
    authenticator: options.authenticator,
    audit: options.audit,
    observer: options.rpcObserver,
  });
  return options.tracing === undefined ? [edge] : [tracingInterceptor(options.tracing), edge];
}
