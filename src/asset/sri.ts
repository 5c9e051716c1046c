/**
 * Subresource Integrity values (`sha256-<base64>`), the form of the
 * `checksum.sri` qualifier: parsing, and the conversion between SRI and the
 * hexadecimal hashes of Kiln digests.
 */
import { type DigestFunction, SHA256, SHA384, SHA512 } from '../digest/digest-function.ts';
import { invalidArgument } from '../errors.ts';

/** One expected hash of an SRI value. */
export interface SriHash {
  /** The digest function the hash belongs to (SHA-256, SHA-384 or SHA-512). */
  readonly fn: DigestFunction;
  /** Lower-case hexadecimal hash. */
  readonly hex: string;
}

const ALGORITHMS: Readonly<Record<string, DigestFunction>> = {
  sha256: SHA256,
  sha384: SHA384,
  sha512: SHA512,
};

/**
 * Parses an SRI value: one or more whitespace-separated `alg-base64` tokens
 * (options after `?` are ignored, as the SRI specification says). Every token
 * must name a supported algorithm and carry a hash of the right length.
 * Content matches only when it matches every token: stricter than browsers,
 * which accept any token of the strongest algorithm, but an SRI with two
 * different hashes is a client mistake worth reporting.
 */
export function parseSri(value: string): SriHash[] {
  const tokens = value.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw invalidArgument('qualifier checksum.sri is empty');
  return tokens.map((token) => {
    const dash = token.indexOf('-');
    const algorithm = dash < 0 ? '' : token.slice(0, dash).toLowerCase();
    const fn = ALGORITHMS[algorithm];
    if (fn === undefined) {
      throw invalidArgument(
        `qualifier checksum.sri "${token}": unsupported algorithm ${JSON.stringify(algorithm)} ` +
          '(expected sha256-, sha384- or sha512- followed by base64)',
      );
    }
    const encoded = token.slice(dash + 1).split('?')[0] ?? '';
    const bytes = /^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64') : null;
    if (bytes === null || bytes.byteLength * 2 !== fn.hexLength) {
      throw invalidArgument(
        `qualifier checksum.sri "${token}": expected the base64 of a ${fn.hexLength / 2}-byte ${algorithm} hash`,
      );
    }
    return { fn, hex: bytes.toString('hex') };
  });
}

/** The SRI form of a hexadecimal hash, e.g. for responses and tests. */
export function toSri(fn: DigestFunction, hex: string): string {
  if (ALGORITHMS[fn.name] === undefined) {
    throw invalidArgument(`digest function ${fn.name} has no SRI form`);
  }
  return `${fn.name}-${Buffer.from(hex, 'hex').toString('base64')}`;
}
