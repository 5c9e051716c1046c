/**
 * The worker side of the PostgreSQL scheduler in SQL: registration, signs
 * of life, and releasing a completed lease.
 */
import type { Pool } from 'pg';
import { type KilnError, notFound } from '../../errors.ts';
import type {
  ActionResult,
  ExecuteResponse,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Logger } from '../../util/logger.ts';
import type { PlatformProperty } from '../platform.ts';
import type { ActionResultCache, RegisteredWorker, WorkerState } from '../types.ts';
import type { ExecutionContext } from './executions.ts';
import {
  digestOfRow,
  encodeResponse,
  type LeaseRow,
  leaseOfRow,
  type WorkerRow,
  workerOfRow,
} from './rows.ts';

/** A worker as read by a sign of life. */
export interface WorkerInfo {
  readonly name: string;
  readonly offered: string[];
  readonly capacity: number;
  readonly principal: string;
  /** Its cancelled leases it has not acknowledged; null when none. */
  readonly cancelled: string[] | null;
}

/** NOT_FOUND for a lease the worker does not hold. */
export function noLease(workerName: string, leaseId: string): KilnError {
  return notFound(
    `worker ${workerName} holds no lease "${leaseId}" (lost, reassigned or already completed)`,
  );
}

/** NOT_FOUND for a worker that is not (or no longer) registered. */
export function workerNotRegistered(workerId: string): KilnError {
  return notFound(
    `worker "${workerId}" is not registered (it may have timed out); register it again`,
  );
}

/** A lease about to be completed, with what the action cache entry needs. */
export interface LeaseToComplete {
  /** Its execution still belongs to it: the result counts. */
  readonly live: boolean;
  readonly execution_id: string | null;
  readonly instance_name: string | null;
  readonly digest_fn: string;
  readonly digest_hash: string;
  readonly digest_size: string;
  readonly do_not_cache: boolean | null;
  readonly principal: string | null;
  readonly client_address: string | null;
  readonly tool_invocation_id: string | null;
  readonly queued_at_ms: string | null;
}

/** Adds or refreshes a worker; queued actions it can run stop counting down to failure. */
export async function upsertWorker(
  pool: Pool,
  w: {
    id: string;
    name: string;
    platform: readonly PlatformProperty[];
    offered: readonly string[];
    capacity: number;
    principal: string;
    nowMs: number;
    expiresMs: number;
  },
): Promise<WorkerState> {
  const { rows } = await pool.query<WorkerRow>(
    `WITH w AS (
       INSERT INTO workers (id, name, platform, offered, capacity, principal,
         registered_at_ms, last_seen_ms, expires_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, platform = excluded.platform,
         offered = excluded.offered, capacity = excluded.capacity, principal = excluded.principal,
         last_seen_ms = excluded.last_seen_ms, expires_ms = excluded.expires_ms
       RETURNING *),
     c AS (UPDATE executions SET unschedulable_at_ms = NULL
           WHERE unschedulable_at_ms IS NOT NULL AND required <@ $4::text[])
     SELECT w.*, (SELECT array_agg(id) FROM leases WHERE worker_id = w.id) AS lease_ids FROM w`,
    [
      w.id,
      w.name,
      JSON.stringify(w.platform),
      w.offered,
      w.capacity,
      w.principal,
      w.nowMs,
      w.expiresMs,
    ],
  );
  return workerOfRow(rows[0] as WorkerRow);
}

/**
 * Records a sign of life: the worker is present until `expiresMs` (or
 * longer, if an earlier long-poll said so). NOT_FOUND when it is gone.
 */
export async function touchWorker(
  pool: Pool,
  workerId: string,
  nowMs: number,
  expiresMs: number,
): Promise<WorkerInfo> {
  const { rows } = await pool.query<WorkerInfo>({
    name: 'kiln_touch_worker',
    text: `UPDATE workers SET last_seen_ms = $2, expires_ms = greatest(expires_ms, $3) WHERE id = $1
     RETURNING name, offered, capacity, principal,
       (SELECT array_agg(id ORDER BY id) FROM leases
        WHERE worker_id = $1 AND state = 'CANCELLED') AS cancelled`,
    values: [workerId, nowMs, expiresMs],
  });
  const w = rows[0];
  if (w === undefined) {
    throw workerNotRegistered(workerId);
  }
  return w;
}

/**
 * A sign of life of `workerId` (NOT_FOUND when it is gone) and its lease
 * `leaseId`, undefined when it holds no such lease; one query.
 */
export async function touchAndFindLease(
  pool: Pool,
  workerId: string,
  leaseId: string,
  nowMs: number,
  expiresMs: number,
): Promise<{ worker: { name: string; principal: string }; lease: LeaseToComplete | undefined }> {
  const { rows } = await pool.query<
    LeaseToComplete & { worker_name: string; worker_principal: string; held: boolean }
  >({
    name: 'kiln_touch_and_find_lease',
    text: `WITH w AS (UPDATE workers SET last_seen_ms = $3, expires_ms = greatest(expires_ms, $4)
                WHERE id = $1 RETURNING name, principal)
     SELECT w.name AS worker_name, w.principal AS worker_principal, l.id IS NOT NULL AS held,
       l.state <> 'CANCELLED' AND e.lease_id IS NOT DISTINCT FROM l.id AS live, l.execution_id,
       e.instance_name, e.digest_fn, e.digest_hash, e.digest_size, e.do_not_cache, e.principal,
       e.client_address, e.tool_invocation_id, e.queued_at_ms
     FROM w LEFT JOIN leases l ON l.id = $2 AND l.worker_id = $1
       LEFT JOIN executions e ON e.id = l.execution_id`,
    values: [workerId, leaseId, nowMs, expiresMs],
  });
  const row = rows[0];
  if (row === undefined) {
    throw workerNotRegistered(workerId);
  }
  return {
    worker: { name: row.worker_name, principal: row.worker_principal },
    lease: row.held ? row : undefined,
  };
}

/**
 * Releases a lease and, when it was live, completes every operation of its
 * execution with `response`; records the worker's sign of life (present
 * until `expiresMs` at least). Returns undefined when the worker no longer
 * held the lease, else the worker's cancelled leases.
 */
export async function releaseLease(
  pool: Pool,
  ctx: ExecutionContext,
  r: { workerId: string; workerName: string; leaseId: string; nowMs: number; expiresMs: number },
  response: ExecuteResponse,
): Promise<{ cancelled: string[] } | undefined> {
  // One round trip: the function (migration 5) locks, then completes in a
  // new statement, and its notifications carry a small response.
  const { rows } = await pool.query<{ held: boolean; cancelled: string[] | null }>({
    name: 'kiln_complete_lease',
    text: 'SELECT held, cancelled FROM complete_lease($1, $2, $3, $4, $5, $6, $7)',
    values: [
      r.leaseId,
      r.workerId,
      encodeResponse(response),
      r.workerName,
      r.nowMs,
      ctx.channels.ops,
      r.expiresMs,
    ],
  });
  const row = rows[0];
  return row?.held === true ? { cancelled: row.cancelled ?? [] } : undefined;
}

/**
 * A registered worker, whichever process it last called, with its live
 * leases (those its execution still belongs to); undefined when it is gone.
 */
export async function findWorker(
  pool: Pool,
  workerId: string,
): Promise<RegisteredWorker | undefined> {
  const { rows } = await pool.query<
    { worker_name: string; worker_principal: string } & Partial<LeaseRow>
  >(
    `SELECT w.name AS worker_name, w.principal AS worker_principal, l.id AS lease_id,
       l.state AS lease_state, l.attempt, l.deadline_ms, e.instance_name, e.digest_fn,
       e.digest_hash, e.digest_size, e.action, e.command, e.timeout_ms, e.priority,
       e.tool_invocation_id, e.correlated_invocations_id, e.traceparent
     FROM workers w
       LEFT JOIN leases l ON l.worker_id = w.id AND l.state <> 'CANCELLED'
       LEFT JOIN executions e ON e.id = l.execution_id AND e.lease_id = l.id
     WHERE w.id = $1 ORDER BY l.id`,
    [workerId],
  );
  const first = rows[0];
  if (first === undefined) return undefined;
  const leases = rows
    .filter((r) => r.lease_id != null && r.action != null)
    .map((r) => leaseOfRow(r as LeaseRow, workerId));
  return { id: workerId, name: first.worker_name, principal: first.worker_principal, leases };
}

/** Connected workers in registration order. */
export async function listWorkers(pool: Pool): Promise<WorkerState[]> {
  const { rows } = await pool.query<WorkerRow>(
    `SELECT w.*, (SELECT array_agg(id) FROM leases WHERE worker_id = w.id) AS lease_ids
     FROM workers w ORDER BY seq`,
  );
  return rows.map(workerOfRow);
}

/**
 * Puts a successful result (exit code 0, cacheable action) in the action
 * cache, before the operations complete, so a client that reads the cache
 * right after sees it. A failing cache is logged: the operations still get
 * the result.
 */
export async function storeResult(
  cache: ActionResultCache,
  log: Logger,
  lease: LeaseToComplete,
  result: ActionResult,
  worker: { id: string; name: string; principal: string },
): Promise<void> {
  if (result.exitCode !== 0 || lease.do_not_cache !== false) return;
  try {
    await cache.put(lease.instance_name ?? '', digestOfRow(lease), result, {
      source: 'execution',
      principal: lease.principal ?? '',
      worker: worker.name,
      workerSession: worker.id,
      workerPrincipal: worker.principal,
      toolInvocationId: lease.tool_invocation_id ?? '',
      clientAddress: lease.client_address ?? undefined,
    });
  } catch (err) {
    log.warn(
      { err, actionDigest: lease.digest_hash, instanceName: lease.instance_name },
      'storing an action result failed; the operations still get it',
    );
  }
}
