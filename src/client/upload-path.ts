/**
 * Uploading a local file, or a whole directory as a tree of Directory
 * messages (executable bits, symlinks as stored, empty directories), sending
 * only what FindMissingBlobs says the server lacks. The CLI's `kiln cas
 * upload` and `kiln run` use it.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Digest } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import { fromFsError, invalidArgument } from '../errors.ts';
import { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type CollectedDirectory, collectDirectory } from './collect-directory.ts';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { digestFile } from './digest-file.ts';
import { childDigest } from './fetch-directory-tree.ts';
import { type BlobSink, uploadMissing } from './upload-missing.ts';

/** Options for {@link uploadPath}. */
export interface UploadPathOptions {
  readonly cas: BlobSink;
  readonly digestFunction: DigestFunction;
  /** A file or a directory; a symlink given here is followed. */
  readonly path: string;
  /** Paths under a directory (relative, `/`-separated) to leave out. */
  readonly skip?: ReadonlySet<string>;
  /** Most file system operations at once; 16 by default. */
  readonly concurrency?: number;
  /** Called once FindMissingBlobs has answered, with the bytes left to upload. */
  readonly onStart?: (bytes: number) => void;
  /** Called with each increment of uploaded bytes. */
  readonly onProgress?: (bytes: number) => void;
}

/** What {@link uploadPath} found and sent. */
export interface UploadedPath {
  /** The file's digest, or the root Directory's. */
  readonly digest: Digest;
  readonly kind: 'file' | 'directory';
  /** Files under the path (one per path; 1 for a file). */
  readonly files: number;
  /**
   * Directories under the path, one per path and the root not counted (0
   * for a file): what `kiln cas tree` and a download count for the tree.
   */
  readonly directories: number;
  /** Content bytes of all files. */
  readonly bytes: number;
  /** Blobs the server lacked, now uploaded. */
  readonly uploadedBlobs: number;
  readonly uploadedBytes: number;
}

/** Hashes `path` and uploads what the server does not hold. */
export async function uploadPath(options: UploadPathOptions): Promise<UploadedPath> {
  const path = resolve(options.path);
  const fn = options.digestFunction;
  const limiter = new ConcurrencyLimiter({ limit: options.concurrency ?? 16 });
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (err) {
    throw fromFsError(err, `reading ${options.path}`);
  }
  // Reports the bytes to send as soon as FindMissingBlobs has said which blobs those are.
  const cas: BlobSink = {
    findMissing: async (digests) => {
      const missing = await options.cas.findMissing(digests);
      options.onStart?.(missing.reduce((sum, d) => sum + d.size, 0));
      return missing;
    },
    uploadBlobs: (blobs) => options.cas.uploadBlobs(blobs),
    uploadFile: (digest, file, o) => options.cas.uploadFile(digest, file, o),
  };
  const { onProgress } = options;
  if (info.isFile()) {
    const digest = await digestFile(fn, path);
    const uploaded = await uploadMissing({
      cas,
      blobs: [],
      files: [{ digest, path }],
      limiter,
      onProgress,
    });
    return {
      digest,
      kind: 'file',
      files: 1,
      directories: 0,
      bytes: digest.size,
      uploadedBlobs: uploaded.blobs,
      uploadedBytes: uploaded.bytes,
    };
  }
  if (!info.isDirectory()) {
    throw invalidArgument(`${options.path} is neither a file nor a directory`);
  }
  const tree = await collectDirectory({ fn, path, limiter, skip: options.skip });
  const uploaded = await uploadMissing({
    cas,
    blobs: [...tree.directories.values()],
    files: tree.files,
    limiter,
    onProgress,
  });
  return {
    digest: tree.rootDigest,
    kind: 'directory',
    files: tree.files.length,
    directories: directoriesBelowRoot(tree.rootDigest, tree.directories),
    bytes: tree.files.reduce((sum, f) => sum + f.digest.size, 0),
    uploadedBlobs: uploaded.blobs,
    uploadedBytes: uploaded.bytes,
  };
}

/** Directory paths below the root of a collected tree, each distinct Directory decoded once. */
function directoriesBelowRoot(root: Digest, encoded: CollectedDirectory['directories']): number {
  const below = new Map<string, number>();
  const count = (key: string): number => {
    const known = below.get(key);
    if (known !== undefined) return known;
    const data = encoded.get(key)?.data;
    const children = data === undefined ? [] : Directory.decode(data).directories;
    let n = 0;
    for (const child of children) {
      n += 1 + count(childDigest(root, child.name, child.digest).key);
    }
    below.set(key, n);
    return n;
  };
  return count(root.key);
}
