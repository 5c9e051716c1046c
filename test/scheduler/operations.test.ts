import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import type { ExecutionStage, OperationState } from '../../src/scheduler/types.ts';
import { ok, request, result, testAction, worker } from './scenario.ts';

async function collect(states: AsyncIterable<OperationState>): Promise<ExecutionStage[]> {
  const stages: ExecutionStage[] = [];
  for await (const state of states) stages.push(state.stage);
  return stages;
}

import { forEachScheduler, type SchedulerKind } from './scheduler-kinds.ts';

/**
 * The PostgreSQL scheduler keeps one maintenance timer on the clock; the
 * in-memory one none once nothing is pending.
 */
const ownTimers = (kind: SchedulerKind): number => (kind === 'postgres' ? 1 : 0);

forEachScheduler((kind, scenario) => {
  // Coalescing driven by setImmediate-level timing is the in-memory
  // scheduler's own: PostgreSQL watchers hear changes after a notification
  // round trip. Registered only for the in-memory scheduler (not skipped for
  // the other: it does not apply to it).
  const memoryOnly = (name: string, fn: () => Promise<void>): void => {
    if (kind === 'memory') it(name, fn);
  };

  describe(`observing operations [${kind}]`, { timeout: 10_000 }, () => {
    it('watch yields each stage change and ends when done', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const op = await s.scheduler.submit(request(testAction('compile')));
      const watched = collect(s.scheduler.watchOperation(op.name));

      const lease = (await s.scheduler.takeWork('w1')).leases[0];
      await s.scheduler.updateLease('w1', lease?.id ?? '', { state: 'RUNNING' });
      await s.scheduler.completeLease('w1', lease?.id ?? '', ok());

      assert.deepEqual(await watched, ['QUEUED', 'EXECUTING', 'COMPLETED']);
    });

    it('watching a done operation yields it once', async () => {
      const s = await scenario();
      const a = testAction('compile');
      s.cache.results.set(`/${a.digest.key}`, result());
      const op = await s.scheduler.submit(request(a));

      assert.deepEqual(await collect(s.scheduler.watchOperation(op.name)), ['COMPLETED']);
    });

    it('watch stops when its signal aborts', async () => {
      const s = await scenario();
      const op = await s.scheduler.submit(request(testAction('compile')));
      const abort = new AbortController();
      const watched = collect(s.scheduler.watchOperation(op.name, { signal: abort.signal }));

      abort.abort();

      // The first state is there before the abort: PostgreSQL's watch of an
      // operation just submitted starts from the state its submit wrote.
      assert.deepEqual(await watched, ['QUEUED']);
    });

    it('with coalescing, an operation done within the window yields only its result', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const op = await s.scheduler.submit(request(testAction('compile')));
      const watched = collect(s.scheduler.watchOperation(op.name, { coalesceMs: 100 }));

      const lease = (await s.scheduler.takeWork('w1')).leases[0];
      await s.scheduler.updateLease('w1', lease?.id ?? '', { state: 'RUNNING' });
      s.clock.advance(99);
      await s.scheduler.completeLease('w1', lease?.id ?? '', ok());

      assert.deepEqual(await watched, ['COMPLETED']);
    });

    memoryOnly(
      'with coalescing, a stage update goes out when the window passes, the latest one only',
      async () => {
        const s = await scenario();
        await worker(s, 'w1');
        const op = await s.scheduler.submit(request(testAction('compile')));
        const seen: ExecutionStage[] = [];
        const watched = (async () => {
          for await (const state of s.scheduler.watchOperation(op.name, { coalesceMs: 100 })) {
            seen.push(state.stage);
          }
        })();
        const settle = () => new Promise((resolve) => setImmediate(resolve));

        await settle();
        s.clock.advance(50);
        const lease = (await s.scheduler.takeWork('w1')).leases[0];
        await s.scheduler.updateLease('w1', lease?.id ?? '', { state: 'RUNNING' });
        await settle();
        assert.deepEqual(seen, [], 'nothing before the window passes');
        s.clock.advance(50);
        await settle();
        assert.deepEqual(seen, ['EXECUTING'], 'QUEUED was superseded within the window');
        s.clock.advance(1_000);
        await settle();
        assert.deepEqual(seen, ['EXECUTING'], 'no update, nothing sent');
        await s.scheduler.completeLease('w1', lease?.id ?? '', ok());
        await watched;
        assert.deepEqual(seen, ['EXECUTING', 'COMPLETED'], 'the result goes out at once');
      },
    );

    it('with coalescing, a watch whose signal aborts during the window ends at once', async () => {
      const s = await scenario();
      const op = await s.scheduler.submit(request(testAction('compile')));
      const abort = new AbortController();
      const watched = collect(
        s.scheduler.watchOperation(op.name, { signal: abort.signal, coalesceMs: 100 }),
      );
      await new Promise((resolve) => setImmediate(resolve));

      abort.abort();

      assert.deepEqual(await watched, []);
    });

    it('unknown operation names are NOT_FOUND', async () => {
      const s = await scenario();
      await assert.rejects(s.scheduler.getOperation('operations/nope'), { code: Code.NOT_FOUND });
      await assert.rejects(s.scheduler.cancelOperation('operations/nope'), {
        code: Code.NOT_FOUND,
      });
      await assert.rejects(s.scheduler.deleteOperation('operations/nope'), {
        code: Code.NOT_FOUND,
      });
      await assert.rejects(collect(s.scheduler.watchOperation('operations/nope')), {
        code: Code.NOT_FOUND,
      });
    });

    it('completed operation is retained for completedRetentionMs, then expires', async () => {
      const s = await scenario({ completedRetentionMs: 3_600_000 });
      const a = testAction('compile');
      s.cache.results.set(`/${a.digest.key}`, result());
      const op = await s.scheduler.submit(request(a));

      s.clock.advance(3_599_999);
      assert.equal((await s.scheduler.getOperation(op.name)).done, true);
      s.clock.advance(1);

      await assert.rejects(s.scheduler.getOperation(op.name), { code: Code.NOT_FOUND });
      assert.equal(s.clock.pendingTimers, ownTimers(kind));
    });

    it('keeps at most maxCompletedOperations done operations, forgetting the oldest first', async () => {
      const s = await scenario({ maxCompletedOperations: 2 });
      const names: string[] = [];
      for (const n of ['a', 'b', 'c']) {
        const a = testAction(n);
        s.cache.results.set(`/${a.digest.key}`, result());
        names.push((await s.scheduler.submit(request(a))).name);
        s.clock.advance(1000);
      }

      await assert.rejects(s.scheduler.getOperation(names[0] ?? ''), { code: Code.NOT_FOUND });
      for (const name of names.slice(1)) {
        assert.equal((await s.scheduler.getOperation(name)).done, true);
        // A late WaitExecution on a kept operation still gets its result.
        assert.deepEqual(await collect(s.scheduler.watchOperation(name)), ['COMPLETED']);
      }
      assert.equal((await s.scheduler.stats()).completedOperations, 2);
      if (kind === 'memory') {
        assert.equal(s.clock.pendingTimers, 1, 'one retention timer serves the kept ones');
      }
    });

    it('keeps done responses within maxCompletedBytes, forgetting the oldest first', async () => {
      const s = await scenario({ maxCompletedBytes: 250_000 });
      const names: string[] = [];
      for (const n of ['a', 'b', 'c', 'd']) {
        const a = testAction(n);
        // 100 KB of inline stdout each: three would exceed the budget.
        s.cache.results.set(`/${a.digest.key}`, result(0, n.repeat(100_000)));
        names.push((await s.scheduler.submit(request(a))).name);
        s.clock.advance(1000);
      }

      for (const name of names.slice(0, 2)) {
        await assert.rejects(s.scheduler.getOperation(name), { code: Code.NOT_FOUND });
      }
      for (const name of names.slice(2)) {
        assert.equal((await s.scheduler.getOperation(name)).done, true);
      }
      assert.equal((await s.scheduler.stats()).completedOperations, 2);
    });

    it('a done response larger than maxCompletedBytes is still kept until the next one', async () => {
      const s = await scenario({ maxCompletedBytes: 1000 });
      const a = testAction('big');
      s.cache.results.set(`/${a.digest.key}`, result(0, 'x'.repeat(5000)));
      const big = await s.scheduler.submit(request(a));
      assert.equal((await s.scheduler.getOperation(big.name)).done, true);
      const b = testAction('small');
      s.cache.results.set(`/${b.digest.key}`, result(0, 'y'));
      const small = await s.scheduler.submit(request(b));
      await assert.rejects(s.scheduler.getOperation(big.name), { code: Code.NOT_FOUND });
      assert.equal((await s.scheduler.getOperation(small.name)).done, true);
    });

    it('running operations do not count against maxCompletedOperations', async () => {
      const s = await scenario({ maxCompletedOperations: 1 });
      const queued = await s.scheduler.submit(request(testAction('queued')));
      const a = testAction('cached');
      s.cache.results.set(`/${a.digest.key}`, result());
      const done = await s.scheduler.submit(request(a));

      assert.equal((await s.scheduler.getOperation(queued.name)).done, false);
      assert.equal((await s.scheduler.getOperation(done.name)).done, true);
    });

    it("a done operation's response owns its bytes instead of pinning a shared buffer", async () => {
      const s = await scenario();
      const a = testAction('compile');
      // Buffer.from of a short string is a slice of Node's shared Buffer pool.
      const pooled = result(0, 'tiny stdout');
      assert.ok(pooled.stdoutRaw.buffer.byteLength > pooled.stdoutRaw.byteLength);
      s.cache.results.set(`/${a.digest.key}`, pooled);
      const op = await s.scheduler.submit(request(a));

      const stdout = (await s.scheduler.getOperation(op.name)).response?.result?.stdoutRaw;
      assert.equal(stdout?.toString(), 'tiny stdout');
      assert.equal(stdout?.buffer.byteLength, 'tiny stdout'.length);
    });

    it('list filters by stage, done, instance name and invocation, oldest first', async () => {
      const s = await scenario();
      const cached = testAction('cached');
      s.cache.results.set(`main/${cached.digest.key}`, result());
      await worker(s, 'w1');
      await s.scheduler.submit(
        request(testAction('a'), { instanceName: 'main', toolInvocationId: 'b1' }),
      );
      await s.scheduler.submit(
        request(testAction('b'), { instanceName: 'main', toolInvocationId: 'b2' }),
      );
      await s.scheduler.submit(request(cached, { instanceName: 'main', toolInvocationId: 'b1' }));
      await s.scheduler.submit(
        request(testAction('c'), { instanceName: 'other', toolInvocationId: 'b1' }),
      );
      await s.scheduler.takeWork('w1');

      const names = async (query: Parameters<typeof s.scheduler.listOperations>[0]) =>
        (await s.scheduler.listOperations(query)).operations.map((o) => o.name);
      assert.deepEqual(await names({ stage: 'EXECUTING' }), ['operations/1']);
      assert.deepEqual(await names({ stage: 'QUEUED' }), ['operations/3', 'operations/6']);
      assert.deepEqual(await names({ done: true }), ['operations/5']);
      assert.deepEqual(await names({ done: false, instanceName: 'main' }), [
        'operations/1',
        'operations/3',
      ]);
      assert.deepEqual(await names({ toolInvocationId: 'b1' }), [
        'operations/1',
        'operations/5',
        'operations/6',
      ]);
    });

    it('lists newest first when asked, paging the same way', async () => {
      const s = await scenario();
      for (const n of ['a', 'b', 'c', 'd', 'e']) await s.scheduler.submit(request(testAction(n)));
      const first = await s.scheduler.listOperations({ pageSize: 2, newestFirst: true });
      const second = await s.scheduler.listOperations({
        pageSize: 2,
        newestFirst: true,
        pageToken: first.nextPageToken,
      });
      const third = await s.scheduler.listOperations({
        pageSize: 2,
        newestFirst: true,
        pageToken: second.nextPageToken,
      });
      const page = (p: typeof first) => p.operations.map((o) => o.name);
      assert.deepEqual(page(first), ['operations/9', 'operations/7']);
      assert.deepEqual(page(second), ['operations/5', 'operations/3']);
      assert.deepEqual(page(third), ['operations/1']);
      assert.equal(third.nextPageToken, '');
    });

    it('list pages with page size and token', async () => {
      const s = await scenario();
      for (const n of ['a', 'b', 'c', 'd', 'e']) await s.scheduler.submit(request(testAction(n)));

      const first = await s.scheduler.listOperations({ pageSize: 2 });
      const second = await s.scheduler.listOperations({
        pageSize: 2,
        pageToken: first.nextPageToken,
      });
      const third = await s.scheduler.listOperations({
        pageSize: 2,
        pageToken: second.nextPageToken,
      });

      const page = (p: typeof first) => p.operations.map((o) => o.name);
      assert.deepEqual(page(first), ['operations/1', 'operations/3']);
      assert.deepEqual(page(second), ['operations/5', 'operations/7']);
      assert.deepEqual(page(third), ['operations/9']);
      assert.equal(third.nextPageToken, '');
      await assert.rejects(s.scheduler.listOperations({ pageToken: 'garbage' }), {
        code: Code.INVALID_ARGUMENT,
      });
    });

    it('deleting a running operation forgets it but the execution still fills the cache', async () => {
      const s = await scenario();
      const a = testAction('compile');
      await worker(s, 'w1');
      const op = await s.scheduler.submit(request(a));
      // Checked from the start: the watch may end before deleteOperation returns.
      const watched = assert.rejects(collect(s.scheduler.watchOperation(op.name)), {
        code: Code.NOT_FOUND,
      });
      const lease = (await s.scheduler.takeWork('w1')).leases[0];

      await s.scheduler.deleteOperation(op.name);

      await watched;
      await assert.rejects(s.scheduler.getOperation(op.name), { code: Code.NOT_FOUND });
      assert.deepEqual(
        await s.scheduler.heartbeat('w1'),
        { cancelledLeaseIds: [] },
        'not cancelled',
      );
      const joined = await s.scheduler.submit(request(a));
      assert.equal(joined.stage, 'EXECUTING', 'the execution is still shared');
      await s.scheduler.completeLease('w1', lease?.id ?? '', ok());
      assert.deepEqual(s.cache.puts, [a.digest.key]);
      assert.equal((await s.scheduler.getOperation(joined.name)).done, true);
    });

    it('deleting a done operation removes it at once', async () => {
      const s = await scenario();
      const a = testAction('compile');
      s.cache.results.set(`/${a.digest.key}`, result());
      const op = await s.scheduler.submit(request(a));

      await s.scheduler.deleteOperation(op.name);

      await assert.rejects(s.scheduler.getOperation(op.name), { code: Code.NOT_FOUND });
      assert.equal(s.clock.pendingTimers, ownTimers(kind), 'its retention timer is gone too');
    });

    it('stats count queued and executing actions per platform, operations and workers', async () => {
      const s = await scenario();
      const linux: [string, string][] = [['OSFamily', 'linux']];
      await worker(s, 'w1', linux, 2);
      await worker(s, 'w2', [['OSFamily', 'macos']], 3);
      await s.scheduler.submit(request(testAction('run first', { platform: linux })));
      await s.scheduler.takeWork('w1', { maxLeases: 1 });
      await s.scheduler.submit(request(testAction('l1', { platform: linux })));
      await s.scheduler.submit(request(testAction('l2', { platform: linux })));
      await s.scheduler.submit(request(testAction('l2', { platform: linux })));
      await s.scheduler.submit(request(testAction('m1', { platform: [['OSFamily', 'macos']] })));

      assert.deepEqual(await s.scheduler.stats(), {
        queued: 3,
        queuedByPlatform: [
          // "run first" runs on the linux worker: counted there as executing.
          { platform: [{ name: 'OSFamily', value: 'linux' }], queued: 2, executing: 1 },
          { platform: [{ name: 'OSFamily', value: 'macos' }], queued: 1, executing: 0 },
        ],
        executing: 1,
        byPrincipal: [{ principal: '', queued: 3, executing: 1 }],
        activeOperations: 5,
        completedOperations: 0,
        workers: 2,
        workerCapacity: 5,
      });
    });

    it('after close every call is UNAVAILABLE and no timer is left', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      await s.scheduler.submit(request(testAction('compile', { platform: [['os', 'none']] })));
      await s.scheduler.submit(request(testAction('other')));
      assert.equal((await s.scheduler.takeWork('w1')).leases.length, 1);
      let pollEnded = false;
      const poll = s.scheduler.takeWork('w1', { waitMs: 60_000 }).finally(() => {
        pollEnded = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(pollEnded, false, 'a full worker waits');

      await s.scheduler.close();

      assert.deepEqual(await poll, { leases: [], cancelledLeaseIds: [] });
      assert.equal(s.clock.pendingTimers, 0);
      await assert.rejects(s.scheduler.submit(request(testAction('late'))), {
        code: Code.UNAVAILABLE,
      });
    });
  });
});
