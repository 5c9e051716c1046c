import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/scheduler/clock.ts';
import { SequentialIds } from '../../src/scheduler/ids.ts';

describe('FakeClock', { timeout: 10_000 }, () => {
  it('fires due timers in due order with now() at each due time', () => {
    const clock = new FakeClock(1_000);
    const fired: string[] = [];
    clock.setTimer(300, () => fired.push(`b@${clock.now()}`));
    clock.setTimer(100, () => {
      fired.push(`a@${clock.now()}`);
      clock.setTimer(50, () => fired.push(`nested@${clock.now()}`));
    });
    clock.setTimer(300, () => fired.push(`c@${clock.now()}`));
    const cancelled = clock.setTimer(200, () => fired.push('cancelled'));
    cancelled.cancel();

    clock.advance(299);
    assert.deepEqual(fired, ['a@1100', 'nested@1150']);
    clock.advance(1);
    assert.deepEqual(fired, ['a@1100', 'nested@1150', 'b@1300', 'c@1300']);
    assert.equal(clock.now(), 1_300);
    assert.equal(clock.pendingTimers, 0);
  });

  it('refuses to go backwards', () => {
    assert.throws(() => new FakeClock().advance(-1), RangeError);
  });
});

describe('SequentialIds', { timeout: 10_000 }, () => {
  it('counts from 1 with a prefix', () => {
    const ids = new SequentialIds('lease-');
    assert.deepEqual([ids.next(), ids.next()], ['lease-1', 'lease-2']);
  });
});
