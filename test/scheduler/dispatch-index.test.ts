/**
 * The dispatch indexes (queued actions by required platform, waiting polls
 * and connected workers by offered platform) keep the scheduler's rules:
 * platform matching with workers that offer more than required, priority
 * and fairness across platform queues, holds, parked polls, re-registration,
 * unschedulable countdowns per platform, staggered poll expiry and one
 * liveness timer per worker per timeout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import { type Clock, FakeClock, type TimerHandle } from '../../src/scheduler/clock.ts';
import { SequentialIds } from '../../src/scheduler/ids.ts';
import { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import { offeredSet, requirementOf } from '../../src/scheduler/platform.ts';
import { PlatformQueues } from '../../src/scheduler/platform-queues.ts';
import { Rotation } from '../../src/scheduler/rotation.ts';
import {
  ok,
  outcome,
  RecordingActionCache,
  request,
  scenario,
  testAction,
  worker,
} from './scenario.ts';

const LINUX: [string, string][] = [['OSFamily', 'linux']];
const GPU: [string, string][] = [
  ['OSFamily', 'linux'],
  ['gpu', 'yes'],
];
const MAC: [string, string][] = [['OSFamily', 'macos']];

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function track<T>(p: Promise<T>): { done: () => boolean; value: Promise<T> } {
  let finished = false;
  const value = p.finally(() => {
    finished = true;
  });
  return { done: () => finished, value };
}

const req = (pairs: [string, string][]) =>
  requirementOf(pairs.map(([name, value]) => ({ name, value })));
const offer = (pairs: [string, string][]) =>
  offeredSet(pairs.map(([name, value]) => ({ name, value })));

describe('Rotation', { timeout: 10_000 }, () => {
  it('keeps Map order: a new key goes to the back, a present key keeps its place, delete and set moves it back', () => {
    const r = new Rotation<string, number>();
    r.set('a', 1).set('b', 2).set('c', 3);
    r.set('a', 10);
    assert.deepEqual(
      [...r],
      [
        ['a', 10],
        ['b', 2],
        ['c', 3],
      ],
    );
    r.delete('a');
    r.set('a', 11);
    assert.equal(r.first(), 2);
    for (const [key] of r) if (key === 'c') r.delete(key);
    assert.deepEqual([...r.values()], [2, 11]);
    assert.equal(r.size, 2);
    assert.equal(r.delete('zzz'), false);
    r.delete('b');
    r.delete('a');
    assert.deepEqual([r.size, r.first(), [...r]], [0, undefined, []]);
  });
});

describe('PlatformQueues', { timeout: 10_000 }, () => {
  it('a worker takes only from queues it satisfies, including those of a subset of its platform', () => {
    const q = new PlatformQueues<string>();
    q.push('mac-1', { priority: 0, invocationId: '' }, req(MAC));
    q.push('linux-1', { priority: 0, invocationId: '' }, req(LINUX));
    q.push('gpu-1', { priority: 0, invocationId: '' }, req(GPU));
    q.push('any-1', { priority: 0, invocationId: '' }, req([]));

    assert.equal(q.hasWorkFor(offer([['OSFamily', 'windows']])), true, 'anyone runs any-1');
    assert.deepEqual(
      [q.take(offer(LINUX)), q.take(offer(LINUX)), q.take(offer(LINUX))],
      ['linux-1', 'any-1', undefined],
    );
    assert.equal(q.take(offer(GPU)), 'gpu-1');
    assert.equal(q.hasWorkFor(offer(GPU)), false);
    assert.equal(q.take(offer(MAC)), 'mac-1');
    assert.equal(q.size, 0);
  });

  it('across platforms: lowest priority value first, then the item queued first; retries go ahead', () => {
    const q = new PlatformQueues<string>();
    const gpu = offer(GPU);
    q.push('linux-old', { priority: 0, invocationId: '' }, req(LINUX));
    q.push('gpu-urgent', { priority: -1, invocationId: '' }, req(GPU));
    q.push('gpu-new', { priority: 0, invocationId: '' }, req(GPU));
    q.push('linux-new', { priority: 0, invocationId: '' }, req(LINUX));
    q.push('gpu-retry', { priority: 0, invocationId: '' }, req(GPU), { front: true });

    assert.deepEqual(
      [q.take(gpu), q.take(gpu), q.take(gpu), q.take(gpu), q.take(gpu)],
      ['gpu-urgent', 'gpu-retry', 'linux-old', 'gpu-new', 'linux-new'],
    );
  });

  it('keeps round-robin between principals and builds within one platform', () => {
    const q = new PlatformQueues<string>();
    const linux = req(LINUX);
    for (const x of ['a1', 'a2', 'a3']) {
      q.push(x, { priority: 0, principal: 'a', invocationId: 'x' }, linux);
    }
    q.push('a-y1', { priority: 0, principal: 'a', invocationId: 'y' }, linux);
    q.push('b1', { priority: 0, principal: 'b', invocationId: '' }, linux);
    const w = offer(LINUX);

    assert.deepEqual(
      [q.take(w), q.take(w), q.take(w), q.take(w), q.take(w)],
      ['a1', 'b1', 'a-y1', 'a2', 'a3'],
    );
  });

  it('a hold applies to every platform queue, also one created while held', () => {
    const q = new PlatformQueues<string>();
    q.push('a-linux', { priority: 0, principal: 'a', invocationId: '' }, req(LINUX));
    q.hold('a');
    q.push('a-gpu', { priority: 0, principal: 'a', invocationId: '' }, req(GPU));
    q.push('b-gpu', { priority: 1, principal: 'b', invocationId: '' }, req(GPU));

    assert.equal(q.take(offer(GPU)), 'b-gpu');
    assert.equal(q.take(offer(GPU)), undefined);
    assert.equal(q.countOf('a'), 2);
    assert.equal(q.release('a'), true);
    assert.deepEqual([q.take(offer(GPU)), q.take(offer(GPU))], ['a-linux', 'a-gpu']);
  });
});

describe('dispatch indexes in the scheduler', { timeout: 10_000 }, () => {
  it('an idle worker offering more than an action requires gets it; the longest-waiting capable poll wins', async () => {
    const s = scenario();
    await worker(s, 'mac', MAC);
    await worker(s, 'gpu', GPU);
    await worker(s, 'linux', LINUX);
    const mac = track(s.scheduler.takeWork('mac', { waitMs: 60_000 }));
    const gpu = track(s.scheduler.takeWork('gpu', { waitMs: 60_000 }));
    const linux = track(s.scheduler.takeWork('linux', { waitMs: 60_000 }));

    await s.scheduler.submit(request(testAction('first', { platform: LINUX })));
    await s.scheduler.submit(request(testAction('second', { platform: LINUX })));
    await settle();

    assert.deepEqual([mac.done(), gpu.done(), linux.done()], [false, true, true]);
    assert.equal((await gpu.value).leases[0]?.actionDigest.key, testAction('first').digest.key);
    await s.scheduler.close();
  });

  it("a full worker's poll is parked, and served when its lease completes", async () => {
    const s = scenario();
    await worker(s, 'w1', LINUX, 1);
    await s.scheduler.submit(request(testAction('a', { platform: LINUX })));
    const [held] = (await s.scheduler.takeWork('w1')).leases;
    const poll = track(s.scheduler.takeWork('w1', { waitMs: 60_000 }));

    const b = await s.scheduler.submit(request(testAction('b', { platform: LINUX })));
    await settle();
    assert.equal(poll.done(), false, 'no free capacity: nothing leased');
    assert.equal(b.stage, 'QUEUED');

    await s.scheduler.completeLease('w1', held?.id ?? '', ok());
    const { leases } = await poll.value;
    assert.equal(leases[0]?.actionDigest.key, testAction('b').digest.key);
    await s.scheduler.close();
  });

  it('a worker that registers again with another platform is served as the new platform', async () => {
    const s = scenario();
    await worker(s, 'w1', LINUX);
    const poll = track(s.scheduler.takeWork('w1', { waitMs: 60_000 }));
    await worker(s, 'w1', MAC);

    await s.scheduler.submit(request(testAction('linux-job', { platform: LINUX })));
    await settle();
    assert.equal(poll.done(), false);
    await s.scheduler.submit(request(testAction('mac-job', { platform: MAC })));
    assert.equal((await poll.value).leases[0]?.actionDigest.key, testAction('mac-job').digest.key);
    await s.scheduler.close();
  });

  it('only the last worker able to run an action starts its unschedulable countdown when it leaves', async () => {
    const s = scenario({ unschedulableTimeoutMs: 10_000 });
    await worker(s, 'gpu', GPU);
    await worker(s, 'linux', LINUX);
    await worker(s, 'mac', MAC);
    const linuxOp = await s.scheduler.submit(request(testAction('l', { platform: LINUX })));
    const macOp = await s.scheduler.submit(request(testAction('m', { platform: MAC })));
    const gpuOp = await s.scheduler.submit(request(testAction('g', { platform: GPU })));

    await s.scheduler.unregisterWorker('gpu');
    await s.scheduler.unregisterWorker('linux');
    s.clock.advance(5_000);
    await worker(s, 'gpu-2', GPU); // stops the countdowns of both linux and gpu actions
    s.clock.advance(5_000);
    await s.scheduler.unregisterWorker('gpu-2');
    s.clock.advance(9_999);
    const [l, m, g] = await Promise.all(
      [linuxOp, macOp, gpuOp].map((op) => s.scheduler.getOperation(op.name)),
    );
    assert.deepEqual([l?.done, m?.done, g?.done], [false, false, false]);

    s.clock.advance(1);
    const failed = await s.scheduler.getOperation(linuxOp.name);
    assert.equal(outcome(failed).code, Code.FAILED_PRECONDITION);
    assert.match(outcome(failed).message ?? '', /\{OSFamily=macos\} \(mac\)/);
    assert.equal((await s.scheduler.getOperation(macOp.name)).done, false);
    await s.scheduler.close();
  });

  it('polls of workers that started together end spread over the last tenth of their wait', async () => {
    const ends = async (jitter: number): Promise<Map<number, number>> => {
      const s = scenario({ workerTimeoutMs: 600_000 }, { pollJitter: jitter });
      let now = 0;
      for (let i = 0; i < 1_000; i++) {
        await worker(s, `w${i}`);
        void s.scheduler.takeWork(`w${i}`, { waitMs: 20_000 }).then(() => {
          now++;
        });
      }
      const byStep = new Map<number, number>();
      let ended = 0;
      for (let step = 1; step <= 200; step++) {
        s.clock.advance(100);
        await settle();
        if (now > ended) byStep.set(step * 100, now - ended);
        ended = now;
      }
      assert.equal(ended, 1_000, 'every poll ended within its wait');
      await s.scheduler.close();
      return byStep;
    };

    assert.deepEqual([...(await ends(0))], [[20_000, 1_000]], 'without jitter: all at once');
    const spread = await ends(0.1);
    assert.ok(Math.min(...spread.keys()) > 18_000, 'none ends before 90% of its wait');
    assert.ok(spread.size >= 19, `ended over ${spread.size} steps of 100 ms`);
    assert.ok(Math.max(...spread.values()) <= 100, 'no step ends more than a tenth of the fleet');
  });

  it('a worker calling every second costs one liveness timer per timeout, not one per call', async () => {
    const clock = new FakeClock();
    let timers = 0;
    const counting: Clock = {
      now: () => clock.now(),
      setTimer(ms: number, fn: () => void): TimerHandle {
        timers++;
        return clock.setTimer(ms, fn);
      },
    };
    const scheduler = new InMemoryScheduler({
      actionCache: new RecordingActionCache(),
      clock: counting,
      ids: new SequentialIds(),
      policy: { workerTimeoutMs: 60_000 },
    });
    for (let i = 0; i < 100; i++) {
      await scheduler.registerWorker({ id: `w${i}`, name: `w${i}`, platform: [], capacity: 1 });
    }
    for (let second = 0; second < 180; second++) {
      clock.advance(1_000);
      for (let i = 0; i < 100; i++) await scheduler.heartbeat(`w${i}`);
    }
    assert.equal((await scheduler.listWorkers()).length, 100, 'all alive');
    assert.ok(timers <= 100 * 4, `${timers} timers for 18,000 heartbeats`);

    clock.advance(60_000);
    assert.equal((await scheduler.listWorkers()).length, 0, 'silent workers are gone on time');
    await scheduler.close();
  });
});
