/**
 * Real RPCs against a real Kiln (gRPC server, in-memory scheduler, a worker
 * over the Remote Worker API), read back through /metrics, the build tracker
 * and the recent-error list.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import {
  type Digest as DigestMessage,
  RequestMetadata,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { silentLogger } from '../../src/util/logger.ts';
import { detectPlatform } from '../../src/worker/platform-detect.ts';
import { type RunningWorker, startWorker } from '../../src/worker/start-worker.ts';
import { executeAll, uploadAction } from '../support/actions.ts';
import { randomBlob, sha256Digest } from '../support/blobs.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { type Exposition, parsePrometheusText, sampleValue } from './prometheus-text.ts';

const INVOCATION = 'build-under-test';

function bazelMetadata(actionId = ''): Metadata {
  const metadata = new Metadata();
  const encoded = RequestMetadata.encode(
    RequestMetadata.fromPartial({
      toolDetails: { toolName: 'bazel', toolVersion: '8.1.0' },
      toolInvocationId: INVOCATION,
      correlatedInvocationsId: 'ci-run-1',
      actionId,
    }),
  ).finish();
  metadata.set('build.bazel.remote.execution.v2.requestmetadata-bin', Buffer.from(encoded));
  return metadata;
}

describe('observability of a running Kiln', () => {
  let t: TestServer;
  let dir: string;
  let worker: RunningWorker;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-observe-'));
    t = await startTestServer({ scheduler: {}, observe: true });
    worker = await startWorker({
      address: t.server.address,
      workDir: dir,
      cacheBytes: 16 * 2 ** 20,
      capacity: 1,
      platform: detectPlatform(),
      name: 'observed-worker',
      log: silentLogger(),
    });
  });
  after(async () => {
    await worker.stop();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function scrape(): Promise<Exposition> {
    const res = await fetch(`${t.httpUrl}metrics`);
    assert.equal(res.status, 200);
    return parsePrometheusText(await res.text());
  }

  const value = (e: Exposition, name: string, labels: Record<string, string> = {}) =>
    sampleValue(e, name, labels) ?? 0;

  it('counts FindMissingBlobs calls by service, method and code', async () => {
    const labels = { service: 'ContentAddressableStorage', method: 'FindMissingBlobs', code: 'OK' };
    const before = value(await scrape(), 'kiln_rpc_requests_total', labels);
    for (let i = 0; i < 3; i++) {
      await call(t.clients.cas, 'findMissingBlobs', {
        instanceName: '',
        blobDigests: [sha256Digest(randomBlob(10))],
        digestFunction: 0,
      });
    }
    const after = await scrape();
    assert.equal(value(after, 'kiln_rpc_requests_total', labels) - before, 3);
    assert.ok(value(after, 'kiln_rpc_duration_seconds_count', labels) >= 3);
  });

  it('counts the bytes of a ByteStream write, and of a read', async () => {
    const data = randomBlob(300_000);
    const digest = sha256Digest(data);
    const before = await scrape();
    await new Promise<void>((resolve, reject) => {
      const stream = t.clients.byteStream.write((err) => (err ? reject(err) : resolve()));
      const resourceName = `uploads/${randomUUID()}/blobs/${digest.hash}/${digest.sizeBytes}`;
      for (let at = 0; at < data.length; at += 64 * 1024) {
        const end = Math.min(data.length, at + 64 * 1024);
        stream.write({
          resourceName: at === 0 ? resourceName : '',
          writeOffset: at,
          finishWrite: end === data.length,
          data: data.subarray(at, end),
        });
      }
      stream.end();
    });
    const afterWrite = await scrape();
    assert.equal(
      value(afterWrite, 'kiln_cas_written_bytes_total') -
        value(before, 'kiln_cas_written_bytes_total'),
      data.length,
    );
    await call(t.clients.cas, 'batchReadBlobs', {
      instanceName: '',
      digests: [digest],
      acceptableCompressors: [],
      digestFunction: 0,
    });
    const afterRead = await scrape();
    assert.equal(
      value(afterRead, 'kiln_cas_read_bytes_total') -
        value(afterWrite, 'kiln_cas_read_bytes_total'),
      data.length,
    );
    assert.ok(value(afterRead, 'kiln_store_bytes', { store: 'cas' }) >= data.length);
  });

  it('follows an action from a cache miss through execution to a cache hit', async () => {
    const actionDigest = await uploadAction(t.clients, {
      args: ['/bin/sh', '-c', 'echo observed'],
      salt: randomUUID(),
    });
    const before = await scrape();
    const lookups = (e: Exposition, source: string, result: string) =>
      value(e, 'kiln_action_cache_lookups_total', { source, result });

    // What Bazel does: GetActionResult, then on a miss Execute.
    await assert.rejects(getActionResult(actionDigest), (err: ServiceError) => {
      assert.equal(err.code, status.NOT_FOUND);
      return true;
    });
    const ops = await execute(actionDigest);
    const response = executeResponseOf(ops.at(-1) as Operation);
    assert.equal(response?.status?.code ?? 0, status.OK);
    assert.equal(response?.result?.exitCode, 0);
    const hit = await getActionResult(actionDigest);
    assert.equal(hit.exitCode, 0);

    const after = await scrape();
    assert.equal(
      lookups(after, 'GetActionResult', 'miss') - lookups(before, 'GetActionResult', 'miss'),
      1,
    );
    assert.equal(
      lookups(after, 'GetActionResult', 'hit') - lookups(before, 'GetActionResult', 'hit'),
      1,
    );
    assert.equal(
      lookups(after, 'Execute', 'miss') - lookups(before, 'Execute', 'miss'),
      0,
      "Execute's miss repeats GetActionResult's and is not counted again",
    );
    const executions = (e: Exposition) => value(e, 'kiln_executions_total', { result: 'success' });
    assert.equal(executions(after) - executions(before), 1);
    for (const stage of ['queued', 'input_fetch', 'execution', 'output_upload', 'total']) {
      const count = (e: Exposition) =>
        value(e, 'kiln_execution_stage_duration_seconds_count', { stage });
      assert.equal(count(after) - count(before), 1, stage);
    }
    assert.equal(value(after, 'kiln_scheduler_workers'), 1);
    assert.equal(value(after, 'kiln_scheduler_worker_capacity'), 1);
    assert.equal(value(after, 'kiln_scheduler_queued_actions'), 0);

    const build = t.observability?.builds.get(INVOCATION);
    assert.ok(build, 'the build is tracked under its tool invocation id');
    assert.equal(build.toolName, 'bazel');
    assert.equal(build.toolVersion, '8.1.0');
    assert.equal(build.correlatedInvocationsId, 'ci-run-1');
    assert.equal(build.actionsExecuted, 1);
    assert.equal(build.cacheMisses, 1);
    assert.equal(build.cacheHits, 1);
    assert.equal(build.failures, 0);
    assert.ok(build.totalExecutionMs >= 0 && build.criticalMs === build.totalExecutionMs);
    assert.ok(build.lastSeenMs >= build.firstSeenMs);
  });

  it("follows the build's critical path through an output consumed as an input", async () => {
    const before = t.observability?.builds.get(INVOCATION);
    const first = await uploadAction(t.clients, {
      args: ['/bin/sh', '-c', 'sleep 0.1; echo chained > out.txt'],
      outputPaths: ['out.txt'],
      salt: randomUUID(),
    });
    assert.equal(
      executeResponseOf((await execute(first)).at(-1) as Operation)?.result?.exitCode,
      0,
    );
    // The second action's input is the first one's output (same content, same digest).
    const second = await uploadAction(t.clients, {
      args: ['/bin/sh', '-c', 'sleep 0.1; cat in.txt'],
      files: { 'in.txt': 'chained\n' },
      salt: randomUUID(),
    });
    assert.equal(
      executeResponseOf((await execute(second)).at(-1) as Operation)?.result?.exitCode,
      0,
    );
    const chain =
      (t.observability?.builds.get(INVOCATION)?.totalExecutionMs ?? 0) -
      (before?.totalExecutionMs ?? 0);
    // The critical path is updated after the execution completes: give it a moment.
    for (let i = 0; i < 100; i++) {
      if ((t.observability?.builds.get(INVOCATION)?.criticalMs ?? 0) >= chain) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const build = t.observability?.builds.get(INVOCATION);
    assert.ok(chain >= 200, `both actions ran (${chain} ms)`);
    assert.equal(build?.criticalMs, Math.max(chain, before?.criticalMs ?? 0));
  });

  it('lists failed RPCs with their code and invocation, but not cache misses', async () => {
    const errors = () => t.observability?.recentErrors.list() ?? [];
    const before = errors().length;
    await assert.rejects(
      call(
        t.clients.cas,
        'findMissingBlobs',
        {
          instanceName: '',
          blobDigests: [{ hash: 'not-a-hash', sizeBytes: 1 }],
          digestFunction: 0,
        },
        bazelMetadata(),
      ),
      (err: ServiceError) => err.code === status.INVALID_ARGUMENT,
    );
    await assert.rejects(getActionResult(sha256Digest(randomBlob(8))));
    const list = errors();
    assert.equal(list.length - before, 1, 'the cache miss is not an error');
    assert.equal(list[0]?.method, 'ContentAddressableStorage.FindMissingBlobs');
    assert.equal(list[0]?.code, 'INVALID_ARGUMENT');
    assert.equal(list[0]?.invocationId, INVOCATION);
    assert.match(list[0]?.message ?? '', /hash/);
  });

  function getActionResult(actionDigest: DigestMessage) {
    return call(
      t.clients.actionCache,
      'getActionResult',
      {
        instanceName: '',
        actionDigest,
        inlineStdout: false,
        inlineStderr: false,
        inlineOutputFiles: [],
        digestFunction: 0,
      },
      bazelMetadata(actionDigest.hash),
    );
  }

  function execute(actionDigest: DigestMessage): Promise<Operation[]> {
    return executeAll(t.clients, actionDigest, {
      skipCacheLookup: false,
      metadata: bazelMetadata(actionDigest.hash),
    });
  }
});
