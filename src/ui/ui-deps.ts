/**
 * The contract between the web UI and the rest of Kiln: everything the UI
 * pages read, handed over by `createServer`.
 */
import type { ActionCache } from '../cache/action-cache.ts';
import type { WebAccess } from '../http/web-access.ts';
import type { AuditLog } from '../observe/audit-log.ts';
import type { BuildTracker } from '../observe/build-tracker.ts';
import type { KilnMetrics } from '../observe/metrics.ts';
import type { RecentErrors } from '../observe/recent-errors.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { Logger } from '../util/logger.ts';

/** Everything the web UI reads: the same objects the gRPC services use. */
export interface UiDeps {
  /** The scheduler; undefined when execution is disabled. */
  readonly scheduler: Scheduler | undefined;
  /** The verifying CAS. */
  readonly cas: BlobStore;
  readonly actionCache: ActionCache;
  /** Recent builds (tool invocations), aggregated from RPCs and executions. */
  readonly builds: BuildTracker;
  /** The latest RPC failures with server-side codes. */
  readonly recentErrors: RecentErrors;
  readonly metrics: KilnMetrics;
  /** Sign-in, sessions and CSRF tokens; its hook must be registered before the UI's routes. */
  readonly access: WebAccess;
  readonly log: Logger;
  /** Where administrative actions (cancels) and refusals are audited; none in some tests. */
  readonly audit?: Pick<AuditLog, 'admin' | 'denied'>;
}
