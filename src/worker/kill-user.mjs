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
 * {@link endUserSync} has the kernel do the killing: a process that takes
 * on the user's ids (user-killer.mjs) calls `kill(-1, SIGKILL)`, which signals
 * every process that user may signal (all of the user's but the caller) in
 * one pass under the kernel's task-list lock. A fork either finished before
 * that pass (its child is signalled too) or fails afterwards (its parent has
 * SIGKILL pending), so no chain of forks, `setsid`s or double forks can slip
 * out, however fast it is; nor can a process of another user be hit through
 * a reused pid. `/proc` is then only read to count the processes and to
 * wait until the dying are dead. Walking `/proc` and killing what it finds
 * ({@link killUserSync}) is the fallback when that process cannot be
 * started (no free pid, say): a walk can be outrun by a chain that makes
 * the pid allocator wrap round.
 *
 * Plain JavaScript that imports only Node.js built-ins and user-killer.mjs:
 * the spawn helper runs it (see `spawn-helper.mjs`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { killAsUser, killAsUserSync } from './user-killer.mjs';

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
 * The pids a process started at `firstPid` and its descendants can have:
 * when the user had no process before it (the launcher kills them all after
 * every action), every process of the user is one of them. Linux hands out
 * pids in increasing order, wrapping at `pid_max`, so they lie between
 * `firstPid` and the last pid handed out, in that cyclic order, unless the
 * allocator went all the way round since. `forksBefore` is the machine's
 * fork count (`processes` in /proc/stat) from before `firstPid` was made.
 * @typedef {{ readonly firstPid: number, readonly forksBefore: number }} PidWindow
 */

/** Pids below this are never handed out again after boot (the kernel's RESERVED_PIDS). */
const RESERVED_PIDS = 300;

/** @type {number | undefined} */
let pidMax;

/** This process's own group, never killed (field 5 of /proc/self/stat). */
const ownGroup = (() => {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return process.pid;
  }
})();

/** `/proc` entries looked at by {@link killUserSync} since the process started (for tests). */
let looked = 0;

/** How many `/proc` entries {@link killUserSync} has looked at so far. */
export function entriesLooked() {
  return looked;
}

/** Listings of `/proc` made so far (for tests: a small window is looked at without one). */
let listings = 0;

/** How many times `/proc` was listed to find a user's processes. */
export function procListings() {
  return listings;
}

/**
 * The machine's fork count so far: take it before starting the process a
 * {@link PidWindow} is for. Undefined when /proc cannot tell.
 * @returns {number | undefined}
 */
export function forkCount() {
  try {
    const stat = readFileSync('/proc/stat', 'latin1');
    const match = /^processes (\d+)$/m.exec(stat);
    if (match === null) return undefined;
    lastCount = { forks: Number(match[1]), at: performance.now() };
    return lastCount.forks;
  } catch {
    return undefined;
  }
}

/**
 * The last fork count read, and when.
 * @type {{ forks: number, at: number } | undefined}
 */
let lastCount;

/** How old a fork count {@link windowForkCount} takes instead of reading /proc/stat. */
const WINDOW_COUNT_AGE_MS = 1000;

/**
 * The fork count to open a {@link PidWindow} with: the last one read when it
 * is recent (a look after the previous action read it), else a fresh one.
 * /proc/stat is dear to read (the kernel sums every interrupt counter for
 * it), and an older, smaller count is always safe here: the window then
 * only seems to have seen more forks, and is given up a little sooner.
 * @returns {number | undefined}
 */
export function windowForkCount() {
  if (lastCount !== undefined && performance.now() - lastCount.at < WINDOW_COUNT_AGE_MS) {
    return lastCount.forks;
  }
  return forkCount();
}

/**
 * The cyclic pid range `[first, last]` that holds every pid handed out since
 * the window opened, or undefined when that cannot be vouched for (the
 * allocator may have gone round: every pid must then be looked at). Going
 * round takes at least `pid_max - 300` allocations minus the pids in use,
 * which it skips; so while forks since the window opened plus the threads
 * alive (each holds a pid) stay below that, it has not.
 * @param {PidWindow} window
 * @returns {{ first: number, last: number } | undefined}
 */
export function pidRange(window) {
  try {
    pidMax ??= Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
    const forks = forkCount();
    // "running/threads lastpid" are the 4th and 5th fields of /proc/loadavg.
    const fields = readFileSync('/proc/loadavg', 'latin1').trim().split(/\s+/);
    const threads = Number(fields[3]?.split('/')[1]);
    const last = Number(fields[4]);
    if (forks === undefined || !Number.isSafeInteger(threads) || !Number.isSafeInteger(last)) {
      return undefined;
    }
    if (forks - window.forksBefore + threads >= pidMax - RESERVED_PIDS) return undefined;
    return { first: window.firstPid, last };
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is in the cyclic range.
 * @param {number} pid
 * @param {{ first: number, last: number }} range
 */
export function inPidRange(pid, range) {
  return range.first <= range.last
    ? pid >= range.first && pid <= range.last
    : pid >= range.first || pid <= range.last;
}

/**
 * Sends SIGKILL to every live process whose real or effective user id is
 * `uid`, and looks again until a pass finds none: a process may fork between
 * the listing and its kill, but a killed one forks no more. Returns how many
 * processes were killed. The fallback of {@link endUserSync}.
 *
 * `/proc/PID` is owned by the process's effective user, except for a process
 * that made itself non-dumpable (or runs a set-user-id program), whose entry
 * is root's: those are checked by the `Uid:` line of their status.
 *
 * With `window` (the user had no process before the action that opened it),
 * only the pids handed out since are looked at, which on a machine with
 * hundreds of processes saves most of the work; when the pid allocator may
 * have wrapped round since, every pid is.
 * @param {number} uid
 * @param {PidWindow} [window]
 * @returns {number}
 */
export function killUserSync(uid, window) {
  checkUser(uid);
  return walkAndKill(uid, window).size;
}

/**
 * {@link killUserSync}, answering the pids it signalled.
 * @param {number} uid
 * @param {PidWindow | undefined} window
 * @returns {Set<string>}
 */
function walkAndKill(uid, window) {
  // Pids signalled: a process killed in one pass may not be dead yet in the next.
  const killed = new Set();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const { live, vanished, windowed } = pass(uid, window);
    // A listed process of the window that is gone before it could be read
    // may have been one of the user's that forked and exited (a chain that
    // outruns the pass): look again. Outside a window any process of the
    // machine may just have ended, which proves nothing.
    const found = live.size + (windowed ? vanished : 0);
    for (const [name, group] of live) {
      let signalled = false;
      try {
        process.kill(Number(name), 'SIGKILL');
        signalled = true;
      } catch {
        // Gone meanwhile: maybe after forking, so this pass does not count as clean.
      }
      // Its whole process group too, at once: a chain of processes that each
      // fork and exit keeps one group, and is ended by this even when each
      // member lives too briefly to be found and killed by pid. The group is
      // the action's own: every session of the user's processes was made by
      // one of them (the launcher starts actions in a session of their own).
      if (group > 1 && group !== ownGroup) {
        try {
          process.kill(-group, 'SIGKILL');
          // What the process forked into before it exited was killed.
          signalled = true;
        } catch {
          // The group is gone.
        }
      }
      if (signalled) killed.add(name);
    }
    if (found === 0) return killed;
  }
  throw new Error(`processes of user ${uid} kept appearing after ${MAX_ROUNDS} rounds of kills`);
}

/**
 * One look through `/proc` (the window's pids only, while it can be vouched
 * for): the live processes of `uid` with their process groups, and how many
 * listed entries were gone before they could be read.
 * @param {number} uid
 * @param {PidWindow | undefined} window
 * @returns {{ live: Map<string, number>, vanished: number, windowed: boolean }}
 */
function pass(uid, window) {
  const probed = window === undefined ? undefined : probe(uid, window);
  if (probed !== undefined) return probed;
  /** @type {Map<string, number>} */
  const live = new Map();
  let vanished = 0;
  /** @type {typeof rootOwned} */
  const next = new Map();
  listings++;
  const names = readdirSync('/proc');
  // Read after the listing: every process listed was made before this.
  const range = window === undefined ? undefined : pidRange(window);
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    if (range !== undefined && !inPidRange(Number(name), range)) {
      // Not looked at: keep what is known of it for a later full pass.
      const known = rootOwned.get(name);
      if (known !== undefined) next.set(name, known);
      continue;
    }
    looked++;
    const verdict = runsAs(name, uid, next);
    if (verdict === VANISHED) vanished++;
    else if (verdict !== false) live.set(name, verdict);
  }
  rootOwned = next;
  return { live, vanished, windowed: range !== undefined };
}

/** Most pids {@link probe} looks at before it leaves the pass to a listing of /proc. */
const PROBE_MAX = 256;

/**
 * {@link pass} without listing `/proc`, which on a machine of a few hundred
 * processes was the largest cost of the spawn helper's work after an
 * action: each pid of the window is looked at by name (a pid with no
 * process costs a failed lookup), from the first to the last one handed out,
 * read from `/proc/loadavg`; then the last pid is read again, and the pids
 * handed out meanwhile are looked at, until none was. Every process of the
 * user alive at that final read is found: its pid was handed out before the
 * read of the round that looked at it (pids grow, and the window vouches
 * that they did not go round), so it existed then, and a process alive at
 * the end was alive in between. None can appear afterwards either: only a
 * live process of the user makes another (the launcher's is over). Gone
 * pids prove nothing here, so `vanished` is 0. Undefined (list `/proc`
 * instead) when the window cannot be vouched for, or holds more than
 * {@link PROBE_MAX} pids: long actions, a busy machine, or a chain of forks
 * that keeps handing out pids.
 * @param {number} uid
 * @param {PidWindow} window
 * @returns {{ live: Map<string, number>, vanished: number, windowed: boolean } | undefined}
 */
function probe(uid, window) {
  /** @type {Map<string, number>} */
  const live = new Map();
  let range = pidRange(window);
  let from = window.firstPid;
  let budget = PROBE_MAX;
  while (range !== undefined) {
    const { last } = range;
    const count =
      from <= last ? last - from + 1 : (pidMax ?? 0) - from + (last - RESERVED_PIDS + 1);
    if (count > budget) return undefined;
    budget -= count;
    for (let i = 0, pid = from; i < count; i++, pid++) {
      if (pid >= (pidMax ?? Number.POSITIVE_INFINITY)) pid = RESERVED_PIDS;
      looked++;
      const name = String(pid);
      const verdict = runsAs(name, uid, rootOwned);
      if (verdict === VANISHED) rootOwned.delete(name);
      else if (verdict !== false) live.set(name, verdict);
    }
    const again = pidRange(window);
    if (again?.last === last) return { live, vanished: 0, windowed: true };
    from = last + 1 >= (pidMax ?? Number.POSITIVE_INFINITY) ? RESERVED_PIDS : last + 1;
    range = again;
  }
  return undefined;
}

/** @param {number} uid */
function checkUser(uid) {
  if (!Number.isInteger(uid) || uid <= 0 || uid === process.getuid?.()) {
    throw new RangeError(`refusing to kill every process of user ${uid}`);
  }
}

/**
 * What {@link endUserSync} did: how many processes of the user it found
 * alive and killed, and, when the kernel's kill could not be used and
 * `/proc` was walked instead, why.
 * @typedef {{ readonly killed: number, readonly fallback?: string }} EndedUser
 */

/** Longest wait for the killed processes of a user to be dead. */
const DEATH_WAIT_MS = 5000;

/**
 * Kills every process of `uid` with the kernel's kill of everything the
 * user may signal, repeated once after a walk of `/proc` when it could not
 * be made; waits until every process it found alive is dead. Throws when
 * some are not, or when the fallback walk cannot end them.
 *
 * `window` (see {@link PidWindow}) narrows what is read of `/proc` to count
 * and to wait; the kill itself needs no list of the user's processes.
 * `gid` is the group the kill process runs as.
 * @param {number} uid
 * @param {{ readonly gid?: number, readonly window?: PidWindow }} [options]
 * @returns {EndedUser}
 */
export function endUserSync(uid, options = {}) {
  checkUser(uid);
  const { gid = 65534, window } = options;
  const steps = ending(uid, window);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  /** @type {string | undefined} */
  let answer;
  for (;;) {
    const step = steps.next(answer);
    if (step.done) return step.value;
    answer = undefined;
    if (step.value === 'kill') answer = killAsUserSync(uid, gid);
    else Atomics.wait(pause, 0, 0, 1);
  }
}

/**
 * {@link endUserSync} that lets the caller's event loop run while the kill
 * process runs and while the killed processes die (the spawn helper's way:
 * other actions' launches and exits go on meanwhile).
 * @param {number} uid
 * @param {{ readonly gid?: number, readonly window?: PidWindow }} [options]
 * @returns {Promise<EndedUser>}
 */
export async function endUser(uid, options = {}) {
  checkUser(uid);
  const { gid = 65534, window } = options;
  const steps = ending(uid, window);
  /** @type {string | undefined} */
  let answer;
  for (;;) {
    const step = steps.next(answer);
    if (step.done) return step.value;
    answer = undefined;
    if (step.value === 'kill') answer = await killAsUser(uid, gid);
    else await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * The steps of {@link endUserSync} and {@link endUser}, which do what they
 * yield: 'kill' (answer: undefined when the kill was made, or why not) and
 * 'pause' (a millisecond). Returns what was done.
 * @param {number} uid
 * @param {PidWindow | undefined} window
 * @returns {Generator<'kill' | 'pause', EndedUser, string | undefined>}
 */
function* ending(uid, window) {
  // Counted before the kill: those it kills may be gone (reaped) right after.
  const first = pass(uid, window);
  if (first.windowed && first.live.size === 0 && first.vanished === 0) {
    // The usual case, an action that left nothing running, proven without the
    // kill (about 1 ms of a process start and a round trip): while the
    // window holds, every process the user had when /proc was listed is in
    // the listing (a process made during the listing gets a higher pid than
    // any listed so far, so the listing reaches it), and every one listed
    // was looked at: none was the user's, and none was gone before it could
    // be read (it could have been the user's, and forked after the listing).
    // Nothing else makes processes of the user: the launcher's is over.
    return { killed: 0 };
  }
  const found = new Set(first.live.keys());
  const fallback = yield 'kill';
  if (fallback !== undefined) {
    // No pid to start it with, or the user's processes killed it first: walking
    // /proc kills what it can find (freeing pids), then the kill is tried again.
    for (const pid of walkAndKill(uid, window)) found.add(pid);
    if ((yield 'kill') !== undefined) return { killed: found.size, fallback };
  }
  // Nothing of the user can start any more: what is left is dying, and may be
  // finishing a system call.
  let dying = [...pass(uid, window).live.keys()];
  for (const pid of dying) found.add(pid);
  const until = Date.now() + DEATH_WAIT_MS;
  while (dying.length > 0) {
    if (Date.now() > until) {
      throw new Error(`${dying.length} killed processes of user ${uid} did not end`);
    }
    yield 'pause';
    dying = dying.filter((pid) => {
      const verdict = runsAs(pid, uid, new Map());
      return verdict !== false && verdict !== VANISHED;
    });
  }
  return fallback === undefined ? { killed: found.size } : { killed: found.size, fallback };
}

/** What {@link runsAs} answers for a process that ended before it could be read. */
const VANISHED = 'vanished';

/**
 * The process group of the process `pid`, a number, when it is alive (not a
 * zombie) and runs as `uid` (0 when its group cannot be told); false when
 * it does not; {@link VANISHED} when it is gone. Records what it learnt of
 * root-owned entries in `next`.
 * @param {string} pid
 * @param {number} uid
 * @param {typeof rootOwned} next
 * @returns {number | false | typeof VANISHED}
 */
function runsAs(pid, uid, next) {
  const info = statSync(`/proc/${pid}`, { throwIfNoEntry: false });
  if (info === undefined) return VANISHED;
  if (info.uid !== uid && info.uid !== 0) return false;
  if (info.uid === 0) {
    const known = rootOwned.get(pid);
    if (known !== undefined && known.ino === info.ino) {
      next.set(pid, known);
      // Root-owned and known: only a non-dumpable process of the user; its
      // group is read again below, with its status.
      if (known.ruid !== uid && known.euid !== uid) return false;
    }
  }
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return VANISHED;
  }
  if (/^State:\s+Z/m.test(status)) return false;
  // The first value is the group in this process's PID namespace.
  const group = Number(/^NSpgid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  if (info.uid === uid) return group;
  const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  if (ids === null) return false;
  const ruid = Number(ids[1]);
  const euid = Number(ids[2]);
  next.set(pid, { ino: info.ino, ruid, euid });
  return ruid === uid || euid === uid ? group : false;
}
