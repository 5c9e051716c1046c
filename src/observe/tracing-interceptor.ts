/**
 * A grpc-js server interceptor that gives every call a span (installed only
 * when tracing is on: without it, a call pays nothing for tracing). The span
 * continues the caller's W3C `traceparent` when the metadata carries one,
 * holds the instance name, the tool invocation id (from REAPI
 * RequestMetadata) and the action digest, and ends with the status sent.
 *
 * The handler runs under the span's context, so that what it starts (the
 * scheduler's spans for an action an Execute queues) becomes its child.
 */
import {
  type Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  status,
} from '@grpc/grpc-js';
import type * as Api from '@opentelemetry/api';
import { requestMetadataOf } from '../rpc/rpc.ts';
import type { Tracing } from './tracing.ts';

/** Span attribute names Kiln sets, beside the OpenTelemetry `rpc.*` ones. */
export const ATTR = {
  instanceName: 'kiln.instance_name',
  invocationId: 'kiln.invocation_id',
  actionId: 'kiln.action_id',
  actionDigest: 'kiln.action_digest',
} as const;

/** The instance name in a ByteStream resource name: what comes before `blobs/`, `uploads/`, …. */
const RESOURCE_INSTANCE = /^(?:(.*?)\/)?(?:uploads\/[^/]+\/)?(?:compressed-)?blobs\//;

/** The fields of a request message that name what a call is about. */
interface RequestFields {
  readonly instanceName?: unknown;
  readonly resourceName?: unknown;
  readonly actionDigest?: { readonly hash?: unknown; readonly sizeBytes?: unknown };
}

/** Sets instance name and action digest from the first request message of a call. */
function describeRequest(span: Api.Span, message: unknown): void {
  if (message === null || typeof message !== 'object') return;
  const request = message as RequestFields;
  if (typeof request.instanceName === 'string') {
    span.setAttribute(ATTR.instanceName, request.instanceName);
  } else if (typeof request.resourceName === 'string') {
    const match = RESOURCE_INSTANCE.exec(request.resourceName);
    if (match !== null) span.setAttribute(ATTR.instanceName, match[1] ?? '');
  }
  const digest = request.actionDigest;
  if (digest !== undefined && typeof digest.hash === 'string') {
    span.setAttribute(ATTR.actionDigest, `${digest.hash}/${String(digest.sizeBytes ?? 0)}`);
  }
}

/** Sets the invocation and action ids of the call's REAPI RequestMetadata. */
function describeMetadata(span: Api.Span, metadata: Metadata): void {
  const request = requestMetadataOf(metadata);
  if (request === undefined) return;
  if (request.toolInvocationId !== '') {
    span.setAttribute(ATTR.invocationId, request.toolInvocationId);
  }
  if (request.actionId !== '') span.setAttribute(ATTR.actionId, request.actionId);
}

/** The interceptor; see the module comment. */
export function tracingInterceptor(tracing: Tracing): ServerInterceptor {
  const { api, tracer } = tracing;
  return (descriptor, call) => {
    const path = descriptor.path;
    const slash = path.lastIndexOf('/');
    let span: Api.Span | undefined;
    let context: Api.Context = api.ROOT_CONTEXT;
    let described = false;
    const end = (code: status, message: string): void => {
      if (span === undefined) return;
      span.setAttribute('rpc.grpc.status_code', code);
      if (code !== status.OK) {
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: `${status[code]}: ${message}` });
      }
      span.end();
      span = undefined;
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const parent = tracing.fromMetadata(metadata);
            const started = tracer.startSpan(
              path.slice(1),
              {
                kind: api.SpanKind.SERVER,
                attributes: {
                  'rpc.system': 'grpc',
                  'rpc.service': path.slice(1, slash),
                  'rpc.method': path.slice(slash + 1),
                },
              },
              parent,
            );
            if (started.isRecording()) describeMetadata(started, metadata);
            span = started;
            context = api.trace.setSpan(parent, started);
            tracing.with(context, () => nextMetadata(metadata));
          },
          onReceiveMessage: (message, nextMessage) => {
            if (!described && span?.isRecording() === true) describeRequest(span, message);
            described = true;
            tracing.with(context, () => nextMessage(message));
          },
          onReceiveHalfClose: (nextHalfClose) => tracing.with(context, nextHalfClose),
          onCancel: () => {
            const deadline = call.getDeadline();
            const ms = deadline instanceof Date ? deadline.getTime() : deadline;
            if (Number.isFinite(ms) && ms <= Date.now()) end(status.DEADLINE_EXCEEDED, 'deadline');
            else end(status.CANCELLED, 'cancelled by the client');
          },
        }),
      sendStatus: (sent, next) => {
        end(sent.code, sent.details ?? '');
        next(sent);
      },
    });
  };
}
