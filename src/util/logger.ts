/**
 * Structured logging. Library code takes a {@link Logger} in its options
 * and never writes to the console itself. The process log is JSON lines for
 * collectors, or readable lines (see pretty-log.ts) when a person watches it.
 */
import { isatty } from 'node:tty';
import { pino } from 'pino';
import { LogDestination } from './log-destination.ts';
import { LOG_FORMATS, type LogFormat, PrettyDestination } from './pretty-log.ts';

/** The logger type used across Kiln (pino's). */
export type Logger = pino.Logger;

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  readonly level?: string;
  /** File descriptor to write to; 2 (stderr) by default. */
  readonly destination?: number;
  /** Line format; by default pretty when the descriptor is a terminal, JSON otherwise. */
  readonly format?: LogFormat;
}

/**
 * Creates the process logger, writing to `destination` (stderr by default).
 * `level` defaults to `KILN_LOG_LEVEL` or `info`. Pretty lines are coloured
 * only on a terminal and without `NO_COLOR`. When the descriptor's reader
 * goes away, logs are dropped and the process carries on (see
 * {@link LogDestination}).
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const fd = options.destination ?? 2;
  const tty = isatty(fd);
  const format = options.format ?? (tty ? 'pretty' : 'json');
  const target = new LogDestination({ fd });
  const colour = tty && (process.env.NO_COLOR ?? '') === '';
  return pino(
    {
      level: options.level ?? process.env.KILN_LOG_LEVEL ?? 'info',
      base: { service: 'kiln' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    format === 'pretty' ? new PrettyDestination(target, colour) : target,
  );
}

/** Checks a `--log-format` value; undefined means "choose by the terminal". */
export function parseLogFormat(value: string | undefined): LogFormat | undefined {
  if (value === undefined) return undefined;
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new Error(`--log-format "${value}" must be json or pretty`);
}

/** A logger that discards everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
