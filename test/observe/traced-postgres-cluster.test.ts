/**
 * Tracing across frontends that share one PostgreSQL scheduler: two
 * PostgresScheduler instances on one schema stand for two Kiln processes,
 * each wrapped in a TracedScheduler with a tracing of its own (its own
 * service name), both exporting to one small OTLP receiver. An action
 * queued through one and leased or cancelled through the other stays one
 * trace, and the submitter's spans end with it. Real clock, real
 * PostgreSQL (required under CI=true).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import { TracedScheduler } from '../../src/observe/traced-scheduler.ts';
import { startTracing, type Tracing } from '../../src/observe/tracing.ts';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import type { OperationState, SubmitRequest } from '../../src/scheduler/types.ts';
import { ok, RecordingActionCache, request, result, testAction } from '../scheduler/scenario.ts';
import { freshSchema, postgresAvailable, sharedPostgres } from '../scheduler/scheduler-kinds.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  startOtlpReceiver,
} from '../support/otlp-receiver.ts';
import type { PostgresServer } from '../support/postgres-server.ts';

const available = await postgresAvailable();

describe('tracing across frontends on one PostgreSQL scheduler', {
  skip: !available,
  timeout: 60_000,
}, () => {
  let pg: PostgresServer;
  let receiver: OtlpReceiver;
  const tracings: Tracing[] = [];
  const open: TracedScheduler[] = [];

  before(async () => {
    pg = await sharedPostgres();
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    for (const s of open) await s.close();
    for (const t of tracings) await t.shutdown();
    await receiver?.close();
    await pg?.stop();
  });

  /** A frontend on `schema`: a traced PostgreSQL scheduler, as one process would open it. */
  async function frontend(schema: string, service: string): Promise<[TracedScheduler, Tracing]> {
    const tracing = await startTracing({
      endpoint: receiver.url,
      serviceName: service,
      sampleRatio: 1,
      exportDelayMs: 10,
    });
    tracings.push(tracing);
    const scheduler = await PostgresScheduler.open({
      url: pg.url,
      schema,
      poolSize: 4,
      actionCache: new RecordingActionCache(),
    });
    const traced = new TracedScheduler({ scheduler, tracing });
    open.push(traced);
    return [traced, tracing];
  }

  /** Submits through `a` under a span standing for its Execute call. */
  async function submitTraced(
    traced: TracedScheduler,
    tracing: Tracing,
    submission: SubmitRequest,
  ): Promise<{ state: OperationState; traceId: string; rpcSpanId: string }> {
    const { api, tracer } = tracing;
    const rpc = tracer.startSpan('test.execute', {}, api.ROOT_CONTEXT);
    const state = await tracing.with(api.trace.setSpan(api.ROOT_CONTEXT, rpc), () =>
      traced.submit(submission),
    );
    rpc.end();
    const { traceId, spanId } = rpc.spanContext();
    return { state, traceId, rpcSpanId: spanId };
  }

  /** The spans of `traceId` once every one named in `wanted` (`service/name`) was received. */
  async function ended(traceId: string, wanted: readonly string[]): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      await Promise.all(tracings.map((t) => t.flush()));
      const spans = receiver.spans.filter((s) => s.traceId === traceId);
      const have = new Set(spans.map((s) => `${s.service}/${s.name}`));
      if (wanted.every((w) => have.has(w))) return spans;
      if (Date.now() > deadline) assert.fail(`never received ${wanted} in ${[...have]}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function one(spans: readonly ReceivedSpan[], service: string, name: string): ReceivedSpan {
    const found = spans.filter((s) => s.service === service && s.name === name);
    assert.equal(found.length, 1, `one ${service}/${name}`);
    return found[0] as ReceivedSpan;
  }

  it('a lease claimed through another frontend continues the submitter’s trace', async () => {
    const schema = freshSchema();
    const [a, tracingA] = await frontend(schema, 'frontend-a');
    const [b] = await frontend(schema, 'frontend-b');
    const { state, traceId, rpcSpanId } = await submitTraced(
      a,
      tracingA,
      request(testAction('across')),
    );
    assert.equal(state.stage, 'QUEUED');

    await b.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    const lease = (await b.takeWork('w1')).leases[0];
    assert.ok(lease !== undefined);
    // The worker gets B's lease span, in A's trace.
    assert.equal(lease.traceparent?.split('-')[1], traceId);
    await b.completeLease('w1', lease.id, ok(result(0)));

    const spans = await ended(traceId, [
      'frontend-a/kiln.action',
      'frontend-a/kiln.action.queued',
      'frontend-b/kiln.action.lease',
    ]);
    const action = one(spans, 'frontend-a', 'kiln.action');
    const queued = one(spans, 'frontend-a', 'kiln.action.queued');
    const leaseSpan = one(spans, 'frontend-b', 'kiln.action.lease');
    assert.equal(action.parentSpanId, rpcSpanId);
    assert.equal(queued.parentSpanId, action.spanId);
    assert.equal(leaseSpan.parentSpanId, action.spanId, 'B’s lease span is a child of A’s action');
    assert.equal(lease.traceparent?.split('-')[2], leaseSpan.spanId);
    // A learnt the outcome through the shared tables: its spans end, not in error.
    assert.equal(action.statusCode, 0);
    assert.equal(action.attributes['rpc.grpc.status_code'], Code.OK);
    assert.equal(queued.statusCode, 0, 'it left the queue for a worker');
    assert.equal(leaseSpan.attributes['kiln.exit_code'], 0);
    assert.equal(
      spans.filter((s) => s.name === 'kiln.action').length,
      1,
      'B started no action span of its own',
    );
  });

  it('an Execute joining through another frontend points at the queueing trace, with no action span of its own', async () => {
    const schema = freshSchema();
    const [a, tracingA] = await frontend(schema, 'frontend-a');
    const [b, tracingB] = await frontend(schema, 'frontend-b');
    const action = testAction('joined-elsewhere');
    const first = await submitTraced(a, tracingA, request(action));
    const second = await submitTraced(b, tracingB, request(action));
    assert.notEqual(second.state.name, first.state.name);
    assert.equal(second.state.joined !== undefined, true, 'B joined A’s execution');

    const [rpc] = (await ended(second.traceId, ['frontend-b/test.execute'])).filter(
      (s) => s.name === 'test.execute',
    );
    assert.ok(rpc);
    const at = rpc.events.indexOf('joined an execution in flight');
    assert.ok(at >= 0, `events: ${rpc.events}`);
    // The ids of A's action span, from the context stored with the queued action.
    await b.cancelOperation(second.state.name);
    const cancelled = await a.cancelOperation(first.state.name);
    assert.equal(cancelled.response?.status?.code, Code.CANCELLED);
    const aSpans = await ended(first.traceId, ['frontend-a/kiln.action']);
    const aAction = one(aSpans, 'frontend-a', 'kiln.action');
    assert.deepEqual(rpc.eventAttributes[at], {
      'kiln.joined_trace_id': first.traceId,
      'kiln.joined_span_id': aAction.spanId,
    });
    await Promise.all(tracings.map((t) => t.flush()));
    assert.equal(
      receiver.spans.filter((s) => s.traceId === second.traceId && s.name === 'kiln.action').length,
      0,
      'B started no action span of its own',
    );
  });

  it('an action cancelled through another frontend while queued ends the submitter’s spans', async () => {
    const schema = freshSchema();
    const [a, tracingA] = await frontend(schema, 'frontend-a');
    const [b] = await frontend(schema, 'frontend-b');
    const { state, traceId } = await submitTraced(a, tracingA, request(testAction('stopped')));

    const cancelled = await b.cancelOperation(state.name);
    assert.equal(cancelled.response?.status?.code, Code.CANCELLED);

    const spans = await ended(traceId, ['frontend-a/kiln.action', 'frontend-a/kiln.action.queued']);
    const action = one(spans, 'frontend-a', 'kiln.action');
    const queued = one(spans, 'frontend-a', 'kiln.action.queued');
    for (const span of [action, queued]) assert.equal(span.statusCode, 2, span.name);
    assert.equal(action.attributes['rpc.grpc.status_code'], Code.CANCELLED);
    assert.match(String(action.attributes['kiln.ended']), /cancelled/);
  });
});
