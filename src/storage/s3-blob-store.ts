/**
 * Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, GCS's S3
 * interface): one object per blob under `prefix + digest.key`.
 *
 * Reads are ranged GETs streamed to the caller; a body that breaks off is
 * resumed from the byte it reached (pinned to the same object version by its
 * ETag), so a caller gets every byte exactly once or an error, never a short
 * or spliced blob. Writes stream through {@link S3BlobWriter}.
 *
 * FindMissingBlobs does not cost a HEAD per digest: the store keeps an index
 * of blobs it wrote or found present (for `knownTtlMs`, and never past half
 * the bucket's lifecycle expiry), and asks S3 only about the rest, a bounded
 * number at a time. With `expireAfterMs` (the bucket's lifecycle rule) a blob
 * that is found or read when older than half that age is copied onto itself,
 * which restarts its lifecycle clock: what builds use stays, the rest expires.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { hasCode, internal, invalidArgument, notFound, outOfRange } from '../errors.ts';
import { type BlobStore, type BlobWriter, type ReadRange, resolveRange } from './blob-store.ts';
import { DigestIndex, uniqueDigests } from './digest-index.ts';
import { S3BlobWriter } from './s3-blob-writer.ts';
import { parseBlobKey } from './s3-keys.ts';
import {
  createS3Client,
  loadS3Sdk,
  type S3ConnectionOptions,
  S3Requests,
  type S3Sdk,
} from './s3-requests.ts';

/** Options of {@link S3BlobStore.open}. */
export interface S3BlobStoreOptions extends S3ConnectionOptions {
  /** Prepended to every object key (e.g. `cas/`), so several stores can share a bucket. */
  readonly prefix: string;
  /** Whether a blob's bytes are determined by its key (the CAS): re-uploads of a known blob are skipped. */
  readonly contentAddressed: boolean;
  /** Bytes per multipart part, and the largest blob sent as one PutObject. At least 5 MiB. */
  readonly partSize: number;
  /** Parts of one upload sent at once. */
  readonly partsInFlight: number;
  /** How long a blob is remembered as present without asking S3. */
  readonly knownTtlMs: number;
  /** Most blobs remembered as present; the least recently confirmed are forgotten first. */
  readonly knownMaxEntries: number;
  /** HEAD requests one FindMissingBlobs call sends at once. */
  readonly headConcurrency: number;
  /**
   * Whether the store lists its prefix in the background once opened, to
   * remember what the bucket already holds (one LIST request per 1000
   * objects, up to `knownMaxEntries` objects), so other processes' blobs
   * cost no HEAD either.
   */
  readonly warmUp?: boolean;
  /** The bucket's lifecycle expiry (ms after an object's last write); 0 when objects never expire. */
  readonly expireAfterMs: number;
  /** Milliseconds since the epoch; `Date.now` by default. */
  readonly clock?: () => number;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;

/** A response body as the SDK returns it in Node. */
type Body = AsyncIterable<Uint8Array> & { destroy(): void };

/** One GET's answer: the body and where its bytes sit in the blob. */
interface Response {
  readonly body: Body;
  /** Position in the blob of the body's first byte. */
  readonly start: number;
  /** Length of the whole blob. */
  readonly total: number;
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
}

/** Counters for tests and metrics. */
export interface S3StoreCounters {
  /** FindMissingBlobs digests answered from the index. */
  knownHits: number;
  /** Objects copied onto themselves to restart their lifecycle clock. */
  touches: number;
  /** Reads resumed after their body broke off. */
  resumes: number;
  /** Objects remembered from the start-up listing. */
  listed: number;
}

/** A BlobStore backed by an S3 bucket; build it with {@link S3BlobStore.open}. */
export class S3BlobStore implements BlobStore {
  readonly #sdk: S3Sdk;
  readonly #client: S3Client;
  readonly #requests: S3Requests;
  readonly #o: S3BlobStoreOptions;
  readonly #clock: () => number;
  /** Digest → until when it is known to be present. */
  readonly #known = new DigestIndex<number>();
  /** Touches under way, by object key, so a blob is copied once however often it is asked about. */
  readonly #touching = new Map<string, Promise<void>>();
  readonly counters: S3StoreCounters = { knownHits: 0, touches: 0, resumes: 0, listed: 0 };
  /**
   * Settles when the start-up listing is over (at once without `warmUp`).
   * Never rejects: a failed listing only leaves more to ask S3 about.
   */
  readonly warmedUp: Promise<void>;
  #closed = false;

  private constructor(sdk: S3Sdk, options: S3BlobStoreOptions) {
    this.#sdk = sdk;
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    this.#client = createS3Client(sdk, options);
    this.#requests = new S3Requests(this.#client, options);
    this.warmedUp = options.warmUp === true ? this.#warmUp().catch(() => {}) : Promise.resolve();
  }

  /** Loads the AWS SDK (on first use) and creates the store; sends no request. */
  static async open(options: S3BlobStoreOptions): Promise<S3BlobStore> {
    if (!Number.isSafeInteger(options.partSize) || options.partSize < MIN_PART_SIZE) {
      throw invalidArgument(`s3 store: partSize ${options.partSize} must be at least 5 MiB`);
    }
    if (!(options.maxAttempts >= 1)) {
      throw invalidArgument(`s3 store: maxAttempts ${options.maxAttempts} must be at least 1`);
    }
    return new S3BlobStore(await loadS3Sdk(), options);
  }

  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    // Checks the offset's sign and the limit; the offset's upper bound needs the length.
    resolveRange(Number.MAX_SAFE_INTEGER, range, digest.key);
    const offset = range?.offset ?? 0;
    const limit = range?.limit ?? 0;
    const key = this.#keyOf(digest);
    let first: Response;
    try {
      first = await this.#requests.run(`GetObject ${digest.key}`, () =>
        this.#getObject(key, offset, limit === 0 ? undefined : offset + limit, undefined),
      );
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) {
        this.#known.delete(digest);
        throw notFound(`blob ${digest.key} not found in ${this.#requests.where}`);
      }
      if (!hasCode(err, status.OUT_OF_RANGE)) throw err;
      // S3 rejects a range that starts at the end; an offset equal to the length is a valid empty read.
      const length = await this.#headLength(digest, key);
      if (offset === length) return emptyStream();
      throw outOfRange(`read offset ${offset} is outside blob ${digest.key} of ${length} bytes`);
    }
    this.#remember(digest, first.lastModified, first.etag);
    const end = limit === 0 ? first.total : Math.min(first.total, offset + limit);
    if (offset > first.total) {
      first.body.destroy();
      throw outOfRange(
        `read offset ${offset} is outside blob ${digest.key} of ${first.total} bytes`,
      );
    }
    return this.#stream(digest, key, first, offset, end);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    if (this.#o.contentAddressed && this.#isKnown(digest)) return discardingWriter();
    return new S3BlobWriter({
      sdk: this.#sdk,
      requests: this.#requests,
      bucket: this.#o.bucket,
      key: this.#keyOf(digest),
      partSize: this.#o.partSize,
      partsInFlight: this.#o.partsInFlight,
      onCommitted: () => this.#remember(digest, new Date(this.#clock())),
    });
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const unknown: Digest[] = [];
    for (const digest of uniqueDigests([...digests])) {
      if (this.#isKnown(digest)) this.counters.knownHits++;
      else unknown.push(digest);
    }
    if (unknown.length === 0) return [];
    const present = new Array<boolean>(unknown.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < unknown.length) {
        const i = next++;
        present[i] = await this.#exists(unknown[i] as Digest);
      }
    };
    const workers = Math.min(this.#o.headConcurrency, unknown.length);
    await Promise.all(Array.from({ length: workers }, worker));
    return unknown.filter((_, i) => !present[i]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.warmedUp;
    await Promise.allSettled(this.#touching.values());
    this.#known.clear();
    this.#client.destroy();
  }

  /** Lists the prefix page by page, remembering every blob key it recognises. */
  async #warmUp(): Promise<void> {
    let token: string | undefined;
    do {
      if (this.#closed) return;
      const page = await this.#requests.run('ListObjectsV2', () =>
        this.#client.send(
          new this.#sdk.ListObjectsV2Command({
            Bucket: this.#o.bucket,
            Prefix: this.#o.prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const digest = parseBlobKey(object.Key?.slice(this.#o.prefix.length) ?? '');
        if (digest === undefined || this.#known.has(digest)) continue;
        // Listing is no use: touching every old object at each start would keep them all forever.
        if (!this.#remember(digest, object.LastModified, object.ETag, false)) continue;
        if (++this.counters.listed >= this.#o.knownMaxEntries) return;
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  #keyOf(digest: Digest): string {
    return `${this.#o.prefix}${digest.key}`;
  }

  #isKnown(digest: Digest): boolean {
    const until = this.#known.get(digest);
    if (until === undefined) return false;
    if (until > this.#clock()) return true;
    this.#known.delete(digest);
    return false;
  }

  /**
   * Remembers a blob as present until `knownTtlMs` from now, or until half
   * its lifecycle expiry has passed since `lastModified`, whichever is first,
   * and touches it (unless `touchIfOld` is false) when that half has already
   * passed. Returns whether the blob is now remembered.
   */
  #remember(
    digest: Digest,
    lastModified: Date | undefined,
    etag?: string,
    touchIfOld = true,
  ): boolean {
    const now = this.#clock();
    let until = now + this.#o.knownTtlMs;
    if (this.#o.expireAfterMs > 0) {
      const modified = lastModified?.getTime() ?? now;
      const safeUntil = modified + this.#o.expireAfterMs / 2;
      if (safeUntil <= now) {
        if (touchIfOld) this.#touch(digest, etag);
        return false;
      }
      until = Math.min(until, safeUntil);
    }
    this.#known.set(digest, until);
    while (this.#known.size > this.#o.knownMaxEntries) this.#known.deleteOldest();
    return true;
  }

  /**
   * Copies the object onto itself (a new last-modified time), in the
   * background; only the version that was seen (`etag`), so a newer action
   * result written meanwhile is never replaced by the older one.
   */
  #touch(digest: Digest, etag: string | undefined): void {
    const key = this.#keyOf(digest);
    if (this.#touching.has(key)) return;
    const source = `${this.#o.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    const done = this.#requests
      .run(`CopyObject ${digest.key}`, () =>
        this.#client.send(
          new this.#sdk.CopyObjectCommand({
            Bucket: this.#o.bucket,
            Key: key,
            CopySource: source,
            MetadataDirective: 'REPLACE',
            ...(etag === undefined ? {} : { CopySourceIfMatch: etag }),
            Metadata: { touched: String(this.#clock()) },
          }),
        ),
      )
      .then(
        () => {
          this.counters.touches++;
          this.#remember(digest, new Date(this.#clock()));
        },
        () => {},
      )
      .finally(() => this.#touching.delete(key));
    this.#touching.set(key, done);
  }

  async #exists(digest: Digest): Promise<boolean> {
    const key = this.#keyOf(digest);
    try {
      const head = await this.#requests.run(`HeadObject ${digest.key}`, () =>
        this.#client.send(new this.#sdk.HeadObjectCommand({ Bucket: this.#o.bucket, Key: key })),
      );
      this.#remember(digest, head.LastModified, head.ETag);
      return true;
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) return false;
      throw err;
    }
  }

  async #headLength(digest: Digest, key: string): Promise<number> {
    const head = await this.#requests.run(`HeadObject ${digest.key}`, () =>
      this.#client.send(new this.#sdk.HeadObjectCommand({ Bucket: this.#o.bucket, Key: key })),
    );
    return head.ContentLength ?? 0;
  }

  /** One GET of bytes `[start, end)` (to the blob's end when `end` is undefined). */
  async #getObject(
    key: string,
    start: number,
    end: number | undefined,
    etag: string | undefined,
  ): Promise<Response> {
    const wanted = start > 0 || end !== undefined;
    const out = await this.#client.send(
      new this.#sdk.GetObjectCommand({
        Bucket: this.#o.bucket,
        Key: key,
        ...(wanted ? { Range: `bytes=${start}-${end === undefined ? '' : end - 1}` } : {}),
        ...(etag === undefined ? {} : { IfMatch: etag }),
      }),
    );
    const body = out.Body as unknown as Body | undefined;
    if (body === undefined) throw internal(`GetObject ${key}: the server sent no body`);
    const match = /^bytes (\d+)-\d+\/(\d+)$/.exec(out.ContentRange ?? '');
    if (match !== null) {
      return {
        body,
        start: Number(match[1]),
        total: Number(match[2]),
        etag: out.ETag,
        lastModified: out.LastModified,
      };
    }
    // No Content-Range: the whole object (a server may ignore the Range header).
    return {
      body,
      start: 0,
      total: out.ContentLength ?? 0,
      etag: out.ETag,
      lastModified: out.LastModified,
    };
  }

  /**
   * Streams bytes `[offset, end)`, resuming after a broken body; bytes before
   * `offset` (from a server that ignored the range) are skipped.
   */
  async *#stream(
    digest: Digest,
    key: string,
    first: Response,
    offset: number,
    end: number,
  ): AsyncIterable<Uint8Array> {
    let response = first;
    let pos = offset;
    let failures = 0;
    while (true) {
      const body = response.body;
      let at = response.start;
      try {
        for await (const chunk of body) {
          const chunkEnd = at + chunk.byteLength;
          if (chunkEnd > pos) {
            const from = Math.max(0, pos - at);
            const to = Math.min(chunk.byteLength, end - at);
            if (to > from) {
              yield from === 0 && to === chunk.byteLength ? chunk : chunk.subarray(from, to);
              pos = at + to;
            }
          }
          at = chunkEnd;
          if (pos >= end) return;
        }
        if (pos >= end) return;
        throw new Error(`the body ended after ${pos - offset} of ${end - offset} bytes`);
      } catch (err) {
        failures++;
        if (failures >= this.#requests.maxAttempts) {
          throw this.#requests.toKilnError(
            Object.assign(new Error((err as Error).message), { code: 'EBODY' }),
            `GetObject ${digest.key}`,
            failures,
          );
        }
        await this.#requests.backoff(failures);
        this.counters.resumes++;
        response = await this.#requests.run(`GetObject ${digest.key} from byte ${pos}`, () =>
          this.#getObject(key, pos, end, first.etag),
        );
      } finally {
        body.destroy();
      }
    }
  }
}

async function* emptyStream(): AsyncIterable<Uint8Array> {}

/** A writer for a blob the store already holds: it takes the bytes and stores nothing. */
function discardingWriter(): BlobWriter {
  let written = 0;
  let state: 'open' | 'committed' | 'aborted' = 'open';
  return {
    write: async (chunk) => {
      if (state !== 'open') throw invalidArgument(`write to a ${state} upload`);
      written += chunk.byteLength;
    },
    commit: async () => {
      if (state !== 'open') throw invalidArgument(`commit of a ${state} upload`);
      state = 'committed';
    },
    abort: async () => {
      if (state === 'open') state = 'aborted';
    },
    get written() {
      return written;
    },
  };
}
