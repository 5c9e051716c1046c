// @ts-check
/**
 * Emptying a used input root while keeping its directories, so that the next
 * action staged there creates only the directories it does not find. On
 * file systems where creating and deleting inodes is dear (ext4 without a
 * journal scans past recently freed inodes on every creation), a remote
 * build's actions share most of their directory skeleton (`bazel-out/<config>/bin`,
 * `external/<repo>/…`), and keeping it saves a mkdir and a rmdir per
 * directory per action.
 *
 * Plain JavaScript (types in JSDoc, checked by `npm run typecheck`) that
 * imports only Node.js built-ins: the spawn helper runs this, and loading
 * no TypeScript keeps it small (see `spawn-helper.mjs`).
 */
import { lstatSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Which directories may stay: at most `limit` of them (the rest are
 * deleted), and only those whose permission bits are `mode`, those of a
 * fresh directory (others are deleted).
 * @typedef {{ readonly mode: number, readonly limit: number }} KeepDirectories
 */

/**
 * Deletes everything under `root` except directories with `keep.mode`,
 * keeping at most `keep.limit` of them, and returns the kept ones as paths
 * relative to `root`, parents before children. Never follows a symlink.
 * Throws when something cannot be deleted.
 * @param {string} root
 * @param {KeepDirectories} keep
 * @returns {string[]}
 */
export function emptyKeepingDirectoriesSync(root, keep) {
  /** @type {string[]} */
  const kept = [];
  /** @param {string} relative */
  const walk = (relative) => {
    const dir = relative === '' ? root : join(root, relative);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (!entry.isDirectory()) {
        unlinkSync(path);
        continue;
      }
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (kept.length < keep.limit && (lstatSync(path).mode & 0o7777) === keep.mode) {
        kept.push(child);
        walk(child);
      } else {
        rmSync(path, { recursive: true, force: true, maxRetries: 2 });
      }
    }
  };
  walk('');
  return kept;
}
