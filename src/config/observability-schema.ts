/**
 * The `observability` section: OpenTelemetry tracing (off unless an OTLP
 * endpoint is given). Metrics and logs need no configuration (`/metrics`,
 * `--log-level`, `--log-format`); their access rules live in `ui`.
 */
import { z } from 'zod';

/** `observability.tracing`: where spans go, how they are named, how many are kept. */
export interface TracingConfig {
  /**
   * The collector's OTLP/HTTP traces URL (`/v1/traces` added when the URL
   * has no path); absent: tracing is off and the OpenTelemetry SDK is not loaded.
   */
  readonly endpoint?: string;
  /** `service.name` of every span this process exports. */
  readonly serviceName: string;
  /** Share of traces kept that have no sampled parent (0 to 1). */
  readonly sampleRatio: number;
}

/** The validated `observability` section. */
export interface ObservabilityConfig {
  readonly tracing: TracingConfig;
}

/** The OTLP/HTTP traces URL for an endpoint as configured: `/v1/traces` when it has no path. */
export function otlpTracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/traces';
  return url.toString();
}

const endpointSchema = z
  .string()
  .refine((value) => /^https?:\/\/[^/]/.test(value) && URL.canParse(value), {
    error: (issue) =>
      `expected an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318, got ${JSON.stringify(issue.input)}`,
  });

const tracingSchema = z
  .object({
    endpoint: endpointSchema
      .optional()
      .describe(
        'URL of an OpenTelemetry collector receiving OTLP over HTTP (JSON), e.g. http://otel-collector:4318; /v1/traces is added when the URL has no path. Default: none (tracing off, the OpenTelemetry SDK is not loaded).',
      ),
    serviceName: z
      .string()
      .min(1)
      .default('kiln')
      .describe('The service.name resource attribute of the spans Kiln exports. Default: kiln.'),
    sampleRatio: z
      .number()
      .min(0, { error: 'expected a ratio from 0 to 1' })
      .max(1, { error: 'expected a ratio from 0 to 1' })
      .default(1)
      .describe(
        'Share of traces recorded (0 to 1), chosen by trace id; a call whose client sent a sampled traceparent is always recorded. Default: 1.',
      ),
  })
  .strict()
  .describe('OpenTelemetry traces over OTLP/HTTP; off without an endpoint.');

/** The schema of the `observability` section. */
export const observabilitySchema = z
  .object({
    tracing: tracingSchema.prefault({}),
  })
  .strict()
  .describe('Tracing. (Metrics are always served at /metrics; logs are set on the command line.)');
