/**
 * The operation side of the PostgreSQL scheduler in SQL: creating an
 * operation (a cache hit, a join of an in-flight execution, or a new queued
 * execution), cancelling and deleting one. Deduplication across processes
 * rests on the unique `executions.dedup_key`: two processes queueing the
 * same action at once insert one row, and the second joins it.
 */
import { status as Code } from '@grpc/grpc-js';
import type { Pool, PoolClient } from 'pg';
import { notFound, quote } from '../../errors.ts';
import type { ExecuteResponse } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { PrincipalQuotas } from '../principal-limits.ts';
import { failureResponse } from '../responses.ts';
import type { OperationState } from '../types.ts';
import {
  type ExecutionContext,
  finishExecution,
  startCountdownIfUnrunnable,
} from './executions.ts';
import { inTransaction } from './maintenance.ts';
import { encodeResponse, OP_EVENT_SQL, type OperationRow, operationOfRow } from './rows.ts';

/**
 * The columns of a new operation, in the order the statements below take
 * them as `$1`…`$10`: name, instance name, digest function, hash and size,
 * platform (JSON), priority, tool invocation, correlated invocations, created at.
 */
export type OperationColumns = readonly unknown[];

/** A new execution's columns besides those it shares with its first operation. */
export interface NewExecution {
  readonly id: string;
  /** Null for `do_not_cache` actions, which never share. */
  readonly dedupKey: string | null;
  readonly action: Buffer;
  readonly command: Buffer;
  readonly doNotCache: boolean;
  /** Required platform pairs. */
  readonly required: readonly string[];
  readonly principal: string;
  readonly clientAddress: string | undefined;
  readonly timeoutMs: number;
  readonly priority: number;
  readonly nowMs: number;
  /** The submitter's trace context, handed to the worker that leases it. */
  readonly traceparent: string | undefined;
}

/** Inserts a queued execution unless its dedup key is taken; `$1`…`$10` are the operation's columns. */
const INSERT_EXECUTION = `
  INSERT INTO executions (id, dedup_key, state, instance_name, digest_fn, digest_hash,
    digest_size, action, command, do_not_cache, platform, required, priority, principal,
    client_address, tool_invocation_id, correlated_invocations_id, timeout_ms,
    queued_at_ms, queue_order, traceparent)
  VALUES ($11, $12, 'QUEUED', $2, $3, $4, $5, $13, $14, $15, $6, $16, $7, $17, $18, $8, $9,
    $19, $10, nextval('queue_order'), $20)
  ON CONFLICT (dedup_key) DO NOTHING RETURNING id`;

/** Inserts the first operation of the execution CTE `e` (nothing when `e` is empty). */
const INSERT_FIRST_OPERATION = `
  INSERT INTO operations (name, instance_name, digest_fn, digest_hash, digest_size, platform,
    priority, tool_invocation_id, correlated_invocations_id, created_at_ms, stage, execution_id)
  SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'QUEUED', e.id FROM e RETURNING *`;

/** `$11`…`$20` of {@link INSERT_EXECUTION}. */
export function executionValues(e: NewExecution): unknown[] {
  return [
    e.id,
    e.dedupKey,
    e.action,
    e.command,
    e.doNotCache,
    e.required,
    e.principal,
    e.clientAddress ?? null,
    e.timeoutMs,
    e.traceparent ?? null,
  ];
}

/** NOT_FOUND unless the row exists. */
export function requireOperation<T>(row: T | undefined, name: string): T {
  if (row === undefined) {
    throw notFound(`operation ${quote(name)} not found (unknown, deleted or expired)`);
  }
  return row;
}

/** The current state of one operation. */
export async function readOperation(c: Pool | PoolClient, name: string): Promise<OperationState> {
  const { rows } = await c.query<OperationRow>('SELECT * FROM operations WHERE name = $1', [name]);
  return operationOfRow(requireOperation(rows[0], name));
}

/** Records an operation already done from the action cache. */
export async function insertCachedOperation(
  pool: Pool,
  columns: OperationColumns,
  worker: string | undefined,
  response: ExecuteResponse,
): Promise<OperationState> {
  const { rows } = await pool.query<OperationRow>(
    `INSERT INTO operations (name, instance_name, digest_fn, digest_hash, digest_size, platform,
       priority, tool_invocation_id, correlated_invocations_id, created_at_ms,
       stage, worker, response, completed_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'COMPLETED', $11, $12, $10) RETURNING *`,
    [...columns, worker ?? null, encodeResponse(response)],
  );
  return operationOfRow(rows[0] as OperationRow);
}

/**
 * Creates an operation for an action to run: it joins the in-flight
 * execution with the same dedup key, or queues a new one (after the
 * principal's `maxQueued` check) and announces it to waiting workers.
 */
export async function queueOperation(
  pool: Pool,
  ctx: ExecutionContext,
  quotas: PrincipalQuotas,
  columns: OperationColumns,
  e: NewExecution,
): Promise<OperationState> {
  const name = columns[0] as string;
  const limited = quotas.of(e.principal).maxQueued !== Number.POSITIVE_INFINITY;
  if (!limited) {
    // The usual case in one statement: a new action, queued and announced.
    // Named: each connection plans it once.
    const { rows } = await pool.query<OperationRow & { runnable: boolean }>({
      name: 'kiln_queue_operation',
      text: `WITH e AS (${INSERT_EXECUTION}),
         o AS (${INSERT_FIRST_OPERATION}),
         r AS (SELECT EXISTS (SELECT 1 FROM workers WHERE offered @> $16::text[]) AS runnable),
         n AS (SELECT pg_notify($21, $22) FROM e, r WHERE r.runnable)
       SELECT o.*, r.runnable, (SELECT count(*) FROM n) AS notified FROM o, r`,
      values: [...columns, ...executionValues(e), ctx.channels.work, JSON.stringify(e.required)],
    });
    const row = rows[0];
    if (row?.runnable === true) return operationOfRow(row);
    if (row !== undefined) {
      // No worker can run it (yet): its countdown starts, or it fails at once.
      return inTransaction(pool, async (c) => {
        if (await startCountdownIfUnrunnable(c, ctx, e.id, e.required, e.nowMs)) {
          await c.query('SELECT pg_notify($1, $2)', [
            ctx.channels.work,
            JSON.stringify(e.required),
          ]);
        }
        return readOperation(c, name);
      });
    }
    // An identical action is in flight: join it below.
  }
  return inTransaction(pool, async (c) => {
    for (;;) {
      if (e.dedupKey !== null) {
        const joined = await join(c, e.dedupKey, columns, e.priority);
        if (joined !== undefined) return joined;
      }
      await checkQuota(c, quotas, e.principal);
      const { rows } = await c.query<OperationRow>(
        `WITH e AS (${INSERT_EXECUTION}) ${INSERT_FIRST_OPERATION}`,
        [...columns, ...executionValues(e)],
      );
      const row = rows[0];
      // Another process queued the same action meanwhile: join theirs.
      if (row === undefined) continue;
      if (await startCountdownIfUnrunnable(c, ctx, e.id, e.required, e.nowMs)) {
        await c.query('SELECT pg_notify($1, $2)', [ctx.channels.work, JSON.stringify(e.required)]);
        return operationOfRow(row);
      }
      return readOperation(c, name);
    }
  });
}

/** Joins the in-flight execution of `key` with a new operation; undefined when there is none. */
async function join(
  c: PoolClient,
  key: string,
  columns: OperationColumns,
  priority: number,
): Promise<OperationState | undefined> {
  const { rows } = await c.query<{
    id: string;
    state: string;
    worker_name: string | null;
    traceparent: string | null;
  }>('SELECT id, state, worker_name, traceparent FROM executions WHERE dedup_key = $1 FOR UPDATE', [
    key,
  ]);
  const e = rows[0];
  if (e === undefined) return undefined;
  const stage = e.state === 'QUEUED' ? 'QUEUED' : 'EXECUTING';
  const inserted = await c.query<OperationRow>(
    `INSERT INTO operations (name, instance_name, digest_fn, digest_hash, digest_size, platform,
       priority, tool_invocation_id, correlated_invocations_id, created_at_ms, stage, worker,
       execution_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
    [...columns, stage, stage === 'QUEUED' ? null : e.worker_name, e.id],
  );
  // A more urgent duplicate pulls a queued execution forward.
  if (stage === 'QUEUED') {
    await c.query('UPDATE executions SET priority = $2 WHERE id = $1 AND priority > $2', [
      e.id,
      priority,
    ]);
  }
  return {
    ...operationOfRow(inserted.rows[0] as OperationRow),
    joined: { traceparent: e.traceparent ?? undefined },
  };
}

/** RESOURCE_EXHAUSTED when `principal` is at its `maxQueued`; no query without a limit. */
async function checkQuota(
  c: PoolClient,
  quotas: PrincipalQuotas,
  principal: string,
): Promise<void> {
  if (quotas.of(principal).maxQueued === Number.POSITIVE_INFINITY) return;
  const { rows } = await c.query<{ n: string }>(
    "SELECT count(*) AS n FROM executions WHERE principal = $1 AND state = 'QUEUED'",
    [principal],
  );
  quotas.checkQueued(principal, Number(rows[0]?.n ?? 0));
}

/**
 * Completes an operation with CANCELLED. When it was the last one waiting
 * for its execution, the execution is dropped and its worker (if any) told
 * to stop. Returns the resulting state; a done operation is left as it is.
 */
export async function cancelOperation(
  pool: Pool,
  ctx: ExecutionContext,
  name: string,
  nowMs: number,
): Promise<OperationState> {
  return inTransaction(pool, async (c) => {
    const { rows } = await c.query<{ execution_id: string | null }>(
      'SELECT execution_id FROM operations WHERE name = $1',
      [name],
    );
    const row = requireOperation(rows[0], name);
    if (row.execution_id === null) return readOperation(c, name);
    const exec = await c.query<{ lease_id: string | null; waiting: string }>(
      `SELECT lease_id, (SELECT count(*) FROM operations WHERE execution_id = $1) AS waiting
       FROM executions WHERE id = $1 FOR UPDATE`,
      [row.execution_id],
    );
    const cancelled = failureResponse(Code.CANCELLED, 'the operation was cancelled');
    await c.query(
      `WITH o AS (UPDATE operations SET stage = 'COMPLETED', execution_id = NULL, response = $2,
           completed_at_ms = $3, version = version + 1
         WHERE name = $1 AND execution_id IS NOT NULL RETURNING name, stage, worker, version)
       SELECT pg_notify($4, ${OP_EVENT_SQL}) FROM o`,
      [name, encodeResponse(cancelled), nowMs, ctx.channels.ops],
    );
    const e = exec.rows[0];
    if (e !== undefined && Number(e.waiting) <= 1) {
      if (e.lease_id !== null) {
        const lease = await c.query<{ worker_id: string }>(
          `UPDATE leases SET state = 'CANCELLED', execution_id = NULL WHERE id = $1
           RETURNING worker_id`,
          [e.lease_id],
        );
        const workerId = lease.rows[0]?.worker_id;
        if (workerId !== undefined) {
          await c.query('SELECT pg_notify($1, $2)', [ctx.channels.worker, workerId]);
        }
      }
      await finishExecution(
        c,
        ctx,
        row.execution_id,
        failureResponse(Code.CANCELLED, 'every waiting operation was cancelled'),
        undefined,
        nowMs,
      );
    }
    return readOperation(c, name);
  });
}

/** Forgets an operation (its execution runs on); its watchers end with NOT_FOUND. */
export async function deleteOperation(
  pool: Pool,
  ctx: ExecutionContext,
  name: string,
): Promise<void> {
  const { rowCount } = await pool.query(
    `WITH d AS (DELETE FROM operations WHERE name = $1 RETURNING name)
     SELECT pg_notify($2, json_build_array(name, 'DELETED', NULL, 2147483647)::text) FROM d`,
    [name, ctx.channels.ops],
  );
  if (rowCount === 0) requireOperation(undefined, name);
}
