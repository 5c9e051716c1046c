import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BuildTracker } from '../../src/observe/build-tracker.ts';

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('BuildTracker', () => {
  it('aggregates lookups, executions and failures per tool invocation', () => {
    const time = clock();
    const builds = new BuildTracker({ now: time.now });
    const bazel = {
      invocationId: 'inv-1',
      correlatedInvocationsId: 'ci-7',
      toolName: 'bazel',
      toolVersion: '8.0.0',
    };
    builds.recordCacheLookup(bazel, true);
    builds.recordCacheLookup(bazel, false);
    builds.recordCacheLookup({ invocationId: 'inv-1' }, false);
    builds.recordSubmission({ invocationId: 'inv-1' });
    time.advance(5000);
    builds.recordExecution({ invocationId: 'inv-1' }, { failed: false, executionMs: 300 });
    builds.recordExecution({ invocationId: 'inv-1' }, { failed: true, executionMs: 1200 });

    assert.deepEqual(builds.get('inv-1'), {
      invocationId: 'inv-1',
      correlatedInvocationsId: 'ci-7',
      toolName: 'bazel',
      toolVersion: '8.0.0',
      firstSeenMs: 1_000_000,
      lastSeenMs: 1_005_000,
      actionsExecuted: 2,
      cacheHits: 1,
      cacheMisses: 2,
      failures: 1,
      totalExecutionMs: 1500,
      actionsMeasured: 0,
      totalCpuMs: 0,
      peakMemoryBytes: 0,
      criticalMs: 1200,
      wallMs: 5000,
    });
  });

  it("sums measured executions' CPU time and keeps their largest peak memory", () => {
    const builds = new BuildTracker();
    const who = { invocationId: 'inv-2' };
    const mib = 1024 * 1024;
    builds.recordExecution(who, {
      failed: false,
      executionMs: 900,
      resources: { cpuMs: 750, peakMemoryBytes: 300 * mib },
    });
    builds.recordExecution(who, {
      failed: true,
      executionMs: 400,
      resources: { cpuMs: 250, peakMemoryBytes: 120 * mib },
    });
    builds.recordExecution(who, { failed: false, executionMs: 100 });
    const build = builds.get('inv-2');
    assert.equal(build?.actionsExecuted, 3);
    assert.equal(build?.actionsMeasured, 2, 'the third worker measured nothing');
    assert.equal(build?.totalCpuMs, 1000);
    assert.equal(build?.peakMemoryBytes, 300 * mib);
  });

  it('ignores requests without a tool invocation id', () => {
    const builds = new BuildTracker();
    builds.recordCacheLookup({ invocationId: '' }, true);
    builds.recordExecution({ invocationId: '' }, { failed: true, executionMs: 1 });
    assert.deepEqual(builds.list(), []);
  });

  it('lists the most recently active build first', () => {
    const time = clock();
    const builds = new BuildTracker({ now: time.now });
    for (const id of ['a', 'b', 'c']) {
      builds.recordSubmission({ invocationId: id });
      time.advance(10);
    }
    builds.recordCacheLookup({ invocationId: 'a' }, true);
    assert.deepEqual(
      builds.list().map((b) => b.invocationId),
      ['a', 'c', 'b'],
    );
  });

  it('keeps only the most recent builds, forgetting the least recently active', () => {
    const builds = new BuildTracker({ maxBuilds: 3 });
    for (const id of ['a', 'b', 'c']) builds.recordSubmission({ invocationId: id });
    builds.recordSubmission({ invocationId: 'a' });
    builds.recordSubmission({ invocationId: 'd' });
    assert.equal(builds.list().length, 3);
    assert.equal(builds.get('b'), undefined, 'b was the least recently active');
    assert.ok(builds.get('a'));
    assert.ok(builds.get('d'));
  });

  it('rejects a non-positive bound', () => {
    assert.throws(() => new BuildTracker({ maxBuilds: 0 }), RangeError);
  });
});
