/**
 * A client of any REAPI v2 content-addressable storage (Kiln or another
 * server), used by the worker and the CLI. It chooses between batch RPCs and
 * ByteStream by size, streams large blobs to and from disk without holding
 * them in memory, verifies what it downloads, and bounds how many RPCs run at
 * once.
 */
import { randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { type Digest, isEmptyDigest, makeDigest, toDigestMessage } from '../digest/digest.ts';
import { createHasher, type DigestFunction, SHA256 } from '../digest/digest-function.ts';
import { formatReadResourceName, formatWriteResourceName } from '../digest/resource-name.ts';
import { fromFsError, hasCode, KilnError } from '../errors.ts';
import type {
  DigestFunction_Value,
  Directory,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  chunksOf,
  fitsBatch,
  packBatches,
  splitEvery,
  verifyBlob,
  wireKey,
} from './blob-batches.ts';
import { CasRpc, type CasRpcOptions } from './cas-rpc.ts';
import { CLIENT_MAX_MESSAGE_BYTES } from './channel-options.ts';
import { MissingBlobsError } from './missing-blobs-error.ts';
import { writeBlobFile } from './write-blob-file.ts';

/** Batch limit when the server states none (0) or does not implement GetCapabilities. */
const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;
/** Most digests in one FindMissingBlobs request (a few MB of request). */
const MAX_FIND_MISSING_DIGESTS = 10_000;

/** Options for {@link CasClient}: the channel's (see {@link CasRpcOptions}) and these. */
export interface CasClientOptions extends CasRpcOptions {
  /** REAPI instance name; '' (the default instance) by default. */
  readonly instanceName?: string;
  /** Digest function of every request; SHA-256 by default. */
  readonly digestFunction?: DigestFunction;
  /**
   * Largest total of blob bytes per batch request. By default the server's
   * `max_batch_total_size_bytes` from GetCapabilities (4 MiB - 64 KiB when it
   * states none), never more than the channel's message limit.
   */
  readonly maxBatchBytes?: number;
  /** Size of ByteStream.Write chunks; 1 MiB by default. */
  readonly chunkBytes?: number;
}

/** A blob held in memory, for {@link CasClient.uploadBlobs}. */
export interface BlobData {
  readonly digest: Digest;
  readonly data: Uint8Array;
}

/** Options for {@link CasClient.downloadToFile}. */
export interface DownloadOptions {
  /** Mode of the created file (before the umask); 0o644 by default. */
  readonly mode?: number;
  /** Called with the size of each chunk as it arrives, for progress reports. */
  readonly onProgress?: (bytes: number) => void;
}

/** Options for {@link CasClient.uploadFile}. */
export interface UploadFileOptions {
  /** Called with the size of each chunk as it is sent, for progress reports. */
  readonly onProgress?: (bytes: number) => void;
}

/** A client of one instance of a REAPI CAS. Safe for concurrent use; `close()` when done. */
export class CasClient {
  /** The instance every request names. */
  readonly instanceName: string;
  /** The digest function of every request. */
  readonly digestFunction: DigestFunction;
  readonly #rpc: CasRpc;
  readonly #chunkBytes: number;
  readonly #maxBatchOverride: number | undefined;
  #maxBatch: Promise<number> | undefined;

  constructor(options: CasClientOptions) {
    this.#rpc = new CasRpc(options);
    this.instanceName = options.instanceName ?? '';
    this.digestFunction = options.digestFunction ?? SHA256;
    this.#chunkBytes = options.chunkBytes ?? 1024 * 1024;
    this.#maxBatchOverride = options.maxBatchBytes;
  }

  /** Closes the channel, unless it was passed in. */
  close(): void {
    this.#rpc.close();
  }

  /** Builds a digest under this client's digest function. */
  digest(hash: string, size: number): Digest {
    return makeDigest(this.digestFunction, hash, size);
  }

  /**
   * Largest total of blob bytes per batch request (see
   * {@link CasClientOptions.maxBatchBytes}); asks the server once.
   */
  maxBatchBytes(): Promise<number> {
    if (this.#maxBatchOverride !== undefined) return Promise.resolve(this.#maxBatchOverride);
    this.#maxBatch ??= this.#fetchMaxBatch().catch((err: unknown) => {
      this.#maxBatch = undefined;
      throw err;
    });
    return this.#maxBatch;
  }

  /** Returns the digests among `digests` that the server does not hold (each once). */
  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const unique = new Map<string, Digest>();
    for (const d of digests) if (!isEmptyDigest(d)) unique.set(d.key, d);
    // One request per digest function; within one, hash and size identify a blob.
    const chunks = byFunction([...unique.values()], (d) => d).flatMap((group) =>
      splitEvery(group, MAX_FIND_MISSING_DIGESTS),
    );
    const replies = await Promise.all(
      chunks.map(async (chunk) => {
        const reply = await this.#rpc.findMissingBlobs({
          instanceName: this.instanceName,
          blobDigests: chunk.map(toDigestMessage),
          digestFunction: fnValueOf(chunk[0]),
        });
        const sent = new Map(chunk.map((d) => [wireKey(d), d]));
        return reply.missingBlobDigests.map((m) => sent.get(wireKey(m)));
      }),
    );
    const missing: Digest[] = [];
    for (const reply of replies) for (const d of reply) if (d !== undefined) missing.push(d);
    return missing;
  }

  /**
   * Uploads in-memory blobs: small ones in BatchUpdateBlobs requests under the
   * batch limit, larger ones with ByteStream.Write. Does not check which the
   * server already holds (call {@link findMissing} first).
   */
  async uploadBlobs(blobs: readonly BlobData[]): Promise<void> {
    const unique = new Map<string, BlobData>();
    for (const b of blobs) if (!isEmptyDigest(b.digest)) unique.set(wireKey(b.digest), b);
    const limit = await this.maxBatchBytes();
    const small: BlobData[] = [];
    const large: BlobData[] = [];
    for (const b of unique.values()) (fitsBatch(b.digest, limit) ? small : large).push(b);
    await Promise.all([
      ...byFunction(small, (b) => b.digest)
        .flatMap((group) => packBatches(group, (b) => b.digest, limit))
        .map((batch) => this.#batchUpdate(batch)),
      ...large.map((b) => this.#write(b.digest, chunksOf(b.data, this.#chunkBytes))),
    ]);
  }

  /** Uploads a file with ByteStream.Write, streaming it from disk in chunks. */
  async uploadFile(digest: Digest, path: string, options: UploadFileOptions = {}): Promise<void> {
    if (isEmptyDigest(digest)) return;
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw fromFsError(err, `uploading ${path}`);
    }
    try {
      const stream = handle.createReadStream({ highWaterMark: this.#chunkBytes, autoClose: false });
      const { onProgress } = options;
      await this.#write(
        digest,
        onProgress === undefined ? (stream as AsyncIterable<Buffer>) : counted(stream, onProgress),
      );
    } finally {
      await handle.close();
    }
  }

  /**
   * Reads one blob into memory (batch read when it fits, ByteStream otherwise).
   * For small blobs: messages, stdout. Rejects with {@link MissingBlobsError} when absent.
   */
  async readBlob(digest: Digest): Promise<Buffer> {
    const found = (await this.batchRead([digest])).get(digest.key);
    if (found === undefined) throw new MissingBlobsError([digest]);
    return found;
  }

  /**
   * Reads blobs into memory, keyed by {@link Digest.key}: BatchReadBlobs under
   * the batch limit, ByteStream for blobs too large for a batch. Every blob is
   * verified against its digest. Rejects with one {@link MissingBlobsError}
   * naming every absent blob, or with the first other failure.
   */
  async batchRead(digests: readonly Digest[]): Promise<Map<string, Buffer>> {
    const { found, missing } = await this.readAvailable(digests);
    if (missing.length > 0) throw new MissingBlobsError(missing);
    return found;
  }

  /**
   * Like {@link batchRead}, but absent blobs are listed in `missing` instead
   * of failing the call, so that a caller gets everything that is there.
   */
  async readAvailable(
    digests: readonly Digest[],
  ): Promise<{ found: Map<string, Buffer>; missing: Digest[] }> {
    const unique = new Map<string, Digest>();
    for (const d of digests) unique.set(wireKey(d), d);
    const limit = await this.maxBatchBytes();
    const found = new Map<string, Buffer>();
    const small: Digest[] = [];
    const large: Digest[] = [];
    for (const d of unique.values()) {
      if (isEmptyDigest(d)) found.set(d.key, Buffer.alloc(0));
      else (fitsBatch(d, limit) ? small : large).push(d);
    }
    const missing: Digest[] = [];
    const settled = await Promise.allSettled([
      ...byFunction(small, (d) => d)
        .flatMap((group) => packBatches(group, (d) => d, limit))
        .map((batch) => this.#batchReadOnce(batch, found, missing)),
      ...large.map(async (d) => {
        try {
          found.set(d.key, await this.#readStreamed(d));
        } catch (err) {
          if (!hasCode(err, status.NOT_FOUND)) throw err;
          missing.push(d);
        }
      }),
    ]);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    return { found, missing };
  }

  /**
   * Streams a blob into a file with ByteStream.Read, verifying its digest. The
   * file appears atomically (written under a temporary name, then renamed);
   * nothing is left behind on failure. Rejects with {@link MissingBlobsError}
   * when absent.
   */
  async downloadToFile(digest: Digest, path: string, options: DownloadOptions = {}): Promise<void> {
    await writeBlobFile({
      digest,
      path,
      mode: options.mode,
      // readStream verifies the digest before the pipeline completes, so before the rename.
      source: async () =>
        isEmptyDigest(digest)
          ? []
          : options.onProgress
            ? counted(this.readStream(digest), options.onProgress)
            : this.readStream(digest),
    });
  }

  /**
   * Yields a blob's bytes as they arrive (ByteStream.Read), for a consumer
   * that writes them on (`kiln cas cat`). The digest is verified at the end,
   * so a corrupt blob fails with DATA_LOSS after its bytes were yielded.
   * Rejects with {@link MissingBlobsError} when absent.
   */
  async *readStream(digest: Digest): AsyncGenerator<Buffer> {
    if (isEmptyDigest(digest)) return;
    const hasher = await createHasher(digest.fn);
    let size = 0;
    try {
      for await (const chunk of this.#rpc.read(this.#readName(digest))) {
        hasher.update(chunk);
        size += chunk.byteLength;
        yield chunk;
      }
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) throw new MissingBlobsError([digest]);
      throw err;
    }
    verifyBlob(digest, size, hasher.digest());
  }

  /** All Directory messages under `root` (GetTree, every page), root first. */
  async getTree(root: Digest): Promise<Directory[]> {
    const directories: Directory[] = [];
    let pageToken = '';
    do {
      const pages = this.#rpc.getTree({
        instanceName: this.instanceName,
        rootDigest: toDigestMessage(root),
        pageSize: 0,
        pageToken,
        digestFunction: fnValueOf(root),
      });
      pageToken = '';
      for await (const page of pages) {
        directories.push(...page.directories);
        pageToken = page.nextPageToken;
      }
    } while (pageToken !== '');
    return directories;
  }

  #readName(digest: Digest): string {
    return formatReadResourceName(this.instanceName, digest);
  }

  async #fetchMaxBatch(): Promise<number> {
    let stated = 0;
    try {
      const caps = await this.#rpc.getCapabilities({ instanceName: this.instanceName });
      stated = caps.cacheCapabilities?.maxBatchTotalSizeBytes ?? 0;
    } catch (err) {
      if (!hasCode(err, status.UNIMPLEMENTED)) throw err;
    }
    if (stated <= 0) return DEFAULT_MAX_BATCH_BYTES;
    return Math.min(stated, CLIENT_MAX_MESSAGE_BYTES - 1024 * 1024);
  }

  #write(digest: Digest, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    const resourceName = formatWriteResourceName(this.instanceName, randomUUID(), digest);
    return this.#rpc.write(resourceName, digest.size, chunks);
  }

  async #readStreamed(digest: Digest): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.readStream(digest)) chunks.push(chunk);
    return Buffer.concat(chunks, digest.size);
  }

  async #batchUpdate(batch: readonly BlobData[]): Promise<void> {
    const reply = await this.#rpc.batchUpdateBlobs({
      instanceName: this.instanceName,
      requests: batch.map((b) => ({
        digest: toDigestMessage(b.digest),
        data: Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength),
        compressor: 0,
      })),
      digestFunction: fnValueOf(batch[0]?.digest),
    });
    const failed = reply.responses.filter((r) => (r.status?.code ?? status.OK) !== status.OK);
    const first = failed[0];
    if (first?.status !== undefined) {
      throw new KilnError(
        first.status.code,
        `BatchUpdateBlobs: ${failed.length} of ${batch.length} blobs failed; ` +
          `${first.digest?.hash ?? '?'}: ${first.status.message}`,
      );
    }
  }

  async #batchReadOnce(
    batch: readonly Digest[],
    into: Map<string, Buffer>,
    missing: Digest[],
  ): Promise<void> {
    const byWire = new Map(batch.map((d) => [wireKey(d), d]));
    const reply = await this.#rpc.batchReadBlobs({
      instanceName: this.instanceName,
      digests: batch.map(toDigestMessage),
      acceptableCompressors: [],
      digestFunction: fnValueOf(batch[0]),
    });
    for (const r of reply.responses) {
      const d = r.digest && byWire.get(wireKey(r.digest));
      if (d === undefined) continue;
      byWire.delete(wireKey(d));
      const code = r.status?.code ?? status.OK;
      if (code === status.NOT_FOUND) {
        missing.push(d);
      } else if (code !== status.OK) {
        throw new KilnError(code, `BatchReadBlobs ${d.key}: ${r.status?.message ?? ''}`);
      } else {
        const hasher = await createHasher(d.fn);
        hasher.update(r.data);
        verifyBlob(d, r.data.byteLength, hasher.digest());
        into.set(d.key, r.data);
      }
    }
    // A server that leaves a requested blob out of the reply does not have it.
    missing.push(...byWire.values());
  }
}

/** Passes chunks through, reporting each one's size. */
async function* counted(
  source: AsyncIterable<Buffer>,
  onProgress: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onProgress(chunk.byteLength);
    yield chunk;
  }
}

/** The wire value of a digest's function (SHA-256 for an empty request). */
function fnValueOf(digest: Digest | undefined): DigestFunction_Value {
  return (digest?.fn.value ?? SHA256.value) as DigestFunction_Value;
}

/** Splits items into groups of one digest function each, since a request names one. */
function byFunction<T>(items: readonly T[], digestOf: (item: T) => Digest): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const name = digestOf(item).fn.name;
    const group = groups.get(name);
    if (group === undefined) groups.set(name, [item]);
    else group.push(item);
  }
  return [...groups.values()];
}
