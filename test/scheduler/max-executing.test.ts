/**
 * `principalLimits.maxExecuting`: a principal's actions beyond its limit
 * wait while other principals' run. The scenarios run against both
 * schedulers; with PostgreSQL the limit also holds across processes, which
 * claim at the same time and wake each other's waiting workers when a
 * place frees up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SchedulerPolicy } from '../../src/scheduler/policy.ts';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import type { Scheduler } from '../../src/scheduler/scheduler.ts';
import type { Lease } from '../../src/scheduler/types.ts';
import { ok, RecordingActionCache, request, testAction } from './scenario.ts';
import {
  forEachScheduler,
  freshSchema,
  postgresAvailable,
  sharedPostgres,
} from './scheduler-kinds.ts';

/** Submits `count` actions of `principal`, named `principal-1`…; returns digest key → name. */
async function submitMany(
  s: Scheduler,
  principal: string,
  count: number,
  names = new Map<string, string>(),
): Promise<Map<string, string>> {
  for (let i = 1; i <= count; i++) {
    const a = testAction(`${principal}-${i}`);
    names.set(a.digest.key, `${principal}-${i}`);
    await s.submit(request(a, { principal }));
  }
  return names;
}

const named = (names: Map<string, string>, leases: readonly Lease[]): string[] =>
  leases.map((l) => names.get(l.actionDigest.key) ?? '?');

const limits = (principalLimits: SchedulerPolicy['principalLimits']): Partial<SchedulerPolicy> => ({
  principalLimits,
  unschedulableTimeoutMs: 60_000,
});

const register = (s: Scheduler, id: string, capacity = 1) =>
  s.registerWorker({ id, name: id, platform: [], capacity });

const hasPostgres = await postgresAvailable();

describe('maxExecuting', { timeout: 60_000 }, () => {
  forEachScheduler((kind, open) => {
    it(`${kind}: over maxExecuting, the principal's actions wait while others' are dispatched`, async () => {
      const { scheduler: s } = await open(limits({ principals: { a: { maxExecuting: 2 } } }));
      await register(s, 'w1', 10);
      const names = await submitMany(s, 'a', 5);
      await submitMany(s, 'b', 2, names);

      const first = await s.takeWork('w1');

      // (PostgreSQL returns a claim's leases in queue order, not in the order chosen.)
      assert.deepEqual(named(names, first.leases).sort(), ['a-1', 'a-2', 'b-1', 'b-2']);
      assert.equal((await s.takeWork('w1')).leases.length, 0, 'a is held at 2 running');
      assert.deepEqual(
        (await s.stats()).byPrincipal.find((p) => p.principal === 'a'),
        { principal: 'a', queued: 3, executing: 2 },
      );
      // One of a's actions ends: exactly one more of a's may start.
      await s.completeLease('w1', first.leases[0]?.id ?? '', ok());
      assert.deepEqual(named(names, (await s.takeWork('w1')).leases), ['a-3']);
    });

    it(`${kind}: the default limit applies to every principal without an entry`, async () => {
      const { scheduler: s } = await open(
        limits({ default: { maxExecuting: 1 }, principals: { ci: {} } }),
      );
      await register(s, 'w1', 10);
      const names = await submitMany(s, 'dev', 3);
      await submitMany(s, 'ci', 3, names);
      const leased = named(names, (await s.takeWork('w1')).leases).sort();
      assert.deepEqual(leased, ['ci-1', 'ci-2', 'ci-3', 'dev-1']);
    });

    it(`${kind}: a waiting worker gets a held principal's action as soon as one of its running actions ends`, async () => {
      const { scheduler: s } = await open(limits({ principals: { a: { maxExecuting: 1 } } }));
      await register(s, 'w1');
      await register(s, 'w2');
      const names = await submitMany(s, 'a', 2);
      const running = (await s.takeWork('w1')).leases[0];
      assert.ok(running);

      const poll = s.takeWork('w2', { waitMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await s.completeLease('w1', running.id, ok());

      assert.deepEqual(named(names, (await poll).leases), ['a-2']);
    });

    it(`${kind}: a lost or cancelled lease gives its place back`, async () => {
      const { scheduler: s } = await open(limits({ principals: { a: { maxExecuting: 1 } } }));
      await register(s, 'w1');
      await register(s, 'w2');
      const names = await submitMany(s, 'a', 2);
      assert.deepEqual(named(names, (await s.takeWork('w1')).leases), ['a-1']);

      // w1 leaves: a-1 is queued again (first in line) and may run on w2.
      await s.unregisterWorker('w1');
      const retried = (await s.takeWork('w2')).leases;
      assert.deepEqual(named(names, retried), ['a-1']);

      // Cancelling it frees a's one place for a-2.
      const op = (await s.listOperations({})).operations.find(
        (o) => names.get(o.actionDigest.key) === 'a-1',
      );
      await s.cancelOperation(op?.name ?? '');
      await s.completeLease('w2', retried[0]?.id ?? '', ok());
      assert.deepEqual(named(names, (await s.takeWork('w2')).leases), ['a-2']);
      assert.deepEqual((await s.stats()).byPrincipal, [
        { principal: 'a', queued: 0, executing: 1 },
      ]);
    });
  });

  it('holds across PostgreSQL scheduler processes claiming at once', {
    skip: !hasPostgres,
  }, async (t) => {
    const schema = freshSchema();
    const url = (await sharedPostgres()).url;
    const policy = limits({ principals: { a: { maxExecuting: 2 } } });
    const open = () =>
      PostgresScheduler.open({
        url,
        schema,
        poolSize: 6,
        actionCache: new RecordingActionCache(),
        policy,
      });
    const a = await open();
    const b = await open();
    t.after(async () => {
      await a.close();
      await b.close();
    });
    const names = await submitMany(a, 'a', 6);
    await submitMany(b, 'b', 2, names);
    const workers = Array.from({ length: 8 }, (_, i) => ({
      id: `w${i}`,
      on: i % 2 === 0 ? a : b,
    }));
    for (const w of workers) await register(w.on, w.id);

    // Eight workers on two processes claim at the same moment.
    const taken = await Promise.all(workers.map((w) => w.on.takeWork(w.id)));
    const leased = taken.flatMap((r, i) => r.leases.map((l) => ({ lease: l, worker: workers[i] })));
    const ofA = leased.filter((l) => names.get(l.lease.actionDigest.key)?.startsWith('a-'));
    assert.equal(ofA.length, 2, `a runs ${ofA.length} actions, its limit is 2`);
    assert.equal(leased.length, 4, 'both of b run beside them');

    // A worker waiting on B gets a's next action when one of a's ends on A.
    const idle = workers.find((w) => w.on === b && !leased.some((l) => l.worker === w));
    const ending = ofA.find((l) => l.worker?.on === a) ?? ofA[0];
    assert.ok(idle && ending?.worker);
    const poll = idle.on.takeWork(idle.id, { waitMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await ending.worker.on.completeLease(ending.worker.id, ending.lease.id, ok());
    const next = await poll;
    assert.deepEqual(named(names, next.leases), ['a-3']);
    assert.ok(
      performance.now() - started < 5_000,
      'woken by the freed place, not the poll timeout',
    );
  });
});
