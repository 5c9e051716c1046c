import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentSet } from '../../src/util/recent-set.ts';

describe('RecentSet', () => {
  it('keeps the most recently added values up to its capacity', () => {
    const s = new RecentSet<string>(3);
    for (const v of ['a', 'b', 'c', 'd']) s.add(v);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((v) => s.has(v)),
      [false, true, true, true],
    );
    // Adding a kept value again makes it the most recent.
    s.add('b');
    s.add('e');
    assert.deepEqual(
      ['b', 'c', 'd', 'e'].map((v) => s.has(v)),
      [true, false, true, true],
    );
    assert.equal(s.size, 3);
  });
});
