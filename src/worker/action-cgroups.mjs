// @ts-check
/**
 * A cgroup (v2) per action user, where the machine lets the worker make
 * them: every process an action starts stays in its user's cgroup (no
 * `setsid` or double fork leaves one), so after the action the worker knows
 * from one small file whether anything is left (`cgroup.events`) and ends
 * all of it with one write (`cgroup.kill`), instead of walking `/proc`.
 *
 * A process is put in a cgroup by whoever forks it being there: the
 * launcher moves itself into the user's cgroup, spawns (a synchronous fork),
 * and moves back. The cgroups live under the launcher's own cgroup, in
 * `kiln-actions-PID/UID`, and are removed when it closes. Without a
 * writable cgroup v2 hierarchy (no root, or one whose cgroups the worker
 * may not create), {@link ActionCgroups.open} returns undefined and the
 * caller walks `/proc` instead (kill-user.mjs).
 *
 * Plain JavaScript that imports only Node.js built-ins: the spawn helper runs
 * it (see `spawn-helper.mjs`).
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Longest wait for a killed cgroup to empty. */
const KILL_WAIT_MS = 5000;

export class ActionCgroups {
  /** @type {string} */
  #base;
  /** @type {string} */
  #home;
  /** @type {Set<number>} */
  #made = new Set();

  /**
   * @param {string} base the directory holding one cgroup per user
   * @param {string} home the launcher's own cgroup, to move back into
   */
  constructor(base, home) {
    this.#base = base;
    this.#home = home;
  }

  /**
   * The cgroups of this process's action users, or undefined when cgroup v2
   * is not mounted or this process cannot create cgroups and move itself.
   * @returns {ActionCgroups | undefined}
   */
  static open() {
    try {
      const mount = cgroup2Mount();
      const own = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
      if (mount === undefined || own === undefined) return undefined;
      const home = join(mount, own);
      const base = join(home, `kiln-actions-${process.pid}`);
      mkdirSync(base, { recursive: true });
      const cgroups = new ActionCgroups(base, home);
      // A trial move proves the hierarchy lets this process place itself.
      cgroups.#enter(0);
      cgroups.#leave();
      return cgroups;
    } catch {
      return undefined;
    }
  }

  /**
   * Runs `spawn` (which must fork synchronously) with this process in the
   * cgroup of `uid`, so that the child starts there.
   * @template T
   * @param {number} uid
   * @param {() => T} spawn
   * @returns {T}
   */
  spawnIn(uid, spawn) {
    this.#enter(uid);
    try {
      return spawn();
    } finally {
      this.#leave();
    }
  }

  /**
   * Kills everything left in the cgroup of `uid` and waits until it is
   * empty; returns how many processes were there.
   * @param {number} uid
   * @returns {number}
   */
  killAll(uid) {
    if (!this.#made.has(uid)) return 0;
    const dir = join(this.#base, String(uid));
    if (!populated(dir)) return 0;
    const count = readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean).length;
    writeFileSync(join(dir, 'cgroup.kill'), '1');
    const until = Date.now() + KILL_WAIT_MS;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (populated(dir)) {
      if (Date.now() > until) throw new Error(`the processes of user ${uid} did not end`);
      Atomics.wait(pause, 0, 0, 2);
    }
    return count;
  }

  /** Removes the cgroups (they must be empty). */
  close() {
    for (const uid of this.#made) {
      try {
        rmdirSync(join(this.#base, String(uid)));
      } catch {
        // Still populated or gone.
      }
    }
    try {
      rmdirSync(this.#base);
    } catch {
      // Not empty.
    }
  }

  /** @param {number} uid 0 for the trial cgroup */
  #enter(uid) {
    const dir = join(this.#base, String(uid));
    if (!this.#made.has(uid)) {
      mkdirSync(dir, { recursive: true });
      this.#made.add(uid);
    }
    writeFileSync(join(dir, 'cgroup.procs'), String(process.pid));
  }

  #leave() {
    writeFileSync(join(this.#home, 'cgroup.procs'), String(process.pid));
  }
}

/**
 * @param {string} dir
 * @returns {boolean}
 */
function populated(dir) {
  return /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
}

/**
 * Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or
 * `/sys/fs/cgroup/unified` beside v1 controllers), from mountinfo.
 * @returns {string | undefined}
 */
function cgroup2Mount() {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.startsWith('cgroup2 ')) return left?.split(' ')[4];
  }
  return undefined;
}
