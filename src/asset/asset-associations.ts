/**
 * Remote Asset associations: which content (a blob, or a directory tree's
 * root) a URI with its qualifiers resolved to, and when. Kept in a BlobStore
 * (`storage.assets`), one record per (kind, instance, digest function, URI,
 * identifying qualifiers).
 *
 * Storage key: the SHA-256 of the canonical request key, a JSON array
 * `["kiln-asset/1", kind, instance, digestFunction, uri, [[name, value], …],
 * headersHash]` with qualifiers sorted by name; the key's size field is the
 * canonical key's length in bytes (BlobStore keys are digests; the size only
 * has to be stable). The key is hashed, so header values that take part in it
 * never reach the disk.
 *
 * Record format: UTF-8 JSON, version 1:
 * `{"v":1,"kind":"blob"|"directory","uri":…,"fn":"sha256","hash":…,"size":…,
 *   "qualifiers":[{"name":…,"value":…}],"createdAt":ms,"expiresAt":ms|null,
 *   "source":"fetch"|"push"}`.
 * `createdAt` is when the download from origin started, or the push time;
 * records that fail to parse are treated as absent.
 */
import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { type DigestFunction, digestFunctionByName, SHA256 } from '../digest/digest-function.ts';
import { hasCode } from '../errors.ts';
import type { Qualifier } from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import { type BlobStore, putBuffer, readAll } from '../storage/blob-store.ts';
import type { AssetQualifiers } from './qualifiers.ts';

/** What an association points at. */
export type AssetKind = 'blob' | 'directory';

/** What identifies an association. */
export interface AssociationKey {
  readonly kind: AssetKind;
  readonly instanceName: string;
  readonly fn: DigestFunction;
  readonly uri: string;
  /** The identifying qualifiers (no headers), sorted by name. */
  readonly qualifiers: readonly Qualifier[];
  /**
   * A hash of the headers sent, when they decide what content is served (no
   * checksum pins it): a private URL fetched with credentials then never
   * answers a request without them.
   */
  readonly headersHash?: string | undefined;
}

/** One stored association. */
export interface AssociationRecord {
  readonly kind: AssetKind;
  /** The URI, without user info. */
  readonly uri: string;
  /** The blob, or the root Directory message. */
  readonly digest: Digest;
  readonly qualifiers: readonly Qualifier[];
  /** Epoch ms when the origin download started, or when it was pushed. */
  readonly createdAtMs: number;
  /** Epoch ms after which the record is not served, when known. */
  readonly expiresAtMs: number | undefined;
  readonly source: 'fetch' | 'push';
}

/** Options of {@link AssetAssociations}. */
export interface AssetAssociationsOptions {
  /** Where records live; not content-addressed. */
  readonly store: BlobStore;
}

/** Reads and writes association records. */
export class AssetAssociations {
  readonly #store: BlobStore;

  constructor(options: AssetAssociationsOptions) {
    this.#store = options.store;
  }

  /** The storage key of an association. */
  static keyOf(key: AssociationKey): Digest {
    const canonical = JSON.stringify([
      'kiln-asset/1',
      key.kind,
      key.instanceName,
      key.fn.name,
      normalizeUri(key.uri),
      key.qualifiers.map((q) => [q.name, q.value]),
      key.headersHash ?? null,
    ]);
    const hash = createHash('sha256').update(canonical).digest('hex');
    return makeDigest(SHA256, hash, Buffer.byteLength(canonical));
  }

  /** The record stored under `key`, or undefined when there is none (or it is unreadable). */
  async get(key: AssociationKey): Promise<AssociationRecord | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readAll(this.#store, AssetAssociations.keyOf(key));
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) return undefined;
      throw err;
    }
    const record = decodeRecord(bytes);
    return record?.kind === key.kind && record.digest.fn === key.fn ? record : undefined;
  }

  /** Stores (or replaces) the record under `key`. */
  async put(key: AssociationKey, record: AssociationRecord): Promise<void> {
    await putBuffer(this.#store, AssetAssociations.keyOf(key), encodeRecord(record));
  }
}

/**
 * The association key of `uris[index]` of a request. Headers take part only
 * when no `checksum.sri` pins the content: with a checksum, whoever knows it
 * could read the blob from the CAS anyway.
 */
export function associationKey(
  kind: AssetKind,
  instanceName: string,
  fn: DigestFunction,
  qualifiers: AssetQualifiers,
  uri: string,
  index: number,
): AssociationKey {
  const headers = Object.entries(qualifiers.headersFor(index, uri)).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const headersHash =
    qualifiers.sri === undefined && headers.length > 0
      ? createHash('sha256').update(JSON.stringify(headers)).digest('hex')
      : undefined;
  return { kind, instanceName, fn, uri, qualifiers: qualifiers.identifying, headersHash };
}

/** `uri` without user info, for records: credentials in a URL never reach the disk. */
export function withoutCredentials(uri: string): string {
  if (!URL.canParse(uri)) return uri;
  const url = new URL(uri);
  if (url.username === '' && url.password === '') return uri;
  url.username = '';
  url.password = '';
  return url.href;
}

/** URLs in their normalized form (host case, default port); other URIs as given. */
export function normalizeUri(uri: string): string {
  return /^https?:/i.test(uri) && URL.canParse(uri) ? new URL(uri).href : uri;
}

/** Encodes a record as described in the module comment. */
export function encodeRecord(record: AssociationRecord): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      kind: record.kind,
      uri: withoutCredentials(record.uri),
      fn: record.digest.fn.name,
      hash: record.digest.hash,
      size: record.digest.size,
      qualifiers: record.qualifiers.map((q) => ({ name: q.name, value: q.value })),
      createdAt: record.createdAtMs,
      expiresAt: record.expiresAtMs ?? null,
      source: record.source,
    }),
  );
}

/** Decodes a record, or undefined when the bytes are not a version-1 record. */
export function decodeRecord(bytes: Uint8Array): AssociationRecord | undefined {
  try {
    const r = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    const fn = typeof r.fn === 'string' ? digestFunctionByName(r.fn) : undefined;
    if (
      r.v !== 1 ||
      (r.kind !== 'blob' && r.kind !== 'directory') ||
      (r.source !== 'fetch' && r.source !== 'push') ||
      typeof r.uri !== 'string' ||
      fn === undefined ||
      typeof r.hash !== 'string' ||
      typeof r.size !== 'number' ||
      typeof r.createdAt !== 'number' ||
      (r.expiresAt !== null && typeof r.expiresAt !== 'number') ||
      !Array.isArray(r.qualifiers)
    ) {
      return undefined;
    }
    const qualifiers = (r.qualifiers as unknown[]).map((q) => {
      const { name, value } = q as Record<string, unknown>;
      if (typeof name !== 'string' || typeof value !== 'string') throw new Error('bad qualifier');
      return { name, value };
    });
    return {
      kind: r.kind,
      uri: r.uri,
      digest: makeDigest(fn, r.hash, r.size),
      qualifiers,
      createdAtMs: r.createdAt,
      expiresAtMs: r.expiresAt ?? undefined,
      source: r.source,
    };
  } catch {
    return undefined;
  }
}
