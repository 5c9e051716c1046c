/**
 * One download whose origin closes the connection while Kiln holds the body
 * paused, run as a child process by origin-close-while-paused.test.ts so that
 * a crash of the process is seen as its exit instead of taking the test
 * runner down with it.
 *
 * Usage: `node origin-close-child.ts FRAMING` with a framing of
 * {@link FRAMINGS}. Prints one JSON line (a {@link ChildReport}) and exits 0;
 * any other exit means the process died.
 *
 * The origin sends its body in three parts, timed against the consumer:
 * the first part, and only once the consumer holds it (a CAS write, or a read
 * loop, that does not return), a second part just under the body stream's
 * 64 KiB high-water mark, so the HTTP parser keeps reading; then a last part
 * that crosses the mark, with the FIN written in the same tick, so the parser
 * pauses on the final bytes of a socket that has already ended. The consumer
 * is let go only after that. undici before 8 asserted that its parser was not
 * paused when the socket ended, and the process died there (its issue 5360).
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { credentials, status } from '@grpc/grpc-js';
import { HttpFetcher, requestFailure } from '../../src/asset/http-fetcher.ts';
import { OutboundPolicy } from '../../src/asset/outbound-policy.ts';
import { defaultRemoteAssetConfig } from '../../src/config/asset-schema.ts';
import { makeDigest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { FetchClient } from '../../src/gen/build/bazel/remote/asset/v1/remote_asset.js';
import type { BlobStore, BlobWriter } from '../../src/storage/blob-store.ts';
import { readAll } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer } from '../support/test-server.ts';
import { fetchRequest, sha256Hex, sriQualifier } from './asset-server.ts';

/**
 * How the origin frames the body. The `content-length` ones go through Fetch
 * into a CAS whose first write is held; the others have no length, so Fetch
 * would spool them to a file, and a consumer of HttpFetcher is held instead.
 */
const FRAMINGS = [
  'content-length',
  'content-length-cut',
  'until-close',
  'chunked',
  'chunked-cut',
] as const;
export type Framing = (typeof FRAMINGS)[number];

/** What the child prints. */
export interface ChildReport {
  /**
   * Success, and whether the bytes are the origin's body (through Fetch: the
   * digest returned and the blob the CAS holds); or the gRPC code and message
   * of a clean failure.
   */
  readonly download:
    | { readonly ok: true; readonly intact: boolean }
    | { readonly ok: false; readonly code: number; readonly message: string };
  /** The gRPC code of a FetchBlob made after the download. */
  readonly afterwards: number;
}

const KiB = 1024;
const PARTS = [Buffer.alloc(KiB, 0x61), Buffer.alloc(60 * KiB, 0x62), Buffer.alloc(16 * KiB, 0x63)];
/** The body the origin means to send; `-cut` framings end before its last 100 bytes. */
const BODY = Buffer.concat(PARTS);
const AFTER = Buffer.from('still serving\n');

/** Where the consumer stops at its first chunk: `entered` once there, on after `release()`. */
class Hold {
  readonly entered: Promise<void>;
  readonly released: Promise<void>;
  enter!: () => void;
  release!: () => void;
  constructor() {
    this.entered = new Promise((resolve) => (this.enter = resolve));
    this.released = new Promise((resolve) => (this.release = resolve));
  }
}

/** A store whose first write waits on a {@link Hold}, as a CAS under backpressure does. */
class HeldBlobStore implements BlobStore {
  readonly #backend: BlobStore;
  readonly #hold: Hold;
  constructor(options: { backend: BlobStore; hold: Hold }) {
    this.#backend = options.backend;
    this.#hold = options.hold;
  }
  get: BlobStore['get'] = (digest, range) => this.#backend.get(digest, range);
  findMissing: BlobStore['findMissing'] = (digests) => this.#backend.findMissing(digests);
  close = (): Promise<void> => this.#backend.close();
  async put(digest: Parameters<BlobStore['put']>[0]): Promise<BlobWriter> {
    const writer = await this.#backend.put(digest);
    const hold = this.#hold;
    let first = true;
    return {
      async write(chunk) {
        if (first) {
          first = false;
          hold.enter();
          await hold.released;
        }
        await writer.write(chunk);
      },
      commit: () => writer.commit(),
      abort: () => writer.abort(),
      get written() {
        return writer.written;
      },
    };
  }
}

/** An origin that answers `/body` as `framing` says and `/after` plainly, closing after each. */
async function startOrigin(framing: Framing, hold: Hold): Promise<Server> {
  const chunked = framing.startsWith('chunked');
  const frame = (part: Buffer) =>
    chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, CRLF]) : part;
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (data: Buffer) => {
      head += data.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeAllListeners('data');
      if (!head.startsWith('GET /body ')) {
        socket.end(Buffer.concat([response(`content-length: ${AFTER.length}`), AFTER]));
        return;
      }
      void (async () => {
        const length = framing.startsWith('content-length') ? `content-length: ${BODY.length}` : '';
        socket.write(response(chunked ? 'transfer-encoding: chunked' : length));
        socket.write(frame(PARTS[0] as Buffer));
        await hold.entered;
        socket.write(frame(PARTS[1] as Buffer));
        await delay(100);
        const last = frame(PARTS[2] as Buffer);
        socket.write(framing.endsWith('-cut') ? last.subarray(0, last.length - 100) : last);
        if (framing === 'chunked') socket.write('0\r\n\r\n');
        // Destroying closes the descriptor at once, so the FIN follows the last bytes
        // before this process reads either; the write must not still be queued.
        if (socket.writableLength !== 0) throw new Error('origin: last part not flushed');
        socket.destroy();
        await delay(200);
        hold.release();
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const CRLF = Buffer.from('\r\n');
const response = (header: string) =>
  Buffer.from(
    `HTTP/1.1 200 OK\r\n${header === '' ? '' : `${header}\r\n`}connection: close\r\n\r\n`,
  );

/** Reads a response the way download-to-cas does, holding the first chunk. */
async function readHeld(http: HttpFetcher, url: URL, hold: Hold): Promise<ChildReport['download']> {
  const signal = new AbortController().signal;
  const response = await http.get(url, {}, signal);
  const chunks: Uint8Array[] = [];
  try {
    for await (const chunk of response.body) {
      if (chunks.length === 0) {
        hold.enter();
        await hold.released;
      }
      chunks.push(chunk);
    }
    return { ok: true, intact: Buffer.concat(chunks).equals(BODY) };
  } catch (err) {
    const failure = requestFailure(err, url, signal) as Error & { code?: number };
    return { ok: false, code: failure.code ?? status.UNKNOWN, message: failure.message };
  } finally {
    response.release();
  }
}

async function main(framing: Framing): Promise<ChildReport> {
  const hold = new Hold();
  const memory = new MemoryBlobStore({ maxBytes: 1 << 24 });
  const dir = await mkdtemp(join(tmpdir(), 'kiln-origin-close-'));
  const origin = await startOrigin(framing, hold);
  const { port } = origin.address() as { port: number };
  const base = `http://127.0.0.1:${port}`;
  const config = defaultRemoteAssetConfig();
  const t = await startTestServer({
    casBackend: new HeldBlobStore({ backend: memory, hold }),
    remoteAsset: {
      config,
      associations: new MemoryBlobStore({ maxBytes: 1 << 20 }),
      tempDir: join(dir, 'downloads'),
    },
  });
  const fetch = new FetchClient(t.server.address, credentials.createInsecure());
  const http = new HttpFetcher({
    // Loopback origins, allowed as the protected-mode server above allows them.
    policy: new OutboundPolicy({ ...config, allowLoopback: true }),
    connectTimeoutMs: 5000,
    maxRedirects: 0,
  });
  try {
    let download: ChildReport['download'];
    if (framing.startsWith('content-length')) {
      const res = await call(
        fetch,
        'fetchBlob',
        fetchRequest({
          uris: [`${base}/body`],
          qualifiers: [sriQualifier(BODY)],
        }),
      );
      const code = res.status?.code ?? status.OK;
      const digest = makeDigest(SHA256, sha256Hex(BODY), BODY.length);
      const stored = await readAll(memory, digest).then(
        (bytes) => bytes.equals(BODY),
        () => false,
      );
      download =
        code === status.OK
          ? { ok: true, intact: stored && res.blobDigest?.hash === digest.hash }
          : { ok: false, code, message: res.status?.message ?? '' };
    } else {
      download = await readHeld(http, new URL(`${base}/body`), hold);
    }
    const after = await call(
      fetch,
      'fetchBlob',
      fetchRequest({
        uris: [`${base}/after`],
        qualifiers: [sriQualifier(AFTER)],
      }),
    );
    return { download, afterwards: after.status?.code ?? status.OK };
  } finally {
    fetch.close();
    await http.close();
    await t.stop();
    origin.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const framing = process.argv[2] as Framing;
if (!FRAMINGS.includes(framing)) throw new Error(`unknown framing ${process.argv[2]}`);
process.stdout.write(`${JSON.stringify(await main(framing))}\n`);
