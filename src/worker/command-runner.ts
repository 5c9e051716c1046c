/**
 * Runs an action's command as a real process.
 *
 * - The environment is exactly `Command.environment_variables`: nothing of
 *   the worker's own environment is inherited, but for `TMPDIR`, which
 *   names the action's private temporary directory when the request has
 *   one and the Command does not set it (as Bazel's local execution does
 *   on Linux). An unqualified `arguments[0]`
 *   is looked up in that environment's PATH (the worker's PATH when the
 *   Command sets none, which is how Node.js resolves it); a relative path
 *   with a `/` is relative to the working directory.
 * - The process starts in a new session and process group (detached), so the
 *   whole tree it spawns can be signalled at once. On timeout or cancellation
 *   the group gets SIGTERM, then SIGKILL after a short grace; when the main
 *   process exits by itself, whatever it left running in its group is killed
 *   too. A descendant that starts its own session escapes this (only cgroups
 *   would catch it).
 * - stdout and stderr go straight to files, never through the worker's memory;
 *   stdin is empty (/dev/null).
 * - Because the command runs in its own session, signals sent to the worker
 *   (Ctrl-C, a service manager's SIGTERM) do not reach it: a worker shutting
 *   down must abort its runs' AbortSignals.
 * - A command that cannot be started is a result, not a crash: exit code 127
 *   when the executable does not exist, 126 when it cannot be executed (the
 *   shell's conventions), with the reason written to the stderr file.
 * - A process killed by a signal reports exit code 128 + the signal number,
 *   again as shells do, and names the signal.
 * - A {@link ProcessLauncher} starts the process: in a worker, a small helper
 *   process, because forking the worker's own large process blocks it for
 *   milliseconds (see `process-launcher.ts`). The run's start time is taken
 *   before the launch, so it includes that hand-off.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { failedPrecondition, fromFsError, invalidArgument } from '../errors.ts';
import { type Clock, systemClock } from './clock.ts';
import {
  type ActionCgroupRequest,
  type ActionUser,
  DirectProcessLauncher,
  LaunchError,
  type LaunchedProcess,
  type Leftovers,
  type ProcessExit,
  type ProcessLauncher,
} from './process-launcher.ts';

/** Options for {@link CommandRunner}. */
export interface CommandRunnerOptions {
  /** Time between SIGTERM and SIGKILL on timeout or cancellation; 2000 ms by default. */
  readonly killGraceMs?: number;
  /** Source of the start and end timestamps; the system clock by default. */
  readonly clock?: Clock;
  /**
   * Starts the processes; a {@link DirectProcessLauncher} (spawning from this
   * process) by default. Workers pass a `HelperProcessLauncher`.
   */
  readonly launcher?: ProcessLauncher;
}

/** One command to run. */
export interface RunRequest {
  /** `arguments[0]` is the program; must not be empty. */
  readonly arguments: readonly string[];
  /** The complete environment of the process, in order; a later duplicate name wins. */
  readonly environment: readonly { readonly name: string; readonly value: string }[];
  /** Absolute path of an existing directory to run in. */
  readonly workingDirectory: string;
  /** File that receives stdout (created or truncated). */
  readonly stdoutPath: string;
  /** File that receives stderr (created or truncated). */
  readonly stderrPath: string;
  /** Kill the process tree after this many milliseconds; 0 or undefined for no limit. */
  readonly timeoutMs?: number;
  /** Kills the process tree when aborted. */
  readonly signal?: AbortSignal;
  /**
   * The action's input root (the working directory is inside it), for the
   * steps that guard it: privilege separation hands it to the action's user,
   * the sandbox makes it the one writable place.
   */
  readonly inputRoot?: string;
  /** Run as this user and group instead of the worker's (set by privilege separation). */
  readonly user?: ActionUser;
  /** With `user`: run in the user's cgroup, under this memory limit (set by privilege separation). */
  readonly cgroup?: ActionCgroupRequest;
  /** The action asked for the namespace sandbox (see `sandboxing-runner.ts`). */
  readonly sandbox?: boolean;
  /**
   * The action's private temporary directory, beside the input root (see
   * BuildDirectory.tmpDir): `TMPDIR` names it unless the environment sets
   * `TMPDIR`; privilege separation hands it to the action's user, the
   * sandbox lets the command write it.
   */
  readonly tmpDir?: string;
  /**
   * Files outside the input root that the command itself writes by path (a
   * step's report, such as resource accounting's): the sandbox lets it
   * write them, privilege separation hands them to the action's user.
   */
  readonly writableFiles?: readonly string[];
}

/** What an action's process tree used, as the kernel accounted it. */
export interface MeasuredUsage {
  readonly userTimeMs: number;
  readonly systemTimeMs: number;
  /** Largest resident set of any one process of the tree. */
  readonly peakMemoryBytes: number;
  /** Bytes read from and written to storage (block operations × 512). */
  readonly readBytes: number;
  readonly writtenBytes: number;
}

/** How a run ended. */
export interface RunResult {
  /** The exit status; 128 + n when killed by signal n; 127 or 126 when it could not start. */
  readonly exitCode: number;
  /** The signal that ended the main process, if one did. */
  readonly signal: NodeJS.Signals | undefined;
  /** True when the timeout killed it. */
  readonly timedOut: boolean;
  /** True when the AbortSignal killed it. */
  readonly cancelled: boolean;
  /** Why the process could not start; undefined when it started. */
  readonly startError: string | undefined;
  /** When the process was started, in epoch milliseconds of the runner's clock. */
  readonly startMs: number;
  /** When its exit was observed, in epoch milliseconds of the runner's clock. */
  readonly endMs: number;
  /** What the process tree used, when a resource accounting step measured it. */
  readonly usage?: MeasuredUsage;
  /** For a command run as an action user: what was left of the user's processes (see LaunchRequest.user). */
  readonly leftovers?: Leftovers;
  /** True when a process of the command was killed for going over its memory limit. */
  readonly memoryExceeded?: boolean;
  /** The memory limit the command ran under, in bytes (absent: none). */
  readonly memoryLimitBytes?: number;
}

/**
 * Runs an action's command. {@link CommandRunner} runs it plainly; the
 * steps that guard or measure it (privilege separation, the sandbox,
 * resource accounting) wrap another ActionRunner and return the same
 * interface, so a worker composes exactly the ones it needs.
 */
export interface ActionRunner {
  /** Runs the command to completion (or until killed). Rejects only for invalid requests. */
  run(request: RunRequest): Promise<RunResult>;
}

/** Runs commands in their own process groups with timeouts and cancellation. */
export class CommandRunner implements ActionRunner {
  readonly #killGraceMs: number;
  readonly #clock: Clock;
  readonly #launcher: ProcessLauncher;

  constructor(options: CommandRunnerOptions = {}) {
    this.#killGraceMs = options.killGraceMs ?? 2000;
    this.#clock = options.clock ?? systemClock;
    this.#launcher = options.launcher ?? new DirectProcessLauncher();
  }

  /** Runs the command to completion (or until killed). Rejects only for invalid requests. */
  async run(request: RunRequest): Promise<RunResult> {
    const [program, ...args] = request.arguments;
    if (request.sandbox === true) {
      // A step in front of this runner turns the sandbox on; without one there is none.
      throw failedPrecondition(
        'the action asks for the sandbox (platform property sandbox=namespaces), which this worker does not offer',
      );
    }
    if (program === undefined || program === '') {
      throw invalidArgument('the command has no arguments; arguments[0] must name the program');
    }
    const env: Record<string, string> = {};
    for (const { name, value } of request.environment) {
      if (name === '' || name.includes('=') || name.includes('\0') || value.includes('\0')) {
        throw invalidArgument(`environment variable "${name}" has an invalid name or value`);
      }
      env[name] = value;
    }
    if (request.tmpDir !== undefined && env.TMPDIR === undefined) env.TMPDIR = request.tmpDir;
    if (request.arguments.some((a) => a.includes('\0'))) {
      throw invalidArgument('command arguments must not contain NUL characters');
    }

    const startMs = this.#clock.nowMs();
    if (request.signal?.aborted) {
      // The files exist after every run, as the request promises.
      await Promise.all(
        [request.stdoutPath, request.stderrPath].map((path) =>
          writeFile(path, '').catch((err: unknown) => {
            throw fromFsError(err, `creating ${path}`);
          }),
        ),
      );
      return this.#notStarted(startMs, 'cancelled before start', 130, true);
    }
    let launched: LaunchedProcess;
    try {
      launched = await this.#launcher.launch({
        program,
        args,
        cwd: request.workingDirectory,
        env,
        stdoutPath: request.stdoutPath,
        stderrPath: request.stderrPath,
        user: request.user,
        cgroup: request.cgroup,
      });
    } catch (err) {
      if (!(err instanceof LaunchError)) throw err;
      if (err.stage !== 'spawn') {
        const path = err.stage === 'stdout' ? request.stdoutPath : request.stderrPath;
        throw fromFsError(
          Object.assign(new Error(err.message), { code: err.errno }),
          `creating ${path}`,
        );
      }
      const code = err.errno === 'ENOENT' ? 127 : 126;
      const message = `cannot run "${program}": ${err.message}`;
      await appendFile(request.stderrPath, `kiln worker: ${message}\n`).catch(() => {});
      return this.#notStarted(startMs, message, code, false);
    }
    return this.#supervise(launched, request, startMs);
  }

  async #supervise(
    launched: LaunchedProcess,
    request: RunRequest,
    startMs: number,
  ): Promise<RunResult> {
    let timedOut = false;
    let cancelled = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const { pid } = launched;
    const killTree = (sig: NodeJS.Signals) => signalGroup(pid, sig);
    const terminate = () => {
      killTree('SIGTERM');
      graceTimer ??= setTimeout(() => killTree('SIGKILL'), this.#killGraceMs);
    };
    const timeoutMs = request.timeoutMs ?? 0;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            terminate();
          }, timeoutMs)
        : undefined;
    const onAbort = () => {
      cancelled = true;
      terminate();
    };
    request.signal?.addEventListener('abort', onAbort, { once: true });
    // Aborted while the process was being started.
    if (request.signal?.aborted) onAbort();

    try {
      let outcome: ProcessExit;
      try {
        outcome = await launched.exit;
      } catch (err) {
        // The launcher lost track of the process: make sure nothing of it stays.
        killTree('SIGKILL');
        throw err;
      }
      // Whatever the command left running in its group goes with it.
      killTree('SIGKILL');
      const signal = outcome.signal ?? undefined;
      const exitCode =
        outcome.code ?? 128 + (signal === undefined ? 0 : (constants.signals[signal] ?? 0));
      return {
        exitCode,
        signal,
        timedOut,
        cancelled,
        startError: undefined,
        startMs,
        endMs: this.#clock.nowMs(),
        leftovers: outcome.leftovers,
        ...(outcome.usage === undefined ? {} : { usage: outcome.usage }),
        ...(outcome.memoryExceeded === true ? { memoryExceeded: true } : {}),
        ...(request.cgroup !== undefined && request.cgroup.memoryLimitBytes > 0
          ? { memoryLimitBytes: request.cgroup.memoryLimitBytes }
          : {}),
      };
    } finally {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      request.signal?.removeEventListener('abort', onAbort);
    }
  }

  #notStarted(startMs: number, reason: string, exitCode: number, cancelled: boolean): RunResult {
    return {
      exitCode,
      signal: undefined,
      timedOut: false,
      cancelled,
      startError: reason,
      startMs,
      endMs: this.#clock.nowMs(),
    };
  }
}

/**
 * Signals every process in the group led by `pid`; a group that is gone is
 * fine. That is the usual case after an exit, and `process.kill` reports it
 * by throwing an error: capturing its stack trace was most of the call's
 * cost (19 against 4 µs alone here, more under the server's deeper stacks),
 * so none is captured.
 */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  const depth = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group has no members left (or never formed); nothing to kill.
  } finally {
    Error.stackTraceLimit = depth;
  }
}
