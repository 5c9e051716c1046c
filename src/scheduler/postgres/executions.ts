/**
 * Changes to executions that several paths share: completing every
 * operation of an execution, losing a lease (retry or give up), and the
 * unschedulable countdown. Each runs inside the caller's transaction, with
 * the execution row locked (`FOR UPDATE`) first, so a concurrent Execute
 * that joins the execution is either seen here or sees the result.
 */
import { status as Code } from '@grpc/grpc-js';
import type { PoolClient } from 'pg';
import type { ExecuteResponse } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Logger } from '../../util/logger.ts';
import { describeUnschedulableOffers, type PlatformProperty } from '../platform.ts';
import type { SchedulerPolicy } from '../policy.ts';
import { failureResponse } from '../responses.ts';
import type { Channels } from './events.ts';
import { encodeResponse, OP_EVENT_SQL } from './rows.ts';

/** What the shared changes need to know. */
export interface ExecutionContext {
  readonly channels: Channels;
  readonly policy: SchedulerPolicy;
  readonly log: Logger;
}

/**
 * Completes every operation waiting for `executionId` with `response` and
 * deletes the execution (freeing its dedup key). The caller holds the row lock.
 */
export async function finishExecution(
  c: PoolClient,
  ctx: ExecutionContext,
  executionId: string,
  response: ExecuteResponse,
  worker: string | undefined,
  nowMs: number,
): Promise<void> {
  await c.query({
    name: 'kiln_finish_execution',
    text: `WITH e AS (DELETE FROM executions WHERE id = $1 RETURNING id),
          o AS (UPDATE operations SET stage = 'COMPLETED', execution_id = NULL, response = $2,
                  worker = coalesce($3, worker), completed_at_ms = $4, version = version + 1
                FROM e WHERE operations.execution_id = e.id
                RETURNING name, stage, worker, version)
     SELECT count(pg_notify($5, ${OP_EVENT_SQL})) FROM o`,
    values: [executionId, encodeResponse(response), worker ?? null, nowMs, ctx.channels.ops],
  });
}

/** Sets the stage of an execution's waiting operations and tells their watchers. */
export async function setStage(
  c: PoolClient,
  ctx: ExecutionContext,
  executionId: string,
  stage: 'QUEUED' | 'EXECUTING',
  worker: string | undefined,
): Promise<void> {
  await c.query(
    `WITH o AS (UPDATE operations SET stage = $2, worker = $3, version = version + 1
                WHERE execution_id = $1 AND stage <> 'COMPLETED'
                RETURNING name, stage, worker, version)
     SELECT count(pg_notify($4, ${OP_EVENT_SQL})) FROM o`,
    [executionId, stage, worker ?? null, ctx.channels.ops],
  );
}

/**
 * A lease ended without a result (its worker left, or it passed its
 * deadline): queue its execution again at the front, or complete it with
 * UNAVAILABLE after more than `maxRetries` losses. Does nothing when the
 * execution no longer belongs to that lease.
 */
export async function loseLease(
  c: PoolClient,
  ctx: ExecutionContext,
  executionId: string,
  leaseId: string,
  workerName: string,
  reason: string,
  nowMs: number,
): Promise<void> {
  const { rows } = await c.query<{
    losses: number;
    required: string[];
    platform: PlatformProperty[];
    digest_hash: string;
  }>(
    `SELECT losses, required, platform, digest_hash FROM executions
     WHERE id = $1 AND lease_id = $2 FOR UPDATE`,
    [executionId, leaseId],
  );
  const row = rows[0];
  if (row === undefined) return;
  const losses = row.losses + 1;
  ctx.log.warn({ actionDigest: row.digest_hash, worker: workerName, losses, reason }, 'lease lost');
  if (losses > ctx.policy.maxRetries) {
    const message = `action lost ${losses} times; last worker: ${workerName} (${reason})`;
    await finishExecution(
      c,
      ctx,
      executionId,
      failureResponse(Code.UNAVAILABLE, message),
      workerName,
      nowMs,
    );
    return;
  }
  // A retry goes first in line: it has waited longest.
  await c.query(
    `UPDATE executions SET state = 'QUEUED', lease_id = NULL, worker_name = NULL, losses = $2,
       queue_order = -nextval('queue_order')
     WHERE id = $1`,
    [executionId, losses],
  );
  await setStage(c, ctx, executionId, 'QUEUED', undefined);
  if (!(await startCountdownIfUnrunnable(c, ctx, executionId, row.required, nowMs))) return;
  await c.query('SELECT pg_notify($1, $2)', [ctx.channels.work, JSON.stringify(row.required)]);
}

/**
 * Starts the unschedulable countdown of a queued execution when no
 * registered worker offers what it requires, or fails it at once when the
 * timeout is 0. Returns false when it failed.
 */
export async function startCountdownIfUnrunnable(
  c: PoolClient,
  ctx: ExecutionContext,
  executionId: string,
  required: readonly string[],
  nowMs: number,
): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM workers WHERE offered @> $1::text[]) AS ok',
    [required],
  );
  if (rows[0]?.ok === true) return true;
  if (ctx.policy.unschedulableTimeoutMs === 0) {
    await failUnschedulable(c, ctx, executionId, nowMs);
    return false;
  }
  await c.query(
    `UPDATE executions SET unschedulable_at_ms = $2
     WHERE id = $1 AND unschedulable_at_ms IS NULL`,
    [executionId, nowMs + ctx.policy.unschedulableTimeoutMs],
  );
  return true;
}

/** Completes a queued execution with FAILED_PRECONDITION, naming what the workers offer. */
export async function failUnschedulable(
  c: PoolClient,
  ctx: ExecutionContext,
  executionId: string,
  nowMs: number,
): Promise<void> {
  const { rows } = await c.query<{ platform: PlatformProperty[] }>(
    'SELECT platform FROM executions WHERE id = $1 FOR UPDATE',
    [executionId],
  );
  const row = rows[0];
  if (row === undefined) return;
  const offers = await c.query<{ platform: PlatformProperty[]; names: string[]; count: string }>(
    `SELECT platform, (array_agg(name ORDER BY seq))[1:3] AS names, count(*) AS count
     FROM workers GROUP BY platform`,
  );
  const message = describeUnschedulableOffers(
    row.platform,
    offers.rows.map((o) => ({ platform: o.platform, names: o.names, count: Number(o.count) })),
  );
  await finishExecution(
    c,
    ctx,
    executionId,
    failureResponse(Code.FAILED_PRECONDITION, message),
    undefined,
    nowMs,
  );
}

/**
 * Gives leases back without counting an attempt: their worker's poll ended
 * while they were being claimed for it. Their executions are queued again
 * at the front.
 */
export async function returnLeases(
  c: PoolClient,
  ctx: ExecutionContext,
  leaseIds: readonly string[],
): Promise<void> {
  const { rows } = await c.query<{ id: string; required: string[] }>(
    `WITH l AS (DELETE FROM leases WHERE id = ANY($1) RETURNING id)
     UPDATE executions e SET state = 'QUEUED', lease_id = NULL, worker_name = NULL,
       attempts = e.attempts - 1, queue_order = -nextval('queue_order')
     FROM l WHERE e.lease_id = l.id RETURNING e.id, e.required`,
    [leaseIds],
  );
  for (const row of rows) {
    await setStage(c, ctx, row.id, 'QUEUED', undefined);
    await c.query('SELECT pg_notify($1, $2)', [ctx.channels.work, JSON.stringify(row.required)]);
  }
}
