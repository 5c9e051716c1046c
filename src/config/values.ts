/**
 * Value types shared by every configuration section: sizes, durations,
 * counts and flags, each accepted as a number or as a string (so that
 * `${VAR}` expansion, which always yields strings, can set them).
 */
import { z } from 'zod';

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
};

/**
 * Parses a byte size: a non-negative integer number of bytes, or a string such
 * as `512MiB`, `10GiB`, `1.5GB` or `4096` (units B, KB…PB decimal, KiB…PiB
 * binary, case-insensitive). Returns undefined when the value is not a size.
 */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (m === null) return undefined;
  const unit = SIZE_UNITS[(m[2] || 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/**
 * Parses a duration: a number of milliseconds, or a string such as `500ms`,
 * `30s`, `1.5m` or `2h`. Returns undefined when the value is not a duration.
 */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(value);
  if (m === null) return undefined;
  return Number(m[1]) * (DURATION_UNITS[(m[2] ?? 'ms').toLowerCase()] ?? 1);
}

/**
 * A positive number given as a number or a string, converted by `parse`.
 * Strings also let `${VAR}` (which always expands to a string) set numbers.
 */
function positive(
  parse: (value: number | string) => number | undefined,
  what: string,
  hint: string,
) {
  return z
    .union([z.number(), z.string()], { error: `expected a ${what} (${hint})` })
    .transform((value, ctx) => {
      const n = parse(value);
      if (n !== undefined && n > 0) return n;
      ctx.issues.push({
        code: 'custom',
        input: value,
        message: `invalid ${what} ${JSON.stringify(value)} (expected ${hint})`,
      });
      return z.NEVER;
    });
}

export const sizeSchema = positive(
  parseSize,
  'size',
  'positive bytes, or a number with a unit: B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB',
);
export const durationSchema = positive(
  parseDuration,
  'duration',
  'positive milliseconds, or a number with a unit: ms, s, m, h',
);
export const countSchema = positive(
  (v) => {
    const n = typeof v === 'number' ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    return Number.isSafeInteger(n) ? n : undefined;
  },
  'count',
  'a positive integer',
);

// Booleans also accept their string forms, for `${VAR}`.
export const flagSchema = z
  .union([z.boolean(), z.enum(['true', 'false'])], { error: 'expected true or false' })
  .transform((v) => String(v) === 'true');
