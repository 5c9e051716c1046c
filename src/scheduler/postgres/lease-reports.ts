/**
 * What a worker reports about a lease it holds, applied to the PostgreSQL
 * scheduler's tables: progress (the lease's state), and completion, which
 * stores a cacheable result, releases the lease, finishes its execution and
 * announces the place it frees under a principal's `maxExecuting`.
 */

import { status as Code } from '@grpc/grpc-js';
import type { Pool } from 'pg';
import { invalidArgument } from '../../errors.ts';
import { bytesHeld } from '../../util/detach-bytes.ts';
import type { Logger } from '../../util/logger.ts';
import type { Clock } from '../clock.ts';
import type { SchedulerPolicy } from '../policy.ts';
import { executedResponse, withSchedulerMetadata } from '../responses.ts';
import type { ActionResultCache, LeaseCompletion, LeaseProgress } from '../types.ts';
import { announceFreedPlace, type ExecutingLimits } from './claim.ts';
import type { ExecutionContext } from './executions.ts';
import { noLease, releaseLease, storeResult, touchAndFindLease } from './worker-writes.ts';

/** What applying a lease report needs of the scheduler. */
export interface LeaseReportContext {
  readonly pool: Pool;
  readonly ctx: ExecutionContext;
  readonly cache: ActionResultCache;
  readonly clock: Clock;
  readonly log: Logger;
  readonly policy: SchedulerPolicy;
  /** The principals' `maxExecuting`; undefined when none has one. */
  readonly limits: ExecutingLimits | undefined;
  /** Told once a lease was released, before the place it freed is announced. */
  /** An operation completed with a response holding `bytes` (see maintenance-loop.ts). */
  readonly noteCompleted: (bytes: number) => void;
}

/**
 * Records the state a worker reports for its lease (a cancelled lease stays
 * cancelled); NOT_FOUND when the worker holds no such lease.
 */
export async function recordProgress(
  pool: Pool,
  worker: { readonly id: string; readonly name: string },
  leaseId: string,
  progress: LeaseProgress,
): Promise<void> {
  const { rowCount } = await pool.query({
    name: 'kiln_lease_progress',
    text: `UPDATE leases SET state = CASE WHEN state = 'CANCELLED' THEN state ELSE $3 END
     WHERE id = $2 AND worker_id = $1`,
    values: [worker.id, leaseId, progress.state],
  });
  if (rowCount === 0) throw noLease(worker.name, leaseId);
}

/** The sign of life a completion recorded, and the worker's cancelled leases then. */
export interface CompletionRecord {
  readonly presentUntilMs: number;
  readonly cancelled: string[];
}

/**
 * Applies a worker's completion of its lease: a sign of life, the result
 * stored in the action cache when the execution is still live and succeeded,
 * the lease released and the execution finished. The release also records
 * the worker present until `presentUntil()` (asked at that moment: a
 * long-poll that follows may extend it) or its timeout, whichever is later.
 */
export async function recordCompletion(
  c: LeaseReportContext,
  workerId: string,
  leaseId: string,
  completion: LeaseCompletion,
  presentUntil: () => number | undefined = () => undefined,
): Promise<CompletionRecord> {
  const now = c.clock.now();
  const { worker: w, lease } = await touchAndFindLease(
    c.pool,
    workerId,
    leaseId,
    now,
    now + c.policy.workerTimeoutMs,
  );
  if (lease === undefined) throw noLease(w.name, leaseId);
  if (completion.status.code === Code.OK && completion.result === undefined) {
    throw invalidArgument(
      `lease ${leaseId}: a completion with status OK must carry an ActionResult`,
    );
  }
  const result =
    completion.result &&
    withSchedulerMetadata(completion.result, w.name, Number(lease.queued_at_ms ?? 0));
  if (lease.live && result !== undefined && completion.status.code === Code.OK) {
    await storeResult(c.cache, c.log, lease, result, {
      id: workerId,
      name: w.name,
      principal: w.principal,
    });
  }
  const response = executedResponse(result, completion.status, completion.message ?? '');
  const nowMs = c.clock.now();
  const presentUntilMs = Math.max(nowMs + c.policy.workerTimeoutMs, presentUntil() ?? 0);
  const held = await releaseLease(
    c.pool,
    c.ctx,
    { workerId, workerName: w.name, leaseId, nowMs, expiresMs: presentUntilMs },
    response,
  );
  if (held === undefined) throw noLease(w.name, leaseId);
  c.noteCompleted(bytesHeld(response));
  if (lease.live && c.limits !== undefined) {
    await announceFreedPlace(c.pool, c.ctx, lease.principal);
  }
  return { presentUntilMs, cancelled: held.cancelled };
}
