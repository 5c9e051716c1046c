/**
 * Values that make fuzz inputs reach past the first check: digests of blobs
 * that exist, resource names that parse, operation and bot names the server
 * handed out, and the usual troublemakers (empty, huge, path traversal,
 * NUL, values at the edges of the integer types).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Prng } from './prng.ts';

/** A blob the fuzzer uploaded before the run and checks at the end. */
export interface KnownBlob {
  readonly hash: string;
  readonly size: number;
  readonly data: Buffer;
  /** What it is: `random-70000`, `directory`, `action`… */
  readonly label: string;
}

/** Makes a {@link KnownBlob} (SHA-256) of `data`. */
export function knownBlob(label: string, data: Buffer): KnownBlob {
  return { hash: createHash('sha256').update(data).digest('hex'), size: data.length, data, label };
}

/** Strings that break parsers: separators, traversal, control characters, odd Unicode. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  'a',
  '/',
  '//',
  '.',
  '..',
  '../../../../etc/passwd',
  '/etc/passwd',
  '\u0000',
  'a\u0000b',
  '%00',
  '%2e%2e%2f',
  '\\..\\..\\',
  '\u202e\u0301\ud83d\ude00',
  'blobs',
  'uploads',
  'compressed-blobs',
  'compressed-blobs/zstd',
  'operations/',
  ' ',
  '\n',
  '-1',
  '18446744073709551616',
  'NaN',
  '{}',
];

/** 64-bit values at the edges: sign, 2^31, 2^32, 2^53, 2^60, 2^63. */
export const EDGE_INT64: readonly bigint[] = [
  0n,
  1n,
  -1n,
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 60n,
  2n ** 63n - 1n,
  -(2n ** 63n),
];

/** 32-bit values at the edges. */
export const EDGE_INT32: readonly number[] = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 255, 65536];

/** The most names of each kind remembered from responses. */
const MAX_REMEMBERED = 64;

/** Known values for one run. */
export class Dictionary {
  readonly blobs: readonly KnownBlob[];
  readonly instanceNames: readonly string[] = ['', '', 'main', 'fuzz/instance', '..', 'a/blobs'];
  /** Base URL of the fuzzer's own HTTP origin, for Remote Asset fetches. */
  readonly originUrl: string | undefined;
  readonly #operations: string[] = [];
  readonly #bots: string[] = [];
  readonly #uploads: string[] = [];

  constructor(options: { blobs: readonly KnownBlob[]; originUrl?: string }) {
    this.blobs = options.blobs;
    this.originUrl = options.originUrl;
  }

  /** Remembers a name the server handed out (an operation, a bot session, an upload id). */
  remember(kind: 'operation' | 'bot' | 'upload', name: string): void {
    const list =
      kind === 'operation' ? this.#operations : kind === 'bot' ? this.#bots : this.#uploads;
    if (name === '' || list.includes(name)) return;
    list.push(name);
    if (list.length > MAX_REMEMBERED) list.shift();
  }

  blob(rng: Prng): KnownBlob {
    return rng.pick(this.blobs);
  }

  instanceName(rng: Prng): string {
    return rng.pick(this.instanceNames);
  }

  /** An operation name: one the server returned, or a made-up one. */
  operationName(rng: Prng): string {
    if (this.#operations.length > 0 && rng.chance(0.7)) return rng.pick(this.#operations);
    return rng.pick(['', 'operations/', `operations/${randomUUID()}`, rng.pick(NASTY_STRINGS)]);
  }

  /** A bot session name: one the server returned, or a made-up one. */
  botName(rng: Prng): string {
    if (this.#bots.length > 0 && rng.chance(0.7)) return rng.pick(this.#bots);
    return rng.pick(['', 'bots/x', `${randomUUID()}`, rng.pick(NASTY_STRINGS)]);
  }

  /** An upload id used earlier in the run (for QueryWriteStatus and resumed writes). */
  uploadId(rng: Prng): string {
    if (this.#uploads.length > 0 && rng.chance(0.7)) return rng.pick(this.#uploads);
    return randomUUID();
  }

  /** A hash: of a known blob, of the wrong length, not hex, or upper case. */
  hash(rng: Prng): string {
    const known = this.blob(rng).hash;
    switch (rng.int(8)) {
      case 0:
        return known.toUpperCase();
      case 1:
        return known.slice(0, rng.int(64));
      case 2:
        return rng.bytes(rng.pick([16, 20, 32, 48, 64])).toString('hex');
      case 3:
        return rng.pick(NASTY_STRINGS);
      case 4:
        return `${known}0`;
      default:
        return known;
    }
  }

  /** A ByteStream read resource name, mostly well formed. */
  readResourceName(rng: Prng): string {
    const blob = this.blob(rng);
    const instance = this.instanceName(rng);
    const prefix = instance === '' ? '' : `${instance}/`;
    const size = rng.chance(0.8) ? String(blob.size) : this.sizeText(rng);
    const hash = rng.chance(0.8) ? blob.hash : this.hash(rng);
    switch (rng.int(6)) {
      case 0:
        return `${prefix}compressed-blobs/${rng.pick(['zstd', 'identity', 'deflate', 'lz4'])}/${hash}/${size}`;
      case 1:
        return `${prefix}blobs/${rng.pick(['sha256', 'blake3', 'md5', 'x'])}/${hash}/${size}`;
      case 2:
        return `${prefix}blobs/${hash}/${size}/${rng.pick(NASTY_STRINGS)}`;
      default:
        return `${prefix}blobs/${hash}/${size}`;
    }
  }

  /** A ByteStream write resource name for `blob` (or a random known one), mostly well formed. */
  writeResourceName(rng: Prng, blob?: { hash: string; size: number }, compressor?: string): string {
    const target = blob ?? this.blob(rng);
    const instance = this.instanceName(rng);
    const prefix = instance === '' ? '' : `${instance}/`;
    const id = this.uploadId(rng);
    this.remember('upload', id);
    const kind = compressor === undefined ? 'blobs' : `compressed-blobs/${compressor}`;
    const metadata = rng.chance(0.1) ? `/${rng.pick(NASTY_STRINGS)}/meta` : '';
    return `${prefix}uploads/${id}/${kind}/${target.hash}/${target.size}${metadata}`;
  }

  /** A size as text: near the real one, negative, huge, not a number. */
  sizeText(rng: Prng): string {
    return rng.pick([
      '0',
      '-1',
      '1',
      '4294967296',
      '9007199254740993',
      '99999999999999999999',
      'x',
      '',
    ]);
  }

  /** A Remote Asset qualifier name: the ones Kiln knows, and others. */
  qualifierName(rng: Prng): string {
    return rng.pick([
      'checksum.sri',
      'checksum.sri',
      'bazel.canonical_id',
      'resource_type',
      'http_header:Authorization',
      'http_header_url:0:Accept',
      'http_header_url:99:X',
      'vcs.commit',
      rng.pick(NASTY_STRINGS),
    ]);
  }

  /** A Remote Asset qualifier value: an SRI of a known blob, a media type, a header value. */
  qualifierValue(rng: Prng): string {
    const blob = this.blob(rng);
    return rng.pick([
      `sha256-${Buffer.from(blob.hash, 'hex').toString('base64')}`,
      `sha256-${Buffer.from(blob.hash, 'hex').toString('base64')}`,
      'sha512-AAAA',
      'md5-x',
      'application/x-tar',
      'application/zip',
      'Bearer x',
      rng.pick(NASTY_STRINGS),
    ]);
  }

  /** A URI for Remote Asset requests: the local origin's paths, and schemes that must be refused. */
  uri(rng: Prng): string {
    const local = this.originUrl;
    if (local !== undefined && rng.chance(0.6)) {
      return `${local}/${rng.pick(['blob/0', 'blob/1', 'missing', 'slow', 'huge', 'redirect', 'garbage.tar.gz', 'garbage.zip'])}`;
    }
    return rng.pick([
      'http://127.0.0.1:1/closed',
      'http://169.254.169.254/latest/meta-data/',
      'file:///etc/passwd',
      'ftp://127.0.0.1/x',
      'http://[::1]:1/',
      'https://127.0.0.1:1/x',
      'not a uri',
      'http://',
      '',
      rng.pick(NASTY_STRINGS),
    ]);
  }
}
