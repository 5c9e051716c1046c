/**
 * Where the server's events meet: RPC outcomes (from the gRPC interceptor),
 * GetActionResult lookups (from the ActionCache service), Execute lookups,
 * submissions and completed executions (from the observed scheduler), and
 * CAS traffic (from the metering store). Each event is turned into metrics,
 * build totals and recent errors here, so that those three stay plain data
 * structures.
 */
import { status } from '@grpc/grpc-js';
import { makeDigest } from '../digest/digest.ts';
import { findResourceUsage, resourceUsageFigures } from '../execution/resource-usage.ts';
import type { RequestMetadata } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type RpcObserver, type RpcOutcome, requestMetadataOf } from '../rpc/rpc.ts';
import type { SubmitRequest } from '../scheduler/types.ts';
import type { ActionCacheLookup } from '../services/action-cache-service.ts';
import type { BuildTracker, Invocation } from './build-tracker.ts';
import type { CriticalPaths } from './critical-path.ts';
import { executionResult, stageDurations } from './execution-stages.ts';
import type { KilnMetrics } from './metrics.ts';
import type { CompletedExecution, ExecutionObserver } from './observed-scheduler.ts';
import { isNotableFailure, type RecentErrors } from './recent-errors.ts';

/** Options for {@link KilnObserver}. */
export interface KilnObserverOptions {
  readonly metrics: KilnMetrics;
  readonly builds: BuildTracker;
  readonly recentErrors: RecentErrors;
  /** Clock in ms since the epoch, for error times; default `Date.now`. */
  readonly now?: () => number;
  /** GetActionResult misses remembered to recognise the Execute that follows. Default 10000. */
  readonly maxRecentMisses?: number;
  /** Follows each build's critical path; without it, builds report their longest action. */
  readonly criticalPaths?: CriticalPaths;
  /** Told why a critical-path update failed (it never fails an RPC). */
  readonly onCriticalPathError?: (err: unknown) => void;
}

/** Turns server events into metrics, build totals and recent errors. */
export class KilnObserver implements RpcObserver, ExecutionObserver {
  readonly #metrics: KilnMetrics;
  readonly #builds: BuildTracker;
  readonly #errors: RecentErrors;
  readonly #now: () => number;
  readonly #maxRecentMisses: number;
  readonly #criticalPaths: CriticalPaths | undefined;
  readonly #onCriticalPathError: (err: unknown) => void;
  /**
   * Recent GetActionResult misses by invocation and action. Bazel looks an
   * action up with GetActionResult and, on a miss, calls Execute, which looks
   * it up again: that second miss is the same miss and is not counted twice.
   */
  readonly #recentMisses = new Set<string>();

  constructor(options: KilnObserverOptions) {
    this.#metrics = options.metrics;
    this.#builds = options.builds;
    this.#errors = options.recentErrors;
    this.#now = options.now ?? Date.now;
    this.#maxRecentMisses = options.maxRecentMisses ?? 10_000;
    this.#criticalPaths = options.criticalPaths;
    this.#onCriticalPathError = options.onCriticalPathError ?? (() => {});
  }

  rpcFinished(outcome: RpcOutcome): void {
    const { service, method, code } = outcome;
    const codeName = status[code] ?? String(code);
    this.#metrics.rpcFinished(service, method, codeName, outcome.durationMs / 1000);
    const qualified = `${service}.${method}`;
    if (!isNotableFailure(qualified, code)) return;
    const metadata = outcome.metadata && requestMetadataOf(outcome.metadata);
    this.#errors.record({
      timeMs: this.#now(),
      method: qualified,
      code: codeName,
      message: outcome.message,
      invocationId: metadata?.toolInvocationId ?? '',
    });
  }

  /** For the ActionCache service's `onLookup`. */
  readonly actionCacheLookup = (lookup: ActionCacheLookup): void => {
    const who = invocationOf(lookup.requestMetadata);
    const key = missKey(who.invocationId, lookup.instanceName, lookup.actionDigest.key);
    if (lookup.hit) {
      this.#recentMisses.delete(key);
    } else {
      this.#recentMisses.delete(key);
      if (this.#recentMisses.size >= this.#maxRecentMisses) {
        const oldest = this.#recentMisses.values().next().value;
        if (oldest !== undefined) this.#recentMisses.delete(oldest);
      }
      this.#recentMisses.add(key);
    }
    this.#metrics.cacheLookup('GetActionResult', lookup.hit);
    this.#builds.recordCacheLookup(who, lookup.hit);
  };

  /** For the metering CAS. */
  readonly bytesRead = (bytes: number): void => this.#metrics.bytesRead(bytes);

  /** For the metering CAS. */
  readonly bytesWritten = (bytes: number): void => this.#metrics.bytesWritten(bytes);

  executeLookup(request: SubmitRequest, hit: boolean): void {
    const key = missKey(request.toolInvocationId, request.instanceName, request.actionDigest.key);
    const repeated = this.#recentMisses.delete(key);
    if (repeated && !hit) return;
    const who = submitterOf(request);
    this.#metrics.cacheLookup('Execute', hit);
    this.#builds.recordCacheLookup(who, hit);
  }

  executeSubmitted(request: SubmitRequest): void {
    this.#builds.recordSubmission(submitterOf(request));
  }

  executionCompleted(execution: CompletedExecution): void {
    const result = executionResult(execution.completion);
    const stages = stageDurations(execution);
    this.#metrics.executionCompleted(result, stages);
    // A cancelled execution is one nobody waits for any more: not the build's failure.
    if (result === 'cancelled') return;
    const { lease } = execution;
    const executionMs = stages.execution ?? 0;
    const usage = findResourceUsage(execution.completion.result?.executionMetadata);
    const figures = usage === undefined ? undefined : resourceUsageFigures(usage);
    this.#builds.recordExecution(
      {
        invocationId: lease.toolInvocationId,
        correlatedInvocationsId: lease.correlatedInvocationsId,
      },
      {
        failed: result !== 'success',
        executionMs,
        resources:
          figures === undefined
            ? undefined
            : {
                cpuMs: figures.userTimeMs + figures.systemTimeMs,
                peakMemoryBytes: figures.peakMemoryBytes,
              },
      },
    );
    const root = lease.action.inputRootDigest;
    if (this.#criticalPaths === undefined || lease.toolInvocationId === '' || !root) return;
    const invocationId = lease.toolInvocationId;
    // Reading the input tree is not the RPC's business: it runs after, and never fails it.
    void Promise.resolve()
      .then(() =>
        this.#criticalPaths?.record({
          invocationId,
          inputRoot: makeDigest(lease.actionDigest.fn, root.hash, root.sizeBytes, 'input root'),
          result: execution.completion.result,
          executionMs,
        }),
      )
      .then(
        (ms) => {
          if (ms !== undefined) this.#builds.recordCriticalPath(invocationId, ms);
        },
        (err: unknown) => this.#onCriticalPathError(err),
      );
  }
}

function missKey(invocationId: string, instanceName: string, digestKey: string): string {
  return `${invocationId}\u0000${instanceName}\u0000${digestKey}`;
}

function invocationOf(metadata: RequestMetadata | undefined): Invocation {
  return {
    invocationId: metadata?.toolInvocationId ?? '',
    correlatedInvocationsId: metadata?.correlatedInvocationsId,
    toolName: metadata?.toolDetails?.toolName,
    toolVersion: metadata?.toolDetails?.toolVersion,
  };
}

function submitterOf(request: SubmitRequest): Invocation {
  return {
    invocationId: request.toolInvocationId,
    correlatedInvocationsId: request.correlatedInvocationsId,
  };
}
