/**
 * The file writer thread's body (see file-writer-thread.ts): writes each
 * requested file with synchronous calls and answers each batch with one
 * message. Imports only Node.js built-ins.
 */
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { ThreadReply, ThreadRequest } from './file-writer-thread.ts';

/** Writes the file; once its temporary file exists, `created` is set, so a failure removes only what this made. */
function writeFileAtomically(
  { tmp, dest, dir, data, fsync }: ThreadRequest,
  created: { tmp: boolean },
): void {
  const fd = openSync(tmp, 'wx', 0o644);
  created.tmp = true;
  try {
    let done = 0;
    while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done);
    if (fsync) fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // The directory is new, or was removed behind the store's back.
    mkdirSync(dir, { recursive: true });
    renameSync(tmp, dest);
  }
  if (fsync) {
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

parentPort?.on('message', (batch: ThreadRequest[]) => {
  const replies: ThreadReply[] = batch.map((request) => {
    const created = { tmp: false };
    try {
      writeFileAtomically(request, created);
      return { id: request.id };
    } catch (err) {
      if (created.tmp) rmSync(request.tmp, { force: true });
      const { code, message } = err as NodeJS.ErrnoException;
      return { id: request.id, error: { code, message } };
    }
  });
  parentPort?.postMessage(replies);
});
