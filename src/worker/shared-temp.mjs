// @ts-check
/**
 * Removes what an action user left in the machine's shared temporary
 * directories (`/tmp`, `/var/tmp`, `/dev/shm`), so that an action can
 * neither hand files to a later action there (one that reads a fixed name,
 * or its own user's next action) nor plant traps for it. The spawn helper
 * does it right after the user's processes are ended (see
 * direct-process-launcher.mjs): nothing of the user can make more entries
 * meanwhile, and the user runs nothing else until it is done.
 *
 * Only the top level of each directory is looked at, and only entries owned
 * by the user go: the directories are sticky, so nobody else can have
 * renamed or replaced them. They are removed by a process running as that
 * user (`rm -rf`, after `chmod -R u+rwx` of its own directories, which an
 * action may have closed to itself), never by root: whatever a process of
 * another user does inside them meanwhile, the removal can reach only what
 * the action's user could, and follows no link.
 *
 * Looking costs one `readdir` and one `lstat` per entry. To spare that
 * after most actions, a directory whose change time (ctime) is what it was
 * at the last look is not listed again: creating, renaming or removing an
 * entry sets it to the current time, and unlike the modification time
 * nobody can set it back (`utimensat` sets it to now too). The entries of
 * every user seen then are remembered, so an unchanged directory still
 * answers for any user. A ctime within {@link SETTLE_MS} of the look is not
 * trusted: the kernel stamps changes with a clock that advances in ticks, so
 * a change in the same tick as the look could leave it equal.
 *
 * Plain JavaScript that imports only Node.js built-ins: the spawn helper runs
 * it (see `spawn-helper.mjs`).
 */
import { spawn } from 'node:child_process';
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The shared temporary directories swept by default. */
export const SHARED_TEMP_DIRECTORIES = Object.freeze(['/tmp', '/var/tmp', '/dev/shm']);

/** A directory changed less than this long before a look is listed again next time. */
const SETTLE_MS = 100;

/** Longest the removal of one user's entries may take. */
const REMOVE_TIMEOUT_MS = 60_000;

/**
 * What the last listing of one directory found.
 * @typedef {{
 *   readonly ctimeNs: bigint,
 *   readonly owners: Map<number, string[]>,
 * }} Listing
 */

/** Finds and removes what a user owns at the top of the shared temporary directories. */
export class SharedTempSweeper {
  /** @type {readonly string[]} */
  #directories;
  /** @type {Map<string, Listing>} */
  #listings = new Map();
  /** Full listings made so far (for tests and measurements). */
  listings = 0;

  /** @param {readonly string[]} [directories] */
  constructor(directories = SHARED_TEMP_DIRECTORIES) {
    this.#directories = directories;
  }

  /**
   * The paths of the entries `uid` owns at the top of the directories.
   * @param {number} uid
   * @returns {string[]}
   */
  owned(uid) {
    /** @type {string[]} */
    const found = [];
    for (const dir of this.#directories) {
      for (const name of this.#candidates(dir, uid)) {
        const path = join(dir, name);
        // Remembered names are checked again: the entry may be gone since.
        if (lstatSync(path, { throwIfNoEntry: false })?.uid === uid) found.push(path);
      }
    }
    return found;
  }

  /**
   * Removes every entry `uid` owns at the top of the directories, as that
   * user; resolves with how many went. Rejects when some stayed. Nothing of
   * the user may be running (the caller has ended its processes).
   * @param {number} uid
   * @param {number} gid the group the removal runs as
   * @returns {Promise<number>}
   */
  async sweep(uid, gid) {
    if (!Number.isInteger(uid) || uid <= 0 || uid === process.getuid?.()) {
      throw new RangeError(`refusing to remove the temporary files of user ${uid}`);
    }
    const paths = this.owned(uid);
    if (paths.length === 0) return 0;
    const complaint = await removeAsUser(paths, uid, gid);
    const left = paths.filter((p) => lstatSync(p, { throwIfNoEntry: false })?.uid === uid);
    if (left.length > 0) {
      throw new Error(
        `${left.length} entries of user ${uid} could not be removed from the shared temporary directories (${left.slice(0, 3).join(', ')}): ${complaint}`,
      );
    }
    return paths.length;
  }

  /**
   * The names in `dir` that may be the user's: from the last listing when
   * the directory has not changed since, else from a new one.
   * @param {string} dir
   * @param {number} uid
   * @returns {readonly string[]}
   */
  #candidates(dir, uid) {
    const now = Date.now();
    const info = statSync(dir, { bigint: true, throwIfNoEntry: false });
    if (info === undefined) return [];
    const known = this.#listings.get(dir);
    if (known !== undefined && known.ctimeNs === info.ctimeNs) return known.owners.get(uid) ?? [];
    this.listings++;
    /** @type {Map<number, string[]>} */
    const owners = new Map();
    for (const name of readdirSync(dir)) {
      const owner = lstatSync(join(dir, name), { throwIfNoEntry: false })?.uid;
      if (owner === undefined || owner === 0) continue;
      const names = owners.get(owner);
      if (names === undefined) owners.set(owner, [name]);
      else names.push(name);
    }
    // Taken before the listing: any change from here on moves the ctime on,
    // unless it falls in the tick the directory last changed in.
    if (info.ctimeMs < BigInt(now - SETTLE_MS))
      this.#listings.set(dir, { ctimeNs: info.ctimeNs, owners });
    else this.#listings.delete(dir);
    return owners.get(uid) ?? [];
  }
}

/**
 * `rm -rf` of `paths` as the user, after giving the user back access to its
 * own directories among them (`chmod` follows a link named on its command
 * line, so only real directories are named to it); resolves with what it
 * said went wrong, if anything (the caller looks at what is left).
 * @param {readonly string[]} paths
 * @param {number} uid
 * @param {number} gid
 * @returns {Promise<string>}
 */
function removeAsUser(paths, uid, gid) {
  const directories = paths.filter((p) => lstatSync(p, { throwIfNoEntry: false })?.isDirectory());
  // Arguments: how many directories follow, the directories, then every path.
  const script =
    'n=$1; shift; while [ "$n" -gt 0 ]; do chmod -R u+rwx -- "$1" 2>/dev/null; shift; n=$((n-1)); done; exec rm -rf -- "$@"';
  return new Promise((resolve, reject) => {
    const args = [String(directories.length), ...directories, ...paths];
    const child = spawn('/bin/sh', ['-c', script, 'sh', ...args], {
      cwd: '/',
      env: { PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'ignore', 'pipe'],
      uid,
      gid,
      timeout: REMOVE_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (/** @type {string} */ chunk) => {
      if (stderr.length < 1000) stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve(
        code === 0
          ? ''
          : `rm -rf as user ${uid} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`,
      );
    });
  });
}
