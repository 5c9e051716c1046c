/**
 * Writing a blob into a file atomically, shared by the CAS client (bytes from
 * ByteStream) and the in-process worker's LocalCas (bytes from the store).
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { fromFsError, hasCode, KilnError } from '../errors.ts';
import { MissingBlobsError } from './missing-blobs-error.ts';

/** Options of {@link writeBlobFile}. */
export interface WriteBlobFileOptions {
  readonly digest: Digest;
  /** The file to create; it appears only once complete. */
  readonly path: string;
  /** Permission bits of the new file; 0o644 by default. */
  readonly mode?: number;
  /**
   * The blob's bytes. A NOT_FOUND error (thrown or from the iteration)
   * becomes a {@link MissingBlobsError}.
   */
  readonly source: () => Promise<Iterable<Uint8Array> | AsyncIterable<Uint8Array>>;
}

/**
 * Writes the bytes under a temporary name next to `path` and renames it into
 * place, so that nobody ever sees a partial file; on failure nothing is left.
 */
export async function writeBlobFile(options: WriteBlobFileOptions): Promise<void> {
  const { digest, path } = options;
  const temp = `${path}.tmp-${randomUUID()}`;
  try {
    const source = await options.source();
    await pipeline(source, createWriteStream(temp, { flags: 'wx', mode: options.mode ?? 0o644 }));
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    // File system errors are not KilnErrors yet, so a NOT_FOUND here is the source's.
    if (hasCode(err, status.NOT_FOUND)) throw new MissingBlobsError([digest]);
    if (err instanceof KilnError) throw err;
    throw fromFsError(err, `writing ${digest.key} to ${path}`);
  }
}
