/**
 * The limits of one unpacking, enforced while the archive streams: a bomb
 * (a few kilobytes that inflate to terabytes, or millions of empty entries)
 * must stop at the limit, not after it has been inflated.
 */
import { status } from '@grpc/grpc-js';
import { invalidArgument, KilnError, resourceExhausted } from '../errors.ts';
import { quote } from './archive-path.ts';

/** Options of {@link ArchiveBudget}. */
export interface ArchiveBudgetOptions {
  /** Most entries of any kind (files, directories, links, skipped devices). */
  readonly maxFiles: number;
  /** Most bytes of file content, after decompression, hardlinked copies included. */
  readonly maxTotalBytes: number;
  /** Aborts the unpacking; checked at every entry and every chunk. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Counts entries and content bytes against the limits and watches the abort
 * signal. Every reader reports to it as it goes, so a limit trips at the
 * entry or chunk that crosses it.
 */
export class ArchiveBudget {
  readonly #maxFiles: number;
  readonly #maxTotalBytes: number;
  readonly #signal: AbortSignal | undefined;
  #entries = 0;
  #bytes = 0;

  constructor(options: ArchiveBudgetOptions) {
    for (const [name, value] of [
      ['maxFiles', options.maxFiles],
      ['maxTotalBytes', options.maxTotalBytes],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw invalidArgument(`archive limit ${name} ${value} must be a non-negative integer`);
      }
    }
    this.#maxFiles = options.maxFiles;
    this.#maxTotalBytes = options.maxTotalBytes;
    this.#signal = options.signal;
  }

  /** Entries counted so far. */
  get entries(): number {
    return this.#entries;
  }

  /** Content bytes counted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Counts one entry; throws RESOURCE_EXHAUSTED past `maxFiles`. */
  countEntry(name: string): void {
    this.checkSignal();
    this.#entries++;
    if (this.#entries > this.#maxFiles) {
      throw resourceExhausted(
        `archive has more than ${this.#maxFiles} entries (the limit was reached at ${quote(name)})`,
      );
    }
  }

  /**
   * Throws RESOURCE_EXHAUSTED when an entry that declares `size` bytes would
   * not fit, so that an honest header fails before anything is inflated.
   */
  checkDeclared(name: string, size: number): void {
    if (size > this.#maxTotalBytes - this.#bytes) this.#exhausted(name);
  }

  /** Counts content bytes; throws RESOURCE_EXHAUSTED past `maxTotalBytes`. */
  addBytes(name: string, n: number): void {
    this.checkSignal();
    this.#bytes += n;
    if (this.#bytes > this.#maxTotalBytes) this.#exhausted(name);
  }

  /** Passes `content` through, counting every chunk as it arrives. */
  async *meter(name: string, content: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    for await (const chunk of content) {
      this.addBytes(name, chunk.byteLength);
      yield chunk;
    }
  }

  /** Throws when the signal has fired: CANCELLED, or DEADLINE_EXCEEDED for a timeout. */
  checkSignal(): void {
    if (this.#signal?.aborted === true) throw abortError(this.#signal);
  }

  #exhausted(name: string): never {
    throw resourceExhausted(
      `archive holds more than ${this.#maxTotalBytes} bytes of uncompressed content ` +
        `(the limit was reached at ${quote(name)})`,
    );
  }
}

/** The KilnError for an aborted unpacking; a KilnError reason is passed on as it is. */
export function abortError(signal: AbortSignal): KilnError {
  const reason: unknown = signal.reason;
  if (reason instanceof KilnError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new KilnError(status.DEADLINE_EXCEEDED, 'archive unpacking timed out', {
      cause: reason,
    });
  }
  return new KilnError(status.CANCELLED, 'archive unpacking was cancelled', { cause: reason });
}
