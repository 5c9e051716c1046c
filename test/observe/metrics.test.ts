import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnMetrics } from '../../src/observe/metrics.ts';
import type { SchedulerStats } from '../../src/scheduler/types.ts';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { randomBlob } from '../storage/blob-store-contract.ts';
import { parsePrometheusText, sampleValue } from './prometheus-text.ts';

const STATS: SchedulerStats = {
  queued: 3,
  queuedByPlatform: [
    { platform: [{ name: 'OSFamily', value: 'linux' }], queued: 2, executing: 4 },
    {
      platform: [
        { name: 'OSFamily', value: 'linux' },
        { name: 'gpu', value: 'yes' },
      ],
      queued: 1,
      executing: 0,
    },
  ],
  executing: 2,
  byPrincipal: [
    { principal: 'ci', queued: 2, executing: 1 },
    { principal: 'dev', queued: 1, executing: 1 },
  ],
  activeOperations: 6,
  completedOperations: 10,
  workers: 2,
  workerCapacity: 8,
};

describe('KilnMetrics', () => {
  it('serves Prometheus text format 0.0.4, process metrics included', async () => {
    const metrics = new KilnMetrics();
    metrics.rpcFinished('ContentAddressableStorage', 'FindMissingBlobs', 'OK', 0.002);
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
    const parsed = parsePrometheusText(await metrics.text());
    assert.equal(parsed.types.get('kiln_rpc_requests_total'), 'counter');
    assert.equal(parsed.types.get('kiln_rpc_duration_seconds'), 'histogram');
    assert.equal(parsed.types.get('kiln_execution_stage_duration_seconds'), 'histogram');
    assert.ok(parsed.types.has('process_cpu_user_seconds_total'), 'default process metrics');
    assert.ok(parsed.types.has('nodejs_eventloop_lag_seconds'));
  });

  it('counts RPCs and their latency by service, method and code', async () => {
    const metrics = new KilnMetrics({ processMetrics: false });
    metrics.rpcFinished('ActionCache', 'GetActionResult', 'NOT_FOUND', 0.001);
    metrics.rpcFinished('ActionCache', 'GetActionResult', 'NOT_FOUND', 0.003);
    metrics.rpcFinished('ActionCache', 'GetActionResult', 'OK', 0.2);
    const parsed = parsePrometheusText(await metrics.text());
    const labels = { service: 'ActionCache', method: 'GetActionResult' };
    assert.equal(
      sampleValue(parsed, 'kiln_rpc_requests_total', { ...labels, code: 'NOT_FOUND' }),
      2,
    );
    assert.equal(sampleValue(parsed, 'kiln_rpc_requests_total', { ...labels, code: 'OK' }), 1);
    assert.equal(
      sampleValue(parsed, 'kiln_rpc_duration_seconds_bucket', { ...labels, code: 'OK', le: '0.1' }),
      0,
    );
    assert.equal(
      sampleValue(parsed, 'kiln_rpc_duration_seconds_bucket', {
        ...labels,
        code: 'OK',
        le: '0.25',
      }),
      1,
    );
    assert.equal(sampleValue(parsed, 'kiln_rpc_duration_seconds_count', labels), 2);
    assert.ok(!parsed.types.has('process_cpu_user_seconds_total'));
  });

  it('keeps each instance in its own registry', async () => {
    const a = new KilnMetrics({ processMetrics: false });
    const b = new KilnMetrics({ processMetrics: false });
    a.bytesWritten(100);
    a.bytesRead(7);
    const fromA = parsePrometheusText(await a.text());
    const fromB = parsePrometheusText(await b.text());
    assert.equal(sampleValue(fromA, 'kiln_cas_written_bytes_total'), 100);
    assert.equal(sampleValue(fromA, 'kiln_cas_read_bytes_total'), 7);
    assert.equal(sampleValue(fromB, 'kiln_cas_written_bytes_total'), 0);
  });

  it('counts cache lookups by source and result, and sums them for the hit rate', async () => {
    const metrics = new KilnMetrics({ processMetrics: false });
    metrics.cacheLookup('GetActionResult', true);
    metrics.cacheLookup('GetActionResult', false);
    metrics.cacheLookup('Execute', true);
    const parsed = parsePrometheusText(await metrics.text());
    const lookups = (source: string, result: string) =>
      sampleValue(parsed, 'kiln_action_cache_lookups_total', { source, result });
    assert.equal(lookups('GetActionResult', 'hit'), 1);
    assert.equal(lookups('GetActionResult', 'miss'), 1);
    assert.equal(lookups('Execute', 'hit'), 1);
    assert.deepEqual(metrics.cacheHitRate(), { hits: 2, misses: 1 });
  });

  it('observes execution stage durations and results', async () => {
    const metrics = new KilnMetrics({ processMetrics: false });
    metrics.executionCompleted('success', { queued: 20, execution: 1500, total: 1600 });
    metrics.executionCompleted('exit_nonzero', { execution: 40 });
    const parsed = parsePrometheusText(await metrics.text());
    const count = (stage: string) =>
      sampleValue(parsed, 'kiln_execution_stage_duration_seconds_count', { stage });
    assert.equal(count('execution'), 2);
    assert.equal(count('queued'), 1);
    assert.equal(count('input_fetch'), undefined, 'never observed');
    assert.equal(
      sampleValue(parsed, 'kiln_execution_stage_duration_seconds_sum', { stage: 'execution' }),
      1.54,
    );
    assert.equal(sampleValue(parsed, 'kiln_executions_total', { result: 'success' }), 1);
    assert.equal(sampleValue(parsed, 'kiln_executions_total', { result: 'exit_nonzero' }), 1);
  });

  it('reads queue, execution and worker gauges from the scheduler once per scrape', async () => {
    let calls = 0;
    const scheduler = {
      stats: async () => {
        calls++;
        return STATS;
      },
    };
    const metrics = new KilnMetrics({ scheduler, processMetrics: false });
    const parsed = parsePrometheusText(await metrics.text());
    assert.equal(calls, 1);
    assert.equal(sampleValue(parsed, 'kiln_scheduler_queued_actions'), 3);
    assert.equal(sampleValue(parsed, 'kiln_scheduler_executing_actions'), 2);
    assert.equal(sampleValue(parsed, 'kiln_scheduler_active_operations'), 6);
    assert.equal(sampleValue(parsed, 'kiln_scheduler_completed_operations'), 10);
    assert.equal(sampleValue(parsed, 'kiln_scheduler_workers'), 2);
    assert.equal(sampleValue(parsed, 'kiln_scheduler_worker_capacity'), 8);
    assert.equal(
      sampleValue(parsed, 'kiln_scheduler_queued_actions_by_platform', {
        platform: 'OSFamily=linux,gpu=yes',
      }),
      1,
    );
    assert.equal(
      sampleValue(parsed, 'kiln_scheduler_executing_actions_by_platform', {
        platform: 'OSFamily=linux',
      }),
      4,
    );
    assert.equal(
      sampleValue(parsed, 'kiln_scheduler_queued_actions_by_principal', { principal: 'ci' }),
      2,
    );
    assert.equal(
      sampleValue(parsed, 'kiln_scheduler_executing_actions_by_principal', { principal: 'dev' }),
      1,
    );
    await metrics.text();
    assert.equal(calls, 2, 'a later scrape reads fresh stats');
  });

  it('labels the 50 busiest principals and sums the rest, so label values stay bounded', async () => {
    const byPrincipal = Array.from({ length: 60 }, (_, i) => ({
      principal: `user-${i}`,
      queued: 100 - i,
      executing: 1,
    }));
    const scheduler = { stats: async () => ({ ...STATS, byPrincipal }) };
    const metrics = new KilnMetrics({ scheduler, processMetrics: false });
    const parsed = parsePrometheusText(await metrics.text());
    const queued = (principal: string) =>
      sampleValue(parsed, 'kiln_scheduler_queued_actions_by_principal', { principal });
    assert.equal(queued('user-0'), 100);
    assert.equal(queued('user-49'), 51);
    assert.equal(queued('user-50'), undefined);
    // user-50 … user-59 queue 50 … 41.
    assert.equal(queued('(others)'), 455);
    assert.equal(
      sampleValue(parsed, 'kiln_scheduler_executing_actions_by_principal', {
        principal: '(others)',
      }),
      10,
    );
  });

  it('exports store sizes, evictions and the eviction age', async () => {
    let now = 50_000;
    const cas = new MemoryBlobStore({ maxBytes: 1000, now: () => now });
    for (const size of [400, 400, 400]) {
      const blob = await randomBlob(size);
      await putBuffer(cas, blob.digest, blob.data);
      now += 1000;
    }
    const metrics = new KilnMetrics({ stores: { cas }, processMetrics: false, now: () => now });
    const parsed = parsePrometheusText(await metrics.text());
    const store = { store: 'cas' };
    assert.equal(parsed.types.get('kiln_store_evictions_total'), 'counter');
    assert.equal(sampleValue(parsed, 'kiln_store_bytes', store), 800);
    assert.equal(sampleValue(parsed, 'kiln_store_blobs', store), 2);
    assert.equal(sampleValue(parsed, 'kiln_store_max_bytes', store), 1000);
    assert.equal(sampleValue(parsed, 'kiln_store_evictions_total', store), 1);
    assert.equal(sampleValue(parsed, 'kiln_store_evicted_bytes_total', store), 400);
    // The oldest blob left was stored at 51_000; now is 53_000.
    assert.equal(sampleValue(parsed, 'kiln_store_oldest_access_age_seconds', store), 2);
    assert.equal((await metrics.casStats())?.blobs, 2);
    // Scraping twice must not double the counters.
    const again = parsePrometheusText(await metrics.text());
    assert.equal(sampleValue(again, 'kiln_store_evictions_total', store), 1);
  });

  it('has no CAS stats when the store keeps none', async () => {
    const metrics = new KilnMetrics({ processMetrics: false });
    assert.equal(await metrics.casStats(), undefined);
  });
});
