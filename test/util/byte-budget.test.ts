import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { ByteBudget } from '../../src/util/byte-budget.ts';

const budget = (maxBytes = 100, maxWaitMs = 1000) =>
  new ByteBudget({ name: 'test decompression', maxBytes, maxWaitMs });

describe('ByteBudget', () => {
  it('grants at once what fits and gives it back once, however often release is called', async () => {
    const b = budget();
    const release = await b.acquire(60);
    const other = await b.acquire(40);
    assert.equal(b.inUse, 100);
    release();
    release();
    assert.equal(b.inUse, 40);
    other();
    assert.equal(b.inUse, 0);
  });

  it('serves waiters in arrival order when bytes come back', async () => {
    const b = budget();
    const held = await b.acquire(100);
    const order: string[] = [];
    const granted = (name: string) => (release: () => void) => {
      order.push(name);
      return release;
    };
    const big = b.acquire(80).then(granted('big'));
    const small = b.acquire(10).then(granted('small'));
    await sleep(10);
    assert.equal(b.waiting, 2);
    held();
    const [releaseBig, releaseSmall] = await Promise.all([big, small]);
    assert.deepEqual(order, ['big', 'small']);
    assert.equal(b.inUse, 90);
    releaseBig();
    releaseSmall();
    assert.equal(b.inUse, 0);
  });

  it('does not let a newcomer pass a waiter that does not fit yet', async () => {
    const b = budget();
    const held = await b.acquire(50);
    const big = b.acquire(80);
    let smallDone = false;
    const small = b.acquire(10).then((r) => {
      smallDone = true;
      return r;
    });
    await sleep(10);
    assert.equal(smallDone, false);
    held();
    (await big)();
    (await small)();
    assert.equal(b.inUse, 0);
  });

  it('answers RESOURCE_EXHAUSTED when the wait runs out, and lets later waiters through', async () => {
    const b = budget(100, 50);
    const held = await b.acquire(30);
    const started = performance.now();
    const big = b.acquire(80);
    const small = b.acquire(20);
    await assert.rejects(big, (err: { code: number; message: string }) => {
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.match(err.message, /^test decompression: waited 50 ms for 80 bytes/);
      return true;
    });
    assert.ok(performance.now() - started >= 45);
    (await small)();
    held();
    assert.equal(b.inUse, 0);
    assert.equal(b.waiting, 0);
  });

  it('answers RESOURCE_EXHAUSTED at once for more than the whole budget', async () => {
    await assert.rejects(budget(100).acquire(101), (err: { code: number; message: string }) => {
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.match(err.message, /can never fit/);
      return true;
    });
  });

  it('stops waiting when the signal aborts', async () => {
    const b = budget();
    const held = await b.acquire(100);
    const controller = new AbortController();
    const waiting = b.acquire(10, controller.signal);
    controller.abort(new Error('cancelled'));
    await assert.rejects(waiting, /cancelled/);
    assert.equal(b.waiting, 0);
    held();
    assert.equal(b.inUse, 0);
  });

  it('gives the bytes back when the work fails', async () => {
    const b = budget();
    await assert.rejects(
      b.use(70, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(b.inUse, 0);
    assert.equal(await b.use(70, async () => 'done'), 'done');
    assert.equal(b.inUse, 0);
  });
});
