/**
 * Parsing of ByteStream resource names as REAPI v2.3 defines them:
 *
 *   read:  {instance}/blobs/{fn/}{hash}/{size}
 *          {instance}/compressed-blobs/{compressor}/{fn/}{hash}/{size}
 *   write: {instance}/uploads/{uuid}/blobs/{fn/}{hash}/{size}{/metadata}
 *          {instance}/uploads/{uuid}/compressed-blobs/{compressor}/{fn/}{hash}/{size}{/metadata}
 *
 * The digest-function segment is present only for functions that cannot be
 * inferred from the hash length (BLAKE3 here); Kiln also accepts it for the
 * others as long as it agrees with the hash length.
 */
import { invalidArgument, quote } from '../errors.ts';
import { type Digest, makeDigest } from './digest.ts';
import {
  type DigestFunction,
  digestFunctionByName,
  resolveDigestFunction,
} from './digest-function.ts';

/** Compressors that may appear in `compressed-blobs/{compressor}` segments. */
export type CompressorName = 'identity' | 'zstd';

/** A parsed resource name. */
export interface BlobResource {
  readonly instanceName: string;
  readonly digest: Digest;
  /** `identity` for `blobs/`, otherwise the compressor of `compressed-blobs/`. */
  readonly compressor: CompressorName;
  /** The upload id of a write resource name; undefined for reads. */
  readonly uploadId?: string;
}

const KNOWN_COMPRESSORS = new Set(['zstd', 'deflate', 'brotli']);

/** Parses a ByteStream.Read resource name. */
export function parseReadResourceName(name: string): BlobResource {
  const segments = splitName(name);
  const at = segments.findIndex((s) => s === 'blobs' || s === 'compressed-blobs');
  if (at < 0) {
    throw invalidArgument(
      `resource name ${quote(name)} has no "blobs/" or "compressed-blobs/" segment; expected ` +
        '"{instance_name}/blobs/{hash}/{size}"',
    );
  }
  const parsed = parseBlobPart(name, segments, at);
  if (parsed.next !== segments.length) {
    throw invalidArgument(`resource name ${quote(name)} has unexpected segments after the size`);
  }
  return { instanceName: segments.slice(0, at).join('/'), ...parsed.resource };
}

/** Parses a ByteStream.Write / QueryWriteStatus resource name. */
export function parseWriteResourceName(name: string): BlobResource & { uploadId: string } {
  const segments = splitName(name);
  const at = segments.indexOf('uploads');
  if (at < 0) {
    throw invalidArgument(
      `resource name ${quote(name)} has no "uploads/" segment; expected ` +
        '"{instance_name}/uploads/{uuid}/blobs/{hash}/{size}"',
    );
  }
  const uploadId = segments[at + 1];
  if (uploadId === undefined || uploadId === '') {
    throw invalidArgument(`resource name ${quote(name)} has no upload id after "uploads/"`);
  }
  const kind = segments[at + 2];
  if (kind !== 'blobs' && kind !== 'compressed-blobs') {
    throw invalidArgument(
      `resource name ${quote(name)} must continue "uploads/{uuid}/" with "blobs/" or "compressed-blobs/"`,
    );
  }
  // Anything after the size is optional metadata, which Kiln ignores.
  const parsed = parseBlobPart(name, segments, at + 2);
  return { instanceName: segments.slice(0, at).join('/'), uploadId, ...parsed.resource };
}

function splitName(name: string): string[] {
  if (name === '') throw invalidArgument('resource name is empty');
  const segments = name.split('/');
  if (segments.some((s, i) => s === '' && i !== segments.length - 1)) {
    throw invalidArgument(`resource name ${quote(name)} has an empty path segment`);
  }
  return segments;
}

function parseBlobPart(
  name: string,
  segments: readonly string[],
  at: number,
): { resource: Omit<BlobResource, 'instanceName'>; next: number } {
  let i = at + 1;
  let compressor: CompressorName = 'identity';
  if (segments[at] === 'compressed-blobs') {
    const c = segments[i++] ?? '';
    if (c !== 'zstd') {
      throw invalidArgument(
        KNOWN_COMPRESSORS.has(c)
          ? `compressor ${quote(c, 40)} in resource name ${quote(name)} is not supported; Kiln supports zstd`
          : `resource name ${quote(name)} names unknown compressor ${quote(c, 40)}`,
      );
    }
    compressor = c;
  }
  let fnName: string | undefined;
  const maybeFn = segments[i];
  if (maybeFn !== undefined && digestFunctionByName(maybeFn) !== undefined) {
    fnName = maybeFn;
    i++;
  }
  const hash = segments[i++];
  const sizeText = segments[i++];
  if (hash === undefined || sizeText === undefined) {
    throw invalidArgument(`resource name ${quote(name)} is missing the hash or size segment`);
  }
  if (!/^[0-9]{1,16}$/.test(sizeText)) {
    throw invalidArgument(`resource name ${quote(name)} has invalid size ${quote(sizeText, 40)}`);
  }
  const size = Number(sizeText);
  let fn: DigestFunction;
  if (fnName === undefined) {
    fn = resolveDigestFunction(0, hash);
  } else {
    const named = digestFunctionByName(fnName);
    if (named === undefined || named.hexLength !== hash.length) {
      throw invalidArgument(
        `resource name ${quote(name)}: hash length ${hash.length} does not match digest function ${fnName}`,
      );
    }
    fn = named;
  }
  const digest = makeDigest(fn, hash, size, `resource name ${quote(name)}`);
  return { resource: { digest, compressor }, next: i };
}

/** Formats a read resource name (used by clients and tests). */
export function formatReadResourceName(
  instanceName: string,
  digest: Digest,
  compressor: CompressorName = 'identity',
): string {
  const prefix = instanceName === '' ? '' : `${instanceName}/`;
  const kind = compressor === 'identity' ? 'blobs' : `compressed-blobs/${compressor}`;
  const fn = digest.fn.inferredFromLength ? '' : `${digest.fn.name}/`;
  return `${prefix}${kind}/${fn}${digest.hash}/${digest.size}`;
}

/** Formats a write resource name with the given upload id. */
export function formatWriteResourceName(
  instanceName: string,
  uploadId: string,
  digest: Digest,
  compressor: CompressorName = 'identity',
): string {
  const prefix = instanceName === '' ? '' : `${instanceName}/`;
  return `${prefix}uploads/${uploadId}/${formatReadResourceName('', digest, compressor)}`;
}
