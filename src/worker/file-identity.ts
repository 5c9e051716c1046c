/**
 * The identity of a cached file's state, by which the file cache finds a
 * file that an action running as the worker's own user changed in place.
 */
import type { BigIntStats } from 'node:fs';

/**
 * What identifies a cache file's state. ctime would be the tamper-proof
 * choice, but every link to the inode and every unlink of one (each
 * build directory staged or removed, an action deleting an input) changes
 * it too. A write changes mtime (which its owner could set back on
 * purpose: this catches accidents, not an adversary with the worker's
 * user, who could rewrite the cache directory anyway), a chmod the mode,
 * a replacement the inode.
 */
export interface FileIdentity {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mode: bigint;
  readonly mtimeNs: bigint;
}

export function identityOf(s: BigIntStats): FileIdentity {
  return { ino: s.ino, size: s.size, mode: s.mode & 0o7777n, mtimeNs: s.mtimeNs };
}

/** `mode 444 -> 644, size 5 -> 14, mtime changed`, or undefined when nothing differs. */
export function describeChange(was: FileIdentity, now: FileIdentity): string | undefined {
  if (now.ino !== was.ino) return 'replaced by another file';
  const parts: string[] = [];
  if (now.mode !== was.mode) parts.push(`mode ${was.mode.toString(8)} -> ${now.mode.toString(8)}`);
  if (now.size !== was.size) parts.push(`size ${was.size} -> ${now.size}`);
  if (now.mtimeNs !== was.mtimeNs) parts.push('mtime changed');
  return parts.length === 0 ? undefined : parts.join(', ');
}
