/**
 * Whole small files written on one worker thread with synchronous calls.
 *
 * Writing a small blob through `fs/promises` takes four thread-pool requests
 * (open, write, close, rename), each a wake-up of a pool thread and of the
 * event loop: measured on a 2-core VM, 240–280 µs of CPU per 150-byte file
 * against 100–130 µs for the same calls made synchronously, and several pool
 * threads creating files in one directory also contend for its lock. Doing
 * them synchronously on the main thread instead would block the event loop
 * for as long as the kernel takes to create a file, which on ext4 without a
 * journal can be a millisecond after many deletions. Here the main thread
 * posts requests (batched per tick, data transferred, not copied) to one
 * thread that does each file's calls in a row: 150–180 µs per file, of which
 * the main thread's share is 3–30 µs.
 *
 * One thread serves the whole process (every disk store), started at first
 * use and stopped when the last user releases it.
 */
import { Worker } from 'node:worker_threads';

/** One file to write. */
export interface FileWrite {
  /** Path of the temporary file, created exclusively (must not exist). */
  readonly tmp: string;
  /** Where the finished file is renamed to, replacing what is there. */
  readonly dest: string;
  /** Directory of `dest`: created when missing, and synced with `fsync`. */
  readonly dir: string;
  /** The whole content. */
  readonly data: Uint8Array;
  /** Flush the file before the rename and the directory after it. */
  readonly fsync: boolean;
}

/** A request as posted to the thread. */
export interface ThreadRequest extends Omit<FileWrite, 'data'> {
  readonly id: number;
  readonly data: Uint8Array;
}

/** The thread's answer to one request. */
export type ThreadReply =
  | { readonly id: number }
  | { readonly id: number; readonly error: { readonly code?: string; readonly message: string } };

interface Pending {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

const THREAD_URL = new URL('./file-writer-thread-main.ts', import.meta.url);

/** The process's file-writing thread (see the module comment). */
export class FileWriterThread {
  static #shared: FileWriterThread | undefined;
  #users = 0;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #queue: ThreadRequest[] = [];
  #transfer: ArrayBuffer[] = [];
  #flushScheduled = false;
  /** Called once nothing is pending. */
  #drained: Array<() => void> = [];
  #nextId = 0;

  /** The shared instance, counted as one more user until {@link release}. */
  static acquire(): FileWriterThread {
    FileWriterThread.#shared ??= new FileWriterThread();
    FileWriterThread.#shared.#users++;
    return FileWriterThread.#shared;
  }

  /** One user less; the last one stops the thread (after its pending writes). */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    if (FileWriterThread.#shared === this) FileWriterThread.#shared = undefined;
    if (this.#pending.size > 0) await new Promise<void>((done) => this.#drained.push(done));
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  /**
   * Writes `data` to `tmp` (exclusively created, mode 0644), optionally
   * syncs it, and renames it to `dest`, creating `dir` if needed. On failure
   * the temporary file is removed and the promise rejects with the file
   * system's error (its `code` set, as from `fs`).
   */
  write(request: FileWrite): Promise<void> {
    const id = this.#nextId++;
    // Posting a view would copy its whole ArrayBuffer (often a pool or a
    // network buffer); a copy of just the bytes is moved to the thread instead.
    const own = new Uint8Array(request.data);
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#queue.push({ ...request, id, data: own });
      this.#transfer.push(own.buffer);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#queue;
    const transfer = this.#transfer;
    this.#queue = [];
    this.#transfer = [];
    const worker = this.#start();
    worker.ref();
    worker.postMessage(batch, transfer);
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(THREAD_URL, { name: 'kiln-file-writer' });
    this.#worker = worker;
    worker.unref();
    worker.on('message', (replies: ThreadReply[]) => {
      for (const reply of replies) {
        const pending = this.#pending.get(reply.id);
        this.#pending.delete(reply.id);
        if (pending === undefined) continue;
        if ('error' in reply) {
          const err: NodeJS.ErrnoException = new Error(reply.error.message);
          if (reply.error.code !== undefined) err.code = reply.error.code;
          pending.reject(err);
        } else {
          pending.resolve();
        }
      }
      if (this.#pending.size === 0) {
        worker.unref();
        this.#settle();
      }
    });
    const fail = (why: string): void => {
      if (this.#worker === worker) this.#worker = undefined;
      const err = new Error(`the file writer thread ${why}`);
      for (const pending of this.#pending.values()) pending.reject(err);
      this.#pending.clear();
      this.#settle();
    };
    worker.on('error', (err) => fail(`failed: ${err.message}`));
    worker.on('exit', (code) => fail(`exited (${code})`));
    return worker;
  }

  #settle(): void {
    for (const done of this.#drained.splice(0)) done();
  }
}
