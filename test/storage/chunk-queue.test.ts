import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkQueue } from '../../src/storage/chunk-queue.ts';

describe('ChunkQueue', () => {
  it('holds at most two chunks besides the consumer’s own, however far the writer runs ahead', async () => {
    const queue = new ChunkQueue(1024);
    let pushed = 0;
    let taken = 0;
    let mostHeld = 0;
    const producer = (async () => {
      for (let i = 0; i < 50; i++) {
        await queue.push(Buffer.alloc(1000, i));
        pushed++;
        mostHeld = Math.max(mostHeld, pushed - taken);
      }
      queue.end();
    })();
    const received: number[] = [];
    for await (const chunk of queue) {
      // A slow consumer: several turns of the event loop per chunk.
      for (let t = 0; t < 5; t++) await new Promise((resolve) => setImmediate(resolve));
      received.push(chunk[0] as number);
      taken++;
    }
    await producer;
    assert.deepEqual(
      received,
      Array.from({ length: 50 }, (_, i) => i),
    );
    // The one the consumer works on, the one ready for it, and the one held back.
    assert.ok(mostHeld <= 3, `held ${mostHeld} chunks`);
  });

  it('keeps the last chunk back until end, so the consumer cannot finish the blob early', async () => {
    const queue = new ChunkQueue(1024);
    const iterator = queue[Symbol.asyncIterator]();
    await queue.push(Buffer.from('first'));
    await queue.push(Buffer.from('last'));
    assert.equal(Buffer.from((await iterator.next()).value as Uint8Array).toString(), 'first');
    let lastArrived = false;
    const next = iterator.next().then((r) => {
      lastArrived = true;
      return r;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lastArrived, false);
    queue.end();
    assert.equal(Buffer.from((await next).value as Uint8Array).toString(), 'last');
    assert.equal((await iterator.next()).done, true);
  });

  it('slices chunks larger than the slice size, without copying them again', async () => {
    const queue = new ChunkQueue(4);
    await queue.push(Buffer.from('abcdefghij'));
    queue.end();
    const slices: string[] = [];
    for await (const chunk of queue) slices.push(Buffer.from(chunk).toString());
    assert.deepEqual(slices, ['abcd', 'efgh', 'ij']);
  });

  it('fail ends the iteration with the error', async () => {
    const queue = new ChunkQueue(1024);
    await queue.push(Buffer.from('x'));
    queue.fail(new Error('aborted'));
    await assert.rejects(
      (async () => {
        for await (const _ of queue) {
          // drain
        }
      })(),
      /aborted/,
    );
  });
});
