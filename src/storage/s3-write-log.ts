/**
 * What every Kiln process sharing an s3 store wrote, told to the others, so
 * that a blob another node uploaded costs no HEAD when it is first asked
 * about.
 *
 * Each process collects the keys of the blobs it committed and, at most once
 * per interval, publishes them as one small object, a segment, under
 * `<prefix>_writes/<time>-<process id>-<number>`. A process that has digests it does
 * not know lists the segments written since it last looked (one LIST, asking
 * only for keys after a time, since segment names start with their time) and
 * reads the new ones (one GET each), at most once per interval, before it
 * sends any HEAD; when S3 throttles or fails those requests, it sends the
 * HEADs without waiting for their retries. Correctness does not depend on
 * the log: a blob is entered only after its upload committed, and anything a
 * process has not heard of is still asked of S3; a lost or late segment only
 * costs the HEADs it would have saved.
 */
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Digest } from '../digest/digest.ts';
import { parseBlobKey } from './s3-keys.ts';
import type { S3Requests, S3Sdk } from './s3-requests.ts';

/** Options of {@link S3WriteLog}. */
export interface S3WriteLogOptions {
  readonly sdk: S3Sdk;
  readonly client: S3Client;
  readonly requests: S3Requests;
  readonly bucket: string;
  /** The store's prefix; segments go under `<prefix>_writes/`. */
  readonly prefix: string;
  /** Longest wait between a commit and its segment, and shortest between two reads of the log. */
  readonly intervalMs: number;
  /** Longest a caller of {@link S3WriteLog.refresh} waits for a read of the log; 1 s by default. */
  readonly maxWaitMs?: number;
  readonly clock: () => number;
  /** Called for each blob a peer's segment names, with when that peer had written it. */
  readonly onPeerBlob: (digest: Digest, writtenAt: Date) => void;
}

/** The folder of the segments, below the store's prefix. */
export const WRITE_LOG_FOLDER = '_writes/';
/**
 * How far before the newest segment seen a listing starts: a segment whose
 * upload took longer than this, or whose writer's clock was behind by more,
 * is missed (its blobs then cost a HEAD each, as without the log).
 */
const LATE_SEGMENT_MS = 60_000;
/** A segment is published early once it names this many blobs (about 1.6 MB). */
const MAX_SEGMENT_ENTRIES = 20_000;
/** First line of a segment, followed by the time its oldest entry was written. */
const HEADER = 'kiln-writes 1';
/** Segments read at once. */
const READS_IN_FLIGHT = 8;
/**
 * Default of {@link S3WriteLogOptions.maxWaitMs}: a read of the log takes a
 * LIST and a few small GETs, tens of milliseconds; one that takes longer
 * than this is stuck behind a slow server, and HEADs answer sooner.
 */
const MAX_WAIT_MS = 1_000;

/** Counters for tests and benchmarks. */
export interface S3WriteLogCounters {
  /** Segments this process published. */
  published: number;
  /** Segments of other processes read. */
  read: number;
  /** Blobs learnt from other processes' segments. */
  learnt: number;
  /** Reads of the log that callers stopped waiting for, after a failed attempt or `maxWaitMs` ({@link S3WriteLog.refresh}). */
  unwaited: number;
}

/** One process's side of the shared write log; see the module comment. */
export class S3WriteLog {
  readonly #o: S3WriteLogOptions;
  /** Segment names end with it, so a process recognises (and skips) its own. */
  readonly #id = randomBytes(8).toString('hex');
  readonly #folder: string;
  /** Object keys committed since the last segment, and when the first of them was. */
  #pending: string[] = [];
  #pendingSince = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Segments published so far; part of their names, so two never share one. */
  #sequence = 0;
  readonly #publishing = new Set<Promise<void>>();
  /** Listings start after this time (ms), less {@link LATE_SEGMENT_MS}. */
  #newestSeen: number;
  /** Segments already read (or skipped), by key, with their times, to forget them once out of reach. */
  readonly #seen = new Map<string, number>();
  #lastRefresh = Number.NEGATIVE_INFINITY;
  /** The read under way: `done` when it is over, `answer` what callers wait for. */
  #refreshing: { readonly done: Promise<void>; readonly answer: Promise<void> } | undefined;
  #closed = false;
  readonly counters: S3WriteLogCounters = { published: 0, read: 0, learnt: 0, unwaited: 0 };

  constructor(options: S3WriteLogOptions) {
    this.#o = options;
    this.#folder = `${options.prefix}${WRITE_LOG_FOLDER}`;
    // Blobs written before this process started are the start-up listing's business.
    this.#newestSeen = options.clock();
  }

  /** Notes a blob this process has just committed (its key without the prefix). */
  record(digest: Digest): void {
    if (this.#closed) return;
    if (this.#pending.length === 0) this.#pendingSince = this.#o.clock();
    this.#pending.push(digest.key);
    if (this.#pending.length >= MAX_SEGMENT_ENTRIES) this.#publish();
    else this.#timer ??= setTimeout(() => this.#publish(), this.#o.intervalMs).unref();
  }

  /** Publishes what is pending now and waits for every segment under way. */
  async flush(): Promise<void> {
    this.#publish();
    await Promise.allSettled(this.#publishing);
  }

  /**
   * Reads the segments other processes published since the last read, unless
   * that read began less than an interval ago (then it waits for that one).
   * Never rejects: a log that cannot be read only leaves more HEADs to send.
   *
   * Resolves when the read is over, as soon as one of its requests fails an
   * attempt (S3 throttles the log's prefix, answers 5xx or times out), or
   * after `maxWaitMs`, whichever comes first: the read then goes on in the
   * background with its retries and helps later calls, while the caller asks
   * S3 about what it does not know (HEADs, with the same retry policy)
   * instead of waiting out a backoff or a slow answer.
   */
  refresh(): Promise<void> {
    if (this.#refreshing !== undefined) return this.#refreshing.answer;
    const now = this.#o.clock();
    if (this.#closed || now - this.#lastRefresh < this.#o.intervalMs) return Promise.resolve();
    this.#lastRefresh = now;
    let waiting = true;
    let release = (): void => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stopWaiting = (): void => {
      if (!waiting) return;
      waiting = false;
      this.counters.unwaited++;
      release();
    };
    const timer = setTimeout(stopWaiting, this.#o.maxWaitMs ?? MAX_WAIT_MS).unref();
    const done = this.#readNewSegments(stopWaiting)
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        this.#refreshing = undefined;
        waiting = false;
        release();
      });
    const answer = Promise.race([done, released]);
    this.#refreshing = { done, answer };
    return answer;
  }

  /** Publishes what is pending and stops. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    await this.#refreshing?.done;
  }

  #publish(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const keys = this.#pending;
    const since = this.#pendingSince;
    this.#pending = [];
    const body = Buffer.from(`${HEADER} ${since}\n${keys.join('\n')}\n`);
    // Named by the time of its oldest entry, so a segment sorts no later than any entry in it.
    const key = `${this.#folder}${String(since).padStart(15, '0')}-${this.#id}-${++this.#sequence}`;
    const { sdk, client, requests, bucket } = this.#o;
    const done = requests
      .run(`PutObject ${key}`, () =>
        client.send(
          new sdk.PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: body.byteLength,
            ContentType: 'text/plain',
          }),
        ),
      )
      .then(
        () => {
          this.counters.published++;
        },
        // Lost: peers ask S3 about these blobs instead.
        () => {},
      )
      .finally(() => this.#publishing.delete(done));
    this.#publishing.add(done);
  }

  /** One read of the log; `onRetry` hears of each failed attempt of its requests. */
  async #readNewSegments(onRetry: () => void): Promise<void> {
    // A segment is named by its oldest entry, which may be an interval older than its upload.
    const from = this.#newestSeen - LATE_SEGMENT_MS - this.#o.intervalMs;
    for (const [key, time] of this.#seen) if (time < from) this.#seen.delete(key);
    const fresh: Array<{ key: string; time: number }> = [];
    let token: string | undefined;
    do {
      const page = await this.#o.requests.run(
        'ListObjectsV2 (write log)',
        () =>
          this.#o.client.send(
            new this.#o.sdk.ListObjectsV2Command({
              Bucket: this.#o.bucket,
              Prefix: this.#folder,
              StartAfter: `${this.#folder}${String(Math.max(0, from)).padStart(15, '0')}`,
              ...(token === undefined ? {} : { ContinuationToken: token }),
            }),
          ),
        onRetry,
      );
      for (const object of page.Contents ?? []) {
        const key = object.Key ?? '';
        const match = /^(\d{15})-([0-9a-f]+)-\d+$/.exec(key.slice(this.#folder.length));
        if (match === null || this.#seen.has(key)) continue;
        const time = Number(match[1]);
        this.#seen.set(key, time);
        this.#newestSeen = Math.max(this.#newestSeen, time);
        if (match[2] !== this.#id) fresh.push({ key, time });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    let next = 0;
    const reader = async (): Promise<void> => {
      while (next < fresh.length) {
        const segment = fresh[next++] as { key: string };
        // A segment that cannot be read is forgotten, so a later refresh tries it again.
        await this.#readSegment(segment.key, onRetry).catch(() => this.#seen.delete(segment.key));
      }
    };
    await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, fresh.length) }, reader));
  }

  async #readSegment(key: string, onRetry: () => void): Promise<void> {
    const { sdk, client, requests, bucket } = this.#o;
    const text = await requests.run(
      `GetObject ${key}`,
      async () => {
        const out = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
        return (await out.Body?.transformToString('utf8')) ?? '';
      },
      onRetry,
    );
    const lines = text.split('\n');
    const header = /^kiln-writes 1 (\d+)$/.exec(lines[0] ?? '');
    if (header === null) return;
    const writtenAt = new Date(Number(header[1]));
    this.counters.read++;
    for (let i = 1; i < lines.length; i++) {
      const digest = parseBlobKey(lines[i] as string);
      if (digest === undefined) continue;
      this.counters.learnt++;
      this.#o.onPeerBlob(digest, writtenAt);
    }
  }
}
