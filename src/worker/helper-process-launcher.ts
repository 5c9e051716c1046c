/**
 * A {@link ProcessLauncher} that starts processes from a small helper
 * process (`spawn-helper.mjs`) instead of the worker's own, large process.
 * Forking a server of a few hundred MB blocks its event loop for 10–20 ms;
 * the helper forks in about 1 ms, and the worker only exchanges two small
 * IPC messages per launch. The helper and what it imports are plain
 * JavaScript, so that Node.js does not load its TypeScript stripper there
 * (19 MB more to copy on every fork; see `spawn-helper.mjs`).
 *
 * The helper starts on the first launch. When it dies, launches in progress
 * fail with UNAVAILABLE (the worker kills their process groups itself) and
 * the next launch starts a new helper.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { unavailable } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import type { KeepDirectories } from './keep-directories.mjs';
import { ProcessForker } from './process-forker.mjs';
import {
  LaunchError,
  type LaunchedProcess,
  type LaunchRequest,
  type ProcessExit,
  type ProcessLauncher,
} from './process-launcher.ts';
import type { SpawnHelperReply, SpawnHelperRequest } from './spawn-helper.mjs';

/** Options for {@link HelperProcessLauncher}. */
export interface HelperProcessLauncherOptions {
  /** Where an unexpected exit of the helper is reported. */
  readonly log?: Logger;
  /** The Node.js binary that runs the helper; this process's own by default. */
  readonly execPath?: string;
}

interface PendingLaunch {
  readonly started: (launched: LaunchedProcess) => void;
  readonly failed: (err: Error) => void;
  exited: ((exit: ProcessExit) => void) | undefined;
  lost: ((err: Error) => void) | undefined;
}

/** A request answered by one reply: an emptying or a kill of a user's processes. */
interface PendingCall {
  readonly resolve: (reply: SpawnHelperReply) => void;
  readonly reject: (err: Error) => void;
}

interface Helper {
  readonly child: ChildProcess;
  readonly pending: Map<number, PendingLaunch>;
  readonly calls: Map<number, PendingCall>;
  /** Resolves when the helper process has exited. */
  readonly gone: Promise<void>;
}

const HELPER_PATH = fileURLToPath(new URL('./spawn-helper.mjs', import.meta.url));

/** util-linux's `setpriv`, which starts the helper with no_new_privs set (see {@link #start}). */
export const SETPRIV = '/usr/bin/setpriv';

/** Whether `path` is an executable file. */
function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Launches processes through a helper process; call {@link close} when done. */
export class HelperProcessLauncher implements ProcessLauncher {
  readonly #options: HelperProcessLauncherOptions;
  #helper: Helper | undefined;
  #nextId = 1;
  #closed = false;
  #warned = false;

  constructor(options: HelperProcessLauncherOptions = {}) {
    this.#options = options;
  }

  /** The helper starts processes from the forker when it can, which measures their usage. */
  get reportsUsage(): boolean {
    return ProcessForker.reportsUsage();
  }

  launch(request: LaunchRequest): Promise<LaunchedProcess> {
    if (this.#closed) return Promise.reject(unavailable('the process launcher is closed'));
    const helper = this.#helper ?? this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const pending: PendingLaunch = {
        started: resolve,
        failed: reject,
        exited: undefined,
        lost: undefined,
      };
      if (helper.pending.size === 0 && helper.calls.size === 0) setRef(helper.child, true);
      helper.pending.set(id, pending);
      const message: SpawnHelperRequest = { id, ...request };
      helper.child.send(message, (err) => {
        if (err !== null && helper.pending.delete(id)) {
          this.#maybeUnref(helper);
          reject(unavailable(`the spawn helper is unreachable: ${err.message}`, err));
        }
      });
    });
  }

  /**
   * Empties `path` (keeping the directory itself) in the helper, with
   * synchronous calls there instead of a thread-pool round trip here per
   * file and directory. With `keep`, directories allowed by it stay, and the
   * promise resolves with them (see keep-directories.mjs); otherwise with [].
   * Rejects when something could not be removed.
   */
  async emptyDirectory(path: string, keep?: KeepDirectories): Promise<string[]> {
    const request: SpawnHelperRequest =
      keep === undefined ? { id: 0, empty: path } : { id: 0, empty: path, keep };
    const reply = await this.#call(request);
    if ('emptied' in reply) return reply.kept ?? [];
    throw new Error(
      `emptying a build directory failed: ${'emptyFailed' in reply ? reply.emptyFailed : '?'}`,
    );
  }

  /** Kills every process of the user in the helper (see kill-user.mjs). */
  async killUser(uid: number): Promise<number> {
    const reply = await this.#call({ id: 0, killUser: uid });
    if ('killed' in reply) return reply.killed;
    throw new Error(
      `killing the processes of user ${uid} failed: ${'killFailed' in reply ? reply.killFailed : '?'}`,
    );
  }

  /** Sends a request answered by one reply (`id` is replaced). */
  #call(request: SpawnHelperRequest): Promise<SpawnHelperReply> {
    if (this.#closed) return Promise.reject(unavailable('the process launcher is closed'));
    const helper = this.#helper ?? this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (helper.pending.size === 0 && helper.calls.size === 0) setRef(helper.child, true);
      helper.calls.set(id, { resolve, reject });
      helper.child.send({ ...request, id }, (err) => {
        if (err !== null && helper.calls.delete(id)) {
          this.#maybeUnref(helper);
          reject(unavailable(`the spawn helper is unreachable: ${err.message}`, err));
        }
      });
    });
  }

  /** Stops the helper (processes it started keep running). */
  async close(): Promise<void> {
    this.#closed = true;
    const helper = this.#helper;
    if (helper === undefined) return;
    if (helper.child.connected) helper.child.disconnect();
    const timer = setTimeout(() => helper.child.kill('SIGKILL'), 5000);
    await helper.gone;
    clearTimeout(timer);
  }

  /**
   * Starts the helper with the kernel's no_new_privs flag set, through
   * `setpriv`: every process it starts inherits the flag, for good, so no
   * action gains ids or capabilities by running a set-user-id program. That
   * closes a route between action users: an action could leave a
   * set-user-id copy of a program of its user's in /tmp, and an action of
   * another user run it to act as the first one, in that user's next
   * action's build directory. Starting actions as their users is a setuid()
   * in the helper's child, which the flag does not affect. Without `setpriv`
   * (it is part of util-linux, on every Debian system) the helper starts
   * without the flag, and says so.
   */
  #start(): Helper {
    const env = { ...process.env };
    // The helper needs no options, and must not inherit profiling or debugging ones.
    delete env.NODE_OPTIONS;
    const node = this.#options.execPath ?? process.execPath;
    const noNewPrivs = executable(SETPRIV);
    if (!noNewPrivs && !this.#warned) {
      this.#warned = true;
      this.#options.log?.warn(
        { setpriv: SETPRIV },
        'setpriv not found: actions may gain privileges through set-user-id programs (install util-linux)',
      );
    }
    const child = fork(HELPER_PATH, [], {
      // fork() runs `execPath ...execArgv helper`; setpriv then executes node itself.
      execPath: noNewPrivs ? SETPRIV : node,
      execArgv: noNewPrivs ? ['--no-new-privs', node] : [],
      env,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    const pending = new Map<number, PendingLaunch>();
    const calls = new Map<number, PendingCall>();
    let markGone: () => void = () => {};
    const gone = new Promise<void>((resolve) => {
      markGone = resolve;
    });
    const helper: Helper = { child, pending, calls, gone };
    this.#helper = helper;
    setRef(child, false);
    let ended = false;
    /** The helper is of no further use: fail what it was doing and let the next launch start another. */
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      if (this.#helper === helper) this.#helper = undefined;
      if (!this.#closed) this.#options.log?.warn({ why }, 'spawn helper gone; starting a new one');
      const error = unavailable(`the spawn helper ${why} while it ran this action`);
      for (const launch of pending.values()) {
        if (launch.lost !== undefined) launch.lost(error);
        else launch.failed(error);
      }
      pending.clear();
      for (const call of calls.values()) call.reject(error);
      calls.clear();
      markGone();
    };
    child.on('message', (reply: SpawnHelperReply) => this.#receive(helper, reply));
    child.on('error', (err) => {
      // It could not be started (no 'exit' follows then), or not be signalled.
      if (child.pid === undefined) end(`could not start (${err.message})`);
      else if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.once('exit', (code, signal) => {
      const why = `exited (${signal ?? code})`;
      if (!child.connected) {
        end(why);
        return;
      }
      // Replies it sent before dying may still be in the channel: a pid among them is what
      // lets the action's process group be killed, so read them all before giving up.
      child.once('disconnect', () => end(why));
      setTimeout(() => end(why), 1000).unref();
    });
    return helper;
  }

  #maybeUnref(helper: Helper): void {
    if (helper.pending.size === 0 && helper.calls.size === 0) setRef(helper.child, false);
  }

  #receive(helper: Helper, reply: SpawnHelperReply): void {
    const call = helper.calls.get(reply.id);
    if (call !== undefined) {
      helper.calls.delete(reply.id);
      this.#maybeUnref(helper);
      call.resolve(reply);
      return;
    }
    const launch = helper.pending.get(reply.id);
    if (launch === undefined) return;
    if ('pid' in reply) {
      const exit = new Promise<ProcessExit>((resolve, reject) => {
        launch.exited = resolve;
        launch.lost = reject;
      });
      launch.started({ pid: reply.pid, exit });
      return;
    }
    helper.pending.delete(reply.id);
    this.#maybeUnref(helper);
    if ('error' in reply) {
      launch.failed(new LaunchError(reply.error.stage, reply.error.message, reply.error.errno));
    } else if ('exit' in reply) {
      launch.exited?.(reply.exit);
    }
  }
}

/**
 * Keeps this process alive while launches or emptyings are in progress, and lets it exit
 * when the helper is idle (it then exits too, when its channel closes).
 */
function setRef(child: ChildProcess, ref: boolean): void {
  const channel = child.channel as { ref(): void; unref(): void } | null | undefined;
  if (ref) {
    child.ref();
    channel?.ref();
  } else {
    child.unref();
    channel?.unref();
  }
}
