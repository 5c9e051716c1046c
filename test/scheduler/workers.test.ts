import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import type { ExecutionStage } from '../../src/scheduler/types.ts';
import { ok, outcome, request, testAction, worker } from './scenario.ts';

/** Lets pending promise callbacks run; no time passes on the fake clock. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Tracks whether a promise has settled yet. */
function track<T>(p: Promise<T>): { done: () => boolean; value: Promise<T> } {
  let finished = false;
  const value = p.finally(() => {
    finished = true;
  });
  return { done: () => finished, value };
}

import { forEachScheduler } from './scheduler-kinds.ts';

forEachScheduler((kind, scenario) => {
  describe(`workers and leases [${kind}]`, { timeout: 10_000 }, () => {
    it('lost worker: its action is retried on another worker and succeeds', async () => {
      const s = await scenario({ workerTimeoutMs: 10_000 });
      await worker(s, 'w1');
      await worker(s, 'w2');
      const op = await s.scheduler.submit(request(testAction('compile')));
      const lost = (await s.scheduler.takeWork('w1')).leases[0];
      assert.equal((await s.scheduler.getOperation(op.name)).worker, 'w1');

      s.clock.advance(5_000);
      await s.scheduler.heartbeat('w2');
      s.clock.advance(5_000);

      assert.equal((await s.scheduler.getOperation(op.name)).stage, 'QUEUED');
      await assert.rejects(s.scheduler.heartbeat('w1'), { code: Code.NOT_FOUND });
      await assert.rejects(s.scheduler.completeLease('w1', lost?.id ?? '', ok()), {
        code: Code.NOT_FOUND,
      });
      const retry = (await s.scheduler.takeWork('w2')).leases[0];
      assert.equal(retry?.attempt, 2);
      await s.scheduler.completeLease('w2', retry?.id ?? '', ok());
      const done = await s.scheduler.getOperation(op.name);
      assert.equal(done.response?.status?.code, Code.OK);
      assert.equal(done.response?.result?.executionMetadata?.worker, 'w2');
      assert.deepEqual(
        (await s.scheduler.listWorkers()).map((w) => w.id),
        ['w2'],
      );
    });

    it('crash-looping worker: the action fails after maxRetries with a clear status', async () => {
      const s = await scenario({ workerTimeoutMs: 10_000, maxRetries: 2 });
      await worker(s, 'crashy');
      const op = await s.scheduler.submit(request(testAction('segfaults the worker')));
      const stages: ExecutionStage[] = [];
      const watching = (async () => {
        for await (const state of s.scheduler.watchOperation(op.name)) stages.push(state.stage);
      })();

      for (let attempt = 1; attempt <= 3; attempt++) {
        await worker(s, 'crashy');
        const lease = (await s.scheduler.takeWork('crashy')).leases[0];
        assert.equal(lease?.attempt, attempt);
        await settle();
        s.clock.advance(10_000);
      }

      const failed = await s.scheduler.getOperation(op.name);
      assert.deepEqual(outcome(failed), {
        code: Code.UNAVAILABLE,
        message: 'action lost 3 times; last worker: crashy (no heartbeat for 10s)',
      });
      await watching;
      assert.deepEqual(stages, [
        'QUEUED',
        'EXECUTING',
        'QUEUED',
        'EXECUTING',
        'QUEUED',
        'EXECUTING',
        'COMPLETED',
      ]);
      assert.equal((await s.scheduler.stats()).queued, 0);
    });

    it('a queued action keeps its own copy of Action.salt, not a shared pool slab', async () => {
      const s = await scenario();
      const a = testAction('salted');
      const action = { ...a.action, salt: Buffer.from('pepper') };
      assert.ok(action.salt.buffer.byteLength > 6, 'Buffer.from of a short string is pooled');
      await s.scheduler.submit(request({ ...a, action }));
      await worker(s, 'w1');

      const [lease] = (await s.scheduler.takeWork('w1')).leases;

      assert.equal(lease?.action.salt.toString(), 'pepper');
      assert.equal(lease?.action.salt.buffer.byteLength, 6);
    });

    it('long-poll wakes immediately when work arrives', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const poll = track(s.scheduler.takeWork('w1', { waitMs: 60_000 }));
      await settle();
      assert.equal(poll.done(), false);

      const op = await s.scheduler.submit(request(testAction('compile')));

      const { leases } = await poll.value;
      assert.equal(leases.length, 1);
      assert.equal(leases[0]?.state, 'PENDING');
      assert.equal((await s.scheduler.getOperation(op.name)).stage, 'EXECUTING');
      // In memory the lease is handed out within submit; across processes it follows the notification.
      if (kind === 'memory') assert.equal(op.stage, 'EXECUTING', 'submit already saw it leased');
    });

    it('long-poll returns empty at its deadline', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const poll = track(s.scheduler.takeWork('w1', { waitMs: 5_000 }));

      s.clock.advance(4_999);
      await settle();
      assert.equal(poll.done(), false);
      s.clock.advance(1);

      assert.deepEqual(await poll.value, { leases: [], cancelledLeaseIds: [] });
      assert.equal(s.clock.pendingTimers, 1, 'only the worker liveness timer is left');
    });

    it('long-poll ignores work the worker cannot run, and the longest-waiting worker is served first', async () => {
      const s = await scenario();
      await worker(s, 'mac', [['OSFamily', 'macos']]);
      await worker(s, 'linux-1', [['OSFamily', 'linux']]);
      await worker(s, 'linux-2', [['OSFamily', 'linux']]);
      const mac = track(s.scheduler.takeWork('mac', { waitMs: 60_000 }));
      const first = track(s.scheduler.takeWork('linux-1', { waitMs: 60_000 }));
      const second = track(s.scheduler.takeWork('linux-2', { waitMs: 60_000 }));

      await s.scheduler.submit(
        request(testAction('compile', { platform: [['OSFamily', 'linux']] })),
      );

      if (kind === 'memory') {
        assert.equal((await first.value).leases.length, 1);
        await settle();
        assert.deepEqual([mac.done(), first.done(), second.done()], [false, true, false]);
        return;
      }
      // Across processes the polls' first claims race: one Linux worker gets it, never the Mac.
      const got = await Promise.race([first.value, second.value]);
      assert.equal(got.leases.length, 1);
      await settle();
      assert.deepEqual([mac.done(), first.done() !== second.done()], [false, true]);
    });

    it('an aborted long-poll returns empty at once', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const abort = new AbortController();
      const poll = s.scheduler.takeWork('w1', { waitMs: 60_000, signal: abort.signal });

      abort.abort();

      assert.deepEqual(await poll, { leases: [], cancelledLeaseIds: [] });
      await s.scheduler.submit(request(testAction('compile')));
      assert.equal(
        (await s.scheduler.takeWork('w1')).leases.length,
        1,
        'the aborted poll took nothing',
      );
    });

    it('a worker waiting in a long-poll is not declared gone', async () => {
      const s = await scenario({ workerTimeoutMs: 10_000 });
      await worker(s, 'w1');
      const poll = s.scheduler.takeWork('w1', { waitMs: 25_000 });

      s.clock.advance(25_000);
      await poll;
      s.clock.advance(9_999);

      assert.deepEqual(await s.scheduler.heartbeat('w1'), { cancelledLeaseIds: [] });
    });

    it('a worker that re-registers keeps its leases and gets its new capacity', async () => {
      const s = await scenario();
      await worker(s, 'w1', [], 1);
      await s.scheduler.submit(request(testAction('a')));
      await s.scheduler.submit(request(testAction('b')));
      const held = (await s.scheduler.takeWork('w1')).leases[0];

      await worker(s, 'w1', [], 2);

      const [state] = await s.scheduler.listWorkers();
      assert.deepEqual(state?.leaseIds, [held?.id]);
      assert.equal(state?.capacity, 2);
      assert.equal((await s.scheduler.takeWork('w1')).leases.length, 1);
    });

    it('a worker that unregisters loses its leases to the queue', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      await worker(s, 'w2');
      const op = await s.scheduler.submit(request(testAction('compile')));
      await s.scheduler.takeWork('w1');

      await s.scheduler.unregisterWorker('w1');

      assert.equal((await s.scheduler.getOperation(op.name)).stage, 'QUEUED');
      assert.equal((await s.scheduler.takeWork('w2')).leases[0]?.attempt, 2);
    });

    it('progress reports for unknown leases are NOT_FOUND', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      await assert.rejects(s.scheduler.updateLease('w1', 'nope', { state: 'RUNNING' }), {
        code: Code.NOT_FOUND,
      });
      await assert.rejects(s.scheduler.takeWork('ghost'), { code: Code.NOT_FOUND });
      await assert.rejects(worker(s, 'w0', [], 0), { code: Code.INVALID_ARGUMENT });
    });
  });
});
