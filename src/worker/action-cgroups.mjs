// @ts-check
/**
 * A cgroup per action user, where the machine lets the worker make them:
 * every process an action starts stays in its user's cgroup (no `setsid` or
 * double fork leaves one), so after the action the worker knows from one
 * small file whether anything is left (`cgroup.events`) and ends all of it
 * with one write (`cgroup.kill`), instead of walking `/proc`; and, with a
 * memory controller, the action runs under a memory limit.
 *
 * A process is put in a cgroup by whoever forks it being there: the
 * launcher moves itself into the user's cgroups, spawns (a synchronous
 * fork), and moves back. The cgroups live under the launcher's own, in
 * `kiln-actions-PID/UID`: in the cgroup v2 hierarchy always, and in the v1
 * memory hierarchy too when the memory limit is on and cgroup v2 has no
 * memory controller (a "hybrid" machine, such as this project's CI).
 *
 * What a move costs: the kernel lets a process change cgroups only under a
 * global lock that, unless cgroup v2 is mounted with `favordynmods`, waits
 * for an RCU grace period each time it is taken after a pause: 5 to 20 ms
 * of the launcher blocked per action, measured here, against 0.1 ms with
 * `favordynmods`. {@link probeActionCgroups} tells the worker which case it
 * is in; it places actions in cgroups when the moves are cheap, or when a
 * memory limit needs them (see start-worker.ts).
 *
 * Without a writable cgroup v2 hierarchy (no root, or one whose cgroups the
 * worker may not create), {@link ActionCgroups.open} returns undefined and
 * the caller walks `/proc` instead (kill-user.mjs).
 *
 * Plain JavaScript that imports only Node.js built-ins: the spawn helper runs
 * it (see `spawn-helper.mjs`).
 */
import {
  accessSync,
  constants,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** Longest wait for a killed cgroup to empty. */
const KILL_WAIT_MS = 5000;

/**
 * Where a memory limit is enforced: the v2 cgroup itself, or a v1 memory
 * cgroup beside it.
 * @typedef {{ readonly kind: 'v2' } | { readonly kind: 'v1', readonly home: string }} MemoryHierarchy
 */

/**
 * What {@link probeActionCgroups} found.
 * @typedef {{
 *   readonly usable: true,
 *   readonly cheapMoves: boolean,
 *   readonly memory: 'v2' | 'v1' | undefined,
 * } | { readonly usable: false, readonly why: string }} CgroupsProbe
 */

/**
 * How an action ended in its cgroup, read after its processes are gone.
 * @typedef {{ readonly oomKilled: boolean }} CgroupOutcome
 */

export class ActionCgroups {
  /** @type {string} */
  #base;
  /** @type {string} */
  #home;
  /** The v1 memory hierarchy's directories, when limits are enforced there. @type {{ base: string, home: string } | undefined} */
  #v1Memory;
  /** Whether the v2 cgroups have the memory controller. @type {boolean} */
  #v2Memory;
  /** @type {Set<number>} */
  #made = new Set();
  /** The memory limit last written per user (bytes; 0 for none). @type {Map<number, number>} */
  #limits = new Map();

  /**
   * @param {string} base the directory holding one cgroup per user
   * @param {string} home the launcher's own cgroup, to move back into
   * @param {{ base: string, home: string } | undefined} v1Memory
   * @param {boolean} v2Memory
   */
  constructor(base, home, v1Memory, v2Memory) {
    this.#base = base;
    this.#home = home;
    this.#v1Memory = v1Memory;
    this.#v2Memory = v2Memory;
  }

  /**
   * The cgroups of this process's action users, or undefined when cgroup v2
   * is not mounted or this process cannot create cgroups and move itself.
   * @returns {ActionCgroups | undefined}
   */
  static open() {
    try {
      const mount = cgroup2Mount();
      const own = ownCgroup('');
      if (mount === undefined || own === undefined) return undefined;
      const home = join(mount.path, own);
      removeStale(home, true);
      const base = join(home, `kiln-actions-${process.pid}`);
      mkdirSync(base, { recursive: true });
      const v2Memory = enableMemory(home, base);
      const v1 = v2Memory ? undefined : v1MemoryHome();
      let v1Memory;
      if (v1 !== undefined) {
        removeStale(v1, false);
        v1Memory = { base: join(v1, `kiln-actions-${process.pid}`), home: v1 };
        mkdirSync(v1Memory.base, { recursive: true });
      }
      const cgroups = new ActionCgroups(base, home, v1Memory, v2Memory);
      // A trial move proves the hierarchy lets this process place itself.
      cgroups.#enter(0, 0);
      cgroups.#leave();
      return cgroups;
    } catch {
      return undefined;
    }
  }

  /** True when a memory limit can be enforced. */
  get limitsMemory() {
    return this.#v2Memory || this.#v1Memory !== undefined;
  }

  /**
   * Runs `spawn` (which must fork synchronously) with this process in the
   * cgroups of `uid`, so that the child starts there, under a memory limit
   * of `memoryLimitBytes` (0: none).
   * @template T
   * @param {number} uid
   * @param {number} memoryLimitBytes
   * @param {() => T} spawn
   * @returns {T}
   */
  spawnIn(uid, memoryLimitBytes, spawn) {
    this.#enter(uid, memoryLimitBytes);
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

  /**
   * The kernel's out-of-memory kills in the memory cgroup of `uid` so far:
   * a count that grows by one for every process killed for the limit.
   * @param {number} uid
   * @returns {number}
   */
  oomKills(uid) {
    if (!this.#made.has(uid)) return 0;
    try {
      const text = this.#v2Memory
        ? readFileSync(join(this.#base, String(uid), 'memory.events'), 'utf8')
        : this.#v1Memory === undefined
          ? ''
          : readFileSync(join(this.#v1Memory.base, String(uid), 'memory.oom_control'), 'utf8');
      return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  /** Removes the cgroups (they must be empty). */
  close() {
    const bases = [this.#base, ...(this.#v1Memory === undefined ? [] : [this.#v1Memory.base])];
    for (const base of bases) {
      for (const uid of this.#made) {
        try {
          rmdirSync(join(base, String(uid)));
        } catch {
          // Still populated or gone.
        }
      }
      try {
        rmdirSync(base);
      } catch {
        // Not empty.
      }
    }
  }

  /**
   * @param {number} uid 0 for the trial cgroup
   * @param {number} memoryLimitBytes
   */
  #enter(uid, memoryLimitBytes) {
    const dir = join(this.#base, String(uid));
    const v1 = this.#v1Memory === undefined ? undefined : join(this.#v1Memory.base, String(uid));
    if (!this.#made.has(uid)) {
      mkdirSync(dir, { recursive: true });
      if (v1 !== undefined) mkdirSync(v1, { recursive: true });
      this.#made.add(uid);
    }
    if ((this.#limits.get(uid) ?? 0) !== memoryLimitBytes) {
      this.#setLimit(dir, v1, memoryLimitBytes);
      this.#limits.set(uid, memoryLimitBytes);
    }
    if (v1 !== undefined) writeFileSync(join(v1, 'cgroup.procs'), String(process.pid));
    writeFileSync(join(dir, 'cgroup.procs'), String(process.pid));
  }

  /**
   * @param {string} dir the v2 cgroup
   * @param {string | undefined} v1 the v1 memory cgroup
   * @param {number} bytes 0 for none
   */
  #setLimit(dir, v1, bytes) {
    if (this.#v2Memory) {
      writeFileSync(join(dir, 'memory.max'), bytes === 0 ? 'max' : String(bytes));
      // Swap would let the action go past its limit, only slower.
      writeMaybe(join(dir, 'memory.swap.max'), bytes === 0 ? 'max' : '0');
    } else if (v1 !== undefined) {
      const limit = bytes === 0 ? '-1' : String(bytes);
      // memsw (memory + swap) may never be below the memory limit: order the writes.
      if (bytes === 0) writeMaybe(join(v1, 'memory.memsw.limit_in_bytes'), limit);
      writeFileSync(join(v1, 'memory.limit_in_bytes'), limit);
      if (bytes !== 0) writeMaybe(join(v1, 'memory.memsw.limit_in_bytes'), limit);
    } else if (bytes !== 0) {
      throw new Error('no memory controller to enforce a memory limit with');
    }
  }

  #leave() {
    writeFileSync(join(this.#home, 'cgroup.procs'), String(process.pid));
    if (this.#v1Memory !== undefined)
      writeFileSync(join(this.#v1Memory.home, 'cgroup.procs'), String(process.pid));
  }
}

/**
 * What this process could do with action cgroups, without moving itself:
 * whether it can create them, whether moves are cheap (`favordynmods`), and
 * where a memory limit would be enforced.
 * @returns {CgroupsProbe}
 */
export function probeActionCgroups() {
  const mount = cgroup2Mount();
  if (mount === undefined) return { usable: false, why: 'no cgroup v2 hierarchy is mounted' };
  const own = ownCgroup('');
  if (own === undefined) return { usable: false, why: 'this process is in no cgroup v2 cgroup' };
  const home = join(mount.path, own);
  try {
    accessSync(join(home, 'cgroup.procs'), constants.W_OK);
    const trial = join(home, `kiln-probe-${process.pid}`);
    mkdirSync(trial);
    rmdirSync(trial);
  } catch (err) {
    return {
      usable: false,
      why: `cannot create cgroups in ${home}: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  const controllers = readMaybe(join(home, 'cgroup.controllers')).split(/\s+/);
  return {
    usable: true,
    cheapMoves: mount.options.includes('favordynmods'),
    memory: controllers.includes('memory') ? 'v2' : v1MemoryHome() === undefined ? undefined : 'v1',
  };
}

/**
 * Turns the memory controller on for the action cgroups under `base`, when
 * cgroup v2 has it; false when it cannot be had.
 * @param {string} home
 * @param {string} base
 * @returns {boolean}
 */
function enableMemory(home, base) {
  if (!readMaybe(join(home, 'cgroup.controllers')).split(/\s+/).includes('memory')) return false;
  try {
    if (!readMaybe(join(home, 'cgroup.subtree_control')).split(/\s+/).includes('memory'))
      writeFileSync(join(home, 'cgroup.subtree_control'), '+memory');
    writeFileSync(join(base, 'cgroup.subtree_control'), '+memory');
    return true;
  } catch {
    // A cgroup with processes of its own cannot hand controllers down (but the root).
    return false;
  }
}

/**
 * This process's cgroup in the v1 memory hierarchy, when it is mounted and
 * this process may create cgroups in it.
 * @returns {string | undefined}
 */
function v1MemoryHome() {
  const mount = cgroup1Mount('memory');
  const own = ownCgroup('memory');
  if (mount === undefined || own === undefined) return undefined;
  const home = join(mount, own);
  try {
    accessSync(join(home, 'cgroup.procs'), constants.W_OK);
    return home;
  } catch {
    return undefined;
  }
}

/**
 * Removes the action cgroups of launchers that are gone (killed before they
 * could close them), ending what still runs in them (v2 only: v1 cgroups
 * with processes left stay until those end).
 * @param {string} home
 * @param {boolean} v2
 */
function removeStale(home, v2) {
  for (const name of readdirSync(home)) {
    const pid = /^kiln-actions-(\d+)$/.exec(name)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    const base = join(home, name);
    try {
      for (const uid of readdirSync(base, { withFileTypes: true })) {
        if (!uid.isDirectory()) continue;
        const dir = join(base, uid.name);
        if (v2 && populated(dir)) writeFileSync(join(dir, 'cgroup.kill'), '1');
        rmdirSync(dir);
      }
      rmdirSync(base);
    } catch {
      // Still emptying, or removed by another worker meanwhile.
    }
  }
}

/**
 * @param {number} pid
 * @returns {boolean}
 */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM';
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
 * @param {string} path
 * @returns {string}
 */
function readMaybe(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Writes a control file that a kernel may lack (swap accounting off).
 * @param {string} path
 * @param {string} value
 */
function writeMaybe(path, value) {
  try {
    writeFileSync(path, value);
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'ENOENT') throw err;
  }
}

/**
 * This process's cgroup path in the hierarchy with `controller` (v1), or
 * in the v2 hierarchy for '', from /proc/self/cgroup.
 * @param {string} controller
 * @returns {string | undefined}
 */
function ownCgroup(controller) {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match === null) continue;
    const names = match[1] === '' ? [] : (match[1] ?? '').split(',');
    if (controller === '' ? names.length === 0 : names.includes(controller)) return match[2];
  }
  return undefined;
}

/**
 * Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or
 * `/sys/fs/cgroup/unified` beside v1 controllers) and its options, from mountinfo.
 * @returns {{ path: string, options: string[] } | undefined}
 */
function cgroup2Mount() {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.startsWith('cgroup2 ')) {
      const path = left?.split(' ')[4];
      if (path !== undefined) return { path, options: (right.split(' ')[2] ?? '').split(',') };
    }
  }
  return undefined;
}

/**
 * Where the v1 hierarchy holding `controller` is mounted.
 * @param {string} controller
 * @returns {string | undefined}
 */
function cgroup1Mount(controller) {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right?.startsWith('cgroup ')) continue;
    if ((right.split(' ')[2] ?? '').split(',').includes(controller)) return left?.split(' ')[4];
  }
  return undefined;
}
