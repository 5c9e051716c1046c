/**
 * A one-line progress bar for uploads and downloads, redrawn in place on a
 * terminal. On anything else (a pipe, a file, `--json`) it prints nothing,
 * so that logs and scripts see plain output.
 */
import { formatSize, type TextSink } from './cli-output.ts';

/** Options for {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** Where to draw; usually `process.stderr`. Drawn only when it is a TTY. */
  readonly stream: TextSink;
  /** What is happening: `uploading`, `downloading`. */
  readonly label: string;
  /** Bytes expected in all. */
  readonly total: number;
  /** Draw even when the stream is a TTY? false turns the bar off (`--json`). */
  readonly enabled?: boolean;
  /** Least time between redraws, in ms; 100 by default. */
  readonly intervalMs?: number;
  /** The clock, for tests; `Date.now` by default. */
  readonly now?: () => number;
}

/** Transfers smaller than this finish too fast for a bar to help. */
const MIN_BYTES = 1024 * 1024;

/** Tracks bytes done against a total and redraws a bar at most every `intervalMs`. */
export class ProgressBar {
  readonly #stream: TextSink;
  readonly #label: string;
  readonly #total: number;
  readonly #active: boolean;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #done = 0;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(options: ProgressBarOptions) {
    this.#stream = options.stream;
    this.#label = options.label;
    this.#total = options.total;
    this.#active =
      (options.enabled ?? true) && options.stream.isTTY === true && options.total >= MIN_BYTES;
    this.#intervalMs = options.intervalMs ?? 100;
    this.#now = options.now ?? Date.now;
  }

  /** Bytes reported so far. */
  get done(): number {
    return this.#done;
  }

  /** Adds `bytes` to the bytes done, redrawing when the interval has passed. */
  add(bytes: number): void {
    this.#done += bytes;
    if (!this.#active) return;
    const now = this.#now();
    if (now - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = now;
    this.#stream.write(`\r${this.render()}`);
    this.#drawn = true;
  }

  /** Erases the bar, leaving the line for what comes next. */
  finish(): void {
    if (this.#drawn) this.#stream.write(`\r${' '.repeat(this.#width())}\r`);
    this.#drawn = false;
  }

  /** The bar's text: `uploading [#####-----]  50%  5 MiB / 10 MiB`. */
  render(): string {
    const fraction = this.#total > 0 ? Math.min(1, this.#done / this.#total) : 1;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const counts = `${formatSize(this.#done)} / ${formatSize(this.#total)}`;
    const room = this.#width() - this.#label.length - percent.length - counts.length - 6;
    const cells = Math.max(10, Math.min(40, room));
    const filled = Math.round(fraction * cells);
    return `${this.#label} [${'#'.repeat(filled)}${'-'.repeat(cells - filled)}] ${percent}  ${counts}`;
  }

  #width(): number {
    return Math.max(40, (this.#stream.columns ?? 80) - 1);
  }
}
