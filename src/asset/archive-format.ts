/**
 * Which archive format a blob holds: from what the client said about it (a
 * MIME type or a URI) or, failing that, from the blob's first bytes.
 */
import type { Digest } from '../digest/digest.ts';
import { invalidArgument } from '../errors.ts';
import type { BlobStore } from '../storage/blob-store.ts';

/** The archive formats Kiln can unpack into a directory tree. */
export type ArchiveFormat = 'tar' | 'tar.gz' | 'tar.xz' | 'zip';

/** MIME types (lower-case, without parameters) that name an archive format. */
const BY_MIME_TYPE: ReadonlyMap<string, ArchiveFormat> = new Map([
  ['application/x-tar', 'tar'],
  ['application/tar', 'tar'],
  ['application/gzip', 'tar.gz'],
  ['application/x-gzip', 'tar.gz'],
  ['application/x-compressed-tar', 'tar.gz'],
  ['application/x-gtar', 'tar.gz'],
  ['application/x-xz', 'tar.xz'],
  ['application/x-xz-compressed-tar', 'tar.xz'],
  ['application/zip', 'zip'],
  ['application/x-zip-compressed', 'zip'],
]);

/** URI suffixes, longest first so that `.tar.gz` wins over a shorter match. */
const BY_SUFFIX: readonly (readonly [string, ArchiveFormat])[] = [
  ['.tar.gz', 'tar.gz'],
  ['.tar.xz', 'tar.xz'],
  ['.tgz', 'tar.gz'],
  ['.txz', 'tar.xz'],
  ['.tar', 'tar'],
  ['.zip', 'zip'],
];

/**
 * Maps what a client said about an archive to its format: the Remote Asset
 * `resource_type` qualifier (a MIME type) first, then the suffix of the URI's
 * path (query and fragment ignored). Returns undefined when neither says, so
 * that the caller can let {@link sniffArchiveFormat} decide from the bytes.
 */
export function archiveFormatFromHint(hint: {
  resourceType?: string;
  uri?: string;
}): ArchiveFormat | undefined {
  const mime = hint.resourceType?.split(';')[0]?.trim().toLowerCase();
  if (mime !== undefined && mime !== '') {
    const format = BY_MIME_TYPE.get(mime);
    if (format !== undefined) return format;
  }
  if (hint.uri === undefined) return undefined;
  const path = uriPath(hint.uri).toLowerCase();
  return BY_SUFFIX.find(([suffix]) => path.endsWith(suffix))?.[1];
}

/** The path part of a URI, or the whole string when it does not parse as a URL. */
function uriPath(uri: string): string {
  try {
    return decodeURIComponent(new URL(uri).pathname);
  } catch {
    return uri.split(/[?#]/, 1)[0] ?? '';
  }
}

/** Enough of the blob to see every signature below: tar's magic sits at 257. */
const SNIFF_BYTES = 512;

const GZIP = Buffer.from([0x1f, 0x8b]);
const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ZIP = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
/** An archive with no entries starts with its end-of-central-directory record. */
const EMPTY_ZIP = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
/** Both POSIX (`ustar\0`) and GNU (`ustar `) tar headers start their magic with this. */
const USTAR = Buffer.from('ustar');
const USTAR_OFFSET = 257;

/**
 * Detects the format of `head`, the first bytes of an archive (up to 512), or
 * undefined. A first block of zeros is an empty tar only when all 512 bytes
 * are there, so that a short run of zeros is not taken for one.
 */
export function detectArchiveFormat(head: Uint8Array): ArchiveFormat | undefined {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const startsWith = (magic: Buffer, at = 0) =>
    bytes.length >= at + magic.length && bytes.subarray(at, at + magic.length).equals(magic);
  if (startsWith(GZIP)) return 'tar.gz';
  if (startsWith(XZ)) return 'tar.xz';
  if (startsWith(ZIP) || startsWith(EMPTY_ZIP)) return 'zip';
  if (startsWith(USTAR, USTAR_OFFSET)) return 'tar';
  // A tar with no entries is only its end-of-archive marker: zero blocks, no magic.
  if (bytes.length === SNIFF_BYTES && bytes.every((b) => b === 0)) return 'tar';
  return undefined;
}

/**
 * Reads the first bytes of the archive blob and detects its format. Rejects
 * with INVALID_ARGUMENT when no known signature matches; a gzip stream that
 * turns out not to hold a tar fails later, when its first header is parsed.
 */
export async function sniffArchiveFormat(cas: BlobStore, archive: Digest): Promise<ArchiveFormat> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of await cas.get(archive, { limit: SNIFF_BYTES })) {
    chunks.push(chunk);
    length += chunk.byteLength;
    if (length >= SNIFF_BYTES) break;
  }
  const format = detectArchiveFormat(Buffer.concat(chunks));
  if (format === undefined) {
    throw invalidArgument(
      `archive ${archive.hash}/${archive.size} is not a recognised archive ` +
        '(expected tar, tar.gz, tar.xz or zip); name its format with a resource_type qualifier',
    );
  }
  return format;
}
