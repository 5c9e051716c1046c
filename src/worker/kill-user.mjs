// @ts-check
/**
 * Kills every process of one user: what an action left running in sessions
 * of its own (`setsid`, daemons), which its process group's SIGKILL does not
 * reach. Used after every action that ran as a dedicated user, before its
 * outputs are collected, so that nothing of it can still change the build
 * directory, and before the user runs another action.
 *
 * Plain JavaScript that imports only Node.js built-ins: the spawn helper runs
 * it (see `spawn-helper.mjs`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';

/** Rounds of look-and-kill before giving up on a process that keeps forking. */
const MAX_ROUNDS = 1000;

/**
 * Sends SIGKILL to every live process whose real or effective user id is
 * `uid`, and looks again until a pass finds none: a process may fork between
 * the listing and its kill, but a killed one forks no more. Returns how many
 * processes were killed.
 *
 * `/proc/PID` is owned by the process's effective user, except for a process
 * that made itself non-dumpable, whose entry is root's: those are checked by
 * the `Uid:` line of their status.
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
    for (const name of readdirSync('/proc')) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue;
      if (!ownedBy(name, uid)) continue;
      try {
        process.kill(Number(name), 'SIGKILL');
        found++;
      } catch {
        // Gone meanwhile.
      }
    }
    if (found === 0) return killed;
    killed += found;
  }
  throw new Error(`processes of user ${uid} kept appearing after ${MAX_ROUNDS} rounds of kills`);
}

/**
 * True when the process `pid` is alive (not a zombie) and runs as `uid`.
 * @param {string} pid
 * @param {number} uid
 * @returns {boolean}
 */
function ownedBy(pid, uid) {
  let owner;
  try {
    owner = statSync(`/proc/${pid}`).uid;
  } catch {
    return false;
  }
  if (owner !== uid && owner !== 0) return false;
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return false;
  }
  if (/^State:\s+Z/m.test(status)) return false;
  if (owner === uid) return true;
  const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  return ids !== null && (Number(ids[1]) === uid || Number(ids[2]) === uid);
}
