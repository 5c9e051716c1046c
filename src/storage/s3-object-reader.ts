/**
 * Reads of S3 objects for the s3 store: one GET of a byte range, and the
 * stream of a blob's bytes that resumes a body that broke off from the byte
 * it reached, so a caller gets every byte exactly once or an error, never a
 * short or spliced blob. An action cache entry's resumed read is pinned to
 * the first answer's ETag (a replaced entry fails the read: UNAVAILABLE, read
 * again); a content-addressed blob's is not, since every version of its key
 * holds the same bytes, and a re-upload or a copy can change the ETag alone.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Digest } from '../digest/digest.ts';
import { internal, unavailable } from '../errors.ts';
import { httpStatusOf, type S3Requests, type S3Sdk } from './s3-requests.ts';

/** A response body as the SDK returns it in Node. */
export type S3Body = AsyncIterable<Uint8Array> & { destroy(): void };

/** One GET's answer: the body and where its bytes sit in the blob. */
export interface S3Response {
  readonly body: S3Body;
  /** Position in the blob of the body's first byte. */
  readonly start: number;
  /** Length of the whole blob. */
  readonly total: number;
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
}

/** GETs from one bucket; see the module comment. */
export class S3ObjectReader {
  readonly #sdk: S3Sdk;
  readonly #client: S3Client;
  readonly #requests: S3Requests;
  readonly #bucket: string;
  readonly #onResume: () => void;
  readonly #contentAddressed: boolean;

  constructor(options: {
    readonly sdk: S3Sdk;
    readonly client: S3Client;
    readonly requests: S3Requests;
    readonly bucket: string;
    /** Called each time a broken body is resumed. */
    readonly onResume: () => void;
    /** Whether every version of a key holds the same bytes (a CAS, not an action cache). */
    readonly contentAddressed: boolean;
  }) {
    this.#sdk = options.sdk;
    this.#client = options.client;
    this.#requests = options.requests;
    this.#bucket = options.bucket;
    this.#onResume = options.onResume;
    this.#contentAddressed = options.contentAddressed;
  }

  /** One GET of bytes `[start, end)` (to the blob's end when `end` is undefined). */
  async getObject(
    key: string,
    start: number,
    end: number | undefined,
    etag: string | undefined,
  ): Promise<S3Response> {
    const wanted = start > 0 || end !== undefined;
    const out = await this.#client.send(
      new this.#sdk.GetObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        ...(wanted ? { Range: `bytes=${start}-${end === undefined ? '' : end - 1}` } : {}),
        ...(etag === undefined ? {} : { IfMatch: etag }),
      }),
    );
    const body = out.Body as unknown as S3Body | undefined;
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
  async *stream(
    digest: Digest,
    key: string,
    first: S3Response,
    offset: number,
    end: number,
  ): AsyncIterable<Uint8Array> {
    let response: S3Response = first;
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
        this.#onResume();
        const pin = this.#contentAddressed ? undefined : first.etag;
        response = await this.#requests.run(`GetObject ${digest.key} from byte ${pos}`, () =>
          this.getObject(key, pos, end, pin).catch((err: unknown) => {
            if (pin === undefined || httpStatusOf(err) !== 412) throw err;
            throw unavailable(
              `GetObject ${digest.key}: the object changed in ${this.#requests.where} while it was read (a new version replaced ETag ${pin}); read it again`,
              err,
            );
          }),
        );
      } finally {
        body.destroy();
      }
    }
  }
}

/** No bytes: the read of a blob at its end. */
export async function* emptyStream(): AsyncIterable<Uint8Array> {}
