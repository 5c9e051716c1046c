/**
 * What Read streams that the client does not read cost the server: a bounded
 * number of bytes each, released when the client cancels; and how many such
 * streams the server takes at once, per connection and in total.
 *
 * The stalled readers are raw HTTP/2 streams that are never read, so their
 * flow-control windows stay closed, as with a gRPC client that stopped
 * reading (grpc-js clients would buffer sixteen messages per call first).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { zstdDecompressSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { ReadRequest, type ReadResponse } from '../../src/gen/google/bytestream/bytestream.js';
import { type RunningGrpcServer, startGrpcServer } from '../../src/server/grpc-server.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { randomBlob, sha256Digest } from '../support/blobs.ts';
import { connectClients, type KilnClients } from '../support/grpc-clients.ts';

const MiB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Bytes held by ArrayBuffers (every Buffer) in this process, after a full collection. */
async function bufferBytes(): Promise<number> {
  await sleep(10);
  gc();
  return process.memoryUsage().arrayBuffers;
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * The most bytes held above `baseline` once the server stopped reading ahead:
 * when three samples half a second apart grow by less than 2 MiB.
 */
async function settledBufferBytes(baseline: number): Promise<number> {
  const samples: number[] = [];
  const deadline = Date.now() + 20_000;
  for (;;) {
    samples.push((await bufferBytes()) - baseline);
    const recent = samples.slice(-3);
    if (recent.length === 3 && Math.max(...recent) - (recent[0] as number) < 2 * MiB) break;
    if (Date.now() > deadline) break;
    await sleep(500);
  }
  return Math.max(...samples);
}

/** Polls `check` every 100 ms until it holds or `ms` pass; returns whether it held. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

function resourceName(data: Buffer, compressed = false): string {
  const d = sha256Digest(data);
  return compressed
    ? `compressed-blobs/zstd/${d.hash}/${d.sizeBytes}`
    : `blobs/${d.hash}/${d.sizeBytes}`;
}

function upload(clients: KilnClients, data: Buffer): Promise<void> {
  const d = sha256Digest(data);
  const name = `uploads/0b8f7a62-3e1c-4a4e-9d59-5b1f0a8a0f11/blobs/${d.hash}/${d.sizeBytes}`;
  return new Promise((resolve, reject) => {
    const stream = clients.byteStream.write((err) => (err ? reject(err) : resolve()));
    for (let at = 0; at < data.byteLength; at += MiB) {
      const end = Math.min(data.byteLength, at + MiB);
      stream.write({
        resourceName: at === 0 ? name : '',
        writeOffset: at,
        finishWrite: end === data.byteLength,
        data: data.subarray(at, end),
      });
    }
    stream.end();
  });
}

function readWhole(clients: KilnClients, name: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stream = clients.byteStream.read({ resourceName: name, readOffset: 0, readLimit: 0 });
    stream.on('data', (r: ReadResponse) => chunks.push(r.data));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** A Read whose response is never read; `ended` settles with its gRPC status code and message. */
interface StalledRead {
  readonly stream: ClientHttp2Stream;
  readonly ended: Promise<{ code: number | undefined; message: string }>;
}

function stalledRead(session: ClientHttp2Session, name: string): StalledRead {
  const stream = session.request({
    ':method': 'POST',
    ':path': '/google.bytestream.ByteStream/Read',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.pause();
  const message = ReadRequest.encode({ resourceName: name, readOffset: 0, readLimit: 0 }).finish();
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  stream.end(frame);
  const ended = new Promise<{ code: number | undefined; message: string }>((resolve) => {
    // A refused call answers with its status in the headers (a trailers-only response).
    stream.once('response', (headers) => {
      const code = headers['grpc-status'];
      if (code !== undefined) {
        resolve({
          code: Number(code),
          message: decodeURIComponent(String(headers['grpc-message'] ?? '')),
        });
      }
    });
    stream.once('close', () => {
      resolve({
        code: stream.rstCode === constants.NGHTTP2_CANCEL ? status.CANCELLED : undefined,
        message: '',
      });
    });
    stream.on('error', () => {});
  });
  return { stream, ended };
}

/** Cancels every read (after a failed assertion, too) and waits for them to end. */
async function cancelAll(reads: readonly StalledRead[]): Promise<void> {
  for (const read of reads) read.stream.close(constants.NGHTTP2_CANCEL);
  await Promise.all(reads.map((r) => r.ended));
}

/** Warnings about FileHandles closed by the garbage collector: files the server forgot to close. */
const fileHandleWarnings: string[] = [];
process.on('warning', (warning) => {
  if (/Closing file descriptor \d+ on garbage collection/.test(warning.message)) {
    fileHandleWarnings.push(warning.message);
  }
});

/** Opens `count` HTTP/2 connections to `address` with default (64 KiB) windows. */
async function rawSessions(address: string, count: number): Promise<ClientHttp2Session[]> {
  const sessions: ClientHttp2Session[] = [];
  for (let i = 0; i < count; i++) {
    const session = connect(`http://${address}`);
    session.on('error', () => {});
    sessions.push(session);
  }
  await Promise.all(
    sessions.map((s) => new Promise((resolve) => s.once('remoteSettings', resolve))),
  );
  return sessions;
}

describe('Read streams the client does not read', () => {
  let dir: string;
  let server: RunningGrpcServer;
  let clients: KilnClients;
  let sessions: ClientHttp2Session[];
  const blob = randomBlob(8 * MiB);
  const large = randomBlob(32 * MiB);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-read-memory-'));
    const disk = await DiskBlobStore.open({ path: dir, maxBytes: 256 * MiB });
    server = await startGrpcServer({
      listen: '127.0.0.1:0',
      cas: new VerifyingBlobStore({ backend: disk }),
      actionCacheStore: new MemoryBlobStore({ maxBytes: MiB }),
      log: silentLogger(),
    });
    clients = connectClients(server.address);
    await upload(clients, blob);
    await upload(clients, large);
    assert.deepEqual(await readWhole(clients, resourceName(blob)), blob);
    sessions = await rawSessions(server.address, 2);
  });
  after(async () => {
    for (const session of sessions) session.close();
    clients.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('holds a bounded number of bytes per stream and releases them on cancel', async (t) => {
    const baseline = await bufferBytes();
    const fds = openFds();
    const streams = 200;
    const reads: StalledRead[] = [];
    for (let i = 0; i < streams; i++) {
      reads.push(
        stalledRead(sessions[i % sessions.length] as ClientHttp2Session, resourceName(blob)),
      );
    }
    t.after(() => cancelAll(reads));
    const held = await settledBufferBytes(baseline);
    const whole = streams * blob.byteLength;
    assert.ok(
      held < whole / 3,
      `${streams} stalled reads of ${blob.byteLength / MiB} MiB hold ${Math.round(held / MiB)} MiB`,
    );

    await cancelAll(reads);
    const released = await eventually(
      async () => (await bufferBytes()) - baseline < 32 * MiB,
      10_000,
    );
    const left = Math.round(((await bufferBytes()) - baseline) / MiB);
    assert.ok(released, `after cancelling, ${left} MiB are still held`);
    assert.ok(await eventually(() => openFds() <= fds + 4, 5_000), 'every blob file was closed');
    assert.deepEqual(fileHandleWarnings, []);
    assert.ok(await eventually(() => server.byteStreamStats().readStreams === 0, 5_000));
    assert.deepEqual(await readWhole(clients, resourceName(blob)), blob);
  });

  it('stops reading and compressing when a stalled compressed Read is cancelled', async (t) => {
    const baseline = await bufferBytes();
    const fds = openFds();
    const streams = 20;
    const reads: StalledRead[] = [];
    for (let i = 0; i < streams; i++) {
      const session = sessions[i % sessions.length] as ClientHttp2Session;
      reads.push(stalledRead(session, resourceName(large, true)));
    }
    t.after(() => cancelAll(reads));
    const held = await settledBufferBytes(baseline);
    const whole = streams * large.byteLength;
    assert.ok(
      held < whole / 4,
      `${streams} stalled compressed reads of ${large.byteLength / MiB} MiB hold ${Math.round(held / MiB)} MiB`,
    );
    await cancelAll(reads);
    assert.ok(await eventually(() => openFds() <= fds + 4, 5_000), 'every blob file was closed');
    assert.deepEqual(fileHandleWarnings, []);
    assert.ok(await eventually(() => server.byteStreamStats().readStreams === 0, 5_000));
    const compressed = await readWhole(clients, resourceName(large, true));
    assert.deepEqual(zstdDecompressSync(compressed), large);
  });
});

describe('limits on concurrent streams', () => {
  let server: RunningGrpcServer;
  let clients: KilnClients;
  let session: ClientHttp2Session;
  const blob = randomBlob(4 * MiB);

  before(async () => {
    server = await startGrpcServer({
      listen: '127.0.0.1:0',
      cas: new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 64 * MiB }) }),
      actionCacheStore: new MemoryBlobStore({ maxBytes: MiB }),
      log: silentLogger(),
      maxReadStreams: 4,
    });
    clients = connectClients(server.address);
    await upload(clients, blob);
    [session] = (await rawSessions(server.address, 1)) as [ClientHttp2Session];
  });
  after(async () => {
    session.close();
    clients.close();
    await server.close();
  });

  it('refuses Read streams beyond the limit with RESOURCE_EXHAUSTED, and takes new ones once some end', async (t) => {
    const reads = [1, 2, 3, 4].map(() => stalledRead(session, resourceName(blob)));
    t.after(() => cancelAll(reads));
    await sleep(200);
    const refused = stalledRead(session, resourceName(blob));
    t.after(() => cancelAll([refused]));
    const outcome = await Promise.race([refused.ended, sleep(5_000, undefined)]);
    assert.ok(outcome, 'the fifth Read is answered at once');
    assert.equal(outcome.code, status.RESOURCE_EXHAUSTED);
    assert.match(outcome.message, /too many ByteStream\.Read streams/);

    await cancelAll(reads.slice(0, 1));
    assert.deepEqual(await readWhole(clients, resourceName(blob)), blob);
  });

  it('advertises a limit of 1000 concurrent streams per connection', () => {
    assert.equal(session.remoteSettings.maxConcurrentStreams, 1000);
  });
});
