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
 * A tier in front that serves a blob itself reports the use
 * ({@link S3BlobStore.noteUsed}), so hot blobs get the same treatment, and
 * hears when such a blob is gone from the bucket, to write it back.
 *
 * With a write log ({@link S3WriteLog}), the processes sharing the store tell
 * each other what they wrote, so a blob another process uploaded costs no
 * HEAD either.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { hasCode, invalidArgument, notFound, outOfRange } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type MissingBlobListener,
  type ReadRange,
  resolveRange,
} from './blob-store.ts';
import { uniqueDigests } from './digest-index.ts';
import { discardingWriter, S3BlobWriter } from './s3-blob-writer.ts';
import { NO_ENTRY, S3ExistenceIndex } from './s3-existence-index.ts';
import { listBlobs } from './s3-listing.ts';
import { emptyStream, S3ObjectReader, type S3Response } from './s3-object-reader.ts';
import { S3RequestMeter } from './s3-request-metrics.ts';
import {
  createS3Client,
  loadS3Sdk,
  type S3ConnectionOptions,
  S3Requests,
  type S3Sdk,
} from './s3-requests.ts';
import { S3WriteLog } from './s3-write-log.ts';

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
  /**
   * How often the blobs this process wrote are published to the other
   * processes sharing the store, and the shortest time between two reads of
   * what they published ({@link S3WriteLog}); 0 or undefined: no write log.
   * Only for content-addressed stores.
   */
  readonly writeLogIntervalMs?: number;
  /** Longest FindMissingBlobs waits for a read of the write log before it sends HEADs; 1 s by default. */
  readonly writeLogWaitMs?: number;
  /** Milliseconds since the epoch; `Date.now` by default. */
  readonly clock?: () => number;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;

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
  /** Blobs remembered from other processes' write logs. */
  learnt: number;
  /** Blobs a tier in front served that S3 was asked about, to learn their age or that they are still there ({@link S3BlobStore.noteUsed}). */
  ageChecks: number;
  /** Blobs a tier in front served that the bucket no longer held, reported to that tier to write back. */
  goneReported: number;
}

/** The vouching time of an entry after a failed touch or check ({@link S3BlobStore.noteUsed} waits). */
const HELD_OFF = 0;

/** A BlobStore backed by an S3 bucket; build it with {@link S3BlobStore.open}. */
export class S3BlobStore implements BlobStore {
  readonly #sdk: S3Sdk;
  readonly #client: S3Client;
  readonly #requests: S3Requests;
  readonly #reader: S3ObjectReader;
  readonly #o: S3BlobStoreOptions;
  readonly #clock: () => number;
  /**
   * What the bucket holds: until when each blob is vouched for, and until
   * half its lifecycle expiry (infinite without a rule). Entries stay past
   * the first while the second is still of use.
   */
  readonly #known: S3ExistenceIndex;
  /** Touches under way, by object key, so a blob is copied once however often it is asked about. */
  readonly #touching = new Map<string, Promise<void>>();
  /** HEADs under way for {@link noteUsed}, by object key. */
  readonly #checking = new Map<string, Promise<void>>();
  readonly #log: S3WriteLog | undefined;
  /** Requests sent, by operation and outcome, for `/metrics`. */
  readonly requestMeter = new S3RequestMeter();
  readonly counters: S3StoreCounters = {
    knownHits: 0,
    touches: 0,
    resumes: 0,
    listed: 0,
    learnt: 0,
    ageChecks: 0,
    goneReported: 0,
  };
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
    this.#known = new S3ExistenceIndex(options.knownMaxEntries);
    this.#client = createS3Client(sdk, options);
    this.requestMeter.attach(this.#client);
    this.#requests = new S3Requests(this.#client, options);
    this.#reader = new S3ObjectReader({
      sdk,
      client: this.#client,
      requests: this.#requests,
      bucket: options.bucket,
      onResume: () => {
        this.counters.resumes++;
      },
      contentAddressed: options.contentAddressed,
    });
    const interval = options.writeLogIntervalMs ?? 0;
    this.#log =
      options.contentAddressed && interval > 0
        ? new S3WriteLog({
            sdk,
            client: this.#client,
            requests: this.#requests,
            bucket: options.bucket,
            prefix: options.prefix,
            intervalMs: interval,
            maxWaitMs: options.writeLogWaitMs,
            clock: this.#clock,
            onPeerBlob: (digest, writtenAt) => {
              if (this.#isKnown(digest)) return;
              if (this.#remember(digest, writtenAt, undefined, false)) this.counters.learnt++;
            },
          })
        : undefined;
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
    let first: S3Response;
    try {
      first = await this.#requests.run(`GetObject ${digest.key}`, () =>
        this.#reader.getObject(key, offset, limit === 0 ? undefined : offset + limit, undefined),
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
    return this.#reader.stream(digest, key, first, offset, end);
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
      onCommitted: () => {
        this.#remember(digest, new Date(this.#clock()));
        this.#log?.record(digest);
      },
    });
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    let unknown = this.#unknownOf(digests);
    if (unknown.length === 0) return [];
    if (this.#log !== undefined) {
      // Other processes may have written them: one LIST (at most one per interval) before any HEAD,
      // unless S3 is slow to answer it (see S3WriteLog.refresh).
      await this.#log.refresh();
      unknown = this.#unknownOf(unknown);
      if (unknown.length === 0) return [];
    }
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

  /**
   * Tells the store that a tier in front of it served these blobs, so that
   * their S3 objects do not expire while in use: an object known to be older
   * than half the lifecycle expiry is touched, and one whose age is not known
   * is asked about once (a HEAD, which touches it when old). Blobs known to be
   * younger cost nothing, so a hot blob costs at most one COPY per half
   * expiry. Returns at once; the requests run in the background.
   *
   * With `onMissing` (content-addressed stores only: an action result is
   * never resurrected), a served blob is also confirmed to exist once the
   * index stops vouching for it (a HEAD at most once per `knownTtlMs`), and
   * one whose touch or HEAD finds it gone is reported, so the tier that
   * served it writes it back: the bucket, which the other processes read,
   * does not lack for good a blob this process still serves.
   */
  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    if (this.#closed) return;
    const repair = this.#o.contentAddressed ? onMissing : undefined;
    const lifecycle = this.#o.expireAfterMs > 0;
    if (!lifecycle && repair === undefined) return;
    const now = this.#clock();
    for (const digest of digests) {
      const entry = this.#known.entryOf(digest);
      const safeUntil = entry === NO_ENTRY ? undefined : this.#known.safeUntilAt(entry);
      if (safeUntil !== undefined && safeUntil > now) {
        // Young. Without a listener that is all; with one, confirm it still exists once unvouched.
        const vouched = this.#known.vouchedUntilAt(entry);
        if (repair === undefined || vouched === HELD_OFF || vouched > now) continue;
        this.#checkAge(digest, repair);
      } else if (lifecycle && safeUntil !== undefined && this.#o.contentAddressed) {
        // A content-addressed object can be copied without knowing its ETag: every version holds the same bytes.
        this.#touch(digest, undefined, repair);
      } else {
        this.#checkAge(digest, repair);
      }
    }
  }

  /** Settles once the touches and checks under way in the background are over (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.#checking.size + this.#touching.size > 0) {
      await Promise.allSettled([...this.#checking.values(), ...this.#touching.values()]);
    }
  }

  /** Publishes the blobs written since the last write log segment now (tests, benchmarks). */
  async flushWriteLog(): Promise<void> {
    await this.#log?.flush();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.warmedUp;
    await this.#log?.close();
    await Promise.allSettled(this.#checking.values());
    await Promise.allSettled(this.#touching.values());
    this.#known.clear();
    this.#client.destroy();
  }

  /** Lists the prefix, remembering every blob it finds (up to `knownMaxEntries`). */
  async #warmUp(): Promise<void> {
    const { bucket, prefix } = this.#o;
    const listing = { sdk: this.#sdk, client: this.#client, requests: this.#requests };
    for await (const { digest, lastModified, etag } of listBlobs({ ...listing, bucket, prefix })) {
      if (this.#closed) return;
      if (this.#known.has(digest)) continue;
      // Listing is no use: touching every old object at each start would keep them all forever.
      if (!this.#remember(digest, lastModified, etag, false)) continue;
      if (++this.counters.listed >= this.#o.knownMaxEntries) return;
    }
  }

  #keyOf(digest: Digest): string {
    return `${this.#o.prefix}${digest.key}`;
  }

  /**
   * The digests (each once) that the index does not vouch for. Repeats are
   * removed from those only: a known digest asked twice is answered twice
   * the same way, and most calls ask about known digests only.
   */
  #unknownOf(digests: readonly Digest[]): Digest[] {
    const unknown: Digest[] = [];
    const now = this.#clock();
    const known = this.#known;
    for (const digest of digests) if (!known.isKnown(digest, now)) unknown.push(digest);
    this.counters.knownHits += digests.length - unknown.length;
    return unknown.length < 2 ? unknown : uniqueDigests(unknown);
  }

  #isKnown(digest: Digest): boolean {
    return this.#known.isKnown(digest, this.#clock());
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
    let safeUntil = Number.POSITIVE_INFINITY;
    if (this.#o.expireAfterMs > 0) {
      const modified = lastModified?.getTime() ?? now;
      safeUntil = modified + this.#o.expireAfterMs / 2;
      if (safeUntil <= now) {
        if (touchIfOld) this.#touch(digest, etag);
        return false;
      }
      until = Math.min(until, safeUntil);
    }
    this.#known.set(digest, until, safeUntil);
    return true;
  }

  /**
   * Copies the object onto itself (a new last-modified time), in the
   * background; only the version that was seen (`etag`), so a newer action
   * result written meanwhile is never replaced by the older one. An object
   * found gone is reported to `onMissing`.
   */
  #touch(digest: Digest, etag: string | undefined, onMissing?: MissingBlobListener): void {
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
        (err: unknown) => {
          if (hasCode(err, status.NOT_FOUND)) this.#gone(digest, onMissing);
          else this.#holdOff(digest);
        },
      )
      .finally(() => this.#touching.delete(key));
    this.#touching.set(key, done);
  }

  /** A HEAD in the background to learn a served blob's age, and whether it is there ({@link noteUsed}). */
  #checkAge(digest: Digest, onMissing: MissingBlobListener | undefined): void {
    const key = this.#keyOf(digest);
    if (this.#checking.has(key) || this.#touching.has(key)) return;
    this.counters.ageChecks++;
    const done = this.#exists(digest)
      .then(
        (present) => {
          if (!present) this.#gone(digest, onMissing);
        },
        () => this.#holdOff(digest),
      )
      .finally(() => this.#checking.delete(key));
    this.#checking.set(key, done);
  }

  /**
   * A served blob the bucket no longer holds: the tier that served it hears
   * of it (and writes it back, which vouches for it again); until then
   * {@link noteUsed} does not ask again.
   */
  #gone(digest: Digest, onMissing: MissingBlobListener | undefined): void {
    this.#holdOff(digest);
    if (onMissing === undefined || this.#closed) return;
    this.counters.goneReported++;
    onMissing(digest);
  }

  /**
   * After a failed touch or age check, asks no more for a while: the entry
   * vouches for nothing (FindMissingBlobs asks S3 again), but
   * {@link noteUsed} leaves the blob alone for `knownTtlMs`.
   */
  #holdOff(digest: Digest): void {
    if (this.#closed) return;
    this.#known.set(digest, HELD_OFF, this.#clock() + this.#o.knownTtlMs);
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
      if (!hasCode(err, status.NOT_FOUND)) throw err;
      this.#known.delete(digest);
      return false;
    }
  }

  async #headLength(digest: Digest, key: string): Promise<number> {
    const head = await this.#requests.run(`HeadObject ${digest.key}`, () =>
      this.#client.send(new this.#sdk.HeadObjectCommand({ Bucket: this.#o.bucket, Key: key })),
    );
    return head.ContentLength ?? 0;
  }
}
