/**
 * An upload to S3 that never holds a whole large blob in memory: bytes are
 * collected into parts of `partSize`; a blob that fits in one part is one
 * PutObject at commit, a larger one becomes a multipart upload whose parts go
 * out as they fill (a bounded number at a time). S3 makes an object visible
 * only when PutObject or CompleteMultipartUpload succeeds, so an upload that
 * fails or is aborted leaves nothing readable; an aborted multipart upload is
 * also aborted on the server, so its parts stop costing storage.
 */
import { failedPrecondition, invalidArgument } from '../errors.ts';
import type { BlobWriter } from './blob-store.ts';
import type { S3Requests, S3Sdk } from './s3-requests.ts';

/** What a writer needs from its store. */
export interface S3WriterContext {
  readonly sdk: S3Sdk;
  readonly requests: S3Requests;
  readonly bucket: string;
  /** The object key. */
  readonly key: string;
  /** Bytes per part (at least 5 MiB, S3's minimum for all parts but the last). */
  readonly partSize: number;
  /** Parts uploaded at once; memory per upload is about `partSize * (partsInFlight + 1)`. */
  readonly partsInFlight: number;
  /** Called after the object became visible. */
  readonly onCommitted: () => void;
}

interface Part {
  readonly PartNumber: number;
  readonly ETag: string | undefined;
}

/** One upload to one object key. */
export class S3BlobWriter implements BlobWriter {
  readonly #c: S3WriterContext;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #written = 0;
  #state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  #uploadId: string | undefined;
  #creating: Promise<string> | undefined;
  readonly #parts: Part[] = [];
  #partsStarted = 0;
  readonly #inFlight = new Set<Promise<void>>();
  #failure: unknown;

  constructor(context: S3WriterContext) {
    this.#c = context;
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open')
      throw failedPrecondition(`upload of ${this.#c.key} is ${this.#state}`);
    this.#throwIfFailed();
    this.#written += chunk.byteLength;
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    while (this.#buffered > this.#c.partSize) {
      this.#startPart(this.#takePart(this.#c.partSize));
      // Backpressure: wait while the most parts are on their way.
      while (this.#inFlight.size >= this.#c.partsInFlight) await Promise.race(this.#inFlight);
      this.#throwIfFailed();
    }
  }

  async commit(): Promise<void> {
    if (this.#state !== 'open')
      throw failedPrecondition(`upload of ${this.#c.key} is ${this.#state}`);
    this.#state = 'committing';
    try {
      if (this.#uploadId === undefined && this.#creating === undefined) {
        await this.#putWhole(this.#takePart(this.#buffered));
      } else {
        if (this.#buffered > 0) this.#startPart(this.#takePart(this.#buffered));
        await Promise.allSettled(this.#inFlight);
        this.#throwIfFailed();
        await this.#complete();
      }
      this.#state = 'committed';
      this.#c.onCommitted();
    } catch (err) {
      await this.#discard();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'aborted') return;
    await this.#discard();
  }

  async #discard(): Promise<void> {
    this.#state = 'aborted';
    this.#chunks = [];
    this.#buffered = 0;
    await Promise.allSettled(this.#inFlight);
    const uploadId = await this.#creating?.catch(() => undefined);
    if (uploadId === undefined) return;
    const { sdk, requests, bucket, key } = this.#c;
    // Best effort: a bucket lifecycle rule cleans up uploads whose abort was lost.
    await requests
      .run(`AbortMultipartUpload ${key}`, () =>
        requests.client.send(
          new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
        ),
      )
      .catch(() => {});
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Removes the first `size` buffered bytes as one buffer. */
  #takePart(size: number): Buffer {
    const all =
      this.#chunks.length === 1
        ? Buffer.from(this.#chunks[0] as Uint8Array)
        : Buffer.concat(this.#chunks);
    const part = all.subarray(0, size);
    const rest = all.subarray(size);
    this.#chunks = rest.byteLength > 0 ? [rest] : [];
    this.#buffered = rest.byteLength;
    return part;
  }

  #putWhole(body: Buffer): Promise<unknown> {
    const { sdk, requests, bucket, key } = this.#c;
    return requests.run(`PutObject ${key}`, () =>
      requests.client.send(
        new sdk.PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
        }),
      ),
    );
  }

  #startPart(body: Buffer): void {
    const number = ++this.#partsStarted;
    const upload = this.#uploadPart(number, body).then(
      (etag) => {
        this.#parts.push({ PartNumber: number, ETag: etag });
      },
      (err: unknown) => {
        this.#failure ??= err;
      },
    );
    const tracked = upload.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  async #uploadPart(number: number, body: Buffer): Promise<string | undefined> {
    const { sdk, requests, bucket, key } = this.#c;
    const uploadId = await this.#uploadIdOf();
    const out = await requests.run(`UploadPart ${number} of ${key}`, () =>
      requests.client.send(
        new sdk.UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: number,
          Body: body,
          ContentLength: body.byteLength,
        }),
      ),
    );
    return out.ETag;
  }

  #uploadIdOf(): Promise<string> {
    const { sdk, requests, bucket, key } = this.#c;
    this.#creating ??= requests
      .run(`CreateMultipartUpload ${key}`, () =>
        requests.client.send(new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key })),
      )
      .then((out) => {
        if (out.UploadId === undefined) throw new Error('the server returned no UploadId');
        this.#uploadId = out.UploadId;
        return out.UploadId;
      });
    return this.#creating;
  }

  async #complete(): Promise<void> {
    const { sdk, requests, bucket, key } = this.#c;
    const uploadId = await this.#uploadIdOf();
    const parts = [...this.#parts].sort((a, b) => a.PartNumber - b.PartNumber);
    await requests.run(`CompleteMultipartUpload ${key}`, () =>
      requests.client.send(
        new sdk.CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      ),
    );
  }
}

/** A writer for a blob the store already holds: it takes the bytes and stores nothing. */
export function discardingWriter(): BlobWriter {
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
