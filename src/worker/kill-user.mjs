// @ts-check
/**
 * Kills every process of one user: what an action left running in sessions
 * of its own (`setsid`, daemons), which its process group's SIGKILL does not
 * reach. The launcher uses it after an action that ran as a dedicated user
 * where it has no cgroups for action users (see action-cgroups.mjs), and
 * for a user taken over from a worker that died: before its outputs are
 * collected, so that nothing of it can still change the build directory,
 * and before the user runs another action.
 *
 * Plain JavaScript that imports only Node.js built-ins: the spawn helper runs
 * it (see `spawn-helper.mjs`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';

/** Rounds of look-and-kill before giving up on a process that keeps forking. */
const MAX_ROUNDS = 1000;

/**
 * The real and effective user ids of root-owned `/proc` entries already
 * read, by pid, with the entry's inode number: a pid reused by a new
 * process gets a new `/proc` inode, so a cached answer is never applied to
 * another process. Most processes of a build machine are root's, and
 * reading each one's status on every scan was most of its cost.
 * @type {Map<string, { ino: number, ruid: number, euid: number }>}
 */
let rootOwned = new Map();

/**
 * Sends SIGKILL to every live process whose real or effective user id is
 * `uid`, and looks again until a pass finds none: a process may fork between
 * the listing and its kill, but a killed one forks no more. Returns how many
 * processes were killed.
 *
 * `/proc/PID` is owned by the process's effective user, except for a process
 * that made itself non-dumpable (or runs a set-user-id program), whose entry
 * is root's: those are checked by the `Uid:` line of their status.
 * @param {number} uid
 * @returns {number}
 */
export function killUserSync(uid) {
  if (!Number.isInteger(uid) || uid <= 0 || uid === process.getuid?.()) {
    throw new RangeError(`refusing to kill every process of user ${uid}`);
  }
  let killed = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let found = 0;
    /** @type {typeof rootOwned} */
    const next = new Map();
    for (const name of readdirSync('/proc')) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue;
      if (!runsAs(name, uid, next)) continue;
      try {
        process.kill(Number(name), 'SIGKILL');
        found++;
      } catch {
        // Gone meanwhile.
      }
    }
    rootOwned = next;
    if (found === 0) return killed;
    killed += found;
  }
  throw new Error(`processes of user ${uid} kept appearing after ${MAX_ROUNDS} rounds of kills`);
}

/**
 * True when the process `pid` is alive (not a zombie) and runs as `uid`;
 * records what it learnt of root-owned entries in `next`.
 * @param {string} pid
 * @param {number} uid
 * @param {typeof rootOwned} next
 * @returns {boolean}
 */
function runsAs(pid, uid, next) {
  let info;
  try {
    info = statSync(`/proc/${pid}`);
  } catch {
    return false;
  }
  if (info.uid !== uid && info.uid !== 0) return false;
  if (info.uid === 0) {
    const known = rootOwned.get(pid);
    if (known !== undefined && known.ino === info.ino) {
      next.set(pid, known);
      return known.ruid === uid || known.euid === uid;
    }
  }
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return false;
  }
  if (/^State:\s+Z/m.test(status)) return false;
  if (info.uid === uid) return true;
  const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  if (ids === null) return false;
  const ruid = Number(ids[1]);
  const euid = Number(ids[2]);
  next.set(pid, { ino: info.ino, ruid, euid });
  return ruid === uid || euid === uid;
}
