/**
 * The CAS as the worker inside `kiln serve` sees it: the server's own
 * (verifying) BlobStore, called directly. A remote worker reaches the CAS
 * through a {@link CasClient}; the in-process worker has no reason to encode
 * its reads and writes as gRPC messages to its own process and decode them
 * again, which in a remote build of small actions was a good part of the
 * server's CPU time.
 *
 * It has no GetTree: input trees are read directory by directory straight
 * from the store (see fetch-directory-tree.ts), not decoded, re-encoded and
 * hashed to recover digests the tree already names.
 */
import { createReadStream } from 'node:fs';
import { status } from '@grpc/grpc-js';
import type { CasClient } from '../client/cas-client.ts';
import { MissingBlobsError } from '../client/missing-blobs-error.ts';
import { writeBlobFile } from '../client/write-blob-file.ts';
import { type Digest, isEmptyDigest } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import { fromFsError, hasCode, KilnError } from '../errors.ts';
import { type BlobStore, putBuffer, putStream, readAll } from '../storage/blob-store.ts';
import type { BlobFetcher } from './file-cache.ts';
import type { InputSource } from './input-stager.ts';
import type { OutputSink } from './output-uploader.ts';

/** Everything a worker asks of the CAS; {@link CasClient} and {@link LocalCas} are two. */
export interface WorkerCas extends InputSource, OutputSink, BlobFetcher {
  /** The function of every digest this worker computes for its actions' outputs. */
  readonly digestFunction: DigestFunction;
  /** One blob into memory; {@link MissingBlobsError} when absent. */
  readBlob(digest: Digest): Promise<Buffer>;
}

/** Options of {@link LocalCas}. */
export interface LocalCasOptions {
  /** The server's CAS: a verifying store, so every write is checked against its digest. */
  readonly store: BlobStore;
  /** Digest function of the outputs this worker uploads. */
  readonly digestFunction: DigestFunction;
}

/** A {@link WorkerCas} over a BlobStore in the same process. */
export class LocalCas implements WorkerCas {
  readonly #store: BlobStore;
  readonly digestFunction: DigestFunction;

  constructor(options: LocalCasOptions) {
    this.#store = options.store;
    this.digestFunction = options.digestFunction;
  }

  findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    return this.#store.findMissing(digests);
  }

  async uploadBlobs(blobs: readonly { digest: Digest; data: Uint8Array }[]): Promise<void> {
    await Promise.all(blobs.map(({ digest, data }) => putBuffer(this.#store, digest, data)));
  }

  async uploadFile(
    digest: Digest,
    path: string,
    options?: { onProgress?: (bytes: number) => void },
  ): Promise<void> {
    const file = createReadStream(path, { highWaterMark: 1024 * 1024 });
    const onProgress = options?.onProgress;
    const chunks =
      onProgress === undefined
        ? file
        : (async function* () {
            for await (const chunk of file) {
              onProgress((chunk as Buffer).byteLength);
              yield chunk as Buffer;
            }
          })();
    try {
      await putStream(this.#store, digest, chunks);
    } catch (err) {
      throw err instanceof KilnError ? err : fromFsError(err, `uploading ${path}`);
    }
  }

  async readBlob(digest: Digest): Promise<Buffer> {
    if (isEmptyDigest(digest)) return Buffer.alloc(0);
    try {
      return await readAll(this.#store, digest);
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) throw new MissingBlobsError([digest]);
      throw err;
    }
  }

  async readAvailable(
    digests: readonly Digest[],
  ): Promise<{ found: Map<string, Buffer>; missing: Digest[] }> {
    const found = new Map<string, Buffer>();
    const missing: Digest[] = [];
    const unique = new Map<string, Digest>();
    for (const digest of digests) unique.set(digest.key, digest);
    await Promise.all(
      [...unique.values()].map(async (digest) => {
        try {
          found.set(digest.key, await this.readBlob(digest));
        } catch (err) {
          if (!(err instanceof MissingBlobsError)) throw err;
          missing.push(digest);
        }
      }),
    );
    return { found, missing };
  }

  downloadToFile(digest: Digest, path: string, options?: { mode?: number }): Promise<void> {
    return writeBlobFile({
      digest,
      path,
      mode: options?.mode,
      source: async () => (isEmptyDigest(digest) ? [] : await this.#store.get(digest)),
    });
  }
}
