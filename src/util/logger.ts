/**
 * Structured JSON logging. Library code takes a {@link Logger} in its options
 * and never writes to the console itself.
 */
import { pino } from 'pino';
import { LogDestination } from './log-destination.ts';

/** The logger type used across Kiln (pino's). */
export type Logger = pino.Logger;

/**
 * Creates the process logger, writing JSON lines to `destination` (stderr by
 * default). `level` defaults to `KILN_LOG_LEVEL` or `info`. When the
 * descriptor's reader goes away, logs are dropped and the process carries on
 * (see {@link LogDestination}).
 */
export function createLogger(options: { level?: string; destination?: number } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.KILN_LOG_LEVEL ?? 'info',
      base: { service: 'kiln' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    new LogDestination({ fd: options.destination ?? 2 }),
  );
}

/** A logger that discards everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
