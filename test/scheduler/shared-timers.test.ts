/**
 * Timers that do not grow with the fleet or the traffic: however many polls
 * wait, the scheduler holds one clock timer for their deadlines, which fires
 * once per step of time, not once per poll; however many done operations it
 * keeps, one timer expires them. Counted on a clock that counts the timers
 * it is asked for; no timing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type Clock, FakeClock, type TimerHandle } from '../../src/scheduler/clock.ts';
import {
  type DeadlineEntry,
  DeadlineList,
  type DeadlineSlot,
} from '../../src/scheduler/deadline-list.ts';
import { SequentialIds } from '../../src/scheduler/ids.ts';
import { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import { POLL_DEADLINE_STEP_MS } from '../../src/scheduler/lease-polls.ts';
import { RecordingActionCache, request, testAction } from './scenario.ts';

/** A FakeClock that counts the timers set and fired through it. */
function countingClock(): {
  clock: FakeClock;
  counting: Clock;
  set: () => number;
  fired: () => number;
} {
  const clock = new FakeClock();
  let set = 0;
  let fired = 0;
  const counting: Clock = {
    now: () => clock.now(),
    setTimer(ms: number, fn: () => void): TimerHandle {
      set++;
      return clock.setTimer(ms, () => {
        fired++;
        fn();
      });
    },
  };
  return { clock, counting, set: () => set, fired: () => fired };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('long-poll deadlines', () => {
  it('10,000 waiting polls hold one timer, which fires once per step of their deadlines', async () => {
    const { clock, counting, set, fired } = countingClock();
    const scheduler = new InMemoryScheduler({
      actionCache: new RecordingActionCache(),
      clock: counting,
      ids: new SequentialIds(),
      // Liveness timers out of the way: they are one per worker by design.
      policy: { workerTimeoutMs: 3_600_000 },
      pollJitter: 0.1,
    });
    const workers = 10_000;
    for (let i = 0; i < workers; i++) {
      await scheduler.registerWorker({ id: `w${i}`, name: `w${i}`, platform: [], capacity: 1 });
    }
    const pendingBefore = clock.pendingTimers;
    const setBefore = set();
    const start = clock.now();
    const ends: number[] = [];
    for (let i = 0; i < workers; i++) {
      void scheduler.takeWork(`w${i}`, { waitMs: 20_000 }).then(() => ends.push(clock.now()));
    }
    assert.equal(clock.pendingTimers - pendingBefore, 1, 'one timer for 10,000 deadlines');
    // Re-armed only for a poll due before every other: at most once per step of the 2 s of jitter.
    const steps = 2_000 / POLL_DEADLINE_STEP_MS;
    assert.ok(set() - setBefore <= steps, `${set() - setBefore} timers set for 10,000 polls`);

    const firedBefore = fired();
    for (let t = 0; t < 200; t++) {
      clock.advance(100);
      await settle();
    }
    assert.equal(ends.length, workers, 'every poll ended within its 20 s');
    assert.ok(Math.min(...ends) - start > 18_000, 'none before 90% of its wait');
    // The polls end over the last tenth of the wait, one timer callback per step.
    assert.ok(fired() - firedBefore <= steps + 1, `${fired() - firedBefore} timer callbacks`);
    assert.equal(clock.pendingTimers, pendingBefore, 'the deadline timer is gone with the polls');
    await scheduler.close();
  });

  it('a poll ended early (work, abort) takes its deadline with it', async () => {
    const { clock, counting } = countingClock();
    const scheduler = new InMemoryScheduler({
      actionCache: new RecordingActionCache(),
      clock: counting,
      ids: new SequentialIds(),
      policy: { workerTimeoutMs: 3_600_000 },
    });
    await scheduler.registerWorker({ id: 'a', name: 'a', platform: [], capacity: 1 });
    await scheduler.registerWorker({ id: 'b', name: 'b', platform: [], capacity: 1 });
    const liveness = clock.pendingTimers;
    const abort = new AbortController();
    const a = scheduler.takeWork('a', { waitMs: 5_000, signal: abort.signal });
    const b = scheduler.takeWork('b', { waitMs: 250 });
    assert.equal(clock.pendingTimers, liveness + 1);
    abort.abort();
    assert.deepEqual((await a).leases, []);
    clock.advance(249);
    await settle();
    let ended = false;
    void b.then(() => {
      ended = true;
    });
    await settle();
    assert.equal(ended, false, 'a short wait does not end early');
    clock.advance(1);
    await settle();
    assert.equal(ended, true, 'and ends exactly on time');
    assert.equal(clock.pendingTimers, liveness, 'no deadline timer left');
    await scheduler.close();
  });
});

describe('retention of done operations', () => {
  it('1,000 done operations hold one retention timer and still expire one by one, oldest first', async () => {
    const { clock, counting } = countingClock();
    const cache = new RecordingActionCache();
    const scheduler = new InMemoryScheduler({
      actionCache: cache,
      clock: counting,
      ids: new SequentialIds(),
      policy: { completedRetentionMs: 60_000 },
    });
    const names: string[] = [];
    for (let i = 0; i < 1_000; i++) {
      const a = testAction(`done-${i}`);
      cache.results.set(`/${a.digest.key}`, ActionResult.fromPartial({ exitCode: 0 }));
      names.push((await scheduler.submit(request(a))).name);
      clock.advance(10);
    }
    assert.equal(clock.pendingTimers, 1, 'one timer for 1,000 retained operations');
    // The first was done at 0 and the last at 9,990 ms: at 60,005 ms the first is gone, the second not yet.
    clock.advance(60_005 - 10_000);
    await assert.rejects(scheduler.getOperation(names[0] as string), { code: Code.NOT_FOUND });
    assert.equal((await scheduler.getOperation(names[1] as string)).done, true);
    clock.advance(10_000);
    assert.equal((await scheduler.stats()).completedOperations, 0);
    assert.equal(clock.pendingTimers, 0);
    await scheduler.close();
  });
});

class Entry implements DeadlineEntry {
  readonly name: string;
  deadlineSlot: DeadlineSlot<this> | undefined = undefined;
  deadlinePrev: this | undefined = undefined;
  deadlineNext: this | undefined = undefined;
  constructor(name: string) {
    this.name = name;
  }
}

describe('DeadlineList', () => {
  it('calls back in due order, skips removed entries, and takes entries added by a callback', () => {
    const clock = new FakeClock();
    const due: string[] = [];
    const list: DeadlineList<Entry> = new DeadlineList(clock, (e) => {
      due.push(`${e.name}@${clock.now() - start}`);
      if (e.name === 'b') {
        list.remove(c2 as Entry); // same slot, not yet called
        list.add(new Entry('late'), clock.now() + 5);
        list.add(new Entry('now'), clock.now());
      }
    });
    const start = clock.now();
    const [a, b, c1, c2, d] = ['a', 'b', 'c1', 'c2', 'd'].map((n) => new Entry(n)) as Entry[];
    list.add(d as Entry, start + 40);
    list.add(b as Entry, start + 20);
    list.add(c1 as Entry, start + 20);
    list.add(c2 as Entry, start + 20);
    list.add(a as Entry, start + 10);
    list.remove(a as Entry);
    list.remove(a as Entry); // harmless twice
    assert.equal(clock.pendingTimers, 1);
    clock.advance(100);
    assert.deepEqual(due, ['b@20', 'c1@20', 'now@20', 'late@25', 'd@40']);
    assert.equal(list.size, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('keeps one slot per due time, however often entries come and go', () => {
    const clock = new FakeClock();
    const list = new DeadlineList<Entry>(clock, () => {});
    const keep = new Entry('keep');
    list.add(keep, clock.now() + 1_000);
    for (let i = 0; i < 10_000; i++) {
      const e = new Entry(`e${i}`);
      list.add(e, clock.now() + 500);
      list.remove(e);
    }
    assert.equal(list.slots, 2);
    assert.equal(clock.pendingTimers, 1);
    list.clear();
    assert.equal(list.slots, 0);
    assert.equal(clock.pendingTimers, 0);
  });
});
