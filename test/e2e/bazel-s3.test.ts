// Bazel 4.2.3 with two `kiln serve` nodes that share one S3 bucket (the
// emulator behind a counting proxy), each with its own disk tier: a cold build
// through the first fills the bucket; a build from a fresh output base through
// the second, started afterwards, is served entirely from it, byte for byte.
// The S3 requests of each build are counted and reported per action.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { KilnProcess } from '../support/kiln-process.ts';
import { startS3FaultProxy } from '../support/s3-fault-proxy.ts';
import { startS3Server } from '../support/s3-server.ts';
import {
  type BazelWorkspace,
  collectOutputs,
  createBazelWorkspace,
  parseRemoteCacheHits,
  requireBazel,
  runBazel,
} from './bazel-harness.ts';
import { COMPARED_OUTPUTS } from './kiln-session.ts';
import { startS3Kiln } from './s3-kiln-config.ts';

test('two Kiln nodes sharing an S3 bucket serve each other Bazel cache hits', {
  timeout: 15 * 60_000,
}, async (t) => {
  if (requireBazel(t) === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bazel-s3-'));
  const s3 = await startS3Server({ dir: join(dir, 's3') });
  const proxy = await startS3FaultProxy(s3.endpoint);
  const kilns: KilnProcess[] = [];
  const workspaces: BazelWorkspace[] = [];
  t.after(async () => {
    for (const ws of workspaces) await ws.cleanup();
    await Promise.all(kilns.map((k) => k.stop()));
    await proxy.stop();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const start = async (name: string) => {
    const kiln = await startS3Kiln({
      dir,
      name,
      s3,
      endpoint: proxy.endpoint,
      keysInConfig: true,
    });
    kilns.push(kiln);
    return kiln;
  };
  const build = async (kiln: KilnProcess) => {
    const ws = await createBazelWorkspace();
    workspaces.push(ws);
    proxy.resetCounts();
    const result = await runBazel(ws, [
      'test',
      '//...',
      `--remote_cache=grpc://${kiln.address}`,
      '--remote_timeout=60',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const counts = { ...proxy.counts };
    return { ws, summary: parseRemoteCacheHits(result.stderr), counts };
  };

  const one = await start('one');
  const cold = await build(one);
  assert.equal(cold.summary.remoteCacheHits, 0, JSON.stringify(cold.summary));
  assert.ok(cold.summary.executed >= 10, JSON.stringify(cold.summary));
  const coldOutputs = await collectOutputs(cold.ws, COMPARED_OUTPUTS);
  t.diagnostic(
    `cold build through node one: ${cold.summary.executed} actions, S3 requests ${JSON.stringify(cold.counts)}`,
  );

  // Node one publishes the names it uploaded (its write log) up to
  // writeLogInterval after the build; stopping it publishes them at once,
  // so that none of its requests falls in node two's count below.
  assert.equal(await one.stop(), 0, one.stderr());
  const two = await start('two');
  const warm = await build(two);
  assert.equal(
    warm.summary.executed,
    0,
    `every action a cache hit: ${JSON.stringify(warm.summary)}`,
  );
  assert.ok(warm.summary.remoteCacheHits >= 10, JSON.stringify(warm.summary));
  assert.deepEqual(
    await collectOutputs(warm.ws, COMPARED_OUTPUTS),
    coldOutputs,
    'outputs byte-identical',
  );
  // An all-hit build uploads nothing.
  assert.equal(warm.counts.PUT + warm.counts.POST, 0, JSON.stringify(warm.counts));
  t.diagnostic(
    `warm build through node two: ${warm.summary.remoteCacheHits} cache hits, S3 requests ${JSON.stringify(warm.counts)}`,
  );
  assert.deepEqual(proxy.violations, []);
});
