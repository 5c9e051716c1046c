/**
 * The file descriptor Kiln's logger writes to, built so that logging can never
 * stop the process. pino's own destination (sonic-boom) retries a failed
 * synchronous write every 100 ms for any error, so a process that exits or
 * flushes while its stderr reader is gone (`kiln serve 2>&1 | head`) blocks
 * forever, deaf to SIGTERM.
 */
import { write, writeSync } from 'node:fs';

/** Options for {@link LogDestination}. */
export interface LogDestinationOptions {
  /** File descriptor to write to (2 for stderr). */
  readonly fd: number;
  /**
   * Most bytes held while the descriptor cannot take more (a full pipe);
   * lines beyond it are dropped. 4 MiB by default.
   */
  readonly maxBufferedBytes?: number;
}

/** How long to wait before writing again to a descriptor that answered EAGAIN. */
const RETRY_MS = 100;

/**
 * An ordered, asynchronous log sink for pino. A full descriptor (EAGAIN) is
 * retried later, holding a bounded amount of logs; any other write error
 * (EPIPE when the reader went away, EBADF, EIO) ends logging for good: the
 * held lines are dropped and later ones are ignored, and the process carries
 * on. Flushes try each write once and never wait.
 */
export class LogDestination {
  readonly #fd: number;
  readonly #maxBufferedBytes: number;
  /** Lines not written yet; the first may be partly written. */
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  /** An fs.write of `#queue[0]` is in flight. */
  #inFlight = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #broken = false;
  #drained: Array<() => void> = [];
  readonly #flushAtExit = (): void => this.flushSync();

  constructor(options: LogDestinationOptions) {
    this.#fd = options.fd;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    // Lines still queued when the process exits get one synchronous try.
    process.on('exit', this.#flushAtExit);
  }

  /** True once a write failed with something other than EAGAIN: logs are dropped from then on. */
  get broken(): boolean {
    return this.#broken;
  }

  /** Queues one log line (pino's stream interface). */
  write(line: string): boolean {
    if (this.#broken) return true;
    const data = Buffer.from(line);
    if (this.#queuedBytes + data.length > this.#maxBufferedBytes) return true;
    this.#queue.push(data);
    this.#queuedBytes += data.length;
    if (!this.#inFlight && this.#retryTimer === undefined) this.#writeNext();
    return true;
  }

  /** Calls `cb` once everything queued is written or dropped (pino's `logger.flush(cb)`). */
  flush(cb?: (err?: Error) => void): void {
    if (this.#queue.length === 0 || this.#broken) {
      if (cb) process.nextTick(cb);
      return;
    }
    if (cb) this.#drained.push(() => cb());
  }

  /** Writes what is queued now, once; gives up (dropping it) on any error. For exit and fatal logs. */
  flushSync(): void {
    if (this.#broken) return;
    // A write in flight owns the first buffer; writing it again would duplicate it.
    const start = this.#inFlight ? 1 : 0;
    try {
      for (let i = start; i < this.#queue.length; i++) {
        let data = this.#queue[i] as Buffer;
        while (data.length > 0) data = data.subarray(writeSync(this.#fd, data));
      }
    } catch {
      // EAGAIN included: a flush must not wait for a reader.
    }
    this.#queue = this.#queue.slice(0, start);
    this.#queuedBytes = this.#queue.reduce((n, b) => n + b.length, 0);
  }

  /** Stops logging; the process carries on without it. */
  end(): void {
    this.#stop();
  }

  #writeNext(): void {
    if (this.#broken || this.#queue.length === 0) {
      this.#settleDrained();
      return;
    }
    if (this.#queue.length > 1) this.#queue = [Buffer.concat(this.#queue)];
    const data = this.#queue[0] as Buffer;
    this.#inFlight = true;
    write(this.#fd, data, 0, data.length, null, (err, written) => {
      this.#inFlight = false;
      if (err) {
        this.#failed(err);
        return;
      }
      this.#queue[0] = data.subarray(written);
      this.#queuedBytes -= written;
      if (this.#queue[0].length === 0) this.#queue.shift();
      this.#writeNext();
    });
  }

  #failed(err: NodeJS.ErrnoException): void {
    if (err.code !== 'EAGAIN') {
      this.#stop();
      return;
    }
    // Unref'd: a reader that stopped reading must not keep the process alive.
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#writeNext();
    }, RETRY_MS).unref();
  }

  #stop(): void {
    this.#broken = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    process.off('exit', this.#flushAtExit);
    this.#settleDrained();
  }

  #settleDrained(): void {
    const waiting = this.#drained;
    this.#drained = [];
    for (const cb of waiting) cb();
  }
}
