/**
 * Structured JSON logging. Library code takes a {@link Logger} in its options
 * and never writes to the console itself.
 */
import { pino } from 'pino';

/** The logger type used across Kiln (pino's). */
export type Logger = pino.Logger;

/** Creates the process logger. `level` defaults to `KILN_LOG_LEVEL` or `info`. */
export function createLogger(options: { level?: string; destination?: number } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.KILN_LOG_LEVEL ?? 'info',
      base: { service: 'kiln' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: options.destination ?? 2, sync: false }),
  );
}

/** A logger that discards everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
