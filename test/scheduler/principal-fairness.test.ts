import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import { KilnError } from '../../src/errors.ts';
import { ActionQueue } from '../../src/scheduler/action-queue.ts';
import type { SchedulerPolicy } from '../../src/scheduler/policy.ts';
import { resolvePolicy } from '../../src/scheduler/policy.ts';
import { ok, request, result, type Scenario, scenario, testAction, worker } from './scenario.ts';

interface Spec {
  readonly name: string;
  readonly principal: string;
  readonly invocation?: string;
  readonly priority?: number;
}

/** Submits each spec in order; returns action digest key → spec name. */
async function submitAll(s: Scenario, specs: readonly Spec[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const spec of specs) {
    const a = testAction(spec.name);
    names.set(a.digest.key, spec.name);
    await s.scheduler.submit(
      request(a, {
        principal: spec.principal,
        toolInvocationId: spec.invocation ?? '',
        priority: spec.priority ?? 0,
      }),
    );
  }
  return names;
}

/** One worker takes one lease at a time and completes it; returns action names in dispatch order. */
async function drain(s: Scenario, names: Map<string, string>): Promise<string[]> {
  const order: string[] = [];
  for (;;) {
    const lease = (await s.scheduler.takeWork('w1', { maxLeases: 1 })).leases[0];
    if (lease === undefined) return order;
    order.push(names.get(lease.actionDigest.key) ?? '?');
    await s.scheduler.completeLease('w1', lease.id, ok());
  }
}

const many = (principal: string, count: number, invocation = ''): Spec[] =>
  Array.from({ length: count }, (_, i) => ({
    name: `${principal}-${i + 1}`,
    principal,
    invocation,
  }));

function withLimits(limits: SchedulerPolicy['principalLimits']): Scenario {
  return scenario({ principalLimits: limits, unschedulableTimeoutMs: 60_000 });
}

describe('fairness between principals', { timeout: 10_000 }, () => {
  it('a principal that queued 100 actions does not make a later one wait for all of them', async () => {
    const s = scenario();
    await worker(s, 'w1');
    const names = await submitAll(s, [...many('a', 100), ...many('b', 5)]);

    const order = await drain(s, names);

    assert.equal(order.length, 105);
    assert.deepEqual(order.slice(0, 10), [
      'a-1',
      'b-1',
      'a-2',
      'b-2',
      'a-3',
      'b-3',
      'a-4',
      'b-4',
      'a-5',
      'b-5',
    ]);
    assert.deepEqual(order.slice(10, 13), ['a-6', 'a-7', 'a-8']);
  });

  it('principals come first, then builds within each principal share its turns', async () => {
    const s = scenario();
    await worker(s, 'w1');
    // Principal a runs two builds; b's one build gets as many turns as both of a's together.
    const names = await submitAll(s, [
      ...many('a', 4, 'big').map((x) => ({ ...x, name: `big-${x.name}` })),
      ...many('a', 2, 'small').map((x) => ({ ...x, name: `small-${x.name}` })),
      ...many('b', 3, 'b-build'),
    ]);

    assert.deepEqual(await drain(s, names), [
      'big-a-1',
      'b-1',
      'small-a-1',
      'b-2',
      'big-a-2',
      'b-3',
      'small-a-2',
      'big-a-3',
      'big-a-4',
    ]);
  });

  it('priority still comes first: fairness between principals applies within one priority', async () => {
    const s = scenario();
    await worker(s, 'w1');
    const names = await submitAll(s, [
      { name: 'a-normal-1', principal: 'a' },
      { name: 'a-normal-2', principal: 'a' },
      { name: 'b-normal-1', principal: 'b' },
      { name: 'b-background', principal: 'b', priority: 10 },
      { name: 'a-urgent', principal: 'a', priority: -5 },
    ]);

    assert.deepEqual(await drain(s, names), [
      'a-urgent',
      'a-normal-1',
      'b-normal-1',
      'a-normal-2',
      'b-background',
    ]);
  });

  it('a deduplicated action counts against its first submitter, and joining it is never refused', async () => {
    const s = withLimits({ default: { maxQueued: 1 } });
    const shared = testAction('shared');
    await s.scheduler.submit(request(shared, { principal: 'a' }));
    await s.scheduler.submit(request(testAction('b-own'), { principal: 'b' }));

    // b is at its limit, but joining a's queued action queues nothing new.
    const joined = await s.scheduler.submit(request(shared, { principal: 'b' }));

    assert.equal(joined.stage, 'QUEUED');
    const stats = await s.scheduler.stats();
    assert.deepEqual(
      [...stats.byPrincipal].sort((x, y) => (x.principal < y.principal ? -1 : 1)),
      [
        { principal: 'a', queued: 1, executing: 0 },
        { principal: 'b', queued: 1, executing: 0 },
      ],
    );
  });
});

describe('per-principal quotas', { timeout: 10_000 }, () => {
  it('over maxQueued, submit answers RESOURCE_EXHAUSTED naming the principal and the limit', async () => {
    const s = withLimits({ default: { maxQueued: 3 } });
    for (let i = 0; i < 3; i++) {
      await s.scheduler.submit(request(testAction(`ci-${i}`), { principal: 'ci' }));
    }

    await assert.rejects(
      s.scheduler.submit(request(testAction('ci-too-many'), { principal: 'ci' })),
      (err: unknown) => {
        assert.ok(err instanceof KilnError);
        assert.equal(err.code, Code.RESOURCE_EXHAUSTED);
        assert.match(err.message, /principal "ci" already has 3 actions queued/);
        assert.match(err.message, /maxQueued 3/);
        return true;
      },
    );
    // Nothing of the refused call stays behind.
    assert.equal((await s.scheduler.stats()).activeOperations, 3);
    // Another principal has a quota of its own.
    await s.scheduler.submit(request(testAction('dev-1'), { principal: 'dev' }));
  });

  it('a cache hit is answered even at the limit, and a dispatched action frees a place', async () => {
    const s = withLimits({ default: { maxQueued: 1 } });
    const cached = testAction('cached');
    s.cache.results.set(`/${cached.digest.key}`, result());
    await s.scheduler.submit(request(testAction('queued'), { principal: 'ci' }));

    const hit = await s.scheduler.submit(request(cached, { principal: 'ci' }));
    assert.equal(hit.response?.cachedResult, true);
    await assert.rejects(s.scheduler.submit(request(testAction('refused'), { principal: 'ci' })), {
      code: Code.RESOURCE_EXHAUSTED,
    });

    await worker(s, 'w1');
    assert.equal((await s.scheduler.takeWork('w1')).leases.length, 1);
    await s.scheduler.submit(request(testAction('accepted'), { principal: 'ci' }));
  });

  it("a principal's own entry replaces the default: fields it leaves out are unlimited", async () => {
    const s = withLimits({ default: { maxQueued: 1 }, principals: { ci: {} } });
    for (let i = 0; i < 5; i++) {
      await s.scheduler.submit(request(testAction(`ci-${i}`), { principal: 'ci' }));
    }
    await s.scheduler.submit(request(testAction('dev-1'), { principal: 'dev' }));
    await assert.rejects(
      s.scheduler.submit(request(testAction('dev-2'), { principal: 'dev' })),
      /principal "dev"/,
    );
  });

  // maxExecuting's scenarios run against both schedulers in max-executing.test.ts.

  it('rejects limits that are not positive integers, naming the field', () => {
    assert.throws(
      () => resolvePolicy({ principalLimits: { principals: { ci: { maxExecuting: 0 } } } }),
      /execution\.principalLimits\.principals\.ci\.maxExecuting: 0 must be a positive integer/,
    );
  });
});

describe('ActionQueue principals', { timeout: 10_000 }, () => {
  it('rotates between principals, and a held principal is skipped until released', () => {
    const q = new ActionQueue<string>();
    for (const x of ['a1', 'a2', 'a3'])
      q.push(x, { priority: 0, principal: 'a', invocationId: '' });
    for (const x of ['b1', 'b2']) q.push(x, { priority: 0, principal: 'b', invocationId: '' });
    const all = () => true;

    assert.equal(q.take(all), 'a1');
    q.hold('a');
    q.push('a4', { priority: 1, principal: 'a', invocationId: '' });
    assert.equal(q.take(all), 'b1');
    assert.equal(q.take(all), 'b2');
    assert.equal(q.take(all), undefined, "only a's items are left, and a is held");
    assert.equal(q.countOf('a'), 3);
    assert.deepEqual([...q.items()], ['a2', 'a3', 'a4']);

    assert.equal(q.release('a'), true);
    assert.equal(q.release('a'), false);
    assert.deepEqual([q.take(all), q.take(all), q.take(all)], ['a2', 'a3', 'a4']);
    assert.equal(q.size, 0);
    assert.deepEqual([...q.counts()], []);
  });

  it("removes a held principal's item and tidies the level", () => {
    const q = new ActionQueue<string>();
    q.push('a1', { priority: 3, principal: 'a', invocationId: 'inv' });
    q.hold('a');
    assert.equal(q.remove('a1'), true);
    assert.equal(q.size, 0);
    q.push('b1', { priority: 3, principal: 'b', invocationId: 'inv' });
    assert.equal(
      q.take(() => true),
      'b1',
    );
  });
});
