import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import { ok, outcome, request, result, testAction, worker } from './scenario.ts';

import { forEachScheduler } from './scheduler-kinds.ts';

forEachScheduler((kind, scenario) => {
  describe(`scheduler and the action cache [${kind}]`, { timeout: 10_000 }, () => {
    it('cache hit completes the operation without execution', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      s.cache.results.set(`/${a.digest.key}`, result(0, 'cached'));
      await worker(s, 'w1');

      const op = await s.scheduler.submit(request(a));

      assert.equal(op.name, 'operations/1');
      assert.equal(op.stage, 'COMPLETED');
      assert.equal(op.done, true);
      assert.equal(op.response?.cachedResult, true);
      assert.equal(op.response?.status?.code, Code.OK);
      assert.equal(op.response?.result?.stdoutRaw.toString(), 'cached');
      assert.deepEqual(s.cache.gets, [a.digest.key]);
      const taken = await s.scheduler.takeWork('w1');
      assert.deepEqual(taken.leases, []);
      assert.equal((await s.scheduler.stats()).queued, 0);
    });

    it('skip_cache_lookup executes even when a result is cached', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      s.cache.results.set(`/${a.digest.key}`, result(0, 'cached'));
      await worker(s, 'w1');

      const op = await s.scheduler.submit(request(a, { skipCacheLookup: true }));

      assert.deepEqual(s.cache.gets, []);
      assert.equal(op.done, false);
      const { leases } = await s.scheduler.takeWork('w1');
      assert.equal(leases.length, 1);
      await s.scheduler.completeLease('w1', leases[0]?.id ?? '', ok(result(0, 'fresh')));
      const done = await s.scheduler.getOperation(op.name);
      assert.equal(done.response?.cachedResult, false);
      assert.equal(done.response?.result?.stdoutRaw.toString(), 'fresh');
      assert.deepEqual(s.cache.puts, [a.digest.key]);
    });

    it('do_not_cache neither looks up, deduplicates nor caches', async () => {
      const s = await scenario();
      const a = testAction('stamp', { doNotCache: true });
      s.cache.results.set(`/${a.digest.key}`, result(0, 'cached'));
      await worker(s, 'w1', [], 2);

      const first = await s.scheduler.submit(request(a));
      const second = await s.scheduler.submit(request(a));

      assert.deepEqual(s.cache.gets, []);
      const { leases } = await s.scheduler.takeWork('w1');
      assert.equal(leases.length, 2, 'two separate executions');
      await s.scheduler.completeLease('w1', leases[0]?.id ?? '', ok(result(0, 'one')));
      await s.scheduler.completeLease('w1', leases[1]?.id ?? '', ok(result(0, 'two')));
      assert.deepEqual(s.cache.puts, []);
      const outputs = [first, second].map(async (op) =>
        (await s.scheduler.getOperation(op.name)).response?.result?.stdoutRaw.toString(),
      );
      assert.deepEqual(await Promise.all(outputs), ['one', 'two']);
    });

    it('non-zero exit code is returned but not cached', async () => {
      const s = await scenario();
      const a = testAction('failing test');
      await worker(s, 'w1');
      const op = await s.scheduler.submit(request(a));
      const { leases } = await s.scheduler.takeWork('w1');

      await s.scheduler.completeLease('w1', leases[0]?.id ?? '', ok(result(1, 'FAIL')));

      const done = await s.scheduler.getOperation(op.name);
      assert.equal(done.response?.status?.code, Code.OK);
      assert.equal(done.response?.result?.exitCode, 1);
      assert.deepEqual(s.cache.puts, []);
    });

    it('timeout with partial outputs is returned with DEADLINE_EXCEEDED and not cached', async () => {
      const s = await scenario();
      const a = testAction('slow test');
      await worker(s, 'w1');
      const op = await s.scheduler.submit(request(a));
      const { leases } = await s.scheduler.takeWork('w1');

      await s.scheduler.completeLease('w1', leases[0]?.id ?? '', {
        result: result(0, 'partial'),
        status: { code: Code.DEADLINE_EXCEEDED, message: 'timed out after 900s', details: [] },
        message: 'killed at the timeout',
      });

      const done = await s.scheduler.getOperation(op.name);
      assert.deepEqual(outcome(done), {
        code: Code.DEADLINE_EXCEEDED,
        message: 'timed out after 900s',
      });
      assert.equal(done.response?.message, 'killed at the timeout');
      assert.equal(done.response?.result?.stdoutRaw.toString(), 'partial');
      assert.deepEqual(s.cache.puts, []);
    });

    it('completion fills worker and queued timestamp and keeps the worker stage timestamps', async () => {
      const s = await scenario();
      const a = testAction('link');
      await worker(s, 'w1');
      const queuedAt = s.clock.now();
      const op = await s.scheduler.submit(request(a));
      s.clock.advance(1500);
      const { leases } = await s.scheduler.takeWork('w1');
      const r = result();
      r.executionMetadata = {
        worker: '',
        queuedTimestamp: undefined,
        workerStartTimestamp: { seconds: 42, nanos: 0 },
        workerCompletedTimestamp: { seconds: 43, nanos: 0 },
        inputFetchStartTimestamp: undefined,
        inputFetchCompletedTimestamp: undefined,
        executionStartTimestamp: undefined,
        executionCompletedTimestamp: undefined,
        virtualExecutionDuration: undefined,
        outputUploadStartTimestamp: undefined,
        outputUploadCompletedTimestamp: undefined,
        auxiliaryMetadata: [],
      };

      await s.scheduler.completeLease('w1', leases[0]?.id ?? '', ok(r));

      const metadata = (await s.scheduler.getOperation(op.name)).response?.result
        ?.executionMetadata;
      assert.equal(metadata?.worker, 'w1');
      assert.deepEqual(metadata?.queuedTimestamp, { seconds: queuedAt / 1000, nanos: 0 });
      assert.deepEqual(metadata?.workerStartTimestamp, { seconds: 42, nanos: 0 });
      assert.deepEqual(metadata?.workerCompletedTimestamp, { seconds: 43, nanos: 0 });
      assert.equal(s.cache.results.get(`/${a.digest.key}`)?.executionMetadata?.worker, 'w1');
    });

    it('a failing cache lookup still executes the action', async () => {
      const s = await scenario();
      s.cache.failGets = true;
      await worker(s, 'w1');

      const op = await s.scheduler.submit(request(testAction('compile b.c')));

      assert.equal(op.stage, 'QUEUED');
      assert.equal((await s.scheduler.takeWork('w1')).leases.length, 1);
    });

    it('an OK completion without a result is rejected', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      await s.scheduler.submit(request(testAction('x')));
      const { leases } = await s.scheduler.takeWork('w1');

      await assert.rejects(
        s.scheduler.completeLease('w1', leases[0]?.id ?? '', {
          status: { code: Code.OK, message: '', details: [] },
        }),
        { code: Code.INVALID_ARGUMENT },
      );
    });
  });
});
