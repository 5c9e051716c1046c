/**
 * What this machine does without Kiln, as a yardstick for the server's
 * numbers: writing fresh data into new files through the page cache, the
 * kernel work every ByteStream.Write to the disk store ends in. On a virtual
 * machine whose memory is backed lazily by the host, this copy into fresh
 * pages can be far slower than memcpy.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Sample, timed } from './measure.ts';
import type { ServerProcess } from './server-process.ts';

/** Options of {@link measureFileWrites}. */
export interface FileWriteBenchOptions {
  /** Only for the CPU columns; the server is idle meanwhile. */
  readonly server: ServerProcess;
  readonly bytes: number;
  readonly chunkBytes: number;
  readonly runs: number;
}

/**
 * Writes `runs` new files of fresh random data in `chunkBytes` writes, as the
 * disk store does, keeping them until all runs are done so that each run
 * needs new page-cache pages, then deletes them.
 */
export async function measureFileWrites(options: FileWriteBenchOptions): Promise<Sample[]> {
  const { server, bytes, chunkBytes, runs } = options;
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bench-files-'));
  const data = randomBytes(bytes);
  const samples: Sample[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      randomBytes(32).copy(data, 0);
      const handle = await open(join(dir, `file-${run}`), 'wx');
      try {
        samples.push(
          await timed(server, async () => {
            for (let at = 0; at < bytes; at += chunkBytes) {
              await handle.write(data, at, Math.min(chunkBytes, bytes - at), at);
            }
          }),
        );
      } finally {
        await handle.close();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return samples;
}
