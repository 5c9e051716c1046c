/**
 * Executes one Action end to end on this machine: fetch Action and Command,
 * stage the input root into a fresh build directory, run the command, upload
 * the outputs, remove the build directory, and describe it all in an
 * ActionResult with every ExecutedActionMetadata timestamp. Everything else
 * is a step: around the command, the runner's (privilege separation, the
 * sandbox, resource accounting: compose-runner.ts); around its result, the
 * executor's (usage in the metadata, input integrity, output adoption:
 * execution-steps.ts).
 *
 * Failures never reject; they become the outcome's status, the way
 * `ExecuteResponse.status` carries them:
 * - missing Action, Command, Directory or file blobs: FAILED_PRECONDITION
 *   with a PreconditionFailure detail naming each missing blob;
 * - a malformed Action, Command or input tree: INVALID_ARGUMENT;
 * - a timeout: DEADLINE_EXCEEDED, with the partial outputs, stdout and stderr
 *   uploaded and in the result;
 * - an input file changed in place while the command ran (possible only when
 *   actions run as the worker's own user; see {@link FileCache.verifyUnchanged}):
 *   INVALID_ARGUMENT, nothing uploaded;
 * - cancellation through the AbortSignal: CANCELLED, nothing uploaded;
 * - anything else keeps its KilnError code (UNAVAILABLE when the CAS is
 *   unreachable, …) or is INTERNAL.
 */
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { ConcurrencyLimiter } from '../client/concurrency-limiter.ts';
import { MissingBlobsError } from '../client/missing-blobs-error.ts';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { type ErrorDetail, invalidArgument, KilnError } from '../errors.ts';
import { missingBlobsFailure } from '../execution/precondition-failure.ts';
import {
  Action,
  type ActionResult,
  Command,
  type ExecutedActionMetadata,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { requiredPlatform } from '../scheduler/platform.ts';
import type { Logger } from '../util/logger.ts';
import { resolveActionPath } from './action-paths.ts';
import { createBuildDirectory } from './build-directory.ts';
import type { BuildDirectoryPool } from './build-directory-pool.ts';
import { type Clock, systemClock, toTimestamp } from './clock.ts';
import { type ActionRunner, CommandRunner } from './command-runner.ts';
import { defaultSteps, type ExecutionStep, memoryExceededMessage } from './execution-steps.ts';
import type { FileCache } from './file-cache.ts';
import { InputStager } from './input-stager.ts';
import type { WorkerCas } from './local-cas.ts';
import { OutputUploader } from './output-uploader.ts';
import { wantsSandbox } from './sandboxing-runner.ts';

/** Options for {@link ActionExecutor}. */
export interface ActionExecutorOptions {
  /** The CAS holding Actions, Commands and inputs, and receiving outputs. */
  readonly cas: WorkerCas;
  /** Local file cache for inputs; must be on the same file system as `buildRoot`. */
  readonly fileCache: FileCache;
  /** Directory under which each action gets a fresh build directory. */
  readonly buildRoot: string;
  /** Reuses emptied build directories (under its own build root); a fresh one per action otherwise. */
  readonly buildDirectories?: BuildDirectoryPool;
  /** Reported as `ExecutedActionMetadata.worker`. */
  readonly workerName: string;
  /** Runs the commands (with the worker's steps, see compose-runner.ts); a plain CommandRunner otherwise. */
  readonly runner?: ActionRunner;
  /** Permission bits of the directories staging creates (see InputStagerOptions.directoryMode). */
  readonly directoryMode?: number;
  /** The steps around each command (see execution-steps.ts); {@link defaultSteps} when absent. */
  readonly steps?: readonly ExecutionStep[];
  /**
   * Slots a command must hold while it runs, shared with other executors:
   * a worker that takes more leases than it runs commands at once stages
   * and uploads the others meanwhile. No limit when absent.
   */
  readonly runSlots?: ConcurrencyLimiter;
  /** Source of every timestamp; the system clock by default. */
  readonly clock?: Clock;
  /** For failures the worker itself should hear about (INTERNAL errors, leftover directories). */
  readonly log?: Logger;
}

/** One execution. */
export interface ExecuteRequest {
  readonly actionDigest: Digest;
  /** The Action, when the caller already has it (it must be the one `actionDigest` names). */
  readonly action?: Action;
  /** The Action's Command, when the caller already has it (with `action`). */
  readonly command?: Command;
  /**
   * Longest the command may run, in milliseconds: used when the Action sets no
   * timeout, and caps one it sets. 0 for no limit.
   */
  readonly timeoutMs: number;
  /** Aborting kills the command's process tree and ends the execution as CANCELLED. */
  readonly signal?: AbortSignal;
  /** For lines about this action (with its invocation id and digest bound); the executor's own otherwise. */
  readonly log?: Logger;
}

/** A status as `ExecuteResponse.status` carries it (details already encoded as Any). */
export interface ExecutionStatus {
  readonly code: status;
  readonly message: string;
  readonly details: readonly ErrorDetail[];
}

/** What an execution produced. */
export interface ExecuteOutcome {
  /** Always present, with execution metadata; outputs only when the command ran. */
  readonly result: ActionResult;
  readonly status: ExecutionStatus;
}

const OK: ExecutionStatus = { code: status.OK, message: '', details: [] };

/** Executes Actions against a CAS with a local file cache. */
export class ActionExecutor {
  readonly #cas: WorkerCas;
  readonly #buildRoot: string;
  readonly #buildDirectories: BuildDirectoryPool | undefined;
  readonly #workerName: string;
  readonly #runner: ActionRunner;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #stager: InputStager;
  readonly #uploader: OutputUploader;
  readonly #runSlots: ConcurrencyLimiter | undefined;
  readonly #steps: readonly ExecutionStep[];

  constructor(options: ActionExecutorOptions) {
    this.#cas = options.cas;
    this.#buildRoot = options.buildRoot;
    this.#buildDirectories = options.buildDirectories;
    this.#workerName = options.workerName;
    this.#clock = options.clock ?? systemClock;
    this.#runner = options.runner ?? new CommandRunner({ clock: this.#clock });
    this.#log = options.log;
    this.#runSlots = options.runSlots;
    this.#steps = options.steps ?? defaultSteps(options.fileCache, options.log);
    this.#stager = new InputStager({
      cas: options.cas,
      fileCache: options.fileCache,
      directoryMode: options.directoryMode,
    });
    this.#uploader = new OutputUploader({
      cas: options.cas,
      digestFunction: options.cas.digestFunction,
    });
  }

  /** Executes the action; never rejects (see the module comment for the statuses). */
  async execute(request: ExecuteRequest): Promise<ExecuteOutcome> {
    const now = () => toTimestamp(this.#clock.nowMs());
    const metadata: ExecutedActionMetadata = {
      worker: this.#workerName,
      queuedTimestamp: undefined,
      workerStartTimestamp: now(),
      workerCompletedTimestamp: undefined,
      inputFetchStartTimestamp: undefined,
      inputFetchCompletedTimestamp: undefined,
      executionStartTimestamp: undefined,
      executionCompletedTimestamp: undefined,
      virtualExecutionDuration: undefined,
      outputUploadStartTimestamp: undefined,
      outputUploadCompletedTimestamp: undefined,
      auxiliaryMetadata: [],
    };
    const log =
      request.log ??
      this.#log?.child({
        actionDigest: `${request.actionDigest.hash}/${request.actionDigest.size}`,
      });
    let result = emptyResult();
    let outcomeStatus: ExecutionStatus = OK;
    let removeBuildDirectory: (() => Promise<boolean>) | undefined;
    try {
      // The directory is made while the Action and Command arrive.
      metadata.inputFetchStartTimestamp = now();
      const [made, loaded] = await Promise.allSettled([
        this.#buildDirectories?.acquire() ?? createBuildDirectory(this.#buildRoot),
        this.#load(request),
      ]);
      if (made.status === 'rejected') throw made.reason;
      const dir = made.value;
      removeBuildDirectory = dir.remove;
      if (loaded.status === 'rejected') throw loaded.reason;
      const { action, command } = loaded.value;
      const { linked } = await this.#stager.stageTracked({
        inputRootDigest: this.#digest(action.inputRootDigest, 'input_root_digest'),
        inputRoot: dir.inputRoot,
        existingDirectories: dir.skeleton,
        command,
      });
      metadata.inputFetchCompletedTimestamp = now();

      const timeoutMs = effectiveTimeoutMs(action, request.timeoutMs);
      // Staged while other commands ran; the command itself waits for a slot
      // (a cancellation meanwhile ends the wait, and the runner then reports it).
      const releaseSlot = await this.#runSlots?.acquire(request.signal).catch(() => undefined);
      const run = await this.#runner
        .run({
          arguments: command.arguments,
          environment: command.environmentVariables,
          workingDirectory: join(
            dir.inputRoot,
            resolveActionPath('', command.workingDirectory, 'working directory'),
          ),
          stdoutPath: dir.stdoutPath,
          stderrPath: dir.stderrPath,
          timeoutMs,
          signal: request.signal,
          inputRoot: dir.inputRoot,
          tmpDir: dir.tmpDir,
          sandbox: wantsSandbox(requiredPlatform(action, command)),
        })
        .finally(() => releaseSlot?.());
      metadata.executionStartTimestamp = toTimestamp(run.startMs);
      metadata.executionCompletedTimestamp = toTimestamp(run.endMs);
      result.exitCode = run.exitCode;
      const ran = {
        actionDigest: request.actionDigest,
        command,
        inputRoot: dir.inputRoot,
        linked,
        run,
        stderrPath: dir.stderrPath,
        log,
      };
      for (const step of this.#steps) await step.afterRun?.(ran, metadata);
      if (run.cancelled) {
        outcomeStatus = { code: status.CANCELLED, message: 'execution cancelled', details: [] };
      } else {
        metadata.outputUploadStartTimestamp = now();
        result = await this.#uploader.upload({
          inputRoot: dir.inputRoot,
          command,
          exitCode: run.exitCode,
          stdoutPath: dir.stdoutPath,
          stderrPath: dir.stderrPath,
        });
        metadata.outputUploadCompletedTimestamp = now();
        for (const step of this.#steps) await step.afterUpload?.(ran, result);
        if (run.timedOut) {
          outcomeStatus = {
            code: status.DEADLINE_EXCEEDED,
            message: `the command did not finish within ${timeoutMs} ms and was killed`,
            details: [],
          };
        } else if (run.memoryExceeded === true) {
          outcomeStatus = {
            code: status.RESOURCE_EXHAUSTED,
            message: memoryExceededMessage(run.memoryLimitBytes),
            details: [],
          };
        }
      }
    } catch (err) {
      outcomeStatus = this.#statusOf(err, log);
    } finally {
      if (removeBuildDirectory !== undefined && !(await removeBuildDirectory())) {
        log?.warn('build directory not removed');
      }
    }
    metadata.workerCompletedTimestamp = now();
    result.executionMetadata = metadata;
    return { result, status: outcomeStatus };
  }

  /** Fetches (or takes) the Action and the Command, validating both. */
  async #load(request: ExecuteRequest): Promise<{ action: Action; command: Command }> {
    const action =
      request.action ??
      decode(Action, await this.#cas.readBlob(request.actionDigest), 'the Action');
    const commandDigest = this.#digest(action.commandDigest, 'command_digest');
    this.#digest(action.inputRootDigest, 'input_root_digest');
    const command =
      (request.action === undefined ? undefined : request.command) ??
      decode(Command, await this.#cas.readBlob(commandDigest), 'the Command');
    if (command.arguments.length === 0 || command.arguments[0] === '') {
      throw invalidArgument('the Command has no arguments; arguments[0] must name the program');
    }
    return { action, command };
  }

  #digest(message: { hash: string; sizeBytes: number } | undefined, what: string): Digest {
    if (message === undefined) throw invalidArgument(`the Action has no ${what}`);
    return makeDigest(this.#cas.digestFunction, message.hash, message.sizeBytes, what);
  }

  #statusOf(err: unknown, log: Logger | undefined): ExecutionStatus {
    let error: KilnError;
    if (err instanceof MissingBlobsError) {
      error = missingBlobsFailure(err.missing, 'inputs of the action are missing from the CAS');
    } else if (err instanceof KilnError) {
      error = err;
    } else {
      error = new KilnError(
        status.INTERNAL,
        `worker failure: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (error.code === status.INTERNAL) {
      log?.error({ err }, 'execution failed');
    }
    return { code: error.code, message: error.message, details: error.details };
  }
}

/** The Action's timeout capped by the worker's, or the worker's when the Action has none. */
function effectiveTimeoutMs(action: Action, workerMs: number): number {
  const t = action.timeout;
  const actionMs = t === undefined ? 0 : t.seconds * 1000 + Math.ceil(t.nanos / 1e6);
  if (actionMs <= 0) return workerMs;
  return workerMs > 0 ? Math.min(actionMs, workerMs) : actionMs;
}

function decode<T>(codec: { decode(bytes: Uint8Array): T }, bytes: Buffer, what: string): T {
  try {
    return codec.decode(bytes);
  } catch (err) {
    throw invalidArgument(
      `${what} is not a valid message: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function emptyResult(): ActionResult {
  return {
    outputFiles: [],
    outputFileSymlinks: [],
    outputSymlinks: [],
    outputDirectories: [],
    outputDirectorySymlinks: [],
    exitCode: 0,
    stdoutRaw: Buffer.alloc(0),
    stdoutDigest: undefined,
    stderrRaw: Buffer.alloc(0),
    stderrDigest: undefined,
    executionMetadata: undefined,
  };
}
