/**
 * Digests typed on the command line, in every form the web UI accepts:
 * `HASH/SIZE` (as Bazel prints it and every client command prints back),
 * `HASH-SIZE`, `FUNCTION/HASH/SIZE`, a ByteStream resource name or an
 * execution-log digest. A function named in the text must be the one the
 * command uses (`--digest-function`, sha256 by default).
 */
import { type Digest, isLowerHex, makeDigest } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import {
  DIGEST_FORMS,
  digestFunctionByNameOrUndefined,
  splitDigestText,
} from '../ui/digest-input.ts';
import { UsageError } from './cli-errors.ts';

/** Parses a digest under `fn`; UsageError naming `what` when malformed. */
export function parseDigestArg(text: string, fn: DigestFunction, what = 'digest'): Digest {
  const parts = splitDigestText(text);
  if (parts === undefined) {
    throw new UsageError(
      `invalid ${what} "${text}": expected ${DIGEST_FORMS}, e.g. ${fn.emptyHash.slice(0, 12)}…/0`,
    );
  }
  const digestFunction = fn;
  // A segment before the hash that names no function is a path (`blobs/HASH/SIZE`).
  const named =
    parts.named === undefined ? undefined : digestFunctionByNameOrUndefined(parts.named);
  if (named !== undefined) {
    if (named !== fn) {
      throw new UsageError(
        `${what} "${text}" is a ${named.name} digest; add --digest-function ${named.name} (the command uses ${fn.name})`,
      );
    }
  }
  const hash = parts.hash.toLowerCase();
  const size = Number(parts.size);
  if (hash.length !== digestFunction.hexLength || !isLowerHex(hash)) {
    throw new UsageError(
      `invalid ${what} "${text}": a ${digestFunction.name} hash has ${digestFunction.hexLength} hexadecimal digits, not ${hash.length}` +
        (named === undefined ? ' (choose another function with --digest-function)' : ''),
    );
  }
  if (!Number.isSafeInteger(size))
    throw new UsageError(`invalid ${what} "${text}": size too large`);
  return makeDigest(digestFunction, hash, size, what);
}

/** True when `text` has the shape of a digest (to tell a digest from a path). */
export function looksLikeDigest(text: string): boolean {
  return splitDigestText(text) !== undefined;
}
