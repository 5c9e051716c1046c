/**
 * Human-readable numbers for the web UI: sizes, durations, times and rates.
 * Pure functions, so views and the live-update endpoint format identically.
 */
import type { Duration } from '../gen/google/protobuf/duration.js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** `0 B`, `512 B`, `1.5 KiB`, `12 MiB`: binary units, one decimal below 10. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${bytes} B`;
  const shown = value < 10 ? value.toFixed(1) : Math.round(value).toString();
  return `${shown} ${BYTE_UNITS[unit]}`;
}

/** `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`, `3 d 4 h`; `—` when unknown. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)} s`;
  const s = Math.floor(seconds);
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min ${s % 60} s`;
}

/** `2024-01-01 00:00:00.000 UTC`: unambiguous across time zones, sortable. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  return `${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')} UTC`;
}

/** `5 s ago`, `3 min ago`; `just now` within a second; `in 4 s` for a future time. */
export function formatAge(nowMs: number, thenMs: number | undefined): string {
  if (thenMs === undefined || !Number.isFinite(thenMs)) return '—';
  const delta = nowMs - thenMs;
  if (Math.abs(delta) < 1000) return 'just now';
  const text = formatDuration(Math.abs(delta)).replace(/\.\d+ s$/, ' s');
  return delta > 0 ? `${text} ago` : `in ${text}`;
}

/** `87.5%` of `part` in `whole`; `—` when the whole is zero. */
export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '—';
  const pct = (part / whole) * 100;
  return `${Number.isInteger(pct) || pct >= 99.95 ? pct.toFixed(0) : pct.toFixed(1)}%`;
}

/** Thousands separators, independent of the server's locale. */
export function formatCount(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Milliseconds since the epoch of a protobuf Timestamp; undefined when unset or zero. */
export function timestampMs(t: Timestamp | undefined): number | undefined {
  if (t === undefined || (t.seconds === 0 && t.nanos === 0)) return undefined;
  return t.seconds * 1000 + t.nanos / 1_000_000;
}

/** Milliseconds of a protobuf Duration; undefined when unset. */
export function durationMs(d: Duration | undefined): number | undefined {
  return d === undefined ? undefined : d.seconds * 1000 + d.nanos / 1_000_000;
}

/** `1 blob`, `3 blobs`: a count with its noun, plural unless exactly one. */
export function plural(n: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${formatCount(n)} ${n === 1 ? noun : pluralNoun}`;
}

/** The first characters of a long id, with an ellipsis only when something was cut. */
export function shortId(id: string, length = 8): string {
  return id.length > length + 1 ? `${id.slice(0, length)}…` : id;
}
