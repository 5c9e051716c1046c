import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActionQueue } from '../../src/scheduler/action-queue.ts';
import type { Scheduler } from '../../src/scheduler/scheduler.ts';
import { request, type Scenario, testAction, worker } from './scenario.ts';

/** Takes one lease at a time and returns the action names in the order the worker got them. */
async function drain(s: Scenario<Scheduler>, names: Map<string, string>): Promise<string[]> {
  const order: string[] = [];
  for (;;) {
    const { leases } = await s.scheduler.takeWork('w1', { maxLeases: 1 });
    const lease = leases[0];
    if (lease === undefined) return order;
    order.push(names.get(lease.actionDigest.key) ?? '?');
    await s.scheduler.completeLease('w1', lease.id, {
      status: { code: 13, message: 'not run', details: [] },
    });
  }
}

async function submitAll(
  s: Scenario<Scheduler>,
  specs: readonly { name: string; priority?: number; invocation?: string }[],
): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const spec of specs) {
    const a = testAction(spec.name);
    names.set(a.digest.key, spec.name);
    await s.scheduler.submit(
      request(a, { priority: spec.priority ?? 0, toolInvocationId: spec.invocation ?? '' }),
    );
  }
  return names;
}

import { forEachScheduler } from './scheduler-kinds.ts';

forEachScheduler((kind, scenario) => {
  describe(`priority and fairness [${kind}]`, { timeout: 10_000 }, () => {
    it('priority order: workers get the lowest priority value first', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const names = await submitAll(s, [
        { name: 'normal', priority: 0 },
        { name: 'background', priority: 100 },
        { name: 'urgent', priority: -10 },
        { name: 'soon', priority: -1 },
      ]);

      assert.deepEqual(await drain(s, names), ['urgent', 'soon', 'normal', 'background']);
    });

    it('fairness: two invocations of equal priority are interleaved', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const names = await submitAll(s, [
        { name: 'big-1', invocation: 'big' },
        { name: 'big-2', invocation: 'big' },
        { name: 'big-3', invocation: 'big' },
        { name: 'big-4', invocation: 'big' },
        { name: 'small-1', invocation: 'small' },
        { name: 'small-2', invocation: 'small' },
      ]);

      assert.deepEqual(await drain(s, names), [
        'big-1',
        'small-1',
        'big-2',
        'small-2',
        'big-3',
        'big-4',
      ]);
    });

    it('fairness holds within a priority level while priority still comes first', async () => {
      const s = await scenario();
      await worker(s, 'w1');
      const names = await submitAll(s, [
        { name: 'a-1', invocation: 'a', priority: 1 },
        { name: 'a-2', invocation: 'a', priority: 1 },
        { name: 'b-1', invocation: 'b', priority: 1 },
        { name: 'c-urgent', invocation: 'c', priority: 0 },
      ]);

      assert.deepEqual(await drain(s, names), ['c-urgent', 'a-1', 'b-1', 'a-2']);
    });

    it('a worker takes up to its free capacity in one call', async () => {
      const s = await scenario();
      await worker(s, 'w1', [], 3);
      await submitAll(s, [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }]);

      assert.equal((await s.scheduler.takeWork('w1')).leases.length, 3);
      assert.equal((await s.scheduler.takeWork('w1')).leases.length, 0);
      assert.equal((await s.scheduler.stats()).queued, 1);
    });
  });

  describe(`ActionQueue [${kind}]`, { timeout: 10_000 }, () => {
    it('is FIFO within one invocation and skips items the taker refuses', () => {
      const q = new ActionQueue<string>();
      for (const x of ['x1', 'y1', 'x2']) q.push(x, { priority: 0, invocationId: 'inv' });

      assert.equal(
        q.take((x) => x.startsWith('y')),
        'y1',
      );
      assert.equal(
        q.take(() => true),
        'x1',
      );
      assert.equal(
        q.take(() => true),
        'x2',
      );
      assert.equal(
        q.take(() => true),
        undefined,
      );
    });

    it('puts retried items at the front and removes items by identity', () => {
      const q = new ActionQueue<string>();
      q.push('a', { priority: 0, invocationId: '' });
      q.push('b', { priority: 0, invocationId: '' });
      q.push('retry', { priority: 0, invocationId: '' }, { front: true });

      assert.equal(q.remove('a'), true);
      assert.equal(q.remove('a'), false);
      assert.deepEqual([...q.items()], ['retry', 'b']);
      assert.equal(q.size, 2);
    });
  });
});
