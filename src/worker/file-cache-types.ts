/**
 * The types of the worker's file cache (`file-cache.ts`): what it fetches
 * from, how it is configured, what it links and what it reports.
 */
import type { Digest } from '../digest/digest.ts';
import type { Logger } from '../util/logger.ts';

/** Where the cache gets blobs from; {@link CasClient} is one. */
export interface BlobFetcher {
  /** Reads small blobs into memory keyed by `Digest.key`, listing absent ones in `missing`. */
  readAvailable(
    digests: readonly Digest[],
  ): Promise<{ found: Map<string, Buffer>; missing: Digest[] }>;
  /** Streams a blob into a new file at `path` atomically; MissingBlobsError when absent. */
  downloadToFile(digest: Digest, path: string, options?: { mode?: number }): Promise<void>;
}

/** Options for {@link FileCache.open}. */
export interface FileCacheOptions {
  /**
   * Directory of the cached files; created when absent. Must be on the same
   * file system as the build directories, or linking falls back to copying.
   * Files a previous process left in it are removed on open.
   */
  readonly directory: string;
  /** Byte budget for cached blobs (by content size). */
  readonly maxBytes: number;
  /** Source of blobs. */
  readonly cas: BlobFetcher;
  /** Blobs up to this size are fetched together in batch reads; larger ones stream to disk. 1 MiB by default. */
  readonly batchBlobBytes?: number;
  /** Most file writes and links at once; 64 by default. */
  readonly concurrency?: number;
  /**
   * Privilege separation is on: adopted outputs, which the action's user
   * created and owns, become the worker's before they serve as anyone's
   * inputs, and the cache directory is closed to other users (0o700).
   */
  readonly privateToWorker?: boolean;
  /**
   * Actions run as the worker's own user, so one can make an input file
   * writable and change it, and with it the cached file it is a hardlink
   * of. Each entry's identity is then recorded when it becomes ready and
   * compared (one lstat) before it is linked again and in
   * {@link FileCache.verifyUnchanged}; a changed entry is discarded. Off by
   * default (privilege separation keeps actions away from cached files).
   */
  readonly verifyIntegrity?: boolean;
  /** Where discarded entries are reported (at warn). */
  readonly log?: Logger;
}

/** One file to materialize. */
export interface LinkRequest {
  readonly digest: Digest;
  readonly executable: boolean;
  /** Absolute destination path; its parent must exist and the path must not. */
  readonly path: string;
}

/** Counters for operators and tests. */
export interface FileCacheStats {
  /** Content bytes of ready entries. */
  readonly bytes: number;
  /** Ready entries. */
  readonly files: number;
  /** Entries fetched from the CAS. */
  readonly fetches: number;
  /** Entries a call found already cached or being fetched (each counted once per call). */
  readonly hits: number;
  readonly evictions: number;
  /** Entries found changed in place and discarded (only counted with `verifyIntegrity`). */
  readonly discarded: number;
  /** Entries filled by copying the same blob cached in the other mode. */
  readonly copies: number;
}

/**
 * The cache files one {@link FileCache.linkAll} call linked, to be checked
 * with {@link FileCache.verifyUnchanged} once the action reading them ended.
 */
export interface LinkedFiles {
  /** Distinct cache files tracked (none when the cache does not verify). */
  readonly count: number;
}

/** A cache file that changed in place after it was cached. */
export interface ChangedFile {
  readonly digest: Digest;
  readonly executable: boolean;
  /** The paths the checked {@link LinkedFiles} linked it to. */
  readonly paths: readonly string[];
  /** What differs, e.g. `mode 444 -> 644, size 5 -> 14, mtime changed`. */
  readonly change: string;
}
