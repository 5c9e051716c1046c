/**
 * Resource accounting: the step that measures what each command's process
 * tree used. The command runs under GNU time (Debian's `time` package,
 * `/usr/bin/time`), which waits for it and writes the tree's rusage (the
 * command and every descendant that was waited for) to a file beside the
 * input root: user and system CPU time, the largest resident set of any one
 * process, and block input and output operations (512 bytes each).
 *
 * It costs one more small program started per action (about 1 ms of CPU
 * here). CPU times have GNU time's resolution of 10 ms. A command killed by
 * its timeout or by cancellation is reported without usage (GNU time goes
 * with its process group).
 */
import {
  accessSync,
  closeSync,
  constants,
  openSync,
  readSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { ActionRunner, MeasuredUsage, RunRequest, RunResult } from './command-runner.ts';

/** GNU time's usual place. */
export const GNU_TIME = '/usr/bin/time';

const FORMAT = '%U %S %M %I %O';

/** Options for {@link ResourceAccountingRunner}. */
export interface ResourceAccountingRunnerOptions {
  readonly inner: ActionRunner;
  /** The GNU time binary; {@link GNU_TIME} by default. */
  readonly time?: string;
}

/** Measures each command's resource usage; see the module comment. */
export class ResourceAccountingRunner implements ActionRunner {
  readonly #inner: ActionRunner;
  readonly #time: string;

  constructor(options: ResourceAccountingRunnerOptions) {
    this.#inner = options.inner;
    this.#time = options.time ?? GNU_TIME;
  }

  async run(request: RunRequest): Promise<RunResult> {
    // Beside stdout and stderr, outside the input root: the action does not see it as a file of its tree.
    const report = join(dirname(request.stdoutPath), 'usage');
    const offset = reportOffset(report);
    // Named relative to the working directory: an action's user may not be
    // able to pass through the directories above the build directory.
    const reportArg = relative(request.workingDirectory, report);
    const result = await this.#inner.run({
      ...request,
      arguments: [this.#time, '-a', '-o', reportArg, '-f', FORMAT, '--', ...request.arguments],
      writableFiles: [...(request.writableFiles ?? []), report],
    });
    if (result.startError !== undefined || result.timedOut || result.cancelled) return result;
    const parsed = parseTimeReport(readFrom(report, offset));
    if (parsed === undefined) return result;
    const signal = parsed.signal ?? result.signal;
    return { ...result, signal, usage: parsed.usage };
  }
}

/** Reports kept in one build directory's file before it starts afresh. */
const MAX_REPORT_BYTES = 64 * 1024;

/**
 * Where this run's report will start in the (reused) build directory's
 * report file, which GNU time appends to. Truncating it for every action
 * cost 0.6 ms of the worker's main thread each on ext4 (freeing its block);
 * appending costs nothing, and the file starts afresh only now and then.
 */
function reportOffset(report: string): number {
  let size: number;
  try {
    size = statSync(report).size;
  } catch {
    closeSync(openSync(report, 'a'));
    return 0;
  }
  if (size <= MAX_REPORT_BYTES) return size;
  unlinkSync(report);
  closeSync(openSync(report, 'a'));
  return 0;
}

/** The file's text from `offset` on; empty when it cannot be read. */
function readFrom(path: string, offset: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const buffer = Buffer.alloc(4096);
    const n = readSync(fd, buffer, 0, buffer.length, offset);
    return buffer.toString('utf8', 0, n);
  } catch {
    return '';
  } finally {
    closeSync(fd);
  }
}

/** True when GNU time is installed where the runner looks for it. */
export function hasGnuTime(time = GNU_TIME): boolean {
  try {
    accessSync(time, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads GNU time's report in {@link FORMAT}: the last line holds the
 * numbers; a line before it names the signal that killed the command, if
 * one did. Undefined for a report that is not one (the command may have
 * written over it).
 */
export function parseTimeReport(
  text: string,
): { usage: MeasuredUsage; signal: NodeJS.Signals | undefined } | undefined {
  const lines = text.trim().split('\n');
  const numbers = (lines.at(-1) ?? '').trim().split(/\s+/).map(Number);
  if (numbers.length !== 5 || numbers.some((n) => !Number.isFinite(n) || n < 0)) return undefined;
  const [user, system, maxRssKiB, blocksIn, blocksOut] = numbers as [
    number,
    number,
    number,
    number,
    number,
  ];
  const signalled = /Command terminated by signal (\d+)/.exec(text);
  const signal =
    signalled === null
      ? undefined
      : (Object.entries(osConstants.signals).find(([, n]) => n === Number(signalled[1]))?.[0] as
          | NodeJS.Signals
          | undefined);
  return {
    usage: {
      userTimeMs: Math.round(user * 1000),
      systemTimeMs: Math.round(system * 1000),
      peakMemoryBytes: maxRssKiB * 1024,
      readBytes: blocksIn * 512,
      writtenBytes: blocksOut * 512,
    },
    signal,
  };
}
