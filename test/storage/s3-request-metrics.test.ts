/**
 * S3 request metrics: what an s3 store counts (by operation and outcome,
 * bytes, latency) matches what the S3 server received, request for request,
 * as the counting proxy in between sees it; and a server's /metrics shows
 * the counts under the store's name.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.ts';
import { Compressor_Value } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { createServer } from '../../src/server/create-server.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { parsePrometheusText, sampleValue } from '../observe/prometheus-text.ts';
import { randomBlob as randomBytesBlob, sha256Digest } from '../support/blobs.ts';
import { call, connectClients } from '../support/grpc-clients.ts';
import { randomBlob } from './blob-store-contract.ts';
import { proxiedS3 } from './s3-fixture.ts';

const MiB = 1024 * 1024;
const emulator = proxiedS3();

describe('S3 request metrics', () => {
  it('count every request by operation and outcome, as the server received them', async () => {
    const DAY = 24 * 60 * 60 * 1000;
    let now = Date.now();
    const store = await emulator.open({
      expireAfterMs: 2 * DAY,
      clock: () => now,
    });
    try {
      emulator.proxy.resetCounts();
      const small = await randomBlob(1000);
      const large = await randomBlob(11 * MiB);
      const absent = await randomBlob(10);
      await putBuffer(store, small.digest, small.data);
      await putBuffer(store, large.digest, large.data);
      assert.deepEqual(await readAll(store, large.digest), large.data);
      assert.equal((await store.findMissing([absent.digest])).length, 1);
      // Two throttled HEADs, then success; a day and a half later a read touches the blob.
      emulator.proxy.failNext(2, { kind: 'status', status: 503, code: 'SlowDown' }, 'HEAD');
      assert.equal((await store.findMissing([(await randomBlob(20)).digest])).length, 1);
      now += 1.5 * DAY;
      assert.deepEqual(await readAll(store, small.digest), small.data);
      for (let i = 0; i < 500 && store.counters.touches < 1; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const m = store.requestMeter;
      assert.deepEqual(
        {
          put: m.count('put', 'ok'),
          create: m.count('create_multipart', 'ok'),
          parts: m.count('upload_part', 'ok'),
          complete: m.count('complete_multipart', 'ok'),
          get: m.count('get', 'ok'),
          headMissing: m.count('head', 'not_found'),
          headThrottled: m.count('head', 'throttled'),
          copy: m.count('copy', 'ok'),
        },
        {
          put: 1,
          create: 1,
          parts: 3,
          complete: 1,
          get: 2,
          headMissing: 2,
          headThrottled: 2,
          copy: 1,
        },
      );
      // The same numbers, request for request, as the server side saw them.
      const counted = [...m.requests.values()].reduce((a, b) => a + b, 0);
      assert.equal(counted, emulator.proxy.total());
      assert.equal(m.count('put', 'ok') + m.count('upload_part', 'ok'), emulator.proxy.counts.PUT);
      assert.equal(m.count('copy', 'ok'), emulator.proxy.counts.COPY);
      // Body bytes: both blobs went up once and came down once.
      assert.ok(m.sentBytes >= small.data.length + large.data.length, String(m.sentBytes));
      assert.ok(m.sentBytes < small.data.length + large.data.length + 64 * 1024);
      assert.ok(m.receivedBytes >= small.data.length + large.data.length);
      assert.equal(
        [...m.seconds.values()].reduce((a, l) => a + l.count, 0),
        counted,
        'one latency sample per request',
      );
    } finally {
      await store.close();
    }
  });

  it('appear on /metrics under the store name', { timeout: 60_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'kiln-s3-metrics-'));
    const config = parseConfigText(
      `
server: { listen: 127.0.0.1:0, httpListen: 127.0.0.1:0 }
execution: { enabled: false }
storage:
  stores:
    shared:
      s3:
        endpoint: ${emulator.proxy.endpoint}
        bucket: ${emulator.server.bucket}
        prefix: metrics-${Date.now()}/
        accessKeyId: ${emulator.server.accessKeyId}
        secretAccessKey: ${emulator.server.secretAccessKey}
        forcePathStyle: true
        warmUp: false
        writeLogInterval: 0
  cas: shared
`,
      'test.yaml',
      { overrides: { dataDir } },
    );
    const kiln = await createServer({ config, log: silentLogger() });
    const clients = connectClients(kiln.grpcAddress);
    try {
      emulator.proxy.resetCounts();
      const blobs = [randomBytesBlob(3000), randomBytesBlob(400)];
      await call(clients.cas, 'batchUpdateBlobs', {
        instanceName: '',
        digestFunction: 0,
        requests: blobs.map((data) => ({
          digest: sha256Digest(data),
          data,
          compressor: Compressor_Value.IDENTITY,
        })),
      });
      const found = await call(clients.cas, 'findMissingBlobs', {
        instanceName: '',
        digestFunction: 0,
        blobDigests: [sha256Digest(randomBytesBlob(10)), ...blobs.map(sha256Digest)],
      });
      assert.equal(found.missingBlobDigests.length, 1);
      const metrics = parsePrometheusText(
        await (await fetch(`http://${kiln.httpAddress}/metrics`)).text(),
      );
      const requests = (operation: string, outcome: string) =>
        sampleValue(metrics, 'kiln_s3_requests_total', { store: 'shared', operation, outcome });
      assert.equal(requests('put', 'ok'), 2);
      assert.equal(requests('head', 'not_found'), 1);
      assert.equal(emulator.proxy.total(), 3, JSON.stringify(emulator.proxy.counts));
      const sent = sampleValue(metrics, 'kiln_s3_bytes_total', {
        store: 'shared',
        direction: 'sent',
      });
      assert.equal(sent, 3400);
      assert.equal(
        sampleValue(metrics, 'kiln_s3_request_seconds_count', {
          store: 'shared',
          operation: 'put',
        }),
        2,
      );
    } finally {
      clients.close();
      await kiln.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
