/**
 * Collects the overview's numbers in one pass, for both the page and its
 * live-update endpoint, so the two always agree.
 */

import type { BuildSummary } from '../observe/build-tracker.ts';
import type { RecentError } from '../observe/recent-errors.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { OperationState, PlatformQueueStats, SchedulerStats } from '../scheduler/types.ts';
import type { StoreStats } from '../storage/blob-store.ts';
import type { UiDeps } from './ui-deps.ts';
import { fleetByPlatform, type PlatformFleet } from './workers-data.ts';

/** Builds and errors shown on the overview; the full lists have their own pages. */
const RECENT_BUILDS = 10;
const RECENT_ERRORS = 20;
/** Executing operations read for the workers page. */
const EXECUTING_LIMIT = 5000;

/** Queued and running actions for one platform. */
export type QueueRow = PlatformQueueStats;

/** Everything the overview shows. */
export interface OverviewData {
  readonly nowMs: number;
  /** Undefined when execution is disabled. */
  readonly scheduler: SchedulerStats | undefined;
  readonly queues: readonly QueueRow[];
  /** Workers per platform with their utilisation; undefined when execution is disabled. */
  readonly fleet: readonly PlatformFleet[] | undefined;
  readonly cache: { readonly hits: number; readonly misses: number };
  /** Undefined when the CAS backend keeps no statistics. */
  readonly cas: StoreStats | undefined;
  readonly buildCount: number;
  readonly builds: readonly BuildSummary[];
  readonly errors: readonly RecentError[];
}

/**
 * Every operation in the EXECUTING stage, oldest first, up to a cap: the
 * workers page shows which operations each worker runs.
 */
export async function listExecuting(scheduler: Scheduler): Promise<OperationState[]> {
  const out: OperationState[] = [];
  let pageToken = '';
  do {
    const page = await scheduler.listOperations({ stage: 'EXECUTING', pageSize: 1000, pageToken });
    out.push(...page.operations);
    pageToken = page.nextPageToken;
  } while (pageToken !== '' && out.length < EXECUTING_LIMIT);
  return out;
}

/** Reads every number the overview shows. */
export async function gatherOverview(deps: UiDeps): Promise<OverviewData> {
  const { scheduler } = deps;
  const [stats, cas, workers] = await Promise.all([
    scheduler?.stats(),
    deps.metrics.casStats(),
    scheduler?.listWorkers(),
  ]);
  const builds = deps.builds.list();
  const nowMs = Date.now();
  return {
    nowMs,
    scheduler: stats,
    queues: stats?.queuedByPlatform ?? [],
    fleet: workers === undefined ? undefined : fleetByPlatform(workers, nowMs),
    cache: deps.metrics.cacheHitRate(),
    cas,
    buildCount: builds.length,
    builds: builds.slice(0, RECENT_BUILDS),
    errors: deps.recentErrors.list().slice(0, RECENT_ERRORS),
  };
}
