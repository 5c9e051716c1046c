/**
 * The steps an {@link ActionExecutor} runs around each command, each one
 * thing added to the plain fetch–stage–run–upload sequence, the way
 * Buildbarn decorates its BuildExecutor: a new guard or report is a new
 * step, not another branch in `execute()`. The command itself is wrapped by
 * the runner steps instead (privilege separation, the sandbox, resource
 * accounting: see compose-runner.ts), since those change how it runs.
 *
 * - {@link resourceUsageStep}: the usage the accounting runner measured
 *   goes into `ExecutedActionMetadata.auxiliary_metadata`.
 * - {@link inputIntegrityStep}: fails the execution when an input file it
 *   linked from the file cache changed in place (same-user workers).
 * - {@link outputAdoptionStep}: output files join the file cache for the
 *   actions that read them next.
 * - {@link memoryLimitStep}: a command killed for going over its memory
 *   limit says so at the end of its stderr (the executor answers
 *   RESOURCE_EXHAUSTED with {@link memoryExceededMessage}).
 */
import { appendFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { invalidArgument } from '../errors.ts';
import { packResourceUsage } from '../execution/resource-usage.ts';
import type {
  ActionResult,
  Command,
  ExecutedActionMetadata,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { formatSize } from '../util/format-size.ts';
import type { Logger } from '../util/logger.ts';
import { declaredOutputs } from './action-paths.ts';
import type { MeasuredUsage, RunResult } from './command-runner.ts';
import type { FileCache, LinkedFiles } from './file-cache.ts';

/** What a step sees of an execution whose command has run. */
export interface RanAction {
  readonly actionDigest: Digest;
  readonly command: Command;
  /** The input root, still there (the build directory goes after every step). */
  readonly inputRoot: string;
  /** The input files linked from the file cache. */
  readonly linked: LinkedFiles;
  readonly run: RunResult;
  /** The command's stderr file, before it is uploaded. */
  readonly stderrPath: string;
  /** For lines about this action: its invocation id and digest are bound. */
  readonly log?: Logger;
}

/** One step around the command; both hooks are optional. */
export interface ExecutionStep {
  /**
   * After the command ended, before its outputs are collected (also after a
   * timeout or a cancellation). Throwing fails the execution with the
   * error's code; nothing is uploaded then.
   */
  afterRun?(ran: RanAction, metadata: ExecutedActionMetadata): void | Promise<void>;
  /** After the outputs were uploaded, while the build directory still exists. Must not throw. */
  afterUpload?(ran: RanAction, result: ActionResult): Promise<void>;
}

/** Why an execution failed when a process of its command went over the memory limit. */
export function memoryExceededMessage(limitBytes: number | undefined): string {
  const limit =
    limitBytes === undefined ? 'its memory limit' : `its memory limit of ${formatSize(limitBytes)}`;
  return `the command went over ${limit} and the kernel killed it (raise the worker's action memory limit or make the action use less)`;
}

/** Notes a memory-limit kill at the end of the command's stderr, where its user looks first. */
export const memoryLimitStep: ExecutionStep = {
  async afterRun({ run, stderrPath }) {
    if (run.memoryExceeded !== true) return;
    await appendFile(stderrPath, `kiln worker: ${memoryExceededMessage(run.memoryLimitBytes)}\n`);
  },
};

/** Puts the measured resource usage into the execution's metadata. */
export const resourceUsageStep: ExecutionStep = {
  afterRun({ run }, metadata) {
    if (run.usage !== undefined)
      metadata.auxiliaryMetadata.push(packUsage(run.usage, run.memoryLimitBytes ?? 0));
  },
};

/**
 * Fails the execution when an input file it linked from the file cache
 * changed in place while the command ran (the cache has discarded it by
 * then; it checks only when it verifies integrity, i.e. when actions run as
 * the worker's own user). INVALID_ARGUMENT because the action broke the
 * rule that inputs are read-only: a retry would only repeat it (Bazel
 * retries INTERNAL, UNAVAILABLE and ABORTED, and reads FAILED_PRECONDITION
 * as missing inputs to upload), and only OK results are cached. Another
 * action of the same user writing the file meanwhile looks the same from
 * here.
 */
export function inputIntegrityStep(fileCache: FileCache, log?: Logger): ExecutionStep {
  return {
    async afterRun({ linked, inputRoot, actionDigest, log: actionLog }) {
      const changed = await fileCache.verifyUnchanged(linked);
      if (changed.length === 0) return;
      const described = changed.map(
        (c) =>
          `${c.paths.map((p) => `"${relative(inputRoot, p)}"`).join(', ')} (digest ${c.digest.hash}/${c.digest.size}: ${c.change})`,
      );
      const line = actionLog === undefined ? { actionDigest: actionDigest.key } : {};
      (actionLog ?? log)?.warn(
        { ...line, changed: described },
        'the action changed input files in place; its result is discarded',
      );
      const shown = described.slice(0, 5).join('; ');
      const more = described.length > 5 ? ` and ${described.length - 5} more` : '';
      throw invalidArgument(
        `the action changed ${changed.length === 1 ? 'its input file' : 'input files'} ${shown}${more} in place (or another action running as the worker's user did); inputs are read-only; the worker's cached copy was discarded and the result is not kept`,
      );
    },
  };
}

/**
 * Keeps the output files in the file cache (hardlinked before the build
 * directory goes), for the actions that read them next: in a chain of
 * actions, one's outputs are the next one's inputs.
 */
export function outputAdoptionStep(fileCache: FileCache): ExecutionStep {
  return {
    async afterUpload({ command, inputRoot, actionDigest }, result) {
      if (result.outputFiles.length === 0) return;
      const rootPaths = new Map(declaredOutputs(command).map((o) => [o.path, o.rootPath]));
      await Promise.all(
        result.outputFiles.map((file) => {
          const rootPath = rootPaths.get(file.path);
          if (rootPath === undefined || file.digest === undefined) return undefined;
          const digest = makeDigest(actionDigest.fn, file.digest.hash, file.digest.sizeBytes);
          return fileCache.adopt(digest, file.isExecutable, join(inputRoot, rootPath));
        }),
      );
    },
  };
}

/** The steps of a worker: usage, input integrity, output adoption. */
export function defaultSteps(fileCache: FileCache, log?: Logger): ExecutionStep[] {
  return [
    resourceUsageStep,
    memoryLimitStep,
    inputIntegrityStep(fileCache, log),
    outputAdoptionStep(fileCache),
  ];
}

/** The measured usage as the `kiln.worker.v1.ResourceUsage` auxiliary metadata entry. */
function packUsage(usage: MeasuredUsage, memoryLimitBytes: number) {
  const duration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
  return packResourceUsage({
    userTime: duration(usage.userTimeMs),
    systemTime: duration(usage.systemTimeMs),
    peakMemoryBytes: usage.peakMemoryBytes,
    readBytes: usage.readBytes,
    writtenBytes: usage.writtenBytes,
    source: 'rusage',
    memoryLimitBytes,
  });
}
