/**
 * A Scheduler decorator that traces each action's life on the scheduler's
 * side, installed only when tracing is on:
 *
 *     Execute (the RPC's span, tracing-interceptor.ts)
 *     └─ kiln.action            from queueing to the action's end
 *        ├─ kiln.action.queued  until a worker takes the lease
 *        └─ kiln.action.lease   one per attempt, until the result arrives
 *           └─ (the worker's spans, in its own process: worker-spans.ts)
 *
 * The action span's W3C `traceparent` goes into the submission, and a
 * scheduler keeps it with the queued action (the PostgreSQL one in its
 * rows), so that a lease taken through another process still joins this
 * trace; the lease span's `traceparent` goes to the worker in the lease
 * payload. Another Execute that joins the action in flight gets an event
 * on its own span, with the trace of the action it joined.
 *
 * How an action ends is learnt by following the operation that queued it
 * (then one that joined it, when that one is cancelled): a result, a
 * cancellation while queued or running, a failure for want of a worker or
 * after too many lost leases all end the spans, those without a result
 * with an error status saying why.
 */
import { status as Code } from '@grpc/grpc-js';
import type * as Api from '@opentelemetry/api';
import type { ExecuteResponse } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
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
  readonly key: string;
  readonly span: Api.Span;
  readonly context: Api.Context;
  /** Ended once a worker takes the first lease. */
  queued: Api.Span | undefined;
  /** The operation followed to learn the action's end: the one that queued it, then a joiner. */
  operation: string;
  /** Operations that joined it through this process, to follow when the followed one is cancelled. */
  readonly joiners: string[];
  /** Stops following it. */
  readonly following: AbortController;
  ended: boolean;
}

interface TracedLease {
  readonly span: Api.Span;
  readonly actionKey: string;
  readonly deadlineMs: number;
}

/** The outcome an action's spans end with. */
interface Outcome {
  readonly code: number;
  readonly message: string;
  readonly exitCode?: number;
}

/** How long past its deadline a lease span stays open for a late result. */
const LEASE_DEADLINE_SLACK_MS = 60_000;
/** Leases past their deadline are looked for at most this often. */
const SWEEP_EVERY_MS = 1000;
/** Joiners remembered per action; a cancelled followed operation passes the following on to them. */
const MAX_JOINERS = 64;

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
    const { api, tracer } = this.#tracing;
    const parent = this.#tracing.active();
    // Started before the scheduler sees the action, so that its context can
    // be stored with it; a span that turns out not to be needed (a cached
    // result, a join) is never ended, and so never sent.
    const span = tracer.startSpan(
      'kiln.action',
      {
        attributes: {
          [ATTR.instanceName]: request.instanceName,
          [ATTR.actionDigest]: `${request.actionDigest.hash}/${request.actionDigest.size}`,
          [ATTR.invocationId]: request.toolInvocationId,
          'kiln.priority': request.priority,
        },
      },
      parent,
    );
    const traceparent = this.#tracing.traceparentOf(span);
    const state = await this.inner.submit(
      traceparent === undefined ? request : { ...request, traceparent },
    );
    const rpcSpan = api.trace.getSpan(parent);
    if (state.done) {
      rpcSpan?.setAttribute('kiln.cached_result', state.response?.cachedResult === true);
      const failed = state.response?.cachedResult !== true;
      if (failed) {
        // It failed before it queued (no worker can run it): the span says why.
        span.setAttribute('kiln.operation', state.name);
        endSpans(api, span, undefined, outcomeOf(state.response));
      }
      return state;
    }
    const key = actionKey(request.instanceName, request.actionDigest.key);
    const earlier = this.#actions.get(key);
    if (earlier !== undefined && (await this.#inFlight(earlier))) {
      const joined = earlier.span.spanContext();
      rpcSpan?.addEvent('joined an execution in flight', {
        'kiln.joined_trace_id': joined.traceId,
        'kiln.joined_span_id': joined.spanId,
      });
      if (earlier.joiners.length < MAX_JOINERS) earlier.joiners.push(state.name);
      return state;
    }
    if (earlier !== undefined) this.#forget(earlier, 'ended without a result');
    if (state.joined !== undefined) {
      // Queued through another frontend (or before this one's record of it
      // went): its spans are that frontend's; point at its trace, if it has one.
      const queuedBy = api.trace.getSpanContext(
        this.#tracing.fromTraceparent(state.joined.traceparent),
      );
      rpcSpan?.addEvent(
        'joined an execution in flight',
        queuedBy === undefined
          ? {}
          : { 'kiln.joined_trace_id': queuedBy.traceId, 'kiln.joined_span_id': queuedBy.spanId },
      );
      return state;
    }
    span.setAttribute('kiln.operation', state.name);
    const context = api.trace.setSpan(parent, span);
    const queued = tracer.startSpan('kiln.action.queued', {}, context);
    if (this.#actions.size >= this.#maxTracked) {
      const oldest = this.#actions.values().next().value;
      if (oldest !== undefined) this.#forget(oldest, 'no longer followed');
    }
    const action: TracedAction = {
      key,
      span,
      context,
      queued,
      operation: state.name,
      joiners: [],
      following: new AbortController(),
      ended: false,
    };
    this.#actions.set(key, action);
    void this.#follow(action);
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
    const outcome: Outcome = {
      code: completion.status.code,
      message: completion.status.message,
      exitCode: completion.result?.exitCode,
    };
    endSpans(this.#tracing.api, traced.span, undefined, outcome);
    const action = this.#actions.get(traced.actionKey);
    if (action !== undefined) this.#end(action, outcome);
  }

  /** A lease with the `traceparent` of a new lease span under its action's span. */
  #traceLease(lease: Lease): Lease {
    const { tracer } = this.#tracing;
    const key = actionKey(lease.instanceName, lease.actionDigest.key);
    const action = this.#actions.get(key);
    if (action !== undefined) endQueued(action);
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
      // Queued through another process: the context its submitter stored.
      action?.context ?? this.#tracing.fromTraceparent(lease.traceparent),
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

  /**
   * Follows the action's operation until it is done, then ends its spans
   * with the outcome (unless a lease completion here did first). A cancelled
   * or deleted operation passes the following on to a joiner still waiting:
   * the action goes on for it.
   */
  async #follow(action: TracedAction): Promise<void> {
    const { signal } = action.following;
    for (;;) {
      let last: OperationState | undefined;
      try {
        for await (const state of this.inner.watchOperation(action.operation, { signal })) {
          last = state;
          // Taken by a worker (through this process or another one).
          if (state.stage === 'EXECUTING') endQueued(action);
        }
      } catch {
        // Deleted, or the scheduler is closing: `last` says it is not done.
        last = undefined;
      }
      if (action.ended || signal.aborted) return;
      const cancelled = last?.response?.status?.code === Code.CANCELLED;
      if (last?.done !== true || cancelled) {
        const next = await this.#nextWaiting(action);
        if (next !== undefined) {
          action.operation = next;
          continue;
        }
        // Deleted with no one else waiting: it runs on, detached; a lease
        // completion here, or the eviction of old entries, ends the spans.
        if (last?.done !== true) return;
      }
      this.#end(action, outcomeOf(last.response));
      return;
    }
  }

  /** Whether anyone still waits for the action (its followed operation or a joiner). */
  async #inFlight(action: TracedAction): Promise<boolean> {
    if (action.ended) return false;
    return (
      (await this.operationWaiting(action.operation)) ||
      (await this.#nextWaiting(action)) !== undefined
    );
  }

  /** The first joiner still waiting, dropping those that are not. */
  async #nextWaiting(action: TracedAction): Promise<string | undefined> {
    while (action.joiners.length > 0) {
      const name = action.joiners[0] as string;
      if (await this.operationWaiting(name)) return name;
      action.joiners.shift();
    }
    return undefined;
  }

  /** Ends an action's spans with its outcome (none when unknown), once, and stops following it. */
  #end(action: TracedAction, outcome: Outcome | undefined): void {
    if (action.ended) return;
    action.ended = true;
    action.following.abort();
    if (this.#actions.get(action.key) === action) this.#actions.delete(action.key);
    const queued = action.queued;
    action.queued = undefined;
    endSpans(this.#tracing.api, action.span, queued, outcome);
  }

  /** Ends an action's spans that will see no outcome here, saying why. */
  #forget(action: TracedAction, why: string): void {
    if (action.ended) return;
    action.span.setAttribute('kiln.ended', why);
    this.#end(action, undefined);
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
    for (const action of [...this.#actions.values()]) this.#forget(action, 'server stopped');
    return this.inner.close();
  }
}

/** The outcome an operation's response carries. */
function outcomeOf(response: ExecuteResponse | undefined): Outcome {
  return {
    code: response?.status?.code ?? Code.OK,
    message: response?.status?.message ?? '',
    exitCode: response?.result?.exitCode,
  };
}

/** Ends the queued span when a worker took the action. */
function endQueued(action: TracedAction): void {
  action.queued?.end();
  action.queued = undefined;
}

/**
 * Ends `span` (and `queued`, still open: the action never left the queue)
 * with `outcome`; a failure is an error status with its reason, which
 * `kiln.ended` also holds.
 */
function endSpans(
  api: Tracing['api'],
  span: Api.Span,
  queued: Api.Span | undefined,
  outcome: Outcome | undefined,
): void {
  if (outcome !== undefined) {
    span.setAttribute('rpc.grpc.status_code', outcome.code);
    if (outcome.exitCode !== undefined) span.setAttribute('kiln.exit_code', outcome.exitCode);
  }
  if (outcome !== undefined && outcome.code !== Code.OK) {
    const status = {
      code: api.SpanStatusCode.ERROR,
      message: `${Code[outcome.code] ?? outcome.code}: ${outcome.message}`,
    };
    span.setAttribute('kiln.ended', outcome.message);
    span.setStatus(status);
    queued?.setStatus(status);
  }
  // One end time for both: each span's clock is anchored at its own start,
  // and the queued span must not seem to outlast the action.
  const at = Date.now();
  queued?.end(at);
  span.end(at);
}
