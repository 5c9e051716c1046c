/**
 * What abandoned ByteStream uploads cost the server: their temporary files
 * are closed soon after the stream goes away (and reopened when the upload is
 * resumed), and the uploads themselves are reclaimed after the idle timeout
 * and counted in /metrics.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientWritableStream, status } from '@grpc/grpc-js';
import { parseConfigText } from '../../src/config/load-config.ts';
import type { WriteRequest } from '../../src/gen/google/bytestream/bytestream.js';
import { registerByteStreamMetrics } from '../../src/observe/bytestream-metrics.ts';
import { KilnMetrics } from '../../src/observe/metrics.ts';
import { createServer, type KilnServer } from '../../src/server/create-server.ts';
import { type RunningGrpcServer, startGrpcServer } from '../../src/server/grpc-server.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { parsePrometheusText, sampleValue } from '../observe/prometheus-text.ts';
import { randomBlob, sha256Digest } from '../support/blobs.ts';
import { call, connectClients, type KilnClients } from '../support/grpc-clients.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** File descriptors this process holds (the server runs in it). */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function uploadName(data: Buffer): string {
  const d = sha256Digest(data);
  return `uploads/${randomUUID()}/blobs/${d.hash}/${d.sizeBytes}`;
}

function readName(data: Buffer): string {
  const d = sha256Digest(data);
  return `blobs/${d.hash}/${d.sizeBytes}`;
}

/** Polls `check` every 50 ms until it holds or `ms` pass; returns whether it held. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** A Write stream that has sent `data[0, sent)` of an upload and is still open. */
interface OpenUpload {
  readonly name: string;
  readonly data: Buffer;
  readonly sent: number;
  readonly stream: ClientWritableStream<WriteRequest>;
  /** Settles with the call's outcome. */
  readonly outcome: Promise<unknown>;
}

function startUpload(clients: KilnClients, data: Buffer, sent: number): OpenUpload {
  const name = uploadName(data);
  let stream: ClientWritableStream<WriteRequest> | undefined;
  const outcome = new Promise<unknown>((resolve) => {
    stream = clients.byteStream.write((err, res) => resolve(err ?? res));
  });
  const open = stream as ClientWritableStream<WriteRequest>;
  open.write({
    resourceName: name,
    writeOffset: 0,
    finishWrite: false,
    data: data.subarray(0, sent),
  });
  return { name, data, sent, stream: open, outcome };
}

function committedSize(clients: KilnClients, name: string): Promise<number> {
  return call(clients.byteStream, 'queryWriteStatus', { resourceName: name }).then(
    (r) => r.committedSize,
  );
}

/** Sends `data` from `from` on one Write stream and finishes the upload. */
function writeFrom(clients: KilnClients, name: string, data: Buffer, from: number) {
  return new Promise<{ committedSize: number }>((resolve, reject) => {
    const stream = clients.byteStream.write((err, res) => (err ? reject(err) : resolve(res)));
    const chunk = 256 * KiB;
    for (let at = from; at < data.byteLength; at += chunk) {
      const end = Math.min(data.byteLength, at + chunk);
      stream.write({
        resourceName: at === from ? name : '',
        writeOffset: at,
        finishWrite: end === data.byteLength,
        data: data.subarray(at, end),
      });
    }
    stream.end();
  });
}

function readBlob(clients: KilnClients, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stream = clients.byteStream.read({
      resourceName: readName(data),
      readOffset: 0,
      readLimit: 0,
    });
    stream.on('data', (r: { data: Buffer }) => chunks.push(r.data));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

describe('abandoned ByteStream uploads on the disk CAS', () => {
  let dataDir: string;
  let kiln: KilnServer;
  let clients: KilnClients;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-upload-fds-'));
    const config = parseConfigText(
      'server:\n  listen: 127.0.0.1:0\nexecution:\n  enabled: false\n',
      'test.yaml',
      { overrides: { dataDir } },
    );
    kiln = await createServer({ config, log: silentLogger() });
    clients = connectClients(kiln.grpcAddress);
  });
  after(async () => {
    clients.close();
    await kiln.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('closes the temporary files of abandoned uploads and resumes them from QueryWriteStatus', async () => {
    // Warm up: connect, and let the store open what it keeps open.
    const warm = randomBlob(200 * KiB);
    await writeFrom(clients, uploadName(warm), warm, 0);
    assert.deepEqual(await readBlob(clients, warm), warm);
    const baseline = openFds();

    const uploads: OpenUpload[] = [];
    for (let i = 0; i < 200; i++)
      uploads.push(startUpload(clients, randomBlob(192 * KiB), 96 * KiB));
    // Two large enough for O_DIRECT, stopped in the middle of a block.
    for (let i = 0; i < 2; i++)
      uploads.push(startUpload(clients, randomBlob(5 * MiB), 3 * MiB + 17));
    const received = await eventually(async () => {
      const sizes = await Promise.all(uploads.map((u) => committedSize(clients, u.name)));
      return sizes.every((size, i) => size === uploads[i]?.sent);
    }, 20_000);
    assert.ok(received, 'the server received the first part of every upload');

    // Abandon them: half by cancelling, half by ending the stream without finish_write.
    for (const [i, upload] of uploads.entries()) {
      if (i % 2 === 0) upload.stream.cancel();
      else upload.stream.end();
    }
    const outcomes = await Promise.all(uploads.map((u) => u.outcome));
    for (const [i, outcome] of outcomes.entries()) {
      const expected = i % 2 === 0 ? status.CANCELLED : status.INVALID_ARGUMENT;
      assert.equal((outcome as { code?: number }).code, expected);
    }

    const released = await eventually(() => openFds() <= baseline + 10, 5_000);
    assert.ok(released, `open fds went back to ${baseline} (+10), not ${openFds()}`);

    // Every abandoned upload is still resumable where it stopped.
    for (const upload of [uploads[0], uploads[1], uploads[200], uploads[201]]) {
      assert.ok(upload);
      assert.equal(await committedSize(clients, upload.name), upload.sent);
      const res = await writeFrom(clients, upload.name, upload.data, upload.sent);
      assert.equal(res.committedSize, upload.data.byteLength);
      assert.deepEqual(await readBlob(clients, upload.data), upload.data);
    }
    assert.ok(openFds() <= baseline + 10, 'finished uploads leave no file open');
  });

  it('serves kiln_bytestream_uploads_abandoned_total on /metrics', async () => {
    assert.ok(kiln.httpAddress);
    const res = await fetch(`http://${kiln.httpAddress}/metrics`);
    const parsed = parsePrometheusText(await res.text());
    assert.equal(parsed.types.get('kiln_bytestream_uploads_abandoned_total'), 'counter');
    assert.equal(sampleValue(parsed, 'kiln_bytestream_uploads_abandoned_total'), 0);
  });
});

describe('reclaiming abandoned uploads', () => {
  let server: RunningGrpcServer;
  let clients: KilnClients;
  const metrics = new KilnMetrics({ processMetrics: false });

  before(async () => {
    const cas = new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 64 * MiB }) });
    server = await startGrpcServer({
      listen: '127.0.0.1:0',
      cas,
      actionCacheStore: new MemoryBlobStore({ maxBytes: MiB }),
      log: silentLogger(),
      uploadIdleTimeoutMs: 200,
    });
    registerByteStreamMetrics(metrics.registry, () => server.byteStreamStats());
    clients = connectClients(server.address);
  });
  after(async () => {
    clients.close();
    await server.close();
  });

  it('discards uploads idle past the timeout and counts them as abandoned', async () => {
    const uploads = [1, 2, 3].map(() => startUpload(clients, randomBlob(100 * KiB), 10 * KiB));
    assert.ok(
      await eventually(
        async () => (await committedSize(clients, uploads[2]?.name ?? '')) > 0,
        5_000,
      ),
    );
    for (const upload of uploads) upload.stream.cancel();
    await Promise.all(uploads.map((u) => u.outcome));

    const reclaimed = await eventually(async () => {
      const sizes = await Promise.all(uploads.map((u) => committedSize(clients, u.name)));
      return sizes.every((size) => size === 0);
    }, 5_000);
    assert.ok(reclaimed, 'QueryWriteStatus reports nothing kept once the upload was reclaimed');
    const parsed = parsePrometheusText(await metrics.text());
    assert.equal(sampleValue(parsed, 'kiln_bytestream_uploads_abandoned_total'), 3);
    assert.equal(sampleValue(parsed, 'kiln_bytestream_uploads_pending'), 0);
  });
});
