/**
 * ByteStream.Write and ByteStream.Read throughput of one large blob at a time.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ByteStreamClient } from '../src/gen/google/bytestream/bytestream.js';
import { encodeWriteRequest } from '../src/rpc/bytestream-codec.ts';
import type { Http2ByteStreamWriter } from './http2-writer.ts';
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

/**
 * The encoded WriteRequests of one upload as whole gRPC frames (the 5-byte
 * header, then the message), kept in buffers reused from one blob to the
 * next: a load generator that encoded (and allocated) 64 MiB of messages
 * while timing would spend on itself the CPU the server needs, on a machine
 * where both share two cores. The server receives the same bytes.
 */
export class EncodedUpload {
  readonly #chunkBytes: number;
  #messages: Buffer[] = [];

  constructor(chunkBytes: number) {
    this.#chunkBytes = chunkBytes;
  }

  /** Encodes the requests that upload `blob` under a fresh upload id. */
  prepare(blob: Blob): readonly Buffer[] {
    const size = blob.data.byteLength;
    const resourceName = `uploads/${randomUUID()}/blobs/${blob.hash}/${size}`;
    const messages: Buffer[] = [];
    for (let offset = 0, i = 0; offset < size; offset += this.#chunkBytes, i++) {
      const end = Math.min(size, offset + this.#chunkBytes);
      const data = blob.data.subarray(offset, end);
      const request = {
        resourceName: offset === 0 ? resourceName : '',
        writeOffset: offset,
        finishWrite: end === size,
      };
      // Everything but the data is small: encode it, then copy header and data into place.
      const header = encodeWriteRequest({ ...request, data: data.subarray(0, 0) });
      const length = header.length + varintHeaderSize(data.length) + data.length;
      let message = this.#messages[i];
      if (message === undefined || message.length !== GRPC_FRAME_HEADER + length) {
        message = Buffer.allocUnsafe(GRPC_FRAME_HEADER + length);
      }
      message[0] = 0; // not compressed
      message.writeUInt32BE(length, 1);
      header.copy(message, GRPC_FRAME_HEADER);
      const at = writeDataHeader(message, GRPC_FRAME_HEADER + header.length, data.length);
      data.copy(message, at);
      messages.push(message);
    }
    this.#messages = messages;
    return messages;
  }
}

/** Bytes of the gRPC frame header: a compression flag and the message length. */
const GRPC_FRAME_HEADER = 5;

function varintHeaderSize(length: number): number {
  let size = 2;
  for (let v = length; v >= 0x80; v = Math.floor(v / 128)) size++;
  return size;
}

/** Writes the tag and length of WriteRequest.data (field 10) at `pos`; returns where data goes. */
function writeDataHeader(out: Buffer, pos: number, length: number): number {
  let p = pos;
  out[p++] = 82;
  let v = length;
  while (v >= 0x80) {
    out[p++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[p++] = v;
  return p;
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
  readonly writer: Http2ByteStreamWriter;
  readonly blobs: BlobFactory;
  readonly chunkBytes: number;
  readonly runs: number;
}

/**
 * Times `runs` uploads of fresh blobs after one untimed warm-up; returns the
 * last blob written. Only sending is timed; encoding the requests is not.
 */
export async function measureWrites(
  options: WriteBenchOptions,
): Promise<{ samples: Sample[]; last: Blob }> {
  const { server, writer, blobs, chunkBytes, runs } = options;
  const upload = new EncodedUpload(chunkBytes);
  let blob = blobs.next();
  await writer.write(upload.prepare(blob), blob.data.byteLength);
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    blob = blobs.next();
    const messages = upload.prepare(blob);
    const size = blob.data.byteLength;
    samples.push(await timed(server, () => writer.write(messages, size)));
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
