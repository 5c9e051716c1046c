import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConcurrencyLimiter } from '../../src/client/concurrency-limiter.ts';

describe('ConcurrencyLimiter', () => {
  it('never runs more tasks at once than its limit, and runs them all', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 3 });
    let running = 0;
    let peak = 0;
    const results = await limiter.map(
      Array.from({ length: 20 }, (_, i) => i),
      async (i) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(2);
        running--;
        return i * 2;
      },
    );
    assert.equal(peak, 3);
    assert.deepEqual(
      results,
      Array.from({ length: 20 }, (_, i) => i * 2),
    );
    assert.equal(limiter.running, 0);
  });

  it('frees the slot of a failed task', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 1 });
    await assert.rejects(
      limiter.run(() => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await limiter.run(async () => 'next'), 'next');
  });

  it('releases an acquired slot only once however often release is called', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 1 });
    const release = await limiter.acquire();
    release();
    release();
    assert.equal(limiter.running, 0);
  });

  it('stops waiting for a slot when the signal aborts, and gives the slot to the next waiter', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 1 });
    const release = await limiter.acquire();
    const abort = new AbortController();
    const abandoned = limiter.acquire(abort.signal);
    const next = limiter.acquire();
    abort.abort(new Error('cancelled'));
    await assert.rejects(abandoned, /cancelled/);
    release();
    const releaseNext = await next;
    assert.equal(limiter.running, 1, 'the slot went to the waiter still waiting');
    releaseNext();
    assert.equal(limiter.running, 0);
    await assert.rejects(
      limiter.acquire(abort.signal),
      /cancelled/,
      'an aborted signal never waits',
    );
  });
});
