/**
 * Collects the overview's numbers in one pass, for both the page and its
 * live-update endpoint, so the two always agree.
 */

import type { BuildSummary } from '../observe/build-tracker.ts';
import type { RecentError } from '../observe/recent-errors.ts';
import { platformKey } from '../scheduler/platform.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { OperationState, PlatformProperty, SchedulerStats } from '../scheduler/types.ts';
import type { StoreStats } from '../storage/blob-store.ts';
import type { UiDeps } from './ui-deps.ts';

/** Builds and errors shown on the overview; the full lists have their own pages. */
const RECENT_BUILDS = 10;
const RECENT_ERRORS = 20;
/** Executing operations read to group running actions by platform. */
const EXECUTING_LIMIT = 5000;

/** Queued and running actions for one platform. */
export interface QueueRow {
  readonly platform: readonly PlatformProperty[];
  readonly queued: number;
  /** Distinct executions (instance and action) running for this platform. */
  readonly executing: number;
}

/** Everything the overview shows. */
export interface OverviewData {
  readonly nowMs: number;
  /** Undefined when execution is disabled. */
  readonly scheduler: SchedulerStats | undefined;
  readonly queues: readonly QueueRow[];
  readonly cache: { readonly hits: number; readonly misses: number };
  /** Undefined when the CAS backend keeps no statistics. */
  readonly cas: StoreStats | undefined;
  readonly buildCount: number;
  readonly builds: readonly BuildSummary[];
  readonly errors: readonly RecentError[];
}

/**
 * Every operation in the EXECUTING stage, oldest first, up to a cap: the
 * scheduler keeps no per-platform or per-worker count of running actions,
 * so the UI derives them from the operations.
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

/** Merges queue depths with running executions per platform, largest first. */
export function queueRows(stats: SchedulerStats, executing: readonly OperationState[]): QueueRow[] {
  const rows = new Map<
    string,
    { platform: readonly PlatformProperty[]; queued: number; executing: Set<string> }
  >();
  const row = (platform: readonly PlatformProperty[]) => {
    const key = platformKey(platform);
    let r = rows.get(key);
    if (r === undefined) {
      r = { platform, queued: 0, executing: new Set() };
      rows.set(key, r);
    }
    return r;
  };
  for (const q of stats.queuedByPlatform) row(q.platform).queued += q.queued;
  // Operations that joined one execution share its instance and action digest.
  for (const op of executing)
    row(op.platform).executing.add(`${op.instanceName}\u0000${op.actionDigest.key}`);
  return [...rows.values()]
    .map((r) => ({ platform: r.platform, queued: r.queued, executing: r.executing.size }))
    .sort((a, b) => b.queued + b.executing - (a.queued + a.executing));
}

/** Reads every number the overview shows. */
export async function gatherOverview(deps: UiDeps): Promise<OverviewData> {
  const { scheduler } = deps;
  const [stats, executing, cas] = await Promise.all([
    scheduler?.stats(),
    scheduler === undefined ? [] : listExecuting(scheduler),
    deps.metrics.casStats(),
  ]);
  const builds = deps.builds.list();
  return {
    nowMs: Date.now(),
    scheduler: stats,
    queues: stats === undefined ? [] : queueRows(stats, executing),
    cache: deps.metrics.cacheHitRate(),
    cas,
    buildCount: builds.length,
    builds: builds.slice(0, RECENT_BUILDS),
    errors: deps.recentErrors.list().slice(0, RECENT_ERRORS),
  };
}
