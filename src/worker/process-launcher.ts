/**
 * Starting an action's process: the one step of running a command whose
 * cost grows with the size of the process that does it.
 *
 * Node.js starts a child with fork() and exec(). fork() copies the parent's
 * page tables and makes every page copy-on-write, so in a server holding a
 * few hundred MB it blocks the event loop for 10–20 ms per spawn; in a fresh
 * Node.js process it takes about 1 ms. {@link DirectProcessLauncher} spawns
 * from the calling process (tests, tools); the worker uses a
 * `HelperProcessLauncher`, which sends each launch to a small helper process.
 *
 * This module holds the types; the code, which the helper runs too, is in
 * `direct-process-launcher.mjs`, plain JavaScript so that the helper loads
 * no TypeScript (see `spawn-helper.mjs`), and is re-exported here.
 */

import type { MeasuredUsage } from './command-runner.ts';
import type { KeepDirectories } from './keep-directories.mjs';

export { DirectProcessLauncher, LaunchError } from './direct-process-launcher.mjs';

/** One process to start. */
export interface LaunchRequest {
  /** The program: a path, or a name looked up in `env.PATH`. */
  readonly program: string;
  readonly args: readonly string[];
  /** Absolute path of an existing directory to run in. */
  readonly cwd: string;
  /** The complete environment of the process. */
  readonly env: Readonly<Record<string, string>>;
  /** File that receives stdout (created or truncated). */
  readonly stdoutPath: string;
  /** File that receives stderr (created or truncated). */
  readonly stderrPath: string;
  /**
   * Run the process as this user and group (the launcher must be root);
   * supplementary groups are dropped. When it exits, every other process of
   * the user is killed, and what it owns at the top of /tmp, /var/tmp and
   * /dev/shm removed, before the exit is reported ({@link ProcessExit.leftovers}):
   * the user belongs to this one command. The launcher's own user otherwise.
   */
  readonly user?: ActionUser;
  /**
   * With `user`: start the process in the user's cgroup (see
   * action-cgroups.mjs), under a memory limit when one is given. Without
   * it, the user's leftover processes are found through `/proc`.
   */
  readonly cgroup?: ActionCgroupRequest;
}

/** How an action's cgroup is set up. */
export interface ActionCgroupRequest {
  /** The memory limit of all the action's processes together, in bytes; 0 for none. */
  readonly memoryLimitBytes: number;
}

/** A numeric user and group an action runs as (see `action-users.ts`). */
export interface ActionUser {
  readonly uid: number;
  readonly gid: number;
}

/** How a started process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /**
   * For a process started as another user: the user's other processes were
   * killed before this exit was reported (how many), or could not be.
   */
  readonly leftovers?: Leftovers;
  /** True when the kernel killed a process of the action for going over its memory limit. */
  readonly memoryExceeded?: boolean;
  /**
   * What the process and the descendants it waited for used, when the
   * launcher measured it (see {@link ProcessLauncher.reportsUsage}).
   */
  readonly usage?: MeasuredUsage;
}

/**
 * What was left of an action user's processes when its command exited: how
 * many were killed (with `fallback`, why the kernel's kill of all of them
 * at once could not be used and `/proc` was walked instead), or why they
 * could not be.
 */
export type Leftovers =
  | {
      readonly killed: number;
      readonly fallback?: string;
      /** Entries of the user removed from the shared temporary directories (see shared-temp.mjs); absent for none. */
      readonly tempRemoved?: number;
    }
  | { readonly error: string };

/** A started process. */
export interface LaunchedProcess {
  /** Its pid, which is also the id of its new session and process group. */
  readonly pid: number;
  /** Resolves when it exits; rejects only when the launcher lost track of it. */
  readonly exit: Promise<ProcessExit>;
}

/**
 * Starts processes detached (in a new session and process group, so that
 * the caller can signal the whole tree) with stdin from /dev/null and stdout
 * and stderr to files.
 */
export interface ProcessLauncher {
  /** Starts the process; rejects with {@link LaunchError} when it cannot. */
  launch(request: LaunchRequest): Promise<LaunchedProcess>;
  /**
   * True when every exit it reports carries the usage of the process tree
   * (`ProcessExit.usage`), except for processes started in a cgroup: no
   * resource accounting step (GNU time) is needed then.
   */
  readonly reportsUsage?: boolean;
  /**
   * Empties a directory (keeping it), when the launcher can do that more
   * cheaply than the caller's own process (see `HelperProcessLauncher`).
   * With `keep`, the directories it allows stay and are returned (see
   * keep-directories.mjs); otherwise it resolves with [].
   */
  emptyDirectory?(path: string, keep?: KeepDirectories): Promise<string[]>;
  /**
   * Kills every process whose real user id is `uid` (those an action left
   * behind in sessions of their own), repeating until none is found, then
   * removes what the user owns at the top of the shared temporary
   * directories (see shared-temp.mjs), and resolves with how many processes
   * were killed. Needs root; `uid` must not be the
   * launcher's own.
   */
  killUser(uid: number): Promise<number>;
  /** Releases what the launcher holds; processes it started keep running. */
  close(): Promise<void>;
}
