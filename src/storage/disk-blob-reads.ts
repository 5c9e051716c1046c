/**
 * The read path of the disk store (see disk-blob-store.ts): finds a blob's
 * index entry, waiting for the index while it may still lack one that is on
 * disk, and streams the blob from its pack record, from a small file read
 * whole, or from a large file read in chunks.
 */
import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { Digest } from '../digest/digest.ts';
import { fromFsError, type KilnError, notFound } from '../errors.ts';
import { type ReadRange, resolveRange } from './blob-store.ts';
import { type CompactDigestIndex, NONE } from './compact-digest-index.ts';
import { readChunks } from './disk-chunk-reader.ts';
import type { BlobLocation } from './disk-layout.ts';
import type { PackLog, PackSlot } from './pack-log.ts';

/**
 * Blobs up to this size go to packs (see pack-log.ts), buffered in memory
 * until commit, and are read with one synchronous positioned read. Remote
 * builds are mostly such blobs (Actions, Commands, Directories, small
 * outputs); for them a file's asynchronous open, read and close, each a trip
 * through the libuv thread pool and back, cost more CPU than the reads
 * themselves, and creating the file cost more still. Files of this size
 * left by an older version of Kiln are still read, with one synchronous call.
 */
export const SMALL_BLOB_BYTES = 64 * 1024;

/** A pack slot; the store needs no tag, as a record's key names its digest. */
type Slot = PackSlot<true>;

/** What reading a blob needs of the store. */
export interface BlobReadSource {
  readonly index: CompactDigestIndex<Slot>;
  /** The packs of small blobs (set once the store is open). */
  packs(): PackLog<true>;
  /** Whether the index is still being built, or building it failed. */
  indexing(): boolean;
  /** Settles once the index lists every blob on disk; rejects when building it failed. */
  indexed(): Promise<void>;
  /** Where the file of `key` is; INVALID_ARGUMENT for a malformed key. */
  locate(key: string): BlobLocation;
  /** Marks a read of the entry of `digest` stamped `stamp`, unless another replaced it. */
  touch(digest: Digest, stamp: number): void;
  /** Drops the entry of `digest` if it is still the one stamped `stamp` (its file vanished). */
  forgetStale(digest: Digest, stamp: number): void;
}

/**
 * Streams the blob in chunks of up to 1 MiB, each with `CHUNK_HEADROOM` free
 * bytes in front (see `hasHeadroom` in disk-chunk-reader.ts). The stream holds the file
 * open until it ends or is abandoned (leaving a `for await` loop ends it), so
 * a blob evicted meanwhile is still read whole.
 */
export async function readBlob(
  source: BlobReadSource,
  digest: Digest,
  range?: ReadRange,
): Promise<AsyncIterable<Uint8Array>> {
  const index = source.index;
  let id = index.find(digest);
  if (id === NONE && source.indexing()) {
    // Perhaps on disk and not indexed yet.
    await source.indexed();
    id = index.find(digest);
  }
  if (id === NONE) {
    source.locate(digest.key); // A malformed key is INVALID_ARGUMENT, not NOT_FOUND.
    throw notFound(`blob ${digest.key} not found`);
  }
  const length = index.lengthOf(id);
  const slot = index.refOf(id);
  // Names this entry across the awaits below, where another copy may replace it.
  const stamp = index.stamp(id);
  const { start, end } = resolveRange(length, range, digest.key);
  if (slot !== undefined) return readPacked(source, digest, stamp, slot, start, end);
  const { file } = source.locate(digest.key); // Only valid keys are indexed.
  if (length <= SMALL_BLOB_BYTES) return readSmall(source, digest, stamp, file, start, end);
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw openFailure(source, digest, stamp, err);
  }
  source.touch(digest, stamp);
  if (start === end) {
    await handle.close();
    return empty();
  }
  return readChunks(handle, start, end);
}

/** Reads a packed blob with one synchronous positioned read. */
function readPacked(
  source: BlobReadSource,
  digest: Digest,
  stamp: number,
  slot: Slot,
  start: number,
  end: number,
): AsyncIterable<Uint8Array> {
  if (start === end) {
    source.touch(digest, stamp);
    return empty();
  }
  let data: Buffer;
  try {
    data = source.packs().read(slot, start, end);
  } catch (err) {
    throw fromFsError(err, `disk store: reading blob ${digest.key}`);
  }
  source.touch(digest, stamp);
  return once(data);
}

/** Reads a small blob file with one synchronous call (see {@link SMALL_BLOB_BYTES}). */
function readSmall(
  source: BlobReadSource,
  digest: Digest,
  stamp: number,
  file: string,
  start: number,
  end: number,
): AsyncIterable<Uint8Array> {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw openFailure(source, digest, stamp, err);
  }
  source.touch(digest, stamp);
  return start === end ? empty() : once(data.subarray(start, end));
}

/** The error for a blob file that could not be opened; a vanished file is NOT_FOUND. */
function openFailure(
  source: BlobReadSource,
  digest: Digest,
  stamp: number,
  err: unknown,
): KilnError {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
    return fromFsError(err, `disk store: reading blob ${digest.key}`);
  }
  // Deleted behind our back; forget it unless a newer copy was committed meanwhile.
  source.forgetStale(digest, stamp);
  return notFound(`blob ${digest.key} not found`);
}

async function* empty(): AsyncIterable<Uint8Array> {}

/**
 * One chunk as a stream. A plain iterator rather than an async generator:
 * most reads of a build are of one small blob, and a generator costs several
 * promise turns and objects per read.
 */
function once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      let done = false;
      return {
        next() {
          if (done) return Promise.resolve({ done: true, value: undefined });
          done = true;
          return Promise.resolve({ done: false, value: chunk });
        },
        return() {
          done = true;
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  };
}
