/**
 * How the client commands print: results on stdout (human-readable, or one
 * JSON document with `--json`), notes and progress on stderr, sizes and
 * durations in units a person reads at a glance.
 */
import { type Digest, formatDigest } from '../digest/digest.ts';

export { formatSize } from '../util/format-size.ts';

/** A writable text stream; `process.stdout` and `process.stderr` are two. */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Options for {@link Output}. */
export interface OutputOptions {
  /** Print one JSON document instead of text. */
  readonly json: boolean;
  /** Results; `process.stdout` by default. */
  readonly stdout?: TextSink;
  /** Notes, stage changes and progress; `process.stderr` by default. */
  readonly stderr?: TextSink;
}

/** Where a command writes. */
export class Output {
  /** Whether results are JSON. */
  readonly json: boolean;
  readonly stdout: TextSink;
  readonly stderr: TextSink;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
  }

  /** Prints the result: `value` as JSON with `--json`, otherwise the text `human()` builds. */
  result(value: unknown, human: () => string): void {
    if (this.json) this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else {
      const text = human();
      if (text !== '') this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /** A note for the person at the terminal (stderr), also printed with `--json`. */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }
}

/** `850 ms`, `1.25 s`, `42.1 s`, `2m 05s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 1))} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`;
  }
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** `hash/size`, or '' for none; the form every command accepts back. */
export function digestText(digest: Digest | undefined): string {
  return digest === undefined ? '' : formatDigest(digest);
}

/** Pads the columns of `rows` to align them, two spaces apart; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `1 file`, `2 files`; `many` for irregular plurals. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
