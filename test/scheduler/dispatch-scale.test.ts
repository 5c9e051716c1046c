/**
 * Dispatch cost does not grow with the fleet or the queue. Each test counts,
 * for the same operation on a small and a large scheduler, the records the
 * dispatch indexes visit (polls, groups of workers, platform queues, queued
 * items) and, independently of that instrumentation, the calls of the
 * built-in lookups any scan over workers, polls or queued actions makes
 * (`Set#has` for platform matching, `Array#includes` and `Array#indexOf`),
 * and requires the same small counts: deterministic, no timing.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { TakeResult } from '../../src/scheduler/types.ts';
import { type VisitCounter, visitCounter } from '../../src/scheduler/visit-counter.ts';
import { request, type Scenario, scenario, testAction, worker } from './scenario.ts';

const LINUX: [string, string][] = [['OSFamily', 'linux']];
const GPU: [string, string][] = [
  ['OSFamily', 'linux'],
  ['gpu', 'yes'],
];
const MAC: [string, string][] = [['OSFamily', 'macos']];
const PLATFORMS = [LINUX, GPU, MAC];

/** Most records any single dispatch may visit with three platforms, whatever N. */
const BOUND = 40;

interface Fleet {
  readonly s: Scenario;
  readonly visits: VisitCounter;
  readonly polls: Promise<TakeResult>[];
}

/** `workers` workers over three platforms (`polling` of them long-polling), and `queued` actions nobody polls for. */
async function fleet(workers: number, polling: number, queued = 0): Promise<Fleet> {
  const visits = visitCounter();
  const s = scenario({ unschedulableTimeoutMs: 60_000 }, { visits });
  for (let i = 0; i < workers; i++) {
    await worker(s, `w${i}`, PLATFORMS[i % PLATFORMS.length]);
  }
  // Mac work nobody is polling for, spread over principals, builds and priorities.
  for (let i = 0; i < queued; i++) {
    await s.scheduler.submit(
      request(testAction(`queued-${i}`, { platform: MAC }), {
        skipCacheLookup: true,
        principal: `p${i % 5}`,
        toolInvocationId: `build-${i % 13}`,
        priority: i % 3,
      }),
    );
  }
  const polls: Promise<TakeResult>[] = [];
  for (let i = 0; i < polling; i++) {
    if (PLATFORMS[i % PLATFORMS.length] === MAC) continue;
    polls.push(s.scheduler.takeWork(`w${i}`, { waitMs: 60_000 }));
  }
  return { s, visits, polls };
}

/** The most work one step took. */
interface Work {
  /** Records visited, as the indexes count them. */
  readonly visits: number;
  /** Built-in lookup calls, whoever made them. */
  readonly lookups: number;
}

/**
 * Counts calls of `Set#has`, `Array#includes` and `Array#indexOf` until the
 * returned function restores them. Matching a worker's platform is a
 * `Set#has` per required property, so code that matched every worker or
 * every queued action would show here even without counting its visits.
 */
function countLookups(): { readonly count: () => number; readonly restore: () => void } {
  let calls = 0;
  const has = Set.prototype.has;
  const includes = Array.prototype.includes;
  const indexOf = Array.prototype.indexOf;
  Set.prototype.has = function (this: Set<unknown>, value: unknown): boolean {
    calls++;
    return has.call(this, value);
  };
  Array.prototype.includes = function (this: unknown[], value: unknown, from?: number): boolean {
    calls++;
    return includes.call(this, value, from);
  };
  Array.prototype.indexOf = function (this: unknown[], value: unknown, from?: number): number {
    calls++;
    return indexOf.call(this, value, from);
  };
  return {
    count: () => calls,
    restore: () => {
      Set.prototype.has = has;
      Array.prototype.includes = includes;
      Array.prototype.indexOf = indexOf;
    },
  };
}

/** Runs `step` `times` times and returns the most work one run took. */
async function maxWork(
  visits: VisitCounter,
  times: number,
  step: (i: number) => Promise<void>,
): Promise<Work> {
  let most = { visits: 0, lookups: 0 };
  const lookups = countLookups();
  try {
    for (let i = 0; i < times; i++) {
      const before = { visits: visits.visits, lookups: lookups.count() };
      await step(i);
      most = {
        visits: Math.max(most.visits, visits.visits - before.visits),
        lookups: Math.max(most.lookups, lookups.count() - before.lookups),
      };
    }
  } finally {
    lookups.restore();
  }
  return most;
}

/** Asserts that the large scheduler did exactly the small one's (bounded) work per step. */
function assertSameWork(t: TestContext, small: Work, large: Work, what: string): void {
  t.diagnostic(`per ${what}: ${JSON.stringify(small)} small, ${JSON.stringify(large)} large`);
  assert.ok(small.visits <= BOUND, `${small.visits} records visited per ${what}`);
  assert.ok(small.lookups <= BOUND, `${small.lookups} lookups per ${what}`);
  assert.deepEqual(large, small, `work per ${what} at the larger size`);
}

async function closeFleet({ s }: Fleet): Promise<void> {
  await s.scheduler.close();
}

describe('dispatch cost independent of fleet and queue size', { timeout: 120_000 }, () => {
  it('an action finds an idle worker visiting as many records with 50,000 waiting polls as with 1,000', async (t) => {
    const measure = async (n: number, queued: number): Promise<Work> => {
      const f = await fleet(n, n, queued);
      const most = await maxWork(f.visits, 100, async (i) => {
        const op = await f.s.scheduler.submit(
          request(testAction(`run-${i}`, { platform: i % 2 === 0 ? LINUX : GPU }), {
            skipCacheLookup: true,
          }),
        );
        assert.equal(op.stage, 'EXECUTING', 'an idle worker took it at once');
      });
      await closeFleet(f);
      return most;
    };
    const small = await measure(1_000, 100);
    const large = await measure(50_000, 10_000);
    assertSameWork(t, small, large, 'dispatch to an idle worker');
  });

  it('a worker finds its next action visiting as many records behind 10,000 queued actions it cannot run as behind 100', async (t) => {
    const measure = async (n: number, queued: number): Promise<Work> => {
      // The mac actions queued first, in the same principals and builds.
      const f = await fleet(n, 0, queued);
      for (let i = 0; i < 50; i++) {
        await f.s.scheduler.submit(
          request(testAction(`linux-${i}`, { platform: LINUX }), {
            skipCacheLookup: true,
            principal: `p${i % 5}`,
            toolInvocationId: `build-${i % 13}`,
            priority: i % 3,
          }),
        );
      }
      const linux = 'w0'; // PLATFORMS[0]
      let taken = 0;
      const most = await maxWork(f.visits, 50, async () => {
        const { leases } = await f.s.scheduler.takeWork(linux, { maxLeases: 1 });
        taken += leases.length;
        for (const lease of leases) {
          await f.s.scheduler.completeLease(linux, lease.id, {
            status: { code: 13, message: 'not run', details: [] },
          });
        }
      });
      assert.equal(taken, 50);
      await closeFleet(f);
      return most;
    };
    const small = await measure(1_000, 100);
    const large = await measure(50_000, 10_000);
    assertSameWork(t, small, large, 'take by a worker');
  });

  it('a worker leaving or joining visits as many records with 50,000 workers and 10,000 queued actions as with 1,000 and 100', async (t) => {
    const measure = async (n: number, queued: number): Promise<Work> => {
      const f = await fleet(n, n, queued);
      const most = await maxWork(f.visits, 30, async (i) => {
        // Leaving: another worker of its platform remains, so no queued action is touched.
        await f.s.scheduler.unregisterWorker(`w${i}`);
        // Joining (again): no countdowns to stop, an idle poll is not re-indexed.
        await worker(f.s, `w${i}`, PLATFORMS[i % PLATFORMS.length]);
      });
      await closeFleet(f);
      return most;
    };
    const small = await measure(1_000, 100);
    const large = await measure(50_000, 10_000);
    assertSameWork(t, small, large, 'leave and join');
  });

  it('cancelling a queued action visits as many records behind 20,000 queued actions of its build as behind 100', async (t) => {
    const measure = async (queued: number): Promise<Work> => {
      const f = await fleet(3, 0);
      const names: string[] = [];
      for (let i = 0; i < queued; i++) {
        const op = await f.s.scheduler.submit(
          request(testAction(`one-build-${i}`, { platform: MAC }), {
            skipCacheLookup: true,
            toolInvocationId: 'one-build',
          }),
        );
        names.push(op.name);
      }
      // From the middle and the back of the build's queue: an array search would reach them last.
      const victims = [...names.slice(queued / 2, queued / 2 + 25), ...names.slice(-25)];
      const most = await maxWork(f.visits, victims.length, async (i) => {
        const op = await f.s.scheduler.cancelOperation(victims[i] as string);
        assert.equal(op.done, true);
      });
      assert.equal((await f.s.scheduler.stats()).queued, queued - victims.length);
      await closeFleet(f);
      return most;
    };
    assertSameWork(t, await measure(100), await measure(20_000), 'cancellation of a queued action');
  });

  it('queueing an action checks that a worker can run it without going through the 50,000 connected workers', async (t) => {
    const f = await fleet(50_000, 0);
    const SPECIAL: [string, string][] = [['pool', 'special']];
    await worker(f.s, 'special', SPECIAL); // registered last: a scan would find it last
    const most = await maxWork(f.visits, 200, async (i) => {
      const op = await f.s.scheduler.submit(
        request(testAction(`wait-${i}`, { platform: SPECIAL }), { skipCacheLookup: true }),
      );
      assert.equal(op.stage, 'QUEUED');
    });
    t.diagnostic(`per queued action: ${JSON.stringify(most)}`);
    assert.ok(most.visits <= BOUND, `${most.visits} records visited per queued action`);
    assert.ok(most.lookups <= BOUND, `${most.lookups} lookups per queued action`);
    assert.equal((await f.s.scheduler.stats()).queued, 200);
    await closeFleet(f);
  });
});
