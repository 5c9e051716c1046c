/**
 * The validated digest value used everywhere inside Kiln. Proto digests are
 * converted at the RPC boundary by {@link parseDigest}; nothing past that sees
 * a raw proto digest.
 */
import { invalidArgument, withContext } from '../errors.ts';
import { type DigestFunction, hashBuffer, resolveDigestFunction } from './digest-function.ts';

/** A content digest: hash and size under one digest function. Immutable. */
export interface Digest {
  readonly fn: DigestFunction;
  readonly hash: string;
  readonly size: number;
  /** Stable storage key, `fn/hash_size`, safe as a relative file path. */
  readonly key: string;
}

/** The shape of `build.bazel.remote.execution.v2.Digest` as generated. */
export interface DigestMessage {
  hash: string;
  sizeBytes: number;
}

const HEX = /^[0-9a-f]+$/;

/** Builds a Digest after checking the hash format and size. */
export function makeDigest(
  fn: DigestFunction,
  hash: string,
  size: number,
  what = 'digest',
): Digest {
  if (hash.length !== fn.hexLength || !HEX.test(hash)) {
    throw invalidArgument(
      `${what}: hash "${truncate(hash)}" is not a valid ${fn.name.toUpperCase()} hash ` +
        `(expected ${fn.hexLength} lower-case hexadecimal characters)`,
    );
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw invalidArgument(`${what}: size_bytes ${size} must be a non-negative integer`);
  }
  return Object.freeze({ fn, hash, size, key: `${fn.name}/${hash}_${size}` });
}

/**
 * Validates a proto digest from a request. `fnValue` is the request's
 * `digest_function`; UNKNOWN (0) is inferred from the hash length.
 */
export function parseDigest(
  message: DigestMessage | undefined,
  fnValue: number,
  what = 'digest',
): Digest {
  if (message === undefined) throw invalidArgument(`${what} is missing`);
  let fn: DigestFunction;
  try {
    fn = resolveDigestFunction(fnValue, message.hash);
  } catch (err) {
    throw withContext(err, what);
  }
  return makeDigest(fn, message.hash, message.sizeBytes, what);
}

/** Converts back to the proto shape. */
export function toDigestMessage(d: Digest): DigestMessage {
  return { hash: d.hash, sizeBytes: d.size };
}

/** `hash/size`, the form Bazel prints and the CLI accepts. */
export function formatDigest(d: Digest): string {
  return `${d.hash}/${d.size}`;
}

/** True for the empty blob, which Kiln treats as always present. */
export function isEmptyDigest(d: Digest): boolean {
  return d.size === 0 && d.hash === d.fn.emptyHash;
}

/** Computes the digest of a buffer. */
export async function digestOf(fn: DigestFunction, data: Uint8Array): Promise<Digest> {
  return makeDigest(fn, await hashBuffer(fn, data), data.byteLength);
}

function truncate(s: string): string {
  return s.length > 140 ? `${s.slice(0, 140)}…` : s;
}
