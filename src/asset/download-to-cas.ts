/**
 * One download into the CAS, streaming: the body is hashed while it arrives
 * and never held in memory as a whole. When the digest is known before the
 * first byte (the SRI names the request's digest function and the origin
 * announced the length), the body streams straight into the CAS writer,
 * whose verification rejects other content before it becomes visible.
 * Otherwise it is spooled to a temporary file, checked, and then copied into
 * the CAS under the digest computed on the way.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { type Digest, isEmptyDigest, makeDigest } from '../digest/digest.ts';
import { createHasher, type DigestFunction, type Hasher } from '../digest/digest-function.ts';
import { type BlobStore, type BlobWriter, hasBlob, putStream } from '../storage/blob-store.ts';
import type { HttpFetcher } from './http-fetcher.ts';
import { requestFailure } from './http-fetcher.ts';
import { contentMismatch, contentTooLarge, originUnavailable } from './origin-error.ts';
import { redact } from './outbound-policy.ts';
import type { HeaderMap } from './qualifiers.ts';
import { type SriHash, toSri } from './sri.ts';

/** Options of {@link downloadToCas}. */
export interface DownloadOptions {
  readonly fetcher: HttpFetcher;
  /** The CAS (content-verifying) that receives the blob. */
  readonly cas: BlobStore;
  readonly url: URL;
  readonly headers: HeaderMap;
  /** The digest function of the resulting digest. */
  readonly fn: DigestFunction;
  /** Hashes the content must have (from `checksum.sri`); nothing is stored on a mismatch. */
  readonly sri: readonly SriHash[] | undefined;
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** Directory for spooled downloads; created when needed. */
  readonly tempDir: string;
  /** Aborts the download; its reason is what the download rejects with. */
  readonly signal: AbortSignal;
}

/** A download that reached the CAS. */
export interface Downloaded {
  readonly digest: Digest;
  /** The URL that answered, after redirects. */
  readonly finalUrl: URL;
}

/** Chunk size for copying a spooled file into the CAS. */
const COPY_CHUNK = 1024 * 1024;

/**
 * Downloads `url` into the CAS and returns its digest. Origin problems
 * (HTTP errors, refused addresses, checksum mismatches, too large a body)
 * reject with an OriginError; storage problems with the store's error.
 */
export async function downloadToCas(options: DownloadOptions): Promise<Downloaded> {
  const { url, signal } = options;
  const response = await options.fetcher.get(url, options.headers, signal);
  const { contentLength } = response;
  try {
    if (contentLength !== undefined && contentLength > options.maxBytes) {
      throw tooLarge(url, contentLength, options.maxBytes);
    }
    const body = readBody(response.body, response.url, signal);
    const direct = options.sri?.find((h) => h.fn === options.fn);
    const digest =
      direct !== undefined && contentLength !== undefined
        ? await streamDirect(options, body, makeDigest(options.fn, direct.hex, contentLength))
        : await spool(options, body);
    return { digest, finalUrl: response.url };
  } finally {
    response.release();
  }
}

/** The body's chunks, with read errors turned into origin errors (or the abort reason). */
async function* readBody(
  body: AsyncIterable<Uint8Array>,
  url: URL,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (err) {
    throw requestFailure(err, url, signal);
  }
}

/** Streams into `cas.put(digest)`; the verifying CAS checks hash and size on commit. */
async function streamDirect(
  options: DownloadOptions,
  body: AsyncIterable<Uint8Array>,
  digest: Digest,
): Promise<Digest> {
  const { cas, url } = options;
  // The CAS already holding these bytes is as good as downloading them again.
  if (isEmptyDigest(digest) || (await hasBlob(cas, digest))) return digest;
  const others = await hashersFor(options.sri?.filter((h) => h.fn !== digest.fn) ?? []);
  const writer = await cas.put(digest);
  let received = 0;
  try {
    for await (const chunk of body) {
      received += chunk.byteLength;
      if (received > digest.size) {
        throw contentMismatch(
          `${redact(url)}: body is longer than the ${digest.size} bytes announced`,
        );
      }
      for (const h of others) h.hasher.update(chunk);
      await writer.write(chunk);
    }
    if (received !== digest.size) {
      throw originUnavailable(
        `${redact(url)}: body ended after ${received} of ${digest.size} bytes`,
      );
    }
    verify(others, url);
    await commitChecked(writer, options, digest);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return digest;
}

/** Spools to a temporary file while hashing, verifies, then copies into the CAS. */
async function spool(options: DownloadOptions, body: AsyncIterable<Uint8Array>): Promise<Digest> {
  const { url, fn, cas } = options;
  await mkdir(options.tempDir, { recursive: true });
  const path = join(options.tempDir, `${randomUUID()}.part`);
  const file = await open(path, 'wx', 0o600);
  try {
    const main = await createHasher(fn);
    const checks = await hashersFor(options.sri?.filter((h) => h.fn !== fn) ?? []);
    const sameFn = options.sri?.filter((h) => h.fn === fn) ?? [];
    let received = 0;
    try {
      for await (const chunk of body) {
        received += chunk.byteLength;
        if (received > options.maxBytes) throw tooLarge(url, received, options.maxBytes);
        main.update(chunk);
        for (const c of checks) c.hasher.update(chunk);
        await file.write(chunk);
      }
    } finally {
      await file.close();
    }
    const hash = main.digest();
    verify([...checks, ...sameFn.map((expected) => ({ expected, hasher: fixed(hash) }))], url);
    const digest = makeDigest(fn, hash, received);
    if (isEmptyDigest(digest) || (await hasBlob(cas, digest))) return digest;
    await putStream(cas, digest, createReadStream(path, { highWaterMark: COPY_CHUNK }));
    return digest;
  } finally {
    await rm(path, { force: true });
  }
}

interface Check {
  readonly expected: SriHash;
  readonly hasher: Hasher;
}

async function hashersFor(expected: readonly SriHash[]): Promise<Check[]> {
  return Promise.all(
    expected.map(async (e) => ({ expected: e, hasher: await createHasher(e.fn) })),
  );
}

/** A hasher that already knows its answer: for an SRI of the digest's own function. */
function fixed(hash: string): Hasher {
  return { update: () => {}, digest: () => hash };
}

/** Throws an ABORTED OriginError naming expected and actual SRI on the first mismatch. */
function verify(checks: readonly Check[], url: URL): void {
  for (const { expected, hasher } of checks) {
    const actual = hasher.digest();
    if (actual !== expected.hex) {
      throw contentMismatch(
        `${redact(url)}: checksum mismatch: expected ${toSri(expected.fn, expected.hex)}, ` +
          `got ${toSri(expected.fn, actual)}`,
      );
    }
  }
}

/** Commits, turning the verifying store's hash rejection into a checksum mismatch. */
async function commitChecked(writer: BlobWriter, options: DownloadOptions, digest: Digest) {
  try {
    await writer.commit();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // The verifying CAS rejects content that does not hash to the digest with INVALID_ARGUMENT.
    if (code === status.INVALID_ARGUMENT) {
      throw contentMismatch(
        `${redact(options.url)}: checksum mismatch: content does not match ${toSri(digest.fn, digest.hash)}`,
      );
    }
    throw err;
  }
}

function tooLarge(url: URL, size: number, max: number) {
  return contentTooLarge(
    `${redact(url)}: ${size} bytes exceed the download limit of ${max} bytes (remoteAsset.maxDownloadSize)`,
  );
}
