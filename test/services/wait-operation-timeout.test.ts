import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { WaitOperationRequest } from '../../src/gen/google/longrunning/operations.js';
import { MAX_TIMER_DELAY_MS, timerDelayMs } from '../../src/util/timer-delay.ts';
import { request, testAction } from '../scheduler/scenario.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

describe('WaitOperation with a timeout longer than a Node timer holds', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ scheduler: { unschedulableTimeoutMs: 3_600_000 } });
  });
  after(() => t.stop());

  it('keeps waiting on an operation that is not done, without a TimeoutOverflowWarning', async () => {
    const scheduler = t.scheduler;
    assert.ok(scheduler);
    const op = await scheduler.submit(request(testAction('waits-35-days')));
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const req: WaitOperationRequest = { name: op.name, timeout: { seconds: 3e6, nanos: 0 } };
      let settled: string | undefined;
      const waiting = t.clients.operations.waitOperation(req, (err, res) => {
        settled = err ? `error ${status[err.code]}` : `answered done=${res?.done}`;
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(settled, undefined, 'a 35-day wait must still be waiting after 300 ms');
      waiting.cancel();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        warnings.filter((w) => w.name === 'TimeoutOverflowWarning').map((w) => w.message),
        [],
      );
    } finally {
      process.off('warning', onWarning);
      await scheduler.cancelOperation(op.name);
    }
  });
});

describe('timerDelayMs', () => {
  it('caps delays at the longest Node timer and floors them at zero', () => {
    assert.equal(timerDelayMs(3e9), MAX_TIMER_DELAY_MS);
    assert.equal(timerDelayMs(Number.POSITIVE_INFINITY), MAX_TIMER_DELAY_MS);
    assert.equal(timerDelayMs(1500), 1500);
    assert.equal(timerDelayMs(-5), 0);
    assert.equal(timerDelayMs(Number.NaN), 0);
  });
});
