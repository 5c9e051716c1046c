/**
 * The digest functions Kiln supports, their REAPI enum values, and streaming
 * hashers for them. SHA-* and MD5 use Node's OpenSSL; BLAKE3 uses hash-wasm.
 */
import { createHash, type Hash, hash } from 'node:crypto';
import { createBLAKE3 } from 'hash-wasm';
import { invalidArgument } from '../errors.ts';

/** Lower-case names, as used in ByteStream resource names and configuration. */
export type DigestFunctionName = 'sha256' | 'sha1' | 'md5' | 'sha384' | 'sha512' | 'blake3';

/** One supported digest function. */
export interface DigestFunction {
  readonly name: DigestFunctionName;
  /** Value of `build.bazel.remote.execution.v2.DigestFunction.Value`. */
  readonly value: number;
  /** Length of the hash in lower-case hexadecimal characters. */
  readonly hexLength: number;
  /** Hash of the empty blob, which every CAS holds implicitly. */
  readonly emptyHash: string;
  /** Whether ByteStream resource names must omit this function's segment (REAPI 2.3). */
  readonly inferredFromLength: boolean;
}

/** Incremental hasher. */
export interface Hasher {
  update(data: Uint8Array): void;
  /** Lower-case hexadecimal hash of everything passed to update. */
  digest(): string;
}

const fn = (
  name: DigestFunctionName,
  value: number,
  hexLength: number,
  emptyHash: string,
  inferredFromLength: boolean,
): DigestFunction => Object.freeze({ name, value, hexLength, emptyHash, inferredFromLength });

export const SHA256 = fn(
  'sha256',
  1,
  64,
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  true,
);
export const SHA1 = fn('sha1', 2, 40, 'da39a3ee5e6b4b0d3255bfef95601890afd80709', true);
export const MD5 = fn('md5', 3, 32, 'd41d8cd98f00b204e9800998ecf8427e', true);
export const SHA384 = fn(
  'sha384',
  5,
  96,
  '38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b',
  true,
);
export const SHA512 = fn(
  'sha512',
  6,
  128,
  'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
  true,
);
export const BLAKE3 = fn(
  'blake3',
  9,
  64,
  'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
  false,
);

/** Every supported function, SHA-256 first (the default). */
export const DIGEST_FUNCTIONS: readonly DigestFunction[] = [
  SHA256,
  SHA1,
  MD5,
  SHA384,
  SHA512,
  BLAKE3,
];

const byValue = new Map(DIGEST_FUNCTIONS.map((f) => [f.value, f]));
const byName = new Map(DIGEST_FUNCTIONS.map((f) => [f.name, f]));
const inferable = DIGEST_FUNCTIONS.filter((f) => f.inferredFromLength);
/**
 * Inferable functions indexed by hash length: resolving runs once per digest
 * of every request, and an array index is cheaper than a Map lookup there.
 */
const byInferredLength: (DigestFunction | undefined)[] = [];
for (const f of inferable) byInferredLength[f.hexLength] = f;

/** Names REAPI gives to enum values Kiln does not support, for clearer errors. */
const unsupportedNames: Record<number, string> = { 4: 'VSO', 7: 'MURMUR3', 8: 'SHA256TREE' };

/** Looks up a function by its lower-case name, or undefined. */
export function digestFunctionByName(name: string): DigestFunction | undefined {
  return byName.get(name as DigestFunctionName);
}

/**
 * Resolves the digest function of a request. `value` 0 (UNKNOWN) means the
 * client did not say; REAPI then infers it from the hash length, which is what
 * `hashForInference` is for. Without a hash, UNKNOWN means SHA-256.
 */
export function resolveDigestFunction(value: number, hashForInference?: string): DigestFunction {
  if (value === 0) {
    if (hashForInference === undefined) return SHA256;
    const inferred = byInferredLength[hashForInference.length];
    if (inferred === undefined) {
      throw invalidArgument(
        `cannot infer the digest function from a hash of ${hashForInference.length} characters; ` +
          `expected ${inferable.map((f) => `${f.hexLength} (${f.name})`).join(', ')}, ` +
          'or set digest_function in the request',
      );
    }
    return inferred;
  }
  const found = byValue.get(value);
  if (found === undefined) {
    const known = unsupportedNames[value];
    throw invalidArgument(
      `digest function ${known ?? value} is not supported; supported: ${DIGEST_FUNCTIONS.map((f) => f.name.toUpperCase()).join(', ')}`,
    );
  }
  return found;
}

let blake3Ready: Promise<unknown> | undefined;

/** Creates a streaming hasher for `f`. */
export async function createHasher(f: DigestFunction): Promise<Hasher> {
  if (f.name === 'blake3') {
    blake3Ready ??= createBLAKE3();
    await blake3Ready;
    const h = await createBLAKE3();
    return { update: (d) => void h.update(d), digest: () => h.digest('hex') };
  }
  return new NodeHasher(createHash(f.name));
}

/**
 * A streaming hasher for `f` at once, without a promise turn: for the
 * functions Node.js implements; undefined for BLAKE3 (use {@link createHasher}).
 */
export function createHasherSync(f: DigestFunction): Hasher | undefined {
  return f.name === 'blake3' ? undefined : new NodeHasher(createHash(f.name));
}

/**
 * The hash of one buffer at once, for the functions Node.js implements
 * (undefined for BLAKE3): no Hash object, which for the small blobs of a
 * build costs more than the hashing.
 */
export function hashSync(f: DigestFunction, data: Uint8Array): string | undefined {
  return f.name === 'blake3' ? undefined : hash(f.name, data, 'hex');
}

class NodeHasher implements Hasher {
  readonly #hash: Hash;

  constructor(h: Hash) {
    this.#hash = h;
  }

  update(data: Uint8Array): void {
    this.#hash.update(data);
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Hashes a whole buffer. */
export async function hashBuffer(f: DigestFunction, data: Uint8Array): Promise<string> {
  const now = hashSync(f, data);
  if (now !== undefined) return now;
  const h = await createHasher(f);
  h.update(data);
  return h.digest();
}
