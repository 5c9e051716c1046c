/**
 * A grpc-js client interceptor for a traced worker (installed only when
 * tracing is on): a call made while a span is active (an action's, see
 * worker-spans.ts) gets a client span under it and sends that span's W3C
 * `traceparent`, which the server's call span continues
 * (tracing-interceptor.ts). Calls outside any span, such as the bot
 * session's long polls, pass through untouched.
 */
import {
  InterceptingCall,
  type Interceptor,
  type InterceptorOptions,
  type Metadata,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import type * as Api from '@opentelemetry/api';
import type { Tracing } from './tracing.ts';

/** The interceptor; see the module comment. */
export function tracingClientInterceptor(tracing: Tracing): Interceptor {
  const { api, tracer } = tracing;
  return (options: InterceptorOptions, nextCall) => {
    // Called as the call is made, in its caller's context.
    const parent = tracing.active();
    if (api.trace.getSpan(parent) === undefined) return new InterceptingCall(nextCall(options));
    const path = options.method_definition.path;
    const slash = path.lastIndexOf('/');
    const span = tracer.startSpan(
      path.slice(1),
      {
        kind: api.SpanKind.CLIENT,
        attributes: {
          'rpc.system': 'grpc',
          'rpc.service': path.slice(1, slash),
          'rpc.method': path.slice(slash + 1),
        },
      },
      parent,
    );
    return new InterceptingCall(nextCall(options), {
      start(metadata: Metadata, _listener, next) {
        const traceparent = tracing.traceparentOf(span);
        if (traceparent !== undefined) metadata.set('traceparent', traceparent);
        next(metadata, {
          onReceiveStatus(received: StatusObject, nextStatus) {
            end(api, span, received);
            nextStatus(received);
          },
        });
      },
    });
  };
}

function end(api: Tracing['api'], span: Api.Span, received: StatusObject): void {
  span.setAttribute('rpc.grpc.status_code', received.code);
  if (received.code !== status.OK) {
    span.setStatus({
      code: api.SpanStatusCode.ERROR,
      message: `${status[received.code]}: ${received.details}`,
    });
  }
  span.end();
}
