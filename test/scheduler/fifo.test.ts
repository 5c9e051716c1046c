import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActionQueue } from '../../src/scheduler/action-queue.ts';
import { Fifo } from '../../src/scheduler/fifo.ts';
import { visitCounter } from '../../src/scheduler/visit-counter.ts';

describe('Fifo', () => {
  it('keeps order through front removals, compaction, front insertion and removal from the middle', () => {
    const fifo = new Fifo<number>();
    for (let i = 0; i < 3000; i++) fifo.push(i);
    for (let i = 0; i < 2000; i++)
      assert.equal(
        fifo.take(() => true),
        i,
      );
    fifo.unshift(-1);
    assert.equal(fifo.remove(2500), true);
    assert.equal(fifo.remove(2500), false);
    assert.equal(
      fifo.take((n) => n % 7 === 0 && n > 2000),
      2002,
    );

    const rest = [...fifo];
    assert.equal(fifo.length, rest.length);
    assert.deepEqual(rest.slice(0, 3), [-1, 2000, 2001]);
    assert.equal(rest.length, 1 + 1000 - 2);
    assert.ok(!rest.includes(2500) && !rest.includes(2002));
  });

  it('an emptied fifo starts over', () => {
    const fifo = new Fifo<string>();
    fifo.push('a');
    assert.equal(fifo.remove('a'), true);
    fifo.unshift('b');
    fifo.push('c');
    assert.deepEqual([...fifo], ['b', 'c']);
    assert.equal(
      fifo.take(() => false),
      undefined,
    );
  });

  it('draining one build of 100,000 queued actions takes linear time, not quadratic', () => {
    // With array shift()/splice(0, 1) this took over ten seconds on a 2-core machine; now well under one.
    const q = new ActionQueue<{ i: number }>();
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) q.push({ i }, { priority: 0, invocationId: 'one-build' });
    let taken = 0;
    while (q.take(() => true) !== undefined) taken++;
    const ms = performance.now() - started;
    assert.equal(taken, 100_000);
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  });

  it('removal from anywhere looks at one record, however long the fifo', () => {
    const visitsToRemove = (length: number): number => {
      const visits = visitCounter();
      const fifo = new Fifo<{ i: number }>(visits);
      const items = Array.from({ length }, (_, i) => ({ i }));
      for (const item of items) fifo.push(item);
      const before = visits.visits;
      // The middle, the back and the front, and one that is not there.
      assert.equal(fifo.remove(items[length / 2] as { i: number }), true);
      assert.equal(fifo.remove(items[length - 1] as { i: number }), true);
      assert.equal(fifo.remove(items[0] as { i: number }), true);
      assert.equal(fifo.remove({ i: -1 }), false);
      assert.equal(fifo.length, length - 3);
      return visits.visits - before;
    };
    assert.equal(visitsToRemove(100), 3);
    assert.equal(visitsToRemove(100_000), 3);
  });

  it('an action queue cancels from one build of 100,000 in one visit', () => {
    const visits = visitCounter();
    const q = new ActionQueue<{ i: number }>(visits);
    const items = Array.from({ length: 100_000 }, (_, i) => ({ i }));
    for (const item of items) q.push(item, { priority: 0, invocationId: 'one-build' });
    const before = visits.visits;
    assert.equal(q.remove(items[99_999] as { i: number }), true);
    assert.equal(q.remove(items[50_000] as { i: number }), true);
    assert.equal(visits.visits - before, 2);
    assert.equal(
      q.take(() => true),
      items[0],
    );
    assert.equal(q.size, 99_997);
  });

  it('refuses an item twice, so removal by item stays unambiguous', () => {
    const fifo = new Fifo<string>();
    fifo.push('a');
    assert.throws(() => fifo.unshift('a'), /already/);
  });
});
