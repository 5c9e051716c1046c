/**
 * How the s3 store names objects: `prefix + digest.key`, that is
 * `prefix + fn/hash_size` (e.g. `cas/sha256/ab…_1234`), and back.
 */
import { type Digest, makeDigest } from '../digest/digest.ts';
import { DIGEST_FUNCTIONS } from '../digest/digest-function.ts';

/** The digest an object key (without the prefix) names, `fn/hash_size`; undefined for other keys. */
export function parseBlobKey(key: string): Digest | undefined {
  const match = /^([a-z0-9]+)\/([0-9a-f]+)_(\d+)$/.exec(key);
  if (match === null) return undefined;
  const fn = DIGEST_FUNCTIONS.find((f) => f.name === match[1]);
  if (fn === undefined) return undefined;
  try {
    return makeDigest(fn, match[2] as string, Number(match[3]));
  } catch {
    return undefined;
  }
}
