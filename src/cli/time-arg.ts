/**
 * Points in time on the command line: an RFC 3339 timestamp
 * (`2026-12-06T10:00:00Z`) or a duration back from now (`2h`, `30m`,
 * `1d12h`, `90s`).
 */
import { UsageError } from './cli-errors.ts';

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Milliseconds in a duration such as `1h30m`, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) {
    total += Number(n) * (UNIT_MS[unit as string] as number);
  }
  return total;
}

/**
 * The time `text` names, in ms since the epoch: a timestamp as written, or
 * a duration before `nowMs`. `option` names the option in the error.
 */
export function parseTimeArg(text: string, option: string, nowMs = Date.now()): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return nowMs - duration;
  // RFC 3339 needs a date, a time and a zone; Date.parse alone takes much more.
  const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
  const ms = rfc3339.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new UsageError(
      `${option} "${text}" is neither an RFC 3339 time (2026-12-06T10:00:00Z) ` +
        'nor a duration back from now (90s, 30m, 2h, 1d12h)',
    );
  }
  return ms;
}
