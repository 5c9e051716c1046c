/**
 * Keeps a process alive when the reader of its standard output goes away.
 */

/**
 * Ignores EPIPE on `stream` (process.stdout or process.stderr): once the
 * reader is gone (`kiln serve | head -3`), a write there is lost instead of
 * crashing the process with an unhandled 'error' event. Other errors still
 * surface as they would without this listener.
 */
export function ignoreBrokenPipe(stream: NodeJS.WritableStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}
