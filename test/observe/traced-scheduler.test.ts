/**
 * The scheduler's action spans end however the action ends, not only when
 * a worker reports a result: cancelled while queued, failed for want of a
 * worker, lost too often. Each scenario runs on the in-memory and the
 * PostgreSQL scheduler, wrapped in a TracedScheduler that exports to a
 * small OTLP receiver; a span is received only once it has ended.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import type * as Api from '@opentelemetry/api';
import { TracedScheduler } from '../../src/observe/traced-scheduler.ts';
import { startTracing, type Tracing } from '../../src/observe/tracing.ts';
import type { Scheduler } from '../../src/scheduler/scheduler.ts';
import type { OperationState, SubmitRequest } from '../../src/scheduler/types.ts';
import { ok, request, result, testAction, worker } from '../scheduler/scenario.ts';
import { forEachScheduler } from '../scheduler/scheduler-kinds.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  startOtlpReceiver,
} from '../support/otlp-receiver.ts';

let receiver: OtlpReceiver;
let tracing: Tracing;
before(async () => {
  receiver = await startOtlpReceiver();
  tracing = await startTracing({
    endpoint: receiver.url,
    serviceName: 'kiln-test',
    sampleRatio: 1,
    exportDelayMs: 10,
  });
});
after(async () => {
  await tracing.shutdown();
  await receiver.close();
});

/** Submits under a span of its own (standing for the Execute call's); returns it and the state. */
async function submitTraced(
  traced: Scheduler,
  submission: SubmitRequest,
): Promise<{ state: OperationState; traceId: string }> {
  const { api, tracer } = tracing;
  const rpc: Api.Span = tracer.startSpan('test.execute', {}, api.ROOT_CONTEXT);
  const state = await tracing.with(api.trace.setSpan(api.ROOT_CONTEXT, rpc), () =>
    traced.submit(submission),
  );
  rpc.end();
  return { state, traceId: rpc.spanContext().traceId };
}

/** The spans of `traceId` once `names` have all been received (ended and exported), or a timeout. */
async function endedSpans(traceId: string, names: readonly string[]): Promise<ReceivedSpan[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await tracing.flush();
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    if (names.every((n) => spans.some((s) => s.name === n))) return spans;
    if (Date.now() > deadline) {
      assert.fail(`spans ${names.join(', ')} never ended; got ${spans.map((s) => s.name)}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

function named(spans: readonly ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one ${name}: ${spans.map((s) => s.name).join(', ')}`);
  return found[0] as ReceivedSpan;
}

/** Asserts the action span and its queued span ended with an error saying `reason`. */
function assertEndedWithError(spans: readonly ReceivedSpan[], code: Code, reason: RegExp): void {
  const action = named(spans, 'kiln.action');
  const queued = named(spans, 'kiln.action.queued');
  assert.equal(queued.parentSpanId, action.spanId);
  for (const span of [action, queued]) assert.equal(span.statusCode, 2, `${span.name} is an error`);
  assert.equal(action.attributes['rpc.grpc.status_code'], code);
  assert.match(String(action.attributes['kiln.ended']), reason);
  assert.ok(queued.endNs <= action.endNs);
}

forEachScheduler((kind, scenario) => {
  describe(`action spans end with the action [${kind}]`, { timeout: 30_000 }, () => {
    it('an action cancelled while queued ends its action and queued spans with CANCELLED', async () => {
      const s = await scenario();
      const traced = new TracedScheduler({ scheduler: s.scheduler, tracing });
      const { state, traceId } = await submitTraced(traced, request(testAction('cancelled')));
      assert.equal(state.stage, 'QUEUED');

      await traced.cancelOperation(state.name);

      const spans = await endedSpans(traceId, ['kiln.action', 'kiln.action.queued']);
      assertEndedWithError(spans, Code.CANCELLED, /cancelled/);
      assert.equal(named(spans, 'kiln.action').attributes['kiln.operation'], state.name);
      assert.equal(spans.filter((s) => s.name === 'kiln.action.lease').length, 0);
    });

    it('one of two waiters cancelled: the action goes on, and its spans end with the result', async () => {
      const s = await scenario();
      const traced = new TracedScheduler({ scheduler: s.scheduler, tracing });
      const first = await submitTraced(traced, request(testAction('shared')));
      const second = await submitTraced(traced, request(testAction('shared')));
      await traced.cancelOperation(first.state.name);

      await worker(s, 'w1');
      const lease = (await traced.takeWork('w1')).leases[0];
      assert.ok(lease !== undefined, 'the action is still queued for the second waiter');
      await traced.completeLease('w1', lease.id, ok(result(3)));
      assert.equal((await traced.getOperation(second.state.name)).done, true);

      const spans = await endedSpans(first.traceId, [
        'kiln.action',
        'kiln.action.queued',
        'kiln.action.lease',
      ]);
      const action = named(spans, 'kiln.action');
      assert.equal(action.statusCode, 0, 'not cancelled: it ran');
      assert.equal(action.attributes['kiln.exit_code'], 3);
      assert.equal(named(spans, 'kiln.action.lease').parentSpanId, action.spanId);
    });

    it('an action no worker can run ends its spans with FAILED_PRECONDITION once it gives up', async () => {
      const s = await scenario({ unschedulableTimeoutMs: 30_000 });
      const traced = new TracedScheduler({ scheduler: s.scheduler, tracing });
      const action = testAction('nowhere', { platform: [['OSFamily', 'plan9']] });
      const { state, traceId } = await submitTraced(traced, request(action));
      assert.equal(state.done, false);

      s.clock.advance(30_000);
      assert.equal((await traced.getOperation(state.name)).done, true);

      const spans = await endedSpans(traceId, ['kiln.action', 'kiln.action.queued']);
      assertEndedWithError(spans, Code.FAILED_PRECONDITION, /no connected worker can run/);
    });

    it('an action that fails as it is submitted gets an action span saying why', async () => {
      const s = await scenario({ unschedulableTimeoutMs: 0 });
      await worker(s, 'mac', [['OSFamily', 'macos']]);
      const traced = new TracedScheduler({ scheduler: s.scheduler, tracing });
      const action = testAction('at-once', { platform: [['OSFamily', 'plan9']] });
      const { state, traceId } = await submitTraced(traced, request(action));
      assert.equal(state.done, true);

      const spans = await endedSpans(traceId, ['kiln.action']);
      const span = named(spans, 'kiln.action');
      assert.equal(span.statusCode, 2);
      assert.equal(span.attributes['rpc.grpc.status_code'], Code.FAILED_PRECONDITION);
      assert.match(String(span.attributes['kiln.ended']), /no connected worker can run/);
    });

    it('an action lost too often ends its spans with UNAVAILABLE', async () => {
      const s = await scenario({ maxRetries: 0, leaseGraceMs: 1000 });
      await worker(s, 'w1');
      const traced = new TracedScheduler({ scheduler: s.scheduler, tracing });
      const action = testAction('lost', { timeoutSeconds: 10 });
      const { state, traceId } = await submitTraced(traced, request(action));
      assert.equal((await traced.takeWork('w1')).leases.length, 1);

      s.clock.advance(11_000);
      await traced.heartbeat('w1');
      assert.equal((await traced.getOperation(state.name)).done, true);

      const spans = await endedSpans(traceId, ['kiln.action']);
      const span = named(spans, 'kiln.action');
      assert.equal(span.statusCode, 2);
      assert.equal(span.attributes['rpc.grpc.status_code'], Code.UNAVAILABLE);
      assert.match(String(span.attributes['kiln.ended']), /lost 1 times/);
    });
  });
});
