/**
 * The messages of a gRPC client stream, one `next()` at a time: what
 * `Readable.iterator({ destroyOnReturn: false })` gives, without its async
 * generator and end-of-stream bookkeeping. A ByteStream.Write of a small
 * blob (most writes of a build) reads one message; with the iterator,
 * setting up and tearing down that machinery cost more than reading it.
 */
import type { Readable } from 'node:stream';

/** Reads a stream's messages; {@link close} it when done (it leaves the stream open). */
export class MessageReader<T> {
  readonly #stream: Readable;
  #ended = false;
  #error: Error | undefined;
  #waiter: { resolve: (message: T | undefined) => void; reject: (err: Error) => void } | undefined;
  readonly #onReadable = (): void => this.#wake();
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#wake();
  };
  readonly #onError = (err: Error): void => {
    this.#error ??= err;
    this.#wake();
  };
  readonly #onClose = (): void => {
    if (!this.#ended) this.#error ??= prematureClose();
    this.#wake();
  };

  constructor(stream: Readable) {
    this.#stream = stream;
    if (stream.readableEnded) this.#ended = true;
    else if (stream.destroyed) this.#error = prematureClose();
    stream.on('readable', this.#onReadable);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
  }

  /**
   * The next message; undefined once the client half-closed. Rejects with the
   * stream's error, or with ERR_STREAM_PREMATURE_CLOSE when the stream closed
   * before its end (the client cancelled).
   */
  next(): Promise<T | undefined> {
    const message = this.#take();
    if (message !== undefined) return Promise.resolve(message);
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Stops listening; the stream is left as it is (not destroyed). */
  close(): void {
    const stream = this.#stream;
    stream.off('readable', this.#onReadable);
    stream.off('end', this.#onEnd);
    stream.off('error', this.#onError);
    stream.off('close', this.#onClose);
  }

  /** A buffered message, or undefined (reading at the end makes the stream emit 'end'). */
  #take(): T | undefined {
    if (this.#error !== undefined || this.#stream.destroyed) return undefined;
    const message = this.#stream.read() as T | null;
    return message === null ? undefined : message;
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    const message = this.#take();
    if (message !== undefined) waiter.resolve(message);
    else if (this.#error !== undefined) waiter.reject(this.#error);
    else if (this.#ended) waiter.resolve(undefined);
    else return;
    this.#waiter = undefined;
  }
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}
