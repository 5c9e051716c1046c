import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActionQueue } from '../../src/scheduler/action-queue.ts';
import { Fifo } from '../../src/scheduler/fifo.ts';

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
});
