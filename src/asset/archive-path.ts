/**
 * Validation of the names and link targets found in an archive. An archive is
 * untrusted input: a name must stay inside the tree however the tree is later
 * materialised (by Bazel, by a worker, on Linux or Windows), so anything that
 * could point elsewhere is rejected here, before any content is read.
 */
import { invalidArgument } from '../errors.ts';

/** Linux's NAME_MAX: a longer component cannot be created on the usual file systems. */
const MAX_NAME_BYTES = 255;
/** Linux's PATH_MAX; it also bounds the depth of the tree, which is encoded recursively. */
const MAX_PATH_BYTES = 4096;

/** Why a name is unsafe, or undefined; shared by entry names and link targets. */
function unsafeReason(name: string): string | undefined {
  if (name.includes('\0')) return 'contains a NUL character';
  // A backslash is a separator on Windows: `..\\x` would escape there, and `a\\b` would
  // silently become two levels. Names must mean the same thing on every platform.
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/')) return 'is absolute';
  if (/^[A-Za-z]:/.test(name)) return 'starts with a Windows drive letter';
  return undefined;
}

/** Throws unless every component fits Linux's limits. */
function checkLengths(segments: readonly string[], what: string, raw: string): void {
  for (const segment of segments) {
    if (Buffer.byteLength(segment) > MAX_NAME_BYTES) {
      throw invalidArgument(
        `${what} ${quote(raw)} has a component longer than ${MAX_NAME_BYTES} bytes`,
      );
    }
  }
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) {
    throw invalidArgument(`${what} ${quote(raw)} is longer than ${MAX_PATH_BYTES} bytes`);
  }
}

/**
 * Splits an entry name into its components, dropping empty and `.` ones
 * (`./a//b/` is `a/b`). Rejects names that are absolute, use a Windows drive or
 * backslash, or contain `..` anywhere: like GNU tar, Kiln does not try to tell
 * a harmless `a/../b` from an escaping one, because whether `a/..` is `.`
 * depends on whether `a` turns out to be a symlink. The result is empty for
 * the archive's root (`./`).
 */
export function entryPath(name: string, what = 'entry name'): string[] {
  const reason = unsafeReason(name);
  if (reason !== undefined) throw invalidArgument(`${what} ${quote(name)} ${reason}`);
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    throw invalidArgument(`${what} ${quote(name)} contains '..'`);
  }
  checkLengths(segments, what, name);
  return segments;
}

/**
 * Validates the target of a symlink at `linkPath` (the link's own components)
 * and returns it in canonical form: `.` and empty components removed, and
 * every `..` that follows a name folded into it, so that `..` only appears as
 * a prefix. Rejects absolute targets and targets that climb above the root.
 *
 * Folding matters for safety, not only for cache hits: with `d/up -> ..`, the
 * target `up/../../etc` of `d/x` stays inside by lexical reading but, followed
 * on disk, climbs from the root's parent. Canonical targets leave the tree
 * only through leading `..`s, which walk up real directories (entries never go
 * through symlinks), and every other step descends into a name that is itself
 * a checked symlink or a real node. REAPI recommends canonical targets anyway.
 */
export function symlinkTarget(linkPath: readonly string[], target: string): string {
  const link = linkPath.join('/');
  if (target === '') throw invalidArgument(`symlink ${quote(link)} has an empty target`);
  const reason = unsafeReason(target);
  if (reason !== undefined) {
    throw invalidArgument(`symlink ${quote(link)} -> ${quote(target)}: the target ${reason}`);
  }
  const stack: string[] = [];
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..' && stack.length > 0 && stack[stack.length - 1] !== '..') stack.pop();
    else stack.push(segment);
  }
  checkLengths(stack, `symlink ${quote(link)} target`, target);
  const ups = stack.filter((s) => s === '..').length;
  // The link's parent directory is linkPath.length - 1 levels below the root.
  if (ups > linkPath.length - 1) {
    throw invalidArgument(
      `symlink ${quote(link)} -> ${quote(target)} points outside the archive's root`,
    );
  }
  return stack.length === 0 ? '.' : stack.join('/');
}

/** Quotes a name for an error message, cut short so that a hostile name cannot flood logs. */
export function quote(name: string): string {
  const shown = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  return JSON.stringify(shown);
}
