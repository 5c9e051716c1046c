// @ts-check
/**
 * {@link DirectProcessLauncher}, which starts processes from the calling
 * process, and {@link LaunchError}: the code of `process-launcher.ts` that
 * the spawn helper runs too (that module re-exports both, next to the types).
 *
 * Plain JavaScript (types in JSDoc, checked by `npm run typecheck`) that
 * imports only Node.js built-ins: loading no TypeScript keeps the helper
 * small (see `spawn-helper.mjs`).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { ActionCgroups } from './action-cgroups.mjs';
import { endUser, windowForkCount } from './kill-user.mjs';
import { ProcessForker } from './process-forker.mjs';
import { SharedTempSweeper } from './shared-temp.mjs';

/** @import { LaunchedProcess, LaunchRequest, ProcessExit, ProcessLauncher } from './process-launcher.ts' */

/** The group a removal runs as when the user's own is not known (Debian's nogroup). */
const NOGROUP = 65534;

/** Why a process could not be started. */
export class LaunchError extends Error {
  /**
   * What failed: creating the stdout or stderr file, or starting the program.
   * @readonly
   * @type {'stdout' | 'stderr' | 'spawn'}
   */
  stage;
  /**
   * The system error code (`ENOENT`, `EACCES`, …), when there is one.
   * @readonly
   * @type {string | undefined}
   */
  errno;

  /**
   * @param {LaunchError['stage']} stage
   * @param {string} message
   * @param {string | undefined} errno
   */
  constructor(stage, message, errno) {
    super(message);
    this.name = 'LaunchError';
    this.stage = stage;
    this.errno = errno;
  }

  /**
   * Wraps a Node.js error of the given stage.
   * @param {LaunchError['stage']} stage
   * @param {unknown} err
   * @returns {LaunchError}
   */
  static of(stage, err) {
    const errno = /** @type {NodeJS.ErrnoException | undefined} */ (err)?.code;
    return new LaunchError(stage, err instanceof Error ? err.message : String(err), errno);
  }
}

/**
 * Creates or truncates an output file; a {@link LaunchError} of `stage` when it cannot.
 * @param {string} path
 * @param {'stdout' | 'stderr'} stage
 * @returns {number}
 */
function openOutput(path, stage) {
  try {
    return openSync(path, 'w');
  } catch (err) {
    throw LaunchError.of(stage, err);
  }
}

/** The process forker ended while it ran a process, whose exit is then unknown. */
export class ForkerLostError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'ForkerLostError';
  }
}

/**
 * Options of {@link DirectProcessLauncher}.
 * @typedef {{
 *   readonly forker?: boolean,
 * }} DirectProcessLauncherOptions
 */

/**
 * Spawns from the calling process, or with `forker` (the spawn helper's
 * way) from a long-lived perl that it starts (see process-forker.mjs),
 * except where a process must start in a cgroup, which Node.js's spawn
 * does here (see action-cgroups.mjs). Without the perl, Node.js's spawn
 * does it all.
 * @implements {ProcessLauncher}
 */
export class DirectProcessLauncher {
  /** @type {ProcessForker | undefined} */
  #forker;

  /** @param {DirectProcessLauncherOptions} [options] */
  constructor(options = {}) {
    if (options.forker === true && ProcessForker.available()) this.#forker = new ProcessForker();
  }

  /** Whether exits carry usage: they do from the forker (not for processes started in cgroups). */
  get reportsUsage() {
    return this.#forker !== undefined && ProcessForker.reportsUsage();
  }

  /** How many forker perls were started (for tests); undefined without the forker. */
  get forkersStarted() {
    return this.#forker?.started;
  }
  /**
   * The action users' cgroups, opened on the first launch that asks for them;
   * null when they cannot be had (then /proc is walked to kill leftovers).
   * @type {ActionCgroups | null | undefined}
   */
  #cgroups;

  /** Removes what action users leave in /tmp and the like (see shared-temp.mjs). */
  #sharedTemp = new SharedTempSweeper();

  /** @returns {ActionCgroups | undefined} */
  #actionCgroups() {
    if (this.#cgroups === undefined) this.#cgroups = ActionCgroups.open() ?? null;
    return this.#cgroups ?? undefined;
  }

  /**
   * @param {LaunchRequest} request
   * @returns {Promise<LaunchedProcess>}
   */
  async launch(request) {
    if (this.#forker !== undefined) {
      const { user, cgroup } = request;
      if (user === undefined || cgroup === undefined || this.#actionCgroups() === undefined) {
        if (cgroup !== undefined && cgroup.memoryLimitBytes > 0) {
          throw new LaunchError(
            'spawn',
            'no memory cgroup to enforce the memory limit in',
            undefined,
          );
        }
        return this.#launchForked(this.#forker, request);
      }
    }
    // Opened synchronously: creating two files takes microseconds, less than
    // the round trips through the thread pool that would start the process later.
    const stdout = openOutput(request.stdoutPath, 'stdout');
    /** @type {number} */
    let stderr;
    try {
      stderr = openOutput(request.stderrPath, 'stderr');
    } catch (err) {
      closeSync(stdout);
      throw err;
    }
    try {
      const { user, cgroup } = request;
      const start = () =>
        spawn(request.program, request.args, {
          cwd: request.cwd,
          env: request.env,
          detached: true,
          stdio: ['ignore', stdout, stderr],
          windowsHide: true,
          ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
        });
      // An action user's processes start in its cgroup when asked (see action-cgroups.mjs).
      const cgroups =
        user === undefined || cgroup === undefined ? undefined : this.#actionCgroups();
      if (cgroup !== undefined && cgroup.memoryLimitBytes > 0 && !cgroups?.limitsMemory) {
        throw new LaunchError(
          'spawn',
          'no memory cgroup to enforce the memory limit in',
          undefined,
        );
      }
      const oomBefore = user === undefined ? 0 : (cgroups?.oomKills(user.uid) ?? 0);
      // Where the user's processes can be found afterwards (see kill-user.mjs).
      const forksBefore =
        user === undefined || cgroups !== undefined ? undefined : windowForkCount();
      const child =
        user === undefined || cgroups === undefined
          ? start()
          : cgroups.spawnIn(user.uid, cgroup?.memoryLimitBytes ?? 0, start);
      /** @type {Promise<ProcessExit>} */
      const exit = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          if (user === undefined) {
            resolve({ code, signal });
            return;
          }
          const window =
            forksBefore === undefined || child.pid === undefined
              ? undefined
              : { firstPid: child.pid, forksBefore };
          void this.#clearUser(user, cgroups, window).then((leftovers) => {
            const memoryExceeded =
              cgroups !== undefined && cgroups.oomKills(user.uid) > oomBefore ? true : undefined;
            resolve({ code, signal, leftovers, ...(memoryExceeded ? { memoryExceeded } : {}) });
          });
        });
      });
      await new Promise((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(LaunchError.of('spawn', err)));
      });
      // Later errors (a failed kill) must not crash the process as unhandled.
      child.on('error', () => {});
      return { pid: /** @type {number} */ (child.pid), exit };
    } finally {
      // The child holds its own copies of the descriptors.
      closeSync(stdout);
      closeSync(stderr);
    }
  }

  /**
   * {@link launch} through the forker: no cgroup to start in.
   * @param {ProcessForker} forker
   * @param {LaunchRequest} request
   * @returns {Promise<LaunchedProcess>}
   */
  async #launchForked(forker, request) {
    const { user } = request;
    // Where the user's processes can be found afterwards (see kill-user.mjs).
    const forksBefore = user === undefined ? undefined : windowForkCount();
    /** @type {{ pid: number, exit: Promise<ProcessExit> }} */
    let launched;
    try {
      launched = await forker.launch(request);
    } catch (err) {
      if (err instanceof Error) throw new ForkerLostError(err.message);
      const failure = /** @type {import('./process-forker.mjs').ForkFailure} */ (err);
      throw new LaunchError(failure.stage, failure.message, failure.errno);
    }
    const { pid } = launched;
    const exit = launched.exit.then(
      async (outcome) => {
        if (user === undefined) return outcome;
        const window = forksBefore === undefined ? undefined : { firstPid: pid, forksBefore };
        const leftovers = await this.#clearUser(user, undefined, window);
        return { ...outcome, leftovers };
      },
      (/** @type {Error} */ err) => {
        throw new ForkerLostError(err.message);
      },
    );
    return { pid, exit };
  }

  /**
   * Kills what an action user left running, through its cgroup when it ran
   * in one, then removes what it left in the shared temporary directories
   * (nothing of it can make more by then), reporting instead of throwing.
   * @param {import('./process-launcher.ts').ActionUser} user
   * @param {ActionCgroups | undefined} cgroups
   * @param {import('./kill-user.mjs').PidWindow | undefined} window
   * @returns {Promise<import('./process-launcher.ts').Leftovers>}
   */
  async #clearUser(user, cgroups, window) {
    try {
      const ended =
        cgroups !== undefined
          ? { killed: cgroups.killAll(user.uid) }
          : await endUser(user.uid, { gid: user.gid, window });
      const tempRemoved = await this.#sharedTemp.sweep(user.uid, user.gid);
      return tempRemoved === 0 ? ended : { ...ended, tempRemoved };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Also removes what the user left in the shared temporary directories,
   * once its processes are dead; rejects when either fails.
   * @param {number} uid
   * @returns {Promise<number>}
   */
  async killUser(uid) {
    // Processes started outside the cgroups have the user's id too: both ways.
    const inCgroup = this.#cgroups?.killAll(uid) ?? 0;
    const killed = inCgroup + (await endUser(uid)).killed;
    await this.#sharedTemp.sweep(uid, NOGROUP);
    return killed;
  }

  /** @returns {Promise<void>} */
  async close() {
    this.#forker?.close();
    this.#cgroups?.close();
  }
}
