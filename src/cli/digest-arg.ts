/**
 * Digests typed on the command line: `HASH/SIZE`, the form Bazel prints and
 * every client command prints back.
 */
import { type Digest, isLowerHex, makeDigest } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import { UsageError } from './cli-errors.ts';

/** Parses `HASH/SIZE` under `fn`; UsageError naming `what` when malformed. */
export function parseDigestArg(text: string, fn: DigestFunction, what = 'digest'): Digest {
  const match = /^([0-9a-fA-F]+)\/(\d+)$/.exec(text.trim());
  if (match === null) {
    throw new UsageError(
      `invalid ${what} "${text}": expected HASH/SIZE, e.g. ${fn.emptyHash.slice(0, 12)}…/0`,
    );
  }
  const hash = (match[1] as string).toLowerCase();
  const size = Number(match[2]);
  if (hash.length !== fn.hexLength || !isLowerHex(hash)) {
    throw new UsageError(
      `invalid ${what} "${text}": a ${fn.name} hash has ${fn.hexLength} hexadecimal digits, not ${hash.length}` +
        ' (choose another function with --digest-function)',
    );
  }
  if (!Number.isSafeInteger(size))
    throw new UsageError(`invalid ${what} "${text}": size too large`);
  return makeDigest(fn, hash, size, what);
}

/** True when `text` has the shape of a digest (to tell a digest from a path). */
export function looksLikeDigest(text: string): boolean {
  return /^[0-9a-fA-F]{32,128}\/\d+$/.test(text.trim());
}
