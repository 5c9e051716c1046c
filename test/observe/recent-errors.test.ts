import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { isNotableFailure, RecentErrors } from '../../src/observe/recent-errors.ts';

function error(n: number) {
  return {
    timeMs: n,
    method: 'ByteStream.Write',
    code: 'INTERNAL',
    message: `e${n}`,
    invocationId: '',
  };
}

describe('RecentErrors', () => {
  it('lists failures most recent first', () => {
    const errors = new RecentErrors({ capacity: 5 });
    for (let i = 1; i <= 3; i++) errors.record(error(i));
    assert.deepEqual(
      errors.list().map((e) => e.timeMs),
      [3, 2, 1],
    );
  });

  it('keeps only the latest failures once the ring is full', () => {
    const errors = new RecentErrors({ capacity: 3 });
    for (let i = 1; i <= 7; i++) errors.record(error(i));
    assert.deepEqual(
      errors.list().map((e) => e.message),
      ['e7', 'e6', 'e5'],
    );
  });

  it('holds 100 failures by default', () => {
    const errors = new RecentErrors();
    for (let i = 0; i < 250; i++) errors.record(error(i));
    const list = errors.list();
    assert.equal(list.length, 100);
    assert.equal(list[0]?.timeMs, 249);
    assert.equal(list[99]?.timeMs, 150);
  });
});

describe('isNotableFailure', () => {
  it('records server-side failures and client errors', () => {
    for (const code of [
      status.INTERNAL,
      status.UNAVAILABLE,
      status.RESOURCE_EXHAUSTED,
      status.DATA_LOSS,
      status.UNKNOWN,
      status.FAILED_PRECONDITION,
      status.INVALID_ARGUMENT,
    ]) {
      assert.equal(isNotableFailure('Execution.Execute', code), true, status[code]);
    }
    assert.equal(isNotableFailure('ByteStream.Read', status.NOT_FOUND), true);
  });

  it('leaves out successes, cancellations and cache misses', () => {
    assert.equal(isNotableFailure('ContentAddressableStorage.FindMissingBlobs', status.OK), false);
    assert.equal(isNotableFailure('Execution.Execute', status.CANCELLED), false);
    assert.equal(isNotableFailure('ActionCache.GetActionResult', status.NOT_FOUND), false);
    assert.equal(isNotableFailure('Fetch.FetchBlob', status.NOT_FOUND), false);
  });
});
