/**
 * xz decompression for tar.xz archives, with the `xz-decompress` package
 * (xz-embedded compiled to WebAssembly: no native addon to build). The package
 * runs one decoder at a time per process and queues the rest behind a lock of
 * its own that a stream cancelled at the wrong moment can leave held; Kiln
 * therefore queues xz archives itself, abortably, and only ever creates a
 * decoder that can start at once.
 */
import { ReadableStream } from 'node:stream/web';
import { invalidArgument, KilnError, resourceExhausted } from '../errors.ts';
import { abortError } from './archive-budget.ts';

/** Meaning of the xz-embedded return codes the decoder reports in its error messages. */
const XZ_ERRORS: Record<number, (what: string) => KilnError> = {
  2: (w) => invalidArgument(`${w}: the xz stream uses an integrity check the decoder lacks`),
  3: (w) => resourceExhausted(`${w}: the xz decoder ran out of memory`),
  4: (w) => resourceExhausted(`${w}: the xz stream needs a larger dictionary than allowed`),
  5: (w) => invalidArgument(`${w}: not an xz stream`),
  6: (w) => invalidArgument(`${w}: the xz stream uses unsupported options`),
  7: (w) => invalidArgument(`${w}: the xz stream is corrupt`),
  8: (w) => invalidArgument(`${w}: the xz stream is truncated`),
};

/** Settles when the decoder in use (if any) is released; the tail of the queue. */
let queue: Promise<void> = Promise.resolve();

/**
 * Waits for this process's turn to run an xz decoder. Resolves to the release
 * function. Aborting while waiting rejects at once; the turn is then passed
 * on as soon as the one before it ends, so the queue never stalls.
 */
async function acquire(signal: AbortSignal | undefined): Promise<() => void> {
  const previous = queue;
  let release = (): void => undefined;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  queue = previous.then(() => mine);
  if (signal === undefined) {
    await previous;
    return release;
  }
  signal.throwIfAborted();
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([previous, aborted]);
    return release;
  } catch (err) {
    void previous.then(release);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Decompresses an xz stream. `what` names the archive in errors. The decoder
 * is held from the first read until the stream ends, fails, or the consumer
 * stops iterating (which cancels it), so a consumer must iterate to the end or
 * break out; both release it.
 */
export async function* xzDecompress(
  source: AsyncIterable<Uint8Array>,
  what: string,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const release = await acquire(signal);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let done = false;
  try {
    // Loaded on first use: servers that never see a tar.xz never decode its WebAssembly.
    const { default: xz } = await import('xz-decompress');
    // The package is typed against the global ReadableStream, Node's web stream at run time.
    const input = ReadableStream.from(source) as unknown as globalThis.ReadableStream<Uint8Array>;
    reader = new xz.XzReadableStream(input).getReader();
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (err) {
        done = true;
        throw decoderError(err, what);
      }
      if (result.done) {
        done = true;
        return;
      }
      yield result.value;
    }
  } finally {
    // Cancelling an ended or failed stream is a no-op; cancelling a live one frees its decoder.
    if (reader !== undefined && !done) await reader.cancel().catch(() => undefined);
    release();
  }
}

/** A KilnError (from reading the blob) as it is; decoder failures as what they mean. */
function decoderError(err: unknown, what: string): unknown {
  if (err instanceof KilnError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = /error code (\d+)/.exec(message)?.[1];
  const known = code === undefined ? undefined : XZ_ERRORS[Number(code)];
  // The decoder fails with a TypeError when its input ends before the first block.
  return known?.(what) ?? invalidArgument(`${what}: the xz stream is truncated or corrupt`);
}
