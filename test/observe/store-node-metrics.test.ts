/**
 * Per-node store metrics through a real server: a readCaching CAS (a memory
 * fast tier in front of a named disk store), reads and lookups that hit and
 * miss each tier, and /metrics showing each node's counts and bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.ts';
import { Compressor_Value } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { createServer, type KilnServer } from '../../src/server/create-server.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { randomBlob, sha256Digest } from '../support/blobs.ts';
import { call, connectClients } from '../support/grpc-clients.ts';
import { type Exposition, parsePrometheusText, sampleValue } from './prometheus-text.ts';

const TIERED = `
server: { listen: 127.0.0.1:0, httpListen: 127.0.0.1:0 }
execution: { enabled: false }
storage:
  stores:
    slow: { disk: { path: slow, maxSize: 64MiB } }
  cas: { readCaching: { fast: { memory: { maxSize: 16MiB } }, slow: slow } }
`;
/** The same disk store alone: how blobs get into the slow tier only. */
const SLOW_ONLY = `
server: { listen: 127.0.0.1:0, httpListen: off }
execution: { enabled: false }
storage:
  stores:
    slow: { disk: { path: slow, maxSize: 64MiB } }
  cas: slow
`;

async function start(text: string, dataDir: string): Promise<KilnServer> {
  const config = parseConfigText(text, 'test.yaml', { overrides: { dataDir } });
  return createServer({ config, log: silentLogger() });
}

describe('per-node store metrics', { timeout: 60_000 }, () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-store-nodes-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('count hits, misses and bytes of each tier of a readCaching CAS', async () => {
    const [one, two, absent] = [randomBlob(3000), randomBlob(500), randomBlob(70)];
    const seeding = await start(SLOW_ONLY, dataDir);
    const seed = connectClients(seeding.grpcAddress);
    try {
      const requests = [one, two].map((data) => ({
        digest: sha256Digest(data),
        data,
        compressor: Compressor_Value.IDENTITY,
      }));
      const stored = await call(seed.cas, 'batchUpdateBlobs', {
        instanceName: '',
        digestFunction: 0,
        requests,
      });
      assert.deepEqual(
        stored.responses.map((r) => r.status?.code),
        [0, 0],
      );
    } finally {
      seed.close();
      await seeding.close();
    }

    const kiln = await start(TIERED, dataDir);
    const clients = connectClients(kiln.grpcAddress);
    try {
      const read = (data: Buffer) =>
        call(clients.cas, 'batchReadBlobs', {
          instanceName: '',
          digestFunction: 0,
          digests: [sha256Digest(data)],
          acceptableCompressors: [],
        });
      // Fast miss, slow hit (and the fast tier is filled); then a fast hit; then a miss of both.
      assert.equal((await read(one)).responses[0]?.data.length, 3000);
      assert.equal((await read(one)).responses[0]?.data.length, 3000);
      assert.equal((await read(absent)).responses[0]?.status?.code, 5);
      const found = await call(clients.cas, 'findMissingBlobs', {
        instanceName: '',
        digestFunction: 0,
        blobDigests: [one, two, absent].map(sha256Digest),
      });
      assert.deepEqual(found.missingBlobDigests, [sha256Digest(absent)]);

      const metrics = await scrape(kiln);
      const fast = { store: 'storage.cas.readCaching.fast', kind: 'memory' };
      const slow = { store: 'slow', kind: 'disk' };
      const top = { store: 'storage.cas', kind: 'readCaching' };
      const blobs = (node: Record<string, string>, operation: string, result: string) =>
        sampleValue(metrics, 'kiln_store_blobs_total', { ...node, operation, result }) ?? 0;
      const counts = (node: Record<string, string>) => ({
        getHit: blobs(node, 'get', 'hit'),
        getMiss: blobs(node, 'get', 'miss'),
        findHit: blobs(node, 'findMissing', 'hit'),
        findMiss: blobs(node, 'findMissing', 'miss'),
        read: sampleValue(metrics, 'kiln_store_read_bytes_total', node) ?? 0,
        written: sampleValue(metrics, 'kiln_store_written_bytes_total', node) ?? 0,
      });
      // The fast tier: 1 hit of 3; asked all three digests, holds `one` only.
      assert.deepEqual(counts(fast), {
        getHit: 1,
        getMiss: 2,
        findHit: 1,
        findMiss: 2,
        read: 3000,
        written: 3000,
      });
      // The slow tier: asked what the fast one missed.
      assert.deepEqual(counts(slow), {
        getHit: 1,
        getMiss: 1,
        findHit: 1,
        findMiss: 1,
        read: 3000,
        written: 0,
      });
      // The tree as a whole, as a client sees it.
      assert.deepEqual(counts(top), {
        getHit: 2,
        getMiss: 1,
        findHit: 2,
        findMiss: 1,
        read: 6000,
        written: 0,
      });
      const latency = sampleValue(metrics, 'kiln_store_operation_seconds_count', {
        ...fast,
        operation: 'get',
      });
      assert.equal(latency, 1, 'one timed get (misses are counted, not timed)');
      assert.equal(
        sampleValue(metrics, 'kiln_store_errors_total', { ...slow, operation: 'get' }) ?? 0,
        0,
      );
    } finally {
      clients.close();
      await kiln.close();
    }
  });
});

/** Scrapes /metrics until the fast tier's fill (committed after the read) shows. */
async function scrape(kiln: KilnServer): Promise<Exposition> {
  for (let i = 0; ; i++) {
    const res = await fetch(`http://${kiln.httpAddress}/metrics`);
    const metrics = parsePrometheusText(await res.text());
    const filled = sampleValue(metrics, 'kiln_store_written_bytes_total', {
      store: 'storage.cas.readCaching.fast',
    });
    if (filled === 3000 || i === 50) return metrics;
    await new Promise((r) => setTimeout(r, 20));
  }
}
