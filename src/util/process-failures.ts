/**
 * What a Kiln process does when code fails outside every request: an
 * exception nobody caught, or a rejected promise nobody handled. Without
 * handlers, Node.js prints the stack to stderr (outside the JSON logs) and
 * exits, for both kinds, and nothing counts it.
 *
 * The policy, per kind:
 * - `uncaught_exception`: logged (fatal, with the stack), counted, and the
 *   process exits with {@link FAILURE_EXIT_CODE} after the logs are flushed
 *   (bounded by `flushTimeoutMs`). The exception unwound through code that
 *   did not expect it, so the state it left is unknown (a lock held, a
 *   stream half-written, a map entry never removed); serving on from it
 *   risks wrong answers. Everything Kiln acknowledged is already durable, so
 *   the supervisor's restart loses no data.
 * - `unhandled_rejection`: logged (error, with the stack), counted, and the
 *   process carries on. A promise whose failure nobody awaited is a
 *   forgotten result, not a half-run function: the code that made it has
 *   already returned normally.
 */
import type { Logger } from './logger.ts';

/** The kinds of failure, the `kind` label of `kiln_process_failures_total`. */
export type ProcessFailureKind = 'uncaught_exception' | 'unhandled_rejection';

/** Failures seen so far, by kind. */
export type ProcessFailureCounts = Readonly<Record<ProcessFailureKind, number>>;

/** The exit status after an uncaught exception (EX_SOFTWARE, "internal software error"). */
export const FAILURE_EXIT_CODE = 70;

/** The part of `process` the handlers use; tests pass a stand-in. */
export interface FailureSource {
  on(event: 'uncaughtException', listener: (err: unknown, origin: string) => void): unknown;
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  off(event: 'uncaughtException', listener: (err: unknown, origin: string) => void): unknown;
  off(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  exit(code: number): void;
}

/** Options for {@link installProcessFailureHandlers}. */
export interface ProcessFailureOptions {
  /** Where failures are logged. */
  readonly log: Logger;
  /** Which component is failing, added to each log line (`serve`, `worker`). */
  readonly component: string;
  /** Longest wait for the logs to be written before exiting; 1000 ms by default. */
  readonly flushTimeoutMs?: number;
  /** The process to watch and exit; the real one by default. */
  readonly process?: FailureSource;
}

/** Installed handlers: their counts, and a way to remove them. */
export interface ProcessFailureHandlers {
  /** Failures seen since the handlers were installed. */
  counts(): ProcessFailureCounts;
  /** Removes the handlers; Node's defaults apply again. */
  uninstall(): void;
}

/**
 * Installs the process-wide handlers for uncaught exceptions and unhandled
 * rejections (see the policy above). Call once, early in a command's life,
 * before anything that could fail in the background starts.
 */
export function installProcessFailureHandlers(
  options: ProcessFailureOptions,
): ProcessFailureHandlers {
  const target: FailureSource = options.process ?? process;
  const flushTimeoutMs = options.flushTimeoutMs ?? 1000;
  const log = options.log.child({ component: options.component });
  const counts = { uncaught_exception: 0, unhandled_rejection: 0 };
  let exiting = false;

  const onException = (err: unknown, origin: string): void => {
    counts.uncaught_exception++;
    // `origin` is 'unhandledRejection' only when Node was told to throw them
    // (--unhandled-rejections=strict): they are then exceptions for us too.
    safeLog(() =>
      log.fatal(
        { err, kind: 'uncaught_exception', origin, count: counts.uncaught_exception },
        exiting
          ? 'uncaught exception while exiting after an earlier one'
          : `uncaught exception; exiting with status ${FAILURE_EXIT_CODE} to be restarted`,
      ),
    );
    if (exiting) return;
    exiting = true;
    const exit = (): void => target.exit(FAILURE_EXIT_CODE);
    // Not unref'd: this timer is what ends the process if the flush never completes.
    const timer = setTimeout(exit, flushTimeoutMs);
    try {
      log.flush(() => {
        clearTimeout(timer);
        exit();
      });
    } catch {
      // The timer still ends the process.
    }
  };

  const onRejection = (reason: unknown): void => {
    counts.unhandled_rejection++;
    safeLog(() =>
      log.error(
        { err: reason, kind: 'unhandled_rejection', count: counts.unhandled_rejection },
        'unhandled promise rejection; carrying on',
      ),
    );
  };

  target.on('uncaughtException', onException);
  target.on('unhandledRejection', onRejection);
  return {
    counts: () => ({ ...counts }),
    uninstall() {
      target.off('uncaughtException', onException);
      target.off('unhandledRejection', onRejection);
    },
  };
}

/** Logs, falling back to a plain stderr line: a handler that throws would end the process with status 7. */
function safeLog(write: () => void): void {
  try {
    write();
  } catch (err) {
    try {
      process.stderr.write(`kiln: could not log a process failure: ${String(err)}\n`);
    } catch {
      // Nowhere left to report it.
    }
  }
}
