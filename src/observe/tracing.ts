/**
 * OpenTelemetry tracing, on only when `observability.tracing.endpoint` (or
 * `kiln worker --trace-endpoint`) is set. The SDK is loaded here with
 * `await import`, so a process that does not trace never loads it; the rest
 * of Kiln imports only types from it and holds a {@link Tracing} or nothing.
 *
 * Nothing is registered globally: this process's context (the span a
 * call's code runs under) lives in an AsyncLocalStorage of its own, and
 * every span is started with an explicit parent, so that two Kiln servers in
 * one process (as in tests) trace independently.
 */

import type { Metadata } from '@grpc/grpc-js';
import type * as Api from '@opentelemetry/api';
import { otlpTracesUrl } from '../config/observability-schema.ts';
import type { Logger } from '../util/logger.ts';

/** Options for {@link startTracing}. */
export interface TracingOptions {
  /** The collector's OTLP/HTTP URL (`/v1/traces` added when it has no path). */
  readonly endpoint: string;
  /** `service.name` of the spans. */
  readonly serviceName: string;
  /** Share of root traces recorded (0 to 1); traces with a sampled parent always are. */
  readonly sampleRatio: number;
  /** Longest wait before finished spans are sent, in ms; 2 s by default. */
  readonly exportDelayMs?: number;
  /** Told once when exports start failing, and once when they work again. */
  readonly log?: Logger;
  /** Longest time one export may take, retries included, in ms; 10 s by default. */
  readonly exportTimeoutMs?: number;
  /** Longest wait at shutdown for the last spans to go out, in ms; 3 s by default. */
  readonly shutdownTimeoutMs?: number;
}

/** The tracing of one process: a tracer, its context, and the W3C propagation. */
export interface Tracing {
  /** The API's pure helpers (`trace.setSpan`, `SpanKind`, `SpanStatusCode`, `ROOT_CONTEXT`). */
  readonly api: typeof Api;
  readonly tracer: Api.Tracer;
  /** The context the calling code runs under (ROOT_CONTEXT outside any traced call). */
  active(): Api.Context;
  /** Runs `fn` under `context`: spans started inside (and their async work) see it as active. */
  with<T>(context: Api.Context, fn: () => T): T;
  /** The context a `traceparent` (W3C) carries; ROOT_CONTEXT for none or a malformed one. */
  fromTraceparent(traceparent: string | undefined): Api.Context;
  /** The context of the W3C `traceparent` (and `tracestate`) in gRPC metadata. */
  fromMetadata(metadata: Metadata): Api.Context;
  /** The `traceparent` value naming `span`, to carry to another process. */
  traceparentOf(span: Api.Span): string | undefined;
  /** Sends the spans finished so far; never rejects (a failed export is logged). */
  flush(): Promise<void>;
  /** Sends the spans finished so far and stops; never rejects. */
  shutdown(): Promise<void>;
}

const metadataGetter: Api.TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key);
    return values.length === 0 ? undefined : values.map(String);
  },
};

const recordGetter: Api.TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const recordSetter: Api.TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** Loads the OpenTelemetry SDK and starts exporting spans over OTLP/HTTP (JSON). */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const [api, sdk, otlp, resources, core, hooks] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
    import('@opentelemetry/context-async-hooks'),
  ]);
  const exporter = reportingExporter(
    new otlp.OTLPTraceExporter({
      url: otlpTracesUrl(options.endpoint),
      timeoutMillis: options.exportTimeoutMs ?? 10_000,
    }),
    options,
  );
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': options.serviceName }),
    sampler: new sdk.ParentBasedSampler({
      root: new sdk.TraceIdRatioBasedSampler(options.sampleRatio),
    }),
    spanProcessors: [
      new sdk.BatchSpanProcessor(exporter, {
        scheduledDelayMillis: options.exportDelayMs ?? 2000,
      }),
    ],
  });
  const contexts = new hooks.AsyncLocalStorageContextManager().enable();
  const propagator = new core.W3CTraceContextPropagator();
  const tracer = provider.getTracer('kiln');
  return {
    api,
    tracer,
    active: () => contexts.active(),
    with: (context, fn) => contexts.with(context, fn),
    fromTraceparent(traceparent) {
      if (traceparent === undefined || traceparent === '') return api.ROOT_CONTEXT;
      return propagator.extract(api.ROOT_CONTEXT, { traceparent }, recordGetter);
    },
    fromMetadata: (metadata) => propagator.extract(api.ROOT_CONTEXT, metadata, metadataGetter),
    traceparentOf(span) {
      const carrier: Record<string, string> = {};
      propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, span), carrier, recordSetter);
      return carrier.traceparent;
    },
    // An unreachable collector costs the spans, never a failed shutdown;
    // the exporter's wrapper has logged it.
    flush: () => provider.forceFlush().catch(() => undefined),
    async shutdown() {
      // The exporter retries an unreachable collector for several seconds:
      // a stopping process waits for it only so long.
      await within(
        options.shutdownTimeoutMs ?? 3000,
        provider.shutdown().catch(() => undefined),
      );
      contexts.disable();
    },
  };
}

/** Waits for `work`, or `ms` at most. */
async function within(ms: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((done) => {
    timer = setTimeout(done, ms);
  });
  await Promise.race([work, timeout]);
  clearTimeout(timer);
}

/** The part of an OTLP exporter this module uses (the SDK's `SpanExporter`). */
type SpanExporter = ConstructorParameters<
  typeof import('@opentelemetry/sdk-trace-base').BatchSpanProcessor
>[0];

/**
 * `exporter`, logging when exports start failing (once, not per batch) and
 * when they work again: the SDK itself reports them only to its global
 * diagnostic logger, which Kiln does not set.
 */
function reportingExporter(exporter: SpanExporter, options: TracingOptions): SpanExporter {
  let failing = false;
  return {
    export(spans, done) {
      exporter.export(spans, (result) => {
        const ok = result.code === 0;
        if (!ok && !failing) {
          options.log?.warn(
            { endpoint: options.endpoint, err: result.error?.message },
            'cannot send traces to the OTLP collector; spans are dropped until it answers',
          );
        } else if (ok && failing) {
          options.log?.info({ endpoint: options.endpoint }, 'sending traces again');
        }
        failing = !ok;
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}
