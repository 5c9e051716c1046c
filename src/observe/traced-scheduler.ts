/**
 * A Scheduler decorator that traces each action's life on the scheduler's
 * side, installed only when tracing is on:
 *
 *     Execute (the RPC's span, tracing-interceptor.ts)
 *     └─ kiln.action            from queueing to the worker's result
 *        ├─ kiln.action.queued  until a worker takes the lease
 *        └─ kiln.action.lease   one per attempt, until the result arrives
 *           └─ (the worker's spans, in its own process: worker-spans.ts)
 *
 * The lease span's W3C `traceparent` goes to the worker in the lease
 * payload. Another Execute that joins the action in flight gets an event on
 * its own span, with the trace of the action it joined.
 */
import type * as Api from '@opentelemetry/api';
import { actionKey, DelegatingScheduler } from '../scheduler/delegating-scheduler.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type {
  Lease,
  LeaseCompletion,
  OperationState,
  SubmitRequest,
  TakeOptions,
  TakeResult,
} from '../scheduler/types.ts';
import type { Tracing } from './tracing.ts';
import { ATTR } from './tracing-interceptor.ts';

/** Options for {@link TracedScheduler}. */
export interface TracedSchedulerOptions {
  readonly scheduler: Scheduler;
  readonly tracing: Tracing;
  /** Most actions and leases followed at once; the oldest are ended beyond it. Default 10000. */
  readonly maxTracked?: number;
  /** Clock in ms since the epoch, to find leases past their deadline; default `Date.now`. */
  readonly now?: () => number;
}

interface TracedAction {
  readonly span: Api.Span;
  readonly context: Api.Context;
  /** Ended once a worker takes the first lease. */
  queued: Api.Span | undefined;
  /** The operation whose Execute queued it, to tell a stale entry from a live one. */
  readonly operation: string;
}

interface TracedLease {
  readonly span: Api.Span;
  readonly actionKey: string;
  readonly deadlineMs: number;
}

/** How long past its deadline a lease span stays open for a late result. */
const LEASE_DEADLINE_SLACK_MS = 60_000;
/** Leases past their deadline are looked for at most this often. */
const SWEEP_EVERY_MS = 1000;

/** Forwards every call to `scheduler`, tracing actions on the way. */
export class TracedScheduler extends DelegatingScheduler {
  readonly #tracing: Tracing;
  readonly #maxTracked: number;
  readonly #now: () => number;
  readonly #actions = new Map<string, TracedAction>();
  readonly #leases = new Map<string, TracedLease>();
  #lastSweepMs = Number.NEGATIVE_INFINITY;

  constructor(options: TracedSchedulerOptions) {
    super(options.scheduler);
    this.#tracing = options.tracing;
    this.#maxTracked = options.maxTracked ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  override async submit(request: SubmitRequest): Promise<OperationState> {
    const parent = this.#tracing.active();
    const state = await this.inner.submit(request);
    const { api, tracer } = this.#tracing;
    const rpcSpan = api.trace.getSpan(parent);
    if (state.done) {
      rpcSpan?.setAttribute('kiln.cached_result', state.response?.cachedResult === true);
      return state;
    }
    const key = actionKey(request.instanceName, request.actionDigest.key);
    const earlier = this.#actions.get(key);
    if (earlier !== undefined && (await this.operationWaiting(earlier.operation))) {
      const joined = earlier.span.spanContext();
      rpcSpan?.addEvent('joined an execution in flight', {
        'kiln.joined_trace_id': joined.traceId,
        'kiln.joined_span_id': joined.spanId,
      });
      return state;
    }
    if (earlier !== undefined) endAction(this.#actions, key, 'ended without a result');
    const span = tracer.startSpan(
      'kiln.action',
      {
        attributes: {
          [ATTR.instanceName]: request.instanceName,
          [ATTR.actionDigest]: `${request.actionDigest.hash}/${request.actionDigest.size}`,
          [ATTR.invocationId]: request.toolInvocationId,
          'kiln.operation': state.name,
          'kiln.priority': request.priority,
        },
      },
      parent,
    );
    const context = api.trace.setSpan(parent, span);
    const queued = tracer.startSpan('kiln.action.queued', {}, context);
    if (this.#actions.size >= this.#maxTracked) {
      const oldest = this.#actions.keys().next().value;
      if (oldest !== undefined) endAction(this.#actions, oldest, 'no longer followed');
    }
    this.#actions.set(key, { span, context, queued, operation: state.name });
    return state;
  }

  override async takeWork(workerId: string, options?: TakeOptions): Promise<TakeResult> {
    const result = await this.inner.takeWork(workerId, options);
    if (result.leases.length === 0) return result;
    this.#endLostLeases();
    const leases = result.leases.map((lease) => this.#traceLease(lease));
    return { ...result, leases };
  }

  override async completeLease(
    workerId: string,
    leaseId: string,
    completion: LeaseCompletion,
  ): Promise<void> {
    await this.inner.completeLease(workerId, leaseId, completion);
    const traced = this.#leases.get(leaseId);
    if (traced === undefined) return;
    this.#leases.delete(leaseId);
    const { api } = this.#tracing;
    const code = completion.status.code;
    traced.span.setAttribute('rpc.grpc.status_code', code);
    const exitCode = completion.result?.exitCode;
    if (exitCode !== undefined) traced.span.setAttribute('kiln.exit_code', exitCode);
    if (code !== 0) {
      traced.span.setStatus({ code: api.SpanStatusCode.ERROR, message: completion.status.message });
    }
    traced.span.end();
    const action = this.#actions.get(traced.actionKey);
    if (action !== undefined) {
      this.#actions.delete(traced.actionKey);
      if (code !== 0) {
        action.span.setStatus({
          code: api.SpanStatusCode.ERROR,
          message: completion.status.message,
        });
      }
      action.span.end();
    }
  }

  /** A lease with the `traceparent` of a new lease span under its action's span. */
  #traceLease(lease: Lease): Lease {
    const { api, tracer } = this.#tracing;
    const key = actionKey(lease.instanceName, lease.actionDigest.key);
    const action = this.#actions.get(key);
    action?.queued?.end();
    if (action !== undefined) action.queued = undefined;
    const span = tracer.startSpan(
      'kiln.action.lease',
      {
        attributes: {
          'kiln.worker': lease.workerId,
          'kiln.lease': lease.id,
          'kiln.attempt': lease.attempt,
          [ATTR.actionDigest]: `${lease.actionDigest.hash}/${lease.actionDigest.size}`,
        },
      },
      action?.context ?? api.ROOT_CONTEXT,
    );
    if (this.#leases.size >= this.#maxTracked) {
      const oldest = this.#leases.entries().next().value;
      if (oldest !== undefined) {
        oldest[1].span.end();
        this.#leases.delete(oldest[0]);
      }
    }
    this.#leases.set(lease.id, { span, actionKey: key, deadlineMs: lease.deadlineMs });
    return { ...lease, traceparent: this.#tracing.traceparentOf(span) };
  }

  /** Ends the spans of leases the scheduler gave up on (their worker died or went silent). */
  #endLostLeases(): void {
    const now = this.#now();
    if (now - this.#lastSweepMs < SWEEP_EVERY_MS) return;
    this.#lastSweepMs = now;
    for (const [id, traced] of this.#leases) {
      if (traced.deadlineMs + LEASE_DEADLINE_SLACK_MS >= now) continue;
      traced.span.setStatus({ code: this.#tracing.api.SpanStatusCode.ERROR, message: 'lost' });
      traced.span.end();
      this.#leases.delete(id);
    }
  }

  /** Ends every open span (so that the exporter still sends them), then closes the scheduler. */
  override close(): Promise<void> {
    for (const traced of this.#leases.values()) traced.span.end();
    this.#leases.clear();
    for (const key of [...this.#actions.keys()]) endAction(this.#actions, key, 'server stopped');
    return this.inner.close();
  }
}

/** Ends an action's spans that will see no result, saying why, and forgets it. */
function endAction(actions: Map<string, TracedAction>, key: string, why: string): void {
  const action = actions.get(key);
  if (action === undefined) return;
  actions.delete(key);
  action.queued?.end();
  action.span.setAttribute('kiln.ended', why);
  action.span.end();
}
