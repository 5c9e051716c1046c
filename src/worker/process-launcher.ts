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
 * This module imports nothing but Node.js built-ins, so that the helper,
 * which runs it, stays small.
 */

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { KeepDirectories } from './keep-directories.ts';

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
}

/** How a started process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A started process. */
export interface LaunchedProcess {
  /** Its pid, which is also the id of its new session and process group. */
  readonly pid: number;
  /** Resolves when it exits; rejects only when the launcher lost track of it. */
  readonly exit: Promise<ProcessExit>;
}

/** Why a process could not be started. */
export class LaunchError extends Error {
  /** What failed: creating the stdout or stderr file, or starting the program. */
  readonly stage: 'stdout' | 'stderr' | 'spawn';
  /** The system error code (`ENOENT`, `EACCES`, …), when there is one. */
  readonly errno: string | undefined;

  constructor(stage: LaunchError['stage'], message: string, errno: string | undefined) {
    super(message);
    this.name = 'LaunchError';
    this.stage = stage;
    this.errno = errno;
  }

  /** Wraps a Node.js error of the given stage. */
  static of(stage: LaunchError['stage'], err: unknown): LaunchError {
    const errno = (err as NodeJS.ErrnoException | undefined)?.code;
    return new LaunchError(stage, err instanceof Error ? err.message : String(err), errno);
  }
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
   * Empties a directory (keeping it), when the launcher can do that more
   * cheaply than the caller's own process (see `HelperProcessLauncher`).
   * With `keep`, the directories it allows stay and are returned (see
   * keep-directories.ts); otherwise it resolves with [].
   */
  emptyDirectory?(path: string, keep?: KeepDirectories): Promise<string[]>;
  /** Releases what the launcher holds; processes it started keep running. */
  close(): Promise<void>;
}

/** Creates or truncates an output file; a {@link LaunchError} of `stage` when it cannot. */
function openOutput(path: string, stage: 'stdout' | 'stderr'): number {
  try {
    return openSync(path, 'w');
  } catch (err) {
    throw LaunchError.of(stage, err);
  }
}

/** Spawns from the calling process. */
export class DirectProcessLauncher implements ProcessLauncher {
  async launch(request: LaunchRequest): Promise<LaunchedProcess> {
    // Opened synchronously: creating two files takes microseconds, less than
    // the round trips through the thread pool that would start the process later.
    const stdout = openOutput(request.stdoutPath, 'stdout');
    let stderr: number;
    try {
      stderr = openOutput(request.stderrPath, 'stderr');
    } catch (err) {
      closeSync(stdout);
      throw err;
    }
    try {
      const child = spawn(request.program, request.args, {
        cwd: request.cwd,
        env: request.env,
        detached: true,
        stdio: ['ignore', stdout, stderr],
        windowsHide: true,
      });
      const exit = new Promise<ProcessExit>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(LaunchError.of('spawn', err)));
      });
      // Later errors (a failed kill) must not crash the process as unhandled.
      child.on('error', () => {});
      return { pid: child.pid as number, exit };
    } finally {
      // The child holds its own copies of the descriptors.
      closeSync(stdout);
      closeSync(stderr);
    }
  }

  async close(): Promise<void> {}
}
