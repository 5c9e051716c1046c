/**
 * How the `s3` store talks to an S3-compatible server: one AWS SDK client
 * (loaded only when an s3 store is configured) with a bounded connection
 * pool and an inactivity timeout per request, Kiln's own retries with
 * exponential backoff and full jitter, and the mapping of S3 failures to
 * gRPC codes with messages that say which store failed and why.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { internal, KilnError, notFound, outOfRange, unavailable } from '../errors.ts';

/** Where the store is and how it connects: see {@link S3BlobStoreOptions}. */
export interface S3ConnectionOptions {
  /** `http(s)://host:port` of an S3-compatible server; AWS's regional endpoint when undefined. */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** Static credentials; the AWS SDK's default chain (environment, files, instance roles) when undefined. */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. */
  readonly forcePathStyle: boolean;
  /** Attempts per request, first one included. */
  readonly maxAttempts: number;
  /** A request fails (and is retried) after this many milliseconds without any byte moving. */
  readonly requestTimeoutMs: number;
  /** Most open connections to the server. */
  readonly maxConnections: number;
  /** First retry waits up to this many milliseconds; each later one up to twice as long. */
  readonly retryBaseMs: number;
  /** Longest wait between attempts. */
  readonly retryMaxMs: number;
}

/** The SDK module, loaded once on first use. */
export type S3Sdk = typeof import('@aws-sdk/client-s3');

let sdk: Promise<S3Sdk> | undefined;

/** Loads the AWS SDK's S3 client module (heavy: only when an s3 store exists). */
export function loadS3Sdk(): Promise<S3Sdk> {
  sdk ??= import('@aws-sdk/client-s3');
  return sdk;
}

/** Creates the SDK client. Retries are Kiln's own ({@link S3Requests.run}), so the SDK makes one attempt. */
export function createS3Client(module: S3Sdk, options: S3ConnectionOptions): S3Client {
  const credentials =
    options.accessKeyId !== undefined && options.secretAccessKey !== undefined
      ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
      : undefined;
  return new module.S3Client({
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(credentials === undefined ? {} : { credentials }),
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: options.requestTimeoutMs,
      socketTimeout: options.requestTimeoutMs,
      httpAgent: { keepAlive: true, maxSockets: options.maxConnections },
      httpsAgent: { keepAlive: true, maxSockets: options.maxConnections },
    },
  });
}

/** What an SDK error says about the response, when there was one. */
interface SdkErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/** The HTTP status of a failed request; undefined when no response arrived (network, timeout). */
export function httpStatusOf(err: unknown): number | undefined {
  return (err as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
]);

/** True when another attempt may succeed: throttling, a 5xx, or no response at all. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof KilnError) return false;
  const status = httpStatusOf(err);
  if (status === undefined) return true;
  if (status >= 500 || status === 429 || status === 408) return true;
  return THROTTLING.has((err as SdkErrorShape).name ?? '');
}

/** `503 SlowDown: Please reduce your request rate.` or the network error's code and message. */
export function describeS3Error(err: unknown): string {
  const e = (err ?? {}) as SdkErrorShape;
  const status = httpStatusOf(err);
  // The SDK says `UnknownError` when the server sent no message (Ceph RGW never does): the code is all there is.
  const said = e.message && e.message !== e.name && e.message !== 'UnknownError';
  const message = said ? `: ${e.message}` : '';
  if (status !== undefined) return `${status} ${e.name ?? 'error'}${message}`;
  return `${e.code ?? e.name ?? 'error'}${message}`;
}

/** Runs S3 requests for one store: retries, and errors that name the store. */
export class S3Requests {
  readonly client: S3Client;
  readonly #options: S3ConnectionOptions;
  /** How this store is named in messages: `s3://bucket at endpoint`. */
  readonly where: string;

  constructor(client: S3Client, options: S3ConnectionOptions) {
    this.client = client;
    this.#options = options;
    this.where = `s3://${options.bucket}${options.endpoint === undefined ? '' : ` at ${options.endpoint}`}`;
  }

  /**
   * Runs `attempt` until it succeeds, fails for good (a 4xx other than
   * throttling), or `maxAttempts` attempts have failed, waiting a random time
   * (full jitter) below an exponentially growing bound between attempts.
   * A final failure becomes a KilnError (see {@link toKilnError}).
   * `onRetry` hears of each failed attempt that will be retried, before the
   * wait, so a caller can stop waiting for a request that is being throttled.
   */
  async run<T>(what: string, attempt: () => Promise<T>, onRetry?: () => void): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (!isRetryable(err) || n >= this.#options.maxAttempts) {
          throw this.toKilnError(err, what, n);
        }
        onRetry?.();
        await this.backoff(n);
      }
    }
  }

  /** Waits before attempt `n + 1`. */
  backoff(n: number): Promise<void> {
    const bound = Math.min(this.#options.retryMaxMs, this.#options.retryBaseMs * 2 ** (n - 1));
    return new Promise((resolve) => setTimeout(resolve, Math.random() * bound));
  }

  /** Attempts allowed per request. */
  get maxAttempts(): number {
    return this.#options.maxAttempts;
  }

  /**
   * Maps a failed request to a gRPC code: 404 → NOT_FOUND, 416 → OUT_OF_RANGE,
   * retryable failures (the store is down, slow or throttling) → UNAVAILABLE,
   * anything else (credentials, a missing bucket, a policy) → INTERNAL, since
   * only the server's operator can fix those.
   */
  toKilnError(err: unknown, what: string, attempts: number): KilnError {
    if (err instanceof KilnError) return err;
    const status = httpStatusOf(err);
    const detail = describeS3Error(err);
    if (status === 404 && (err as SdkErrorShape).name !== 'NoSuchBucket') {
      return notFound(`${what}: not found in ${this.where}`);
    }
    if (status === 416) return outOfRange(`${what}: range not satisfiable in ${this.where}`);
    if (isRetryable(err)) {
      return unavailable(
        `S3 store ${this.where} is unavailable: ${what} failed after ${attempts} attempt${attempts === 1 ? '' : 's'} (${detail}); retry later`,
        err,
      );
    }
    const hint =
      status === 403
        ? ' (check the store credentials and the bucket policy)'
        : (err as SdkErrorShape).name === 'NoSuchBucket'
          ? ' (create the bucket or fix storage.stores.*.s3.bucket)'
          : '';
    return internal(`S3 store ${this.where} rejected ${what}: ${detail}${hint}`, err);
  }
}
