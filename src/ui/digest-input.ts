/**
 * Turns what a user pastes or a URL carries into a validated {@link Digest}.
 * The UI accepts every form a digest is commonly printed in, so a digest
 * copied from Bazel's output, an execution log or a ByteStream resource name
 * can be looked up as is.
 */
import { type Digest, makeDigest } from '../digest/digest.ts';
import {
  DIGEST_FUNCTIONS,
  type DigestFunction,
  digestFunctionByName,
  resolveDigestFunction,
} from '../digest/digest-function.ts';
import { invalidArgument } from '../errors.ts';

const FUNCTION_NAMES = DIGEST_FUNCTIONS.map((f) => f.name).join(', ');

/**
 * Resolves a digest function name as users write it: `sha256`, `SHA256`,
 * `SHA-256` (Bazel's execution log), `blake3`. INVALID_ARGUMENT when unknown.
 */
export function digestFunctionParam(name: string): DigestFunction {
  const fn = digestFunctionByName(name.toLowerCase().replace(/-/g, ''));
  if (fn === undefined) {
    throw invalidArgument(
      `unknown digest function "${truncate(name)}"; expected one of ${FUNCTION_NAMES}`,
    );
  }
  return fn;
}

/** Validates the `:fn/:hash/:size` segments of a UI URL such as `/cas/sha256/<hash>/<size>`. */
export function digestFromParams(fnName: string, hash: string, size: string): Digest {
  const fn = digestFunctionParam(fnName);
  if (!/^\d{1,16}$/.test(size)) {
    throw invalidArgument(`size "${truncate(size)}" must be a non-negative decimal integer`);
  }
  return makeDigest(fn, hash, Number(size), 'digest');
}

/** `hash` and `size_bytes` in JSON or protobuf text form, as execution logs print them. */
const FIELD_FORM =
  /hash["']?\s*[:=]\s*["']?([0-9a-fA-F]+)["']?[\s\S]*?size_?bytes["']?\s*[:=]\s*["']?(\d+)/i;
/** `[fn/]hash/size`, `hash-size`, `hash_size` or `hash:size`, possibly inside a longer path. */
const PATH_FORM =
  /(?:^|\/)(?:([a-zA-Z0-9-]{3,8})\/)?([0-9a-fA-F]{32,128})[/\-_:](\d+)(?=$|[/?#\s])/;
/** The digest function named in an execution log entry (`"hashFunctionName": "SHA-256"`). */
const FIELD_FUNCTION = /hash_?function_?name["']?\s*[:=]\s*["']?([A-Za-z0-9-]+)/i;

/**
 * Parses a digest in any of the forms Bazel and REAPI tools print it:
 * `HASH/SIZE` (Bazel), `HASH-SIZE`, `sha256/HASH/SIZE`, a ByteStream
 * resource name or `bytestream://` URI (`…/blobs/[fn/]HASH/SIZE`), or an
 * execution-log digest (`{"hash": …, "sizeBytes": …, "hashFunctionName": …}`).
 * `fnName` (a form field) overrides the function; without either, it is
 * inferred from the hash length, so a 64-character hash means SHA-256.
 */
export function parseDigestText(text: string, fnName?: string): Digest {
  const input = text.trim();
  if (input === '') throw invalidArgument('enter a digest, for example HASH/SIZE');
  const parts = splitDigestText(input);
  if (parts === undefined) {
    throw invalidArgument(`"${truncate(input)}" is not a digest; expected ${DIGEST_FORMS}`);
  }
  const { named, size } = parts;
  const hash = parts.hash.toLowerCase();
  const explicit = fnName === undefined || fnName === '' ? undefined : digestFunctionParam(fnName);
  const fromText = named === undefined ? undefined : digestFunctionByNameOrUndefined(named);
  if (explicit !== undefined && fromText !== undefined && explicit !== fromText) {
    throw invalidArgument(
      `the digest names ${fromText.name} but the form asks for ${explicit.name}`,
    );
  }
  const fn = explicit ?? fromText ?? resolveDigestFunction(0, hash);
  return makeDigest(fn, hash, Number(size), 'digest');
}

/** The forms {@link splitDigestText} accepts, for messages. */
export const DIGEST_FORMS =
  'HASH/SIZE (as Bazel prints it), HASH-SIZE, FUNCTION/HASH/SIZE or a ByteStream resource name';

/**
 * The parts of a digest in any form {@link parseDigestText} accepts, not yet
 * validated: the function name when the text carries one, the hash as
 * written and the size in decimal. Undefined when `text` has no digest form.
 * The command line shares this, so it takes what the UI takes.
 */
export function splitDigestText(
  text: string,
): { named: string | undefined; hash: string; size: string } | undefined {
  const input = text.trim();
  const field = FIELD_FORM.exec(input);
  if (field !== null) {
    const [, hash, size] = field;
    if (hash === undefined || size === undefined) return undefined;
    return { named: FIELD_FUNCTION.exec(input)?.[1], hash, size };
  }
  const path = input.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  const match = PATH_FORM.exec(path);
  if (match === null) return undefined;
  const [, named, hash, size] = match;
  if (hash === undefined || size === undefined) return undefined;
  return { named, hash, size };
}

/** A digest function by a name as written (`SHA-256`, `sha256`), or undefined. */
export function digestFunctionByNameOrUndefined(name: string): DigestFunction | undefined {
  return digestFunctionByName(name.toLowerCase().replace(/-/g, ''));
}

function truncate(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
