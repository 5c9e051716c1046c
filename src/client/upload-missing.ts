/**
 * Uploading a set of blobs, some in memory and some in files, of which the
 * server may already hold many: FindMissingBlobs first, then only what is
 * missing. Small files are read into memory in bounded groups and sent in
 * batches; large files stream from disk. Used by the worker for outputs and
 * by the CLI for `kiln cas upload` and `kiln run`.
 */

import type { Digest } from '../digest/digest.ts';
import type { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { type LocalFile, readLocalFile, withFilePath } from './confined-file.ts';

/** What uploading needs from a CAS client; {@link CasClient} is one. */
export interface BlobSink {
  findMissing(digests: readonly Digest[]): Promise<Digest[]>;
  uploadBlobs(blobs: readonly { digest: Digest; data: Uint8Array }[]): Promise<void>;
  uploadFile(
    digest: Digest,
    path: string,
    options?: { onProgress?: (bytes: number) => void },
  ): Promise<void>;
}

/** What {@link uploadMissing} uploads. */
export interface UploadMissingRequest {
  readonly cas: BlobSink;
  /** Blobs held in memory (encoded messages). */
  readonly blobs: readonly { digest: Digest; data: Uint8Array }[];
  /**
   * Blobs in files, uploaded from their paths; a file with `confined` set
   * (an action's output) is read only as `confined-file.ts` describes.
   */
  readonly files: readonly (LocalFile & { readonly digest: Digest })[];
  /** Files up to this size are read into memory and uploaded in batches; 1 MiB by default. */
  readonly smallFileBytes?: number;
  /** Bounds concurrent file reads. */
  readonly limiter: ConcurrencyLimiter;
  /** Called with each increment of uploaded bytes, for progress reports. */
  readonly onProgress?: (bytes: number) => void;
}

/** What was missing, and therefore uploaded. */
export interface UploadedBlobs {
  readonly blobs: number;
  readonly bytes: number;
}

/** Most bytes of small files read into memory for one batch upload. */
const SMALL_GROUP_BYTES = 16 * 1024 * 1024;

/** Uploads the blobs and files the server does not hold yet (each distinct digest once). */
export async function uploadMissing(request: UploadMissingRequest): Promise<UploadedBlobs> {
  const { cas, limiter } = request;
  const progress = request.onProgress ?? (() => {});
  const smallFileBytes = request.smallFileBytes ?? 1024 * 1024;
  const blobs = new Map(request.blobs.map((b) => [b.digest.key, b]));
  const files = new Map(request.files.map((f) => [f.digest.key, f]));
  for (const key of blobs.keys()) files.delete(key);
  const missing = new Set(
    (await cas.findMissing([...blobs.values(), ...files.values()].map((b) => b.digest))).map(
      (d) => d.key,
    ),
  );
  const neededBlobs = [...blobs.values()].filter((b) => missing.has(b.digest.key));
  const neededFiles = [...files.values()].filter((f) => missing.has(f.digest.key));
  const small = neededFiles.filter((f) => f.digest.size <= smallFileBytes);
  const large = neededFiles.filter((f) => f.digest.size > smallFileBytes);
  const groups: Array<typeof small> = [];
  let bytes = Number.POSITIVE_INFINITY;
  for (const f of small) {
    if (bytes + f.digest.size > SMALL_GROUP_BYTES) {
      groups.push([]);
      bytes = 0;
    }
    groups.at(-1)?.push(f);
    bytes += f.digest.size;
  }
  const sum = (list: readonly { digest: Digest }[]) =>
    list.reduce((total, b) => total + b.digest.size, 0);
  await Promise.all([
    cas.uploadBlobs(neededBlobs).then(() => progress(sum(neededBlobs))),
    ...groups.map(async (group) => {
      const data = await Promise.all(
        group.map((f) =>
          limiter.run(async () => ({ digest: f.digest, data: await readLocalFile(f) })),
        ),
      );
      await cas.uploadBlobs(data);
      progress(sum(group));
    }),
    ...large.map((f) =>
      withFilePath(f, (path) => cas.uploadFile(f.digest, path, { onProgress: progress })),
    ),
  ]);
  return {
    blobs: neededBlobs.length + neededFiles.length,
    bytes: sum([...neededBlobs, ...neededFiles]),
  };
}
