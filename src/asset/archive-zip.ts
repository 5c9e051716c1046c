/**
 * Reads zip archives straight from the CAS with yauzl, as a stream of
 * {@link ArchiveEntry}s. yauzl is asked for raw names (Kiln validates them
 * itself, backslashes included, with the same rules as tar) and checks each
 * entry's inflated size against the size the central directory declares, so
 * an entry cannot inflate past what the limits were checked against.
 */
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  type Entry,
  fromRandomAccessReaderPromise,
  getFileNameLowLevel,
  type ZipFile,
} from 'yauzl';
import type { Digest } from '../digest/digest.ts';
import { invalidArgument, KilnError, resourceExhausted } from '../errors.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { abortError } from './archive-budget.ts';
import { CasRandomAccessReader } from './archive-cas-reader.ts';
import type { ArchiveEntry, ArchiveEntryHandler } from './archive-entry.ts';
import { quote } from './archive-path.ts';

/** Longest symlink target read from an entry's data (Linux's PATH_MAX). */
const MAX_SYMLINK_TARGET = 4096;

/** Host systems (high byte of "version made by") whose attributes carry a Unix mode. */
const UNIX_HOSTS = new Set([3 /* Unix */, 19 /* OS X */]);

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
/** The MS-DOS directory attribute, set by Windows tools that record no Unix mode. */
const DOS_DIRECTORY = 0x10;

/** File types (mode & S_IFMT) that a REAPI tree cannot hold. A Map: literal keys get mangled. */
const SPECIAL_TYPES: ReadonlyMap<number, string> = new Map([
  [0o010000, 'fifo'],
  [0o020000, 'character-device'],
  [0o060000, 'block-device'],
  [0o140000, 'socket'],
]);

/** Options of {@link readZipEntries}. */
export interface ReadZipOptions {
  readonly cas: BlobStore;
  readonly archive: Digest;
  /** Most entries; a larger central directory is refused before any entry is read. */
  readonly maxEntries: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Reads the central directory and awaits `onEntry` for each entry in its
 * order. Malformed archives, encrypted entries and compression methods other
 * than stored and deflate reject with INVALID_ARGUMENT; errors from `onEntry`
 * and from the CAS pass through.
 */
export async function readZipEntries(
  options: ReadZipOptions,
  onEntry: ArchiveEntryHandler,
): Promise<void> {
  const { signal } = options;
  const reader = new CasRandomAccessReader({ cas: options.cas, archive: options.archive });
  let zip: ZipFile;
  try {
    zip = await fromRandomAccessReaderPromise(reader, options.archive.size, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: false,
      validateEntrySizes: true,
      strictFileNames: true,
    });
  } catch (err) {
    throw decodeError(err, signal);
  }
  try {
    if (zip.entryCount > options.maxEntries) {
      throw resourceExhausted(
        `zip archive has ${zip.entryCount} entries, more than the limit of ${options.maxEntries}`,
      );
    }
    const entries = zip.eachEntry();
    for (;;) {
      let next: IteratorResult<Entry>;
      try {
        next = await entries.next();
      } catch (err) {
        throw decodeError(err, signal);
      }
      if (next.done) break;
      await onEntry(await toArchiveEntry(zip, next.value, signal));
    }
  } finally {
    zip.close();
  }
}

/**
 * The entry's name as the archive spells it. `strictFileNames` keeps
 * backslashes, so that archive-path refuses them rather than yauzl turning
 * `..\\x` into `../x` (refused too, but under a misleading name).
 */
function entryName(entry: Entry): string {
  return getFileNameLowLevel(
    entry.generalPurposeBitFlag,
    entry.fileNameRaw,
    entry.extraFields,
    true,
  );
}

async function toArchiveEntry(
  zip: ZipFile,
  entry: Entry,
  signal: AbortSignal | undefined,
): Promise<ArchiveEntry> {
  const name = entryName(entry);
  const mode = UNIX_HOSTS.has(entry.versionMadeBy >> 8) ? entry.externalFileAttributes >>> 16 : 0;
  const type = mode & S_IFMT;
  if (
    name.endsWith('/') ||
    type === S_IFDIR ||
    (type === 0 && (entry.externalFileAttributes & DOS_DIRECTORY) !== 0)
  ) {
    return { kind: 'directory', name };
  }
  const special = SPECIAL_TYPES.get(type);
  if (special !== undefined) return { kind: 'special', name, type: special };
  if (type !== 0 && type !== S_IFREG && type !== S_IFLNK) {
    throw invalidArgument(`zip entry ${quote(name)} has an unknown file type in its mode`);
  }
  if (entry.isEncrypted()) {
    throw invalidArgument(`zip entry ${quote(name)} is encrypted`);
  }
  if (!entry.canDecodeFileData()) {
    throw invalidArgument(
      `zip entry ${quote(name)} uses compression method ${entry.compressionMethod}; ` +
        'only stored (0) and deflate (8) are supported',
    );
  }
  if (type === S_IFLNK) {
    if (entry.uncompressedSize > MAX_SYMLINK_TARGET) {
      throw invalidArgument(
        `zip symlink ${quote(name)} has a target over ${MAX_SYMLINK_TARGET} bytes`,
      );
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of entryData(zip, entry, signal)) chunks.push(chunk);
    return { kind: 'symlink', name, target: Buffer.concat(chunks).toString('utf8') };
  }
  return {
    kind: 'file',
    name,
    executable: (mode & 0o111) !== 0,
    size: entry.uncompressedSize,
    content: entryData(zip, entry, signal),
  };
}

/** An entry's inflated bytes, opened only when iterated (after the entry passed its checks). */
async function* entryData(
  zip: ZipFile,
  entry: Entry,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  let stream: Readable | undefined;
  try {
    stream = await zip.openReadStreamPromise(entry);
    // yauzl checks sizes but leaves the CRC to its caller. The error comes before the last
    // chunk is handed over, so a corrupt entry never reaches the CAS.
    let crc = 0;
    let held: Buffer | undefined;
    for await (const chunk of stream) {
      if (held !== undefined) yield held;
      held = chunk as Buffer;
      crc = crc32(held, crc);
    }
    if (crc !== entry.crc32) {
      throw invalidArgument(`zip entry ${quote(entryName(entry))} fails its CRC-32 check`);
    }
    if (held !== undefined) yield held;
  } catch (err) {
    throw decodeError(err, signal);
  } finally {
    stream?.destroy();
  }
}

/** KilnErrors (from the CAS) pass through; yauzl's and zlib's errors mean a bad archive. */
function decodeError(err: unknown, signal: AbortSignal | undefined): unknown {
  if (err instanceof KilnError) return err;
  if (signal?.aborted === true) return abortError(signal);
  const message = err instanceof Error ? err.message : String(err);
  return invalidArgument(`zip archive is malformed or truncated: ${message}`);
}
