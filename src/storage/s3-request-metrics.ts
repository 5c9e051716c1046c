/**
 * What an s3 store asks of S3, for `/metrics`: every HTTP request the AWS SDK
 * sends (each retry is one; S3 bills per request), by operation and outcome,
 * the body bytes sent and received, and the time until the response headers.
 *
 * A middleware on the store's SDK client counts, right where requests leave,
 * into plain numbers; {@link registerS3RequestMetrics} turns them into
 * Prometheus series at each scrape, labelled with the store's name.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { Counter, type Registry } from 'prom-client';
import { Latency, latencyHistogram } from '../util/latency-histogram.ts';
import type { BlobStore } from './blob-store.ts';

/** The `operation` label: one per S3 API call Kiln makes. */
export type S3RequestOperation =
  | 'get'
  | 'head'
  | 'put'
  | 'create_multipart'
  | 'upload_part'
  | 'complete_multipart'
  | 'abort_multipart'
  | 'list'
  | 'copy'
  | 'other';

/**
 * The `outcome` label: `ok` (2xx), `not_found` (404), `precondition_failed`
 * (412, a touch of an object rewritten meanwhile), `throttled` (503 SlowDown,
 * 429), `server_error` (other 5xx), `client_error` (other 4xx: credentials,
 * policy, ranges), `network` (no response: refused, reset, timed out).
 */
export type S3RequestOutcome =
  | 'ok'
  | 'not_found'
  | 'precondition_failed'
  | 'throttled'
  | 'server_error'
  | 'client_error'
  | 'network';

const OPERATIONS: Record<string, S3RequestOperation> = {
  GetObjectCommand: 'get',
  HeadObjectCommand: 'head',
  PutObjectCommand: 'put',
  CreateMultipartUploadCommand: 'create_multipart',
  UploadPartCommand: 'upload_part',
  CompleteMultipartUploadCommand: 'complete_multipart',
  AbortMultipartUploadCommand: 'abort_multipart',
  ListObjectsV2Command: 'list',
  CopyObjectCommand: 'copy',
};

/** Seconds until response headers: loopback emulators answer in a millisecond, S3 in tens. */
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The parts of the SDK's HTTP request and response this module reads. */
interface HttpMessage {
  readonly statusCode?: number;
  readonly headers?: Record<string, string | undefined>;
}

/** The outcome of a request that failed. */
function outcomeOfError(err: unknown): S3RequestOutcome {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) return 'network';
  if (status === 404) return 'not_found';
  if (status === 412) return 'precondition_failed';
  if (status === 429 || e?.name === 'SlowDown' || e?.name === 'Throttling') return 'throttled';
  if (status === 503) return 'throttled';
  if (status >= 500) return 'server_error';
  return 'client_error';
}

function contentLength(message: HttpMessage | undefined): number {
  const value = Number(message?.headers?.['content-length'] ?? 0);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** The request counts of one s3 store; {@link attach} it to the store's client. */
export class S3RequestMeter {
  /** Requests by `operation\0outcome`. */
  readonly requests = new Map<string, number>();
  /** Request body bytes sent, as declared by Content-Length. */
  sentBytes = 0;
  /** Response body bytes announced by Content-Length (a ranged GET: the range). */
  receivedBytes = 0;
  readonly seconds = new Map<S3RequestOperation, Latency>();

  /** Adds the counting middleware to `client`; every request it sends from then on is counted. */
  attach(client: S3Client): void {
    type Next = (args: { request: unknown }) => Promise<{ response: unknown }>;
    const middleware = (next: Next, context: { commandName?: string }) => {
      const operation = OPERATIONS[context.commandName ?? ''] ?? 'other';
      return async (args: { request: unknown }) => {
        this.sentBytes += contentLength(args.request as HttpMessage);
        const start = performance.now();
        try {
          const out = await next(args);
          this.#count(operation, 'ok', start);
          this.receivedBytes += contentLength(out.response as HttpMessage);
          return out;
        } catch (err) {
          this.#count(operation, outcomeOfError(err), start);
          throw err;
        }
      };
    };
    // After signing, closest to the wire: once per HTTP request.
    client.middlewareStack.add(middleware as never, {
      step: 'finalizeRequest',
      priority: 'low',
      name: 'kilnS3RequestMetrics',
    });
  }

  /** Requests counted for one operation and outcome. */
  count(operation: S3RequestOperation, outcome: S3RequestOutcome): number {
    return this.requests.get(`${operation}\0${outcome}`) ?? 0;
  }

  #count(operation: S3RequestOperation, outcome: S3RequestOutcome, start: number): void {
    const key = `${operation}\0${outcome}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let latency = this.seconds.get(operation);
    if (latency === undefined) {
      latency = new Latency(BUCKETS);
      this.seconds.set(operation, latency);
    }
    latency.observe((performance.now() - start) / 1000);
  }
}

/** The meter of a store that talks to S3 itself, if `store` is one. */
export function s3RequestMeterOf(store: BlobStore): S3RequestMeter | undefined {
  const meter = (store as { requestMeter?: unknown }).requestMeter;
  return meter instanceof S3RequestMeter ? meter : undefined;
}

/** An s3 store's meter and the name its series carry. */
export interface NamedS3Meter {
  /** The named store's name, or the config path of an anonymous node. */
  readonly store: string;
  readonly meter: S3RequestMeter;
}

const LATENCY_NAME = 'kiln_s3_request_seconds';

/**
 * Adds `kiln_s3_requests_total`, `kiln_s3_bytes_total` and
 * `kiln_s3_request_seconds` to `registry`, read from `meters()` at each scrape.
 */
export function registerS3RequestMetrics(
  registry: Registry,
  meters: () => Iterable<NamedS3Meter>,
): void {
  const registers = [registry];
  new Counter({
    name: 'kiln_s3_requests_total',
    help: 'HTTP requests each s3 store sent (retries included), by operation and outcome',
    labelNames: ['store', 'operation', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const { store, meter } of meters()) {
        for (const [key, value] of meter.requests) {
          const [operation, outcome] = key.split('\0') as [string, string];
          this.inc({ store, operation, outcome }, value);
        }
      }
    },
  });
  new Counter({
    name: 'kiln_s3_bytes_total',
    help: 'Body bytes each s3 store sent to S3 and was sent by it (by Content-Length), by direction',
    labelNames: ['store', 'direction'],
    registers,
    collect() {
      this.reset();
      for (const { store, meter } of meters()) {
        this.inc({ store, direction: 'sent' }, meter.sentBytes);
        this.inc({ store, direction: 'received' }, meter.receivedBytes);
      }
    },
  });
  const help = 'Time from sending an S3 request to its response headers, by store and operation';
  registry.registerMetric(
    latencyHistogram(LATENCY_NAME, help, function* () {
      for (const { store, meter } of meters()) {
        for (const [operation, latency] of meter.seconds) {
          yield { labels: { store, operation }, latency };
        }
      }
    }),
  );
}
