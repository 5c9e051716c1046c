/**
 * Builds the observability of one Kiln instance: its metrics registry, build
 * tracker and recent-error list, and the observer that feeds them, wrapped
 * around the CAS and the scheduler it measures.
 */
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { MeteringBlobStore } from '../storage/metering-blob-store.ts';
import type { Logger } from '../util/logger.ts';
import { BuildTracker } from './build-tracker.ts';
import { CriticalPaths } from './critical-path.ts';
import { KilnObserver } from './kiln-observer.ts';
import { KilnMetrics } from './metrics.ts';
import { ObservedScheduler } from './observed-scheduler.ts';
import { RecentErrors } from './recent-errors.ts';
import { TracedScheduler } from './traced-scheduler.ts';
import type { Tracing } from './tracing.ts';

/** Options for {@link createObservability}. */
export interface ObservabilityOptions {
  /** The CAS to meter (the verifying one) and report sizes of. */
  readonly cas: BlobStore;
  /** The action cache's store, to report sizes of. */
  readonly actionCacheStore: BlobStore;
  /** The scheduler to observe; undefined when execution is disabled. */
  readonly scheduler: Scheduler | undefined;
  /** Export Node.js process metrics too. Default true. */
  readonly processMetrics?: boolean;
  /** For the rare failures of background bookkeeping. */
  readonly log?: Logger;
  /** When tracing is on: the scheduler also traces each action (traced-scheduler.ts). */
  readonly tracing?: Tracing;
}

/** The observed stores and scheduler to serve with, and where their numbers go. */
export interface Observability {
  readonly metrics: KilnMetrics;
  readonly builds: BuildTracker;
  readonly recentErrors: RecentErrors;
  /** Give it to the gRPC server (`rpcObserver`, `onActionCacheLookup`). */
  readonly observer: KilnObserver;
  /** `options.cas`, counting bytes read and written: serve this one. */
  readonly cas: BlobStore;
  /** `options.scheduler`, reporting lookups and executions: serve this one. */
  readonly scheduler: Scheduler | undefined;
}

/** Wires metrics, build tracking and recent errors around the CAS and the scheduler. */
export function createObservability(options: ObservabilityOptions): Observability {
  const metrics = new KilnMetrics({
    scheduler: options.scheduler,
    stores: { cas: options.cas, action_cache: options.actionCacheStore },
    processMetrics: options.processMetrics,
  });
  const builds = new BuildTracker();
  const recentErrors = new RecentErrors();
  const observer = new KilnObserver({
    metrics,
    builds,
    recentErrors,
    criticalPaths: new CriticalPaths({ cas: options.cas }),
    onCriticalPathError: (err) => options.log?.debug({ err }, 'critical path update failed'),
  });
  const cas = new MeteringBlobStore({
    backend: options.cas,
    onRead: observer.bytesRead,
    onWrite: observer.bytesWritten,
  });
  const observed =
    options.scheduler && new ObservedScheduler({ scheduler: options.scheduler, observer });
  const { tracing } = options;
  const scheduler =
    observed && tracing ? new TracedScheduler({ scheduler: observed, tracing }) : observed;
  return { metrics, builds, recentErrors, observer, cas, scheduler };
}
