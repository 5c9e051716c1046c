/**
 * Human-readable log lines for a terminal. pino writes JSON; when the process
 * log goes to a person rather than a collector, {@link PrettyDestination}
 * turns each JSON line into `12:04:05.123 INFO  message key=value ...`, with
 * the level coloured when asked. It runs in the main thread, on lines pino has
 * already filtered by level, and writes through the same {@link LogDestination}
 * as JSON logs, so a closed terminal still never stops the process.
 */
import type { LogDestination } from './log-destination.ts';

/** How log lines are written: JSON for collectors, pretty for people. */
export type LogFormat = 'json' | 'pretty';

/** The values `--log-format` accepts. */
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** pino's numeric levels, with their label and ANSI colour. */
const LEVELS: Record<number, { label: string; colour: string }> = {
  10: { label: 'TRACE', colour: '\x1b[90m' },
  20: { label: 'DEBUG', colour: '\x1b[36m' },
  30: { label: 'INFO ', colour: '\x1b[32m' },
  40: { label: 'WARN ', colour: '\x1b[33m' },
  50: { label: 'ERROR', colour: '\x1b[31m' },
  60: { label: 'FATAL', colour: '\x1b[35m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** Fields every line has, shown in the line's head or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** Shown first among the fields, in this order: what ties a line to a build. */
const FIRST_FIELDS = ['method', 'invocation', 'actionId', 'action'];

/** Formats one pino JSON line; a line that is not a JSON object is passed through. */
export function formatLogLine(line: string, colour: boolean): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line;
    record = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = LEVELS[Number(record.level)] ?? { label: String(record.level), colour: '' };
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const head = colour
    ? `${DIM}${time}${RESET} ${level.colour}${level.label}${RESET}`
    : `${time} ${level.label}`;
  const parts = [head, typeof record.msg === 'string' ? record.msg : ''];
  let stack = '';
  const keys = [
    ...FIRST_FIELDS.filter((k) => k in record),
    ...Object.keys(record).filter((k) => !HEAD_FIELDS.has(k) && !FIRST_FIELDS.includes(k)),
  ];
  for (const key of keys) {
    const value = record[key];
    if (key === 'err' && value !== null && typeof value === 'object') {
      const err = value as { message?: unknown; stack?: unknown };
      parts.push(field(key, String(err.message ?? ''), colour));
      if (typeof err.stack === 'string') stack = `\n    ${err.stack.split('\n').join('\n    ')}`;
      continue;
    }
    parts.push(field(key, value, colour));
  }
  return `${parts.join(' ')}${stack}\n`;
}

/** `key=value`: strings quoted only when they would be ambiguous, objects as compact JSON. */
function field(key: string, value: unknown, colour: boolean): string {
  const shown =
    typeof value !== 'string'
      ? JSON.stringify(value)
      : /[\s"=]/.test(value) || value === ''
        ? JSON.stringify(value)
        : value;
  return colour ? `${DIM}${key}=${RESET}${shown}` : `${key}=${shown}`;
}

/** A pino stream that pretty-prints each line into a {@link LogDestination}. */
export class PrettyDestination {
  readonly #target: LogDestination;
  readonly #colour: boolean;

  constructor(target: LogDestination, colour: boolean) {
    this.#target = target;
    this.#colour = colour;
  }

  write(line: string): boolean {
    return this.#target.write(formatLogLine(line, this.#colour));
  }

  flush(cb?: (err?: Error) => void): void {
    this.#target.flush(cb);
  }

  flushSync(): void {
    this.#target.flushSync();
  }

  end(): void {
    this.#target.end();
  }
}
