/**
 * Clears what a previous worker process left in its build root: build
 * directories of actions it was running when it was killed, and its trash.
 * The old root is renamed aside at once (so the new process starts empty) and
 * deleted in the background (it may be large).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import type { Logger } from '../util/logger.ts';

/**
 * Moves `buildRoot` aside when it holds anything, and removes it in the
 * background. Resolves once the move is done (or nothing was there); the
 * returned promise of the removal is for tests.
 */
export async function discardLeftovers(
  buildRoot: string,
  log?: Logger,
): Promise<{ removed: Promise<void> }> {
  let entries: string[];
  try {
    entries = await readdir(buildRoot);
  } catch {
    return { removed: Promise.resolve() };
  }
  if (entries.length === 0) return { removed: Promise.resolve() };
  const aside = `${buildRoot}.old-${randomBytes(6).toString('hex')}`;
  await rename(buildRoot, aside);
  const removed = rm(aside, { recursive: true, force: true, maxRetries: 2 }).catch((err: unknown) =>
    log?.warn({ err, path: aside }, 'could not remove the previous build directories'),
  );
  return { removed };
}
