/**
 * The PostgreSQL scheduler's timed work, done by whichever process gets to
 * it first: leases past their deadline, workers silent past their timeout,
 * actions no worker can run, and done operations past their retention.
 * Each round starts with one query of four indexed minimums, so an idle
 * round costs a single cheap query and never scans the tables.
 */
import type { Pool, PoolClient } from 'pg';
import type { SchedulerPolicy } from '../policy.ts';
import { formatSeconds } from '../responses.ts';
import {
  type ExecutionContext,
  failUnschedulable,
  loseLease,
  startCountdownIfUnrunnable,
} from './executions.ts';

/** Runs `fn` in a transaction on a pooled connection. */
export async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/** The earliest time anything is due, or undefined when nothing is pending. */
export async function nextDue(pool: Pool, retentionMs: number): Promise<number | undefined> {
  const { rows } = await pool.query<{ due: string | null }>(
    `SELECT least(
       (SELECT min(deadline_ms) FROM leases WHERE state <> 'CANCELLED'),
       (SELECT min(expires_ms) FROM workers),
       (SELECT min(unschedulable_at_ms) FROM executions WHERE unschedulable_at_ms IS NOT NULL),
       (SELECT min(completed_at_ms) + $1 FROM operations WHERE completed_at_ms IS NOT NULL)
     ) AS due`,
    [retentionMs],
  );
  const due = rows[0]?.due;
  return due === null || due === undefined ? undefined : Number(due);
}

/** Does everything due at `nowMs`. */
export async function runDue(pool: Pool, ctx: ExecutionContext, nowMs: number): Promise<void> {
  await expireWorkers(pool, ctx, nowMs);
  await expireLeases(pool, ctx, nowMs);
  await failUnrunnable(pool, ctx, nowMs);
  await pool.query('DELETE FROM operations WHERE completed_at_ms <= $1', [
    nowMs - ctx.policy.completedRetentionMs,
  ]);
}

/**
 * Forgets done operations beyond the caps of the in-memory scheduler: more
 * than `maxCompletedOperations`, or responses (their stored size) beyond
 * `maxCompletedBytes`, the one completed longest ago first. The one
 * completed last stays, however large. Returns how many went.
 */
export async function pruneCompleted(pool: Pool, policy: SchedulerPolicy): Promise<number> {
  const { rowCount } = await pool.query(
    `WITH kept AS (
       SELECT seq, row_number() OVER w AS n, sum(coalesce(octet_length(response), 0)) OVER w AS bytes
       FROM operations WHERE completed_at_ms IS NOT NULL
       WINDOW w AS (ORDER BY completed_at_ms DESC, seq DESC))
     DELETE FROM operations o USING kept
     WHERE o.seq = kept.seq AND kept.n > 1 AND (kept.n > $1 OR kept.bytes > $2)`,
    [policy.maxCompletedOperations, policy.maxCompletedBytes],
  );
  return rowCount ?? 0;
}

/** Leases past timeout plus grace: cancelled (the worker is told) and their actions retried. */
async function expireLeases(pool: Pool, ctx: ExecutionContext, nowMs: number): Promise<void> {
  await inTransaction(pool, async (c) => {
    const { rows } = await c.query<{
      id: string;
      worker_id: string;
      execution_id: string | null;
      timeout_ms: string | null;
      worker_name: string | null;
    }>(
      `WITH due AS (SELECT id FROM leases WHERE state <> 'CANCELLED' AND deadline_ms <= $1
                    FOR UPDATE SKIP LOCKED),
            l AS (UPDATE leases SET state = 'CANCELLED' FROM due WHERE leases.id = due.id
                  RETURNING leases.id, leases.worker_id, leases.execution_id)
       SELECT l.*, e.timeout_ms, w.name AS worker_name
       FROM l LEFT JOIN executions e ON e.id = l.execution_id LEFT JOIN workers w ON w.id = l.worker_id`,
      [nowMs],
    );
    for (const lease of rows) {
      if (lease.execution_id !== null) {
        const reason = `the lease passed its ${formatSeconds(Number(lease.timeout_ms ?? 0))} timeout plus ${formatSeconds(ctx.policy.leaseGraceMs)} grace`;
        await loseLease(
          c,
          ctx,
          lease.execution_id,
          lease.id,
          lease.worker_name ?? lease.worker_id,
          reason,
          nowMs,
        );
      }
      await c.query('SELECT pg_notify($1, $2)', [ctx.channels.worker, lease.worker_id]);
    }
  });
}

/** Workers silent past their timeout: removed, their leases lost. */
async function expireWorkers(pool: Pool, ctx: ExecutionContext, nowMs: number): Promise<void> {
  const { rows } = await pool.query<{ id: string }>(
    'SELECT id FROM workers WHERE expires_ms <= $1',
    [nowMs],
  );
  for (const { id } of rows) {
    await removeWorker(
      pool,
      ctx,
      id,
      `no heartbeat for ${formatSeconds(ctx.policy.workerTimeoutMs)}`,
      nowMs,
      nowMs,
    );
  }
}

/**
 * Removes a worker (when it expired by `expiredBy`, or at once when that is
 * undefined); its live leases are lost, and queued actions only it could run
 * start their unschedulable countdown. Another process may have removed it
 * first: then nothing happens.
 */
export async function removeWorker(
  pool: Pool,
  ctx: ExecutionContext,
  workerId: string,
  reason: string,
  nowMs: number,
  expiredBy?: number,
): Promise<void> {
  await inTransaction(pool, async (c) => {
    const gone = await c.query<{ name: string }>(
      `DELETE FROM workers WHERE id = $1 AND ($2::bigint IS NULL OR expires_ms <= $2)
       RETURNING name`,
      [workerId, expiredBy ?? null],
    );
    const worker = gone.rows[0];
    if (worker === undefined) return;
    const leases = await c.query<{ id: string; execution_id: string | null; state: string }>(
      'DELETE FROM leases WHERE worker_id = $1 RETURNING id, execution_id, state',
      [workerId],
    );
    for (const lease of leases.rows) {
      if (lease.state === 'CANCELLED' || lease.execution_id === null) continue;
      await loseLease(c, ctx, lease.execution_id, lease.id, worker.name, reason, nowMs);
    }
    await c.query('SELECT pg_notify($1, $2)', [ctx.channels.worker, workerId]);
    // Queued actions that no remaining worker can run start waiting for one.
    const orphans = await c.query<{ id: string; required: string[] }>(
      `SELECT id, required FROM executions e
       WHERE state = 'QUEUED' AND unschedulable_at_ms IS NULL
         AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.offered @> e.required)`,
    );
    for (const o of orphans.rows) {
      await startCountdownIfUnrunnable(c, ctx, o.id, o.required, nowMs);
    }
  });
}

/** Queued actions whose countdown ran out: failed, unless a capable worker has come since. */
async function failUnrunnable(pool: Pool, ctx: ExecutionContext, nowMs: number): Promise<void> {
  await inTransaction(pool, async (c) => {
    const { rows } = await c.query<{ id: string; runnable: boolean }>(
      `SELECT id, EXISTS (SELECT 1 FROM workers w WHERE w.offered @> e.required) AS runnable
       FROM executions e WHERE unschedulable_at_ms <= $1 FOR UPDATE SKIP LOCKED`,
      [nowMs],
    );
    for (const row of rows) {
      if (row.runnable) {
        await c.query('UPDATE executions SET unschedulable_at_ms = NULL WHERE id = $1', [row.id]);
      } else {
        await failUnschedulable(c, ctx, row.id, nowMs);
      }
    }
  });
}
