/**
 * The load generator for ByteStream.Write: already-framed gRPC messages sent
 * on a plain HTTP/2 stream (node:http2), the same bytes a gRPC client sends.
 *
 * On a 2-core machine the client and the server share the CPU. grpc-js's
 * client copies every message once more to put the 5-byte frame header in
 * front (a fresh 1 MiB buffer per 1 MiB chunk, about 0.6 cores at 450 MB/s),
 * CPU the server then does not get. Here the frames are prepared before the
 * clock starts, and sending them copies nothing.
 */
import { type ClientHttp2Session, connect } from 'node:http2';
import { WriteResponse } from '../src/gen/google/bytestream/bytestream.js';
import { BENCH_TOKEN } from './bench-token.ts';

/** Flow-control window both ways, as Kiln's own server and clients use. */
const WINDOW_BYTES = 8 * 1024 * 1024;

/** One HTTP/2 connection sending ByteStream.Write calls. */
export class Http2ByteStreamWriter {
  readonly #session: ClientHttp2Session;

  /** Connects to `address` (`host:port`). */
  constructor(address: string) {
    this.#session = connect(`http://${address}`, { settings: { initialWindowSize: WINDOW_BYTES } });
    this.#session.once('connect', () => this.#session.setLocalWindowSize(WINDOW_BYTES));
    this.#session.on('error', () => {});
  }

  /**
   * Sends one Write call of `frames` (each a whole gRPC message with its
   * 5-byte header) and checks that the server committed `size` bytes.
   */
  write(frames: readonly Buffer[], size: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const call = this.#session.request({
        ':method': 'POST',
        ':path': '/google.bytestream.ByteStream/Write',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...(BENCH_TOKEN === undefined ? {} : { authorization: `Bearer ${BENCH_TOKEN}` }),
      });
      const received: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const onHeaders = (headers: Record<string, unknown>): void => {
        if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
        if (headers['grpc-message'] !== undefined) message = String(headers['grpc-message']);
      };
      call.on('response', onHeaders);
      call.on('trailers', onHeaders);
      call.on('data', (chunk: Buffer) => received.push(chunk));
      call.once('error', reject);
      call.once('end', () => {
        if (status !== '0') {
          reject(new Error(`Write failed: grpc-status ${status} ${decodeURIComponent(message)}`));
          return;
        }
        const { committedSize } = WriteResponse.decode(Buffer.concat(received).subarray(5));
        if (committedSize !== size)
          reject(new Error(`Write committed ${committedSize} of ${size}`));
        else resolve();
      });
      call.resume();
      let i = 0;
      const pump = (): void => {
        while (i < frames.length) {
          if (!call.write(frames[i++] as Buffer) && i < frames.length) {
            call.once('drain', pump);
            return;
          }
        }
        call.end();
      };
      pump();
    });
  }

  close(): void {
    this.#session.close();
  }
}
