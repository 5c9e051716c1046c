/**
 * ByteStream.Write and ByteStream.Read throughput of one large blob at a time.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ByteStreamClient, WriteResponse } from '../src/gen/google/bytestream/bytestream.ts';
import { type Sample, timed } from './measure.ts';
import type { ServerProcess } from './server-process.ts';

/** A blob and its SHA-256 digest. */
export interface Blob {
  readonly data: Buffer;
  readonly hash: string;
}

/**
 * Makes distinct random blobs of one size from a single buffer: each call
 * overwrites the first 32 bytes with fresh random bytes, so the previous blob
 * is gone once the next is made. Saves generating and holding one large
 * buffer per repetition.
 */
export class BlobFactory {
  readonly #data: Buffer;

  constructor(size: number) {
    this.#data = randomBytes(size);
  }

  next(): Blob {
    randomBytes(Math.min(32, this.#data.byteLength)).copy(this.#data, 0);
    return { data: this.#data, hash: createHash('sha256').update(this.#data).digest('hex') };
  }
}

/** Uploads `blob` in chunks of `chunkBytes` with one Write stream, honouring backpressure. */
export function writeBlob(client: ByteStreamClient, blob: Blob, chunkBytes: number): Promise<void> {
  const size = blob.data.byteLength;
  const resourceName = `uploads/${randomUUID()}/blobs/${blob.hash}/${size}`;
  return new Promise((resolve, reject) => {
    const stream = client.write((err: Error | null, res: WriteResponse) => {
      if (err) reject(err);
      else if (res.committedSize !== size) {
        reject(new Error(`Write committed ${res.committedSize} of ${size} bytes`));
      } else resolve();
    });
    let offset = 0;
    const pump = (): void => {
      while (offset < size) {
        const end = Math.min(size, offset + chunkBytes);
        const ok = stream.write({
          resourceName: offset === 0 ? resourceName : '',
          writeOffset: offset,
          finishWrite: end === size,
          data: blob.data.subarray(offset, end),
        });
        offset = end;
        if (!ok && offset < size) {
          stream.once('drain', pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  });
}

/** Reads a whole blob with one Read call; resolves with the number of bytes received. */
export function readBlob(client: ByteStreamClient, hash: string, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const stream = client.read({
      resourceName: `blobs/${hash}/${size}`,
      readOffset: 0,
      readLimit: 0,
    });
    stream.on('data', (res: { data: Uint8Array }) => {
      received += res.data.byteLength;
    });
    stream.once('error', reject);
    stream.once('end', () => resolve(received));
  });
}

/** Options of {@link measureWrites}. */
export interface WriteBenchOptions {
  readonly server: ServerProcess;
  readonly client: ByteStreamClient;
  readonly blobs: BlobFactory;
  readonly chunkBytes: number;
  readonly runs: number;
}

/** Times `runs` uploads of fresh blobs after one untimed warm-up; returns the last blob written. */
export async function measureWrites(
  options: WriteBenchOptions,
): Promise<{ samples: Sample[]; last: Blob }> {
  const { server, client, blobs, chunkBytes, runs } = options;
  let blob = blobs.next();
  await writeBlob(client, blob, chunkBytes);
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    blob = blobs.next();
    const current = blob;
    samples.push(await timed(server, () => writeBlob(client, current, chunkBytes)));
  }
  return { samples, last: blob };
}

/** Options of {@link measureReads}. */
export interface ReadBenchOptions {
  readonly server: ServerProcess;
  readonly client: ByteStreamClient;
  readonly hash: string;
  readonly size: number;
  readonly runs: number;
}

/** Times `runs` whole-blob reads after one untimed warm-up that also checks the content length. */
export async function measureReads(options: ReadBenchOptions): Promise<Sample[]> {
  const { server, client, hash, size, runs } = options;
  const check = await readBlob(client, hash, size);
  if (check !== size) throw new Error(`Read returned ${check} of ${size} bytes`);
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    samples.push(
      await timed(server, async () => {
        const got = await readBlob(client, hash, size);
        if (got !== size) throw new Error(`Read returned ${got} of ${size} bytes`);
      }),
    );
  }
  return samples;
}
