import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { executionResult, stageDurations } from '../../src/observe/execution-stages.ts';
import {
  type CompletedExecution,
  type ExecutionObserver,
  ObservedScheduler,
} from '../../src/observe/observed-scheduler.ts';
import { timestampOf } from '../../src/scheduler/responses.ts';
import type { SubmitRequest } from '../../src/scheduler/types.ts';
import { ok, request, result, scenario, testAction, worker } from '../scheduler/scenario.ts';

class RecordingObserver implements ExecutionObserver {
  readonly lookups: Array<{ invocation: string; hit: boolean }> = [];
  readonly submitted: string[] = [];
  readonly completed: CompletedExecution[] = [];

  executeLookup(request: SubmitRequest, hit: boolean): void {
    this.lookups.push({ invocation: request.toolInvocationId, hit });
  }

  executeSubmitted(request: SubmitRequest): void {
    this.submitted.push(request.toolInvocationId);
  }

  executionCompleted(execution: CompletedExecution): void {
    this.completed.push(execution);
  }
}

function observed() {
  const s = scenario();
  const observer = new RecordingObserver();
  const scheduler = new ObservedScheduler({
    scheduler: s.scheduler,
    observer,
    now: () => s.clock.now(),
  });
  return { clock: s.clock, cache: s.cache, base: s, observer, scheduler };
}

describe('ObservedScheduler', () => {
  it('reports when an execution was queued, leased and completed, with its stages', async () => {
    const s = observed();
    await worker(s.base, 'w1');
    const start = s.clock.now();
    const a = testAction('compile');
    await s.scheduler.submit(request(a, { toolInvocationId: 'inv-1' }));
    s.clock.advance(300);
    const { leases } = await s.scheduler.takeWork('w1');
    const [lease] = leases;
    assert.ok(lease && leases.length === 1);
    s.clock.advance(2000);
    const at = (ms: number) => timestampOf(start + ms);
    const res = ActionResult.fromPartial({
      ...result(0),
      executionMetadata: {
        inputFetchStartTimestamp: at(400),
        inputFetchCompletedTimestamp: at(500),
        executionStartTimestamp: at(500),
        executionCompletedTimestamp: at(2100),
        outputUploadStartTimestamp: at(2100),
        outputUploadCompletedTimestamp: at(2250),
      },
    });
    await s.scheduler.completeLease('w1', lease.id, ok(res));

    assert.deepEqual(s.observer.lookups, [{ invocation: 'inv-1', hit: false }]);
    assert.deepEqual(s.observer.submitted, ['inv-1']);
    assert.equal(s.observer.completed.length, 1);
    const [done] = s.observer.completed;
    assert.ok(done);
    assert.equal(done.lease.toolInvocationId, 'inv-1');
    assert.equal(done.queuedAtMs, start);
    assert.equal(done.leasedAtMs, start + 300);
    assert.equal(done.completedAtMs, start + 2300);
    assert.deepEqual(stageDurations(done), {
      queued: 300,
      input_fetch: 100,
      execution: 1600,
      output_upload: 150,
      total: 2300,
    });
    assert.equal(executionResult(done.completion), 'success');
  });

  it('reports an Execute answered from the cache as a hit, and skipped lookups not at all', async () => {
    const s = observed();
    const a = testAction('cached');
    s.cache.results.set(`/${a.digest.key}`, result(0));
    const op = await s.scheduler.submit(request(a, { toolInvocationId: 'inv-2' }));
    assert.equal(op.done, true);
    await s.scheduler.submit(request(a, { toolInvocationId: 'inv-3', skipCacheLookup: true }));
    assert.deepEqual(s.observer.lookups, [{ invocation: 'inv-2', hit: true }]);
    assert.deepEqual(s.observer.submitted, ['inv-3']);
  });

  it('keeps the first queue time for a joined execution', async () => {
    const s = observed();
    await worker(s.base, 'w1');
    const a = testAction('shared');
    const queued = s.clock.now();
    await s.scheduler.submit(request(a, { toolInvocationId: 'first' }));
    s.clock.advance(100);
    await s.scheduler.submit(request(a, { toolInvocationId: 'second' }));
    const [lease] = (await s.scheduler.takeWork('w1')).leases;
    assert.ok(lease);
    await s.scheduler.completeLease('w1', lease.id, ok());
    assert.equal(s.observer.completed.length, 1, 'one execution for both');
    assert.equal(s.observer.completed[0]?.queuedAtMs, queued);
  });

  it('starts a new queue time when an action is submitted again after a cancellation', async () => {
    const s = observed();
    const a = testAction('cancelled');
    const first = await s.scheduler.submit(request(a));
    await s.scheduler.cancelOperation(first.name);
    s.clock.advance(5000);
    const requeued = s.clock.now();
    await s.scheduler.submit(request(a));
    await worker(s.base, 'w1');
    const [lease] = (await s.scheduler.takeWork('w1')).leases;
    assert.ok(lease);
    await s.scheduler.completeLease('w1', lease.id, ok());
    assert.equal(s.observer.completed[0]?.queuedAtMs, requeued);
  });

  it('forgets a lost lease a minute after its deadline', async () => {
    const base = scenario({
      defaultTimeoutMs: 1000,
      leaseGraceMs: 1000,
      maxRetries: 5,
      workerTimeoutMs: 600_000,
    });
    const scheduler = new ObservedScheduler({
      scheduler: base.scheduler,
      observer: new RecordingObserver(),
      now: () => base.clock.now(),
    });
    await worker(base, 'w1');
    await scheduler.submit(request(testAction('lost')));
    const [first] = (await scheduler.takeWork('w1')).leases;
    assert.ok(first);
    assert.equal(scheduler.tracked.leases, 1);

    // The worker never reports back: at the deadline the scheduler gives up and queues it again.
    base.clock.advance(2000 + 60_000 + 1);
    await worker(base, 'w2');
    const [second] = (await scheduler.takeWork('w2')).leases;

    assert.ok(second && second.id !== first.id);
    assert.equal(scheduler.tracked.leases, 1, 'only the live lease is remembered');
  });

  it('classifies results by status and exit code', () => {
    const withStatus = (code: status, exitCode = 0) => ({
      result: result(exitCode),
      status: { code, message: '', details: [] },
    });
    assert.equal(executionResult(withStatus(status.OK)), 'success');
    assert.equal(executionResult(withStatus(status.OK, 2)), 'exit_nonzero');
    assert.equal(executionResult(withStatus(status.DEADLINE_EXCEEDED)), 'timeout');
    assert.equal(executionResult(withStatus(status.CANCELLED)), 'cancelled');
    assert.equal(executionResult(withStatus(status.INTERNAL)), 'error');
  });
});
