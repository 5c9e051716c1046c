import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { packResourceUsage } from '../../src/execution/resource-usage.ts';
import {
  ActionResult,
  RequestMetadata,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { ResourceUsage } from '../../src/gen/kiln/worker/v1/resource_usage.js';
import { BuildTracker } from '../../src/observe/build-tracker.ts';
import { KilnObserver } from '../../src/observe/kiln-observer.ts';
import { KilnMetrics } from '../../src/observe/metrics.ts';
import { RecentErrors } from '../../src/observe/recent-errors.ts';
import { request, testAction } from '../scheduler/scenario.ts';

function setup() {
  const metrics = new KilnMetrics({ processMetrics: false });
  const builds = new BuildTracker();
  const recentErrors = new RecentErrors();
  const observer = new KilnObserver({ metrics, builds, recentErrors, now: () => 42 });
  return { metrics, builds, recentErrors, observer };
}

function metadataOf(invocation: string): RequestMetadata {
  return RequestMetadata.fromPartial({ toolInvocationId: invocation });
}

describe('KilnObserver', () => {
  it("counts an Execute miss that repeats the same build's GetActionResult miss once", () => {
    const { metrics, builds, observer } = setup();
    const a = testAction('a');
    const lookup = (invocation: string, hit: boolean) =>
      observer.actionCacheLookup({
        instanceName: '',
        actionDigest: a.digest,
        hit,
        requestMetadata: metadataOf(invocation),
      });
    lookup('one', false);
    observer.executeLookup(request(a, { toolInvocationId: 'one' }), false);
    assert.deepEqual(metrics.cacheHitRate(), { hits: 0, misses: 1 });
    assert.equal(builds.get('one')?.cacheMisses, 1);

    // Another build's Execute is its own lookup, and so is a later one of the same build.
    observer.executeLookup(request(a, { toolInvocationId: 'two' }), false);
    observer.executeLookup(request(a, { toolInvocationId: 'one' }), false);
    assert.deepEqual(metrics.cacheHitRate(), { hits: 0, misses: 3 });
    assert.equal(builds.get('one')?.cacheMisses, 2);
    assert.equal(builds.get('two')?.cacheMisses, 1);

    // A hit after a miss counts as a hit.
    lookup('three', false);
    observer.executeLookup(request(a, { toolInvocationId: 'three' }), true);
    assert.deepEqual(builds.get('three'), { ...builds.get('three'), cacheHits: 1, cacheMisses: 1 });
  });

  it('records failed RPCs with the invocation id from their metadata', () => {
    const { recentErrors, observer } = setup();
    const metadata = new Metadata();
    metadata.set(
      'build.bazel.remote.execution.v2.requestmetadata-bin',
      Buffer.from(RequestMetadata.encode(metadataOf('inv-9')).finish()),
    );
    const finished = (code: status, method = 'Write') =>
      observer.rpcFinished({
        service: 'ByteStream',
        method,
        code,
        message: `failed with ${status[code]}`,
        durationMs: 5,
        metadata,
      });
    finished(status.OK);
    finished(status.CANCELLED);
    finished(status.DATA_LOSS);
    assert.deepEqual(recentErrors.list(), [
      {
        timeMs: 42,
        method: 'ByteStream.Write',
        code: 'DATA_LOSS',
        message: 'failed with DATA_LOSS',
        invocationId: 'inv-9',
      },
    ]);
  });

  it('records a failed execution against its build, and a cancelled one not at all', () => {
    const { builds, observer } = setup();
    const complete = (code: status) =>
      observer.executionCompleted({
        lease: leaseOf('inv'),
        completion: { status: { code, message: '', details: [] } },
        queuedAtMs: 0,
        leasedAtMs: 10,
        completedAtMs: 20,
      });
    complete(status.DEADLINE_EXCEEDED);
    complete(status.CANCELLED);
    assert.equal(builds.get('inv')?.actionsExecuted, 1);
    assert.equal(builds.get('inv')?.failures, 1);
  });

  it("adds the CPU time and peak memory of results' ResourceUsage to their build", () => {
    const { builds, observer } = setup();
    const complete = (usage: Partial<ResourceUsage> | undefined) =>
      observer.executionCompleted({
        lease: leaseOf('inv-cpu'),
        completion: {
          status: { code: status.OK, message: '', details: [] },
          result: ActionResult.fromPartial({
            exitCode: 0,
            executionMetadata: {
              auxiliaryMetadata:
                usage === undefined ? [] : [packResourceUsage(ResourceUsage.fromPartial(usage))],
            },
          }),
        },
        queuedAtMs: 0,
        leasedAtMs: 10,
        completedAtMs: 20,
      });
    complete({
      userTime: { seconds: 1, nanos: 500_000_000 },
      systemTime: { seconds: 0, nanos: 250_000_000 },
      peakMemoryBytes: 64 << 20,
    });
    complete({ userTime: { seconds: 2, nanos: 0 }, peakMemoryBytes: 200 << 20 });
    complete(undefined);
    const build = builds.get('inv-cpu');
    assert.equal(build?.actionsExecuted, 3);
    assert.equal(build?.actionsMeasured, 2);
    assert.equal(build?.totalCpuMs, 3750);
    assert.equal(build?.peakMemoryBytes, 200 << 20);
  });
});

/** A running lease of one test action for the build `invocationId`. */
function leaseOf(invocationId: string) {
  const a = testAction('a');
  return {
    id: 'l1',
    workerId: 'w',
    state: 'RUNNING' as const,
    instanceName: '',
    actionDigest: a.digest,
    action: a.action,
    command: a.command,
    timeoutMs: 1000,
    deadlineMs: 0,
    attempt: 1,
    priority: 0,
    toolInvocationId: invocationId,
    correlatedInvocationsId: '',
  };
}
