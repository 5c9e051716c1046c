/**
 * The `s3` store kind: blobs in a bucket of any S3-compatible object store.
 * Credentials come from the node or, when it names none, from the AWS SDK's
 * default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and
 * ~/.aws files, web identity, instance and container roles).
 */
import { z } from 'zod';
import { countSchema, durationSchema, flagSchema, sizeSchema } from './values.ts';

/** A bucket (or a prefix of one) holding one object per blob. */
export interface S3StoreConfig {
  readonly kind: 's3';
  /** `http(s)://host:port`; undefined: AWS S3 in `region`. */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** Prepended to every object key. */
  readonly prefix: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /** `endpoint/bucket/key` URLs instead of `bucket.endpoint/key`. */
  readonly forcePathStyle: boolean;
  /** Multipart part size in bytes (and the largest single PutObject). */
  readonly partSize: number;
  /** Parts of one upload in flight at once. */
  readonly partsInFlight: number;
  /** Attempts per request. */
  readonly maxAttempts: number;
  /** Milliseconds without progress after which a request is retried. */
  readonly requestTimeout: number;
  /** Most open connections. */
  readonly maxConnections: number;
  /** How long a blob is remembered as present, in milliseconds. */
  readonly existenceTtl: number;
  /** Most blobs remembered as present. */
  readonly existenceMaxEntries: number;
  /** HEAD requests in flight per FindMissingBlobs call. */
  readonly headConcurrency: number;
  /** Whether the prefix is listed at start to learn what the bucket holds. */
  readonly warmUp: boolean;
  /** The bucket's lifecycle expiry in milliseconds; 0 when objects never expire. */
  readonly expireAfter: number;
  /** Milliseconds between publications of (and reads of) the processes' write logs; 0: off. */
  readonly writeLogInterval: number;
}

/** The options of an `s3` store node. */
export const s3StoreOptions = z
  .object({
    endpoint: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        'URL of an S3-compatible server, e.g. http://127.0.0.1:9000 (MinIO) or https://storage.googleapis.com. Default: AWS S3 in region.',
      ),
    region: z
      .string()
      .min(1)
      .default('us-east-1')
      .describe('Region requests are signed for. Default: us-east-1.'),
    bucket: z.string().min(3).describe('The bucket; it must exist. Required.'),
    prefix: z
      .string()
      .default('')
      .describe(
        'Prepended to every object key, e.g. "cas/"; give each store sharing a bucket its own. Default: "".',
      ),
    accessKeyId: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Access key, with secretAccessKey (set it from the environment with a variable reference). Default: the AWS SDK's chain (AWS_ACCESS_KEY_ID, AWS_PROFILE and ~/.aws files, instance roles).",
      ),
    secretAccessKey: z
      .string()
      .min(1)
      .optional()
      .describe('Secret key of accessKeyId. Default: from the same chain.'),
    forcePathStyle: flagSchema
      .prefault(false)
      .describe(
        'Path-style URLs (endpoint/bucket/key), which MinIO, Ceph RGW and most emulators need. Default: false.',
      ),
    partSize: sizeSchema
      .prefault('8MiB')
      .describe(
        'Blobs up to this size are one PutObject; larger ones are multipart uploads of parts this size (at least 5MiB). Default: 8MiB.',
      ),
    partsInFlight: countSchema
      .prefault(2)
      .describe(
        'Parts of one upload sent at once; an upload buffers about partSize × (partsInFlight + 1). Default: 2.',
      ),
    maxAttempts: countSchema
      .prefault(5)
      .describe(
        'Attempts per request on throttling (503 SlowDown), 5xx, timeouts and resets, with exponential backoff and jitter. Default: 5.',
      ),
    requestTimeout: durationSchema
      .prefault('30s')
      .describe(
        'A request that moves no byte for this long is abandoned and retried. Default: 30s.',
      ),
    maxConnections: countSchema
      .prefault(64)
      .describe('Most open connections to the server (the pool). Default: 64.'),
    existenceTtl: durationSchema
      .prefault('1h')
      .describe(
        'How long a blob this process wrote or found is remembered as present, so FindMissingBlobs skips S3 for it; also how often a blob that a local tier in front serves is confirmed to be still in the bucket (a HEAD, only once no longer remembered). Default: 1h.',
      ),
    existenceMaxEntries: countSchema
      .prefault(1_000_000)
      .describe(
        'Most blobs remembered as present (80 to 160 bytes each); the least recently confirmed are forgotten first. Default: 1000000.',
      ),
    headConcurrency: countSchema
      .prefault(32)
      .describe(
        'HEAD requests one FindMissingBlobs call sends at once for blobs not remembered. Default: 32.',
      ),
    warmUp: flagSchema
      .prefault(true)
      .describe(
        'List the prefix once at start, in the background, and remember the blobs found (one LIST request per 1000 objects, up to existenceMaxEntries), so blobs other processes wrote cost no HEAD either. Default: true.',
      ),
    expireAfter: z
      .union([z.literal(0), z.literal('0'), durationSchema])
      .prefault(0)
      .transform(Number)
      .describe(
        "The bucket's lifecycle rule: objects expire this long after their last write, e.g. 30d as 720h. Blobs found or read when older than half of it are rewritten in place to restart their clock, and are remembered as present no longer than that half. Default: 0 (objects never expire).",
      ),
    writeLogInterval: z
      .union([z.literal(0), z.literal('0'), durationSchema])
      .prefault('2s')
      .transform(Number)
      .describe(
        'CAS only: how often this process publishes the blobs it uploaded (one small object under <prefix>_writes/), and the shortest time between two reads of what the other processes sharing the store published, so that blobs another process wrote cost no HEAD. 0 turns it off (for a single process). Default: 2s.',
      ),
  })
  .strict()
  .check((ctx) => {
    if ((ctx.value.accessKeyId === undefined) !== (ctx.value.secretAccessKey === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message: 'accessKeyId and secretAccessKey go together',
      });
    }
    if (ctx.value.partSize < 5 * 1024 * 1024) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: ['partSize'],
        message: `partSize ${ctx.value.partSize} is below S3's minimum part size of 5MiB`,
      });
    }
  })
  .describe(
    'Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, GCS); usually behind a local disk tier (readCaching).',
  );
