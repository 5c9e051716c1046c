import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import { makeDigest } from '../../src/digest/digest.ts';
import { BLAKE3 } from '../../src/digest/digest-function.ts';
import { ok, outcome, request, result, testAction, worker } from './scenario.ts';

import { forEachScheduler } from './scheduler-kinds.ts';

forEachScheduler((kind, scenario) => {
  describe(`in-flight dedup [${kind}]`, { timeout: 10_000 }, () => {
    it('two identical submissions share one execution and both get the result', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      await worker(s, 'w1', [], 4);

      const first = await s.scheduler.submit(request(a, { toolInvocationId: 'build-1' }));
      const second = await s.scheduler.submit(request(a, { toolInvocationId: 'build-2' }));

      assert.notEqual(first.name, second.name);
      const { leases } = await s.scheduler.takeWork('w1');
      assert.equal(leases.length, 1, 'one execution');
      await s.scheduler.completeLease('w1', leases[0]?.id ?? '', ok(result(0, 'shared')));
      for (const op of [first, second]) {
        const done = await s.scheduler.getOperation(op.name);
        assert.equal(done.done, true);
        assert.equal(done.response?.result?.stdoutRaw.toString(), 'shared');
        assert.equal(done.response?.cachedResult, false);
      }
      assert.deepEqual(s.cache.puts, [a.digest.key], 'stored once');
    });

    it('a submission joining a running execution starts in EXECUTING', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      await worker(s, 'w1');
      await s.scheduler.submit(request(a));
      await s.scheduler.takeWork('w1');

      const late = await s.scheduler.submit(request(a));

      assert.equal(late.stage, 'EXECUTING');
      assert.equal(late.worker, 'w1');
      assert.equal((await s.scheduler.stats()).executing, 1);
    });

    it('different instance names or digest functions do not share an execution', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      const blake = makeDigest(BLAKE3, a.digest.hash, a.digest.size);
      await worker(s, 'w1', [], 8);

      await s.scheduler.submit(request(a));
      await s.scheduler.submit(request(a, { instanceName: 'other' }));
      await s.scheduler.submit(request(a, { actionDigest: blake, digestFunction: BLAKE3 }));

      assert.equal((await s.scheduler.takeWork('w1')).leases.length, 3);
    });

    it('a more urgent duplicate pulls the queued execution forward', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      await s.scheduler.submit(request(testAction('other'), { priority: 5 }));
      await s.scheduler.submit(request(testAction('shared'), { priority: 10 }));
      await s.scheduler.submit(request(testAction('shared'), { priority: 1 }));

      const { leases } = await s.scheduler.takeWork('w1');

      assert.equal(leases[0]?.actionDigest.key, testAction('shared').digest.key);
      assert.equal(leases[0]?.priority, 1);
    });
  });

  describe(`cancellation [${kind}]`, { timeout: 10_000 }, () => {
    it('cancelling one of two waiters leaves the execution running for the other', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      await worker(s, 'w1');
      const first = await s.scheduler.submit(request(a));
      const second = await s.scheduler.submit(request(a));
      const { leases } = await s.scheduler.takeWork('w1');
      const leaseId = leases[0]?.id ?? '';

      const cancelled = await s.scheduler.cancelOperation(first.name);

      assert.equal(cancelled.done, true);
      assert.deepEqual(outcome(cancelled), {
        code: Code.CANCELLED,
        message: 'the operation was cancelled',
      });
      assert.deepEqual(await s.scheduler.heartbeat('w1'), { cancelledLeaseIds: [] });
      await s.scheduler.completeLease('w1', leaseId, ok(result(0, 'done')));
      const other = await s.scheduler.getOperation(second.name);
      assert.equal(other.response?.status?.code, Code.OK);
      assert.equal(other.response?.result?.stdoutRaw.toString(), 'done');
      assert.equal(
        (await s.scheduler.getOperation(first.name)).response?.status?.code,
        Code.CANCELLED,
      );
    });

    it('cancelling the only waiter cancels the lease and the worker sees it at its next heartbeat', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      await worker(s, 'w1');
      const op = await s.scheduler.submit(request(a));
      const { leases } = await s.scheduler.takeWork('w1');
      const leaseId = leases[0]?.id ?? '';

      await s.scheduler.cancelOperation(op.name);

      assert.deepEqual(await s.scheduler.heartbeat('w1'), { cancelledLeaseIds: [leaseId] });
      assert.deepEqual(await s.scheduler.updateLease('w1', leaseId, { state: 'RUNNING' }), {
        cancelledLeaseIds: [leaseId],
      });
      // The cancelled lease holds the worker's only slot until the worker acknowledges it.
      await s.scheduler.submit(request(testAction('next')));
      assert.deepEqual((await s.scheduler.takeWork('w1')).leases, []);
      await s.scheduler.completeLease('w1', leaseId, {
        status: { code: Code.CANCELLED, message: 'killed', details: [] },
      });
      assert.deepEqual(await s.scheduler.heartbeat('w1'), { cancelledLeaseIds: [] });
      assert.equal((await s.scheduler.takeWork('w1')).leases.length, 1);
      assert.deepEqual(s.cache.puts, []);
    });

    it('cancellation wakes the worker long-poll so the Bots service can tell it at once', async () => {
      const s = await scenario();
      await worker(s, 'w1', [], 2);
      const op = await s.scheduler.submit(request(testAction('compile a.c')));
      const { leases } = await s.scheduler.takeWork('w1', { maxLeases: 1 });
      const polling = s.scheduler.takeWork('w1', { waitMs: 30_000 });

      await s.scheduler.cancelOperation(op.name);

      assert.deepEqual(await polling, { leases: [], cancelledLeaseIds: [leases[0]?.id] });
    });

    it('cancelling a queued action removes it and a new identical submission starts afresh', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      await worker(s, 'w1');
      const op = await s.scheduler.submit(request(a));

      await s.scheduler.cancelOperation(op.name);

      assert.equal((await s.scheduler.stats()).queued, 0);
      assert.deepEqual((await s.scheduler.takeWork('w1')).leases, []);
      const again = await s.scheduler.submit(request(a));
      assert.equal(again.stage, 'QUEUED');
      assert.equal((await s.scheduler.takeWork('w1')).leases.length, 1);
    });

    it('cancelling a done operation changes nothing', async () => {
      const s = await scenario();
      const a = testAction('compile a.c');
      s.cache.results.set(`/${a.digest.key}`, result());
      const op = await s.scheduler.submit(request(a));

      const after = await s.scheduler.cancelOperation(op.name);

      assert.equal(after.response?.status?.code, Code.OK);
      assert.equal(after.response?.cachedResult, true);
    });

    it('a result reported for a cancelled lease is discarded', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const op = await s.scheduler.submit(request(testAction('compile a.c')));
      const { leases } = await s.scheduler.takeWork('w1');
      await s.scheduler.cancelOperation(op.name);

      await s.scheduler.completeLease('w1', leases[0]?.id ?? '', ok());

      assert.deepEqual(s.cache.puts, []);
      assert.equal(
        (await s.scheduler.getOperation(op.name)).response?.status?.code,
        Code.CANCELLED,
      );
      await assert.rejects(s.scheduler.completeLease('w1', leases[0]?.id ?? '', ok()), {
        code: Code.NOT_FOUND,
      });
    });
  });
});
