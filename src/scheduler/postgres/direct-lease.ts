/**
 * Queueing an action straight into the lease of a worker that waits in this
 * process: the statement that creates the execution also leases it, when
 * that worker can run it, has room, and no queued action it could run is
 * ahead of it (so the new action is the one a claim would pick). It saves
 * the work notification, the claim of every process that would hear it
 * (all but one of which find nothing), and a round trip of the dispatch.
 * When the worker cannot take it, the action is queued and announced as
 * usual (see operation-writes.ts, queueOperation).
 */
import type { Pool } from 'pg';
import type { Digest } from '../../digest/digest.ts';
import type {
  Action,
  Command,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { detachBytes } from '../../util/detach-bytes.ts';
import type { Lease, OperationState } from '../types.ts';
import { type ExecutionContext, returnLeases, startCountdownIfUnrunnable } from './executions.ts';
import { inTransaction } from './maintenance.ts';
import {
  executionValues,
  type NewExecution,
  type OperationColumns,
  readOperation,
} from './operation-writes.ts';
import { type OperationRow, operationOfRow } from './rows.ts';
import type { Waiters } from './waiters.ts';
import type { Wakeups } from './wakeups.ts';

/**
 * `$1`…`$22` as in queueOperation's statement; `$23` the worker's id, `$24`
 * its name, `$25` the lease grace. The worker's row is read, not locked:
 * its poll is set aside for one submit at a time (Waiters.reserve), and its
 * poll is the only way to lease to it directly.
 */
const QUEUE_OR_LEASE = `
WITH w AS (
  SELECT id FROM workers
  WHERE id = $23 AND offered @> $16::text[]
    AND capacity > (SELECT count(*) FROM leases WHERE worker_id = $23)
    AND NOT EXISTS (SELECT 1 FROM executions q
                    WHERE q.state = 'QUEUED' AND q.required <@ workers.offered)
), e AS (
  INSERT INTO executions (id, dedup_key, state, instance_name, digest_fn, digest_hash,
    digest_size, action, command, do_not_cache, platform, required, priority, principal,
    client_address, tool_invocation_id, correlated_invocations_id, timeout_ms,
    queued_at_ms, queue_order, traceparent, attempts, lease_id, worker_name)
  SELECT $11, $12, CASE WHEN w.id IS NULL THEN 'QUEUED' ELSE 'EXECUTING' END, $2, $3, $4, $5,
    $13, $14, $15, $6, $16, $7, $17, $18, $8, $9, $19, $10, nextval('queue_order'), $20,
    CASE WHEN w.id IS NULL THEN 0 ELSE 1 END,
    CASE WHEN w.id IS NULL THEN NULL ELSE gen_random_uuid()::text END,
    CASE WHEN w.id IS NULL THEN NULL ELSE $24::text END
  FROM (SELECT 1) one LEFT JOIN w ON true
  ON CONFLICT (dedup_key) DO NOTHING
  RETURNING id, state, lease_id, worker_name, timeout_ms
), l AS (
  INSERT INTO leases (id, worker_id, execution_id, state, attempt, deadline_ms)
  SELECT lease_id, $23, id, 'PENDING', 1, $10::bigint + timeout_ms + $25::bigint
  FROM e WHERE state = 'EXECUTING'
), o AS (
  INSERT INTO operations (name, instance_name, digest_fn, digest_hash, digest_size, platform,
    priority, tool_invocation_id, correlated_invocations_id, created_at_ms, stage, worker,
    execution_id)
  SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, e.state, e.worker_name, e.id FROM e
  RETURNING *
), t AS (
  -- The build and the principal were served now (round-robin turns, as a
  -- claim records them, and in the same key order, so that the two never
  -- wait for each other's rows in a cycle).
  INSERT INTO fair_turns (key, served)
  SELECT k, nextval('fair_turn') FROM e,
    LATERAL (VALUES ('p' || chr(31) || $17::text),
                    ('i' || chr(31) || $17::text || chr(31) || $8::text)) AS v(k)
  WHERE e.state = 'EXECUTING'
  ORDER BY k
  ON CONFLICT (key) DO UPDATE SET served = excluded.served
), r AS (SELECT EXISTS (SELECT 1 FROM workers WHERE offered @> $16::text[]) AS runnable),
n AS (SELECT pg_notify($21, $22) FROM e, r WHERE r.runnable AND e.state = 'QUEUED')
SELECT o.*, r.runnable, e.lease_id, $10::bigint + e.timeout_ms + $25::bigint AS deadline_ms,
  (SELECT count(*) FROM n) AS notified
FROM o, e, r`;

/** The worker a direct lease goes to: a waiting poll's. */
export interface DirectWorker {
  readonly id: string;
  readonly name: string;
}

/** What the statement did: nothing (an identical action is in flight), queued, or leased. */
export type DirectOutcome =
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'queued'; readonly state: OperationState; readonly runnable: boolean }
  | { readonly kind: 'leased'; readonly state: OperationState; readonly lease: Lease };

/** The parts of the submit a lease repeats. */
export interface LeasedAction {
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly action: Action;
  readonly command: Command;
  readonly toolInvocationId: string;
  readonly correlatedInvocationsId: string;
}

/**
 * Creates the operation and its execution, leased to `worker` when it can
 * take it now, else queued (and announced when a worker can run it).
 */
export async function queueOrLease(
  pool: Pool,
  ctx: ExecutionContext,
  columns: OperationColumns,
  e: NewExecution,
  worker: DirectWorker,
  submitted: LeasedAction,
): Promise<DirectOutcome> {
  const { rows } = await pool.query<
    OperationRow & { runnable: boolean; lease_id: string | null; deadline_ms: string | null }
  >({
    name: 'kiln_queue_or_lease',
    text: QUEUE_OR_LEASE,
    values: [
      ...columns,
      ...executionValues(e),
      ctx.channels.work,
      JSON.stringify(e.required),
      worker.id,
      worker.name,
      ctx.policy.leaseGraceMs,
    ],
  });
  const row = rows[0];
  if (row === undefined) return { kind: 'duplicate' };
  const state = operationOfRow(row);
  if (row.lease_id === null) return { kind: 'queued', state, runnable: row.runnable };
  const lease: Lease = {
    id: row.lease_id,
    workerId: worker.id,
    state: 'PENDING',
    instanceName: submitted.instanceName,
    actionDigest: submitted.actionDigest,
    action: detachBytes(submitted.action),
    command: detachBytes(submitted.command),
    timeoutMs: e.timeoutMs,
    deadlineMs: Number(row.deadline_ms),
    attempt: 1,
    priority: e.priority,
    toolInvocationId: submitted.toolInvocationId,
    correlatedInvocationsId: submitted.correlatedInvocationsId,
  };
  return {
    kind: 'leased',
    state,
    lease: e.traceparent === undefined ? lease : { ...lease, traceparent: e.traceparent },
  };
}

/** What {@link submitToWaitingWorker} needs of the scheduler. */
export interface DirectLeaseContext {
  readonly pool: Pool;
  readonly ctx: ExecutionContext;
  readonly waiters: Waiters;
  readonly wakeups: Wakeups;
}

/**
 * Submits an action to run, leasing it at once to the longest-waiting poll
 * of this process whose worker can run it. Undefined when no such poll
 * waits, or an identical action is in flight (the caller then joins it).
 */
export async function submitToWaitingWorker(
  c: DirectLeaseContext,
  columns: OperationColumns,
  e: NewExecution,
  submitted: LeasedAction,
): Promise<OperationState | undefined> {
  const poll = c.waiters.reserve(e.required);
  const worker = poll?.worker;
  if (poll === undefined || worker === undefined) return undefined;
  let outcome: DirectOutcome | undefined;
  try {
    outcome = await queueOrLease(
      c.pool,
      c.ctx,
      columns,
      e,
      { id: poll.workerId, name: worker.workerName },
      submitted,
    );
  } finally {
    c.waiters.unreserve(poll);
    // Not leased to it: it waits for work as before, and is offered what
    // was announced while it was set aside.
    if (outcome?.kind !== 'leased') c.wakeups.serve([poll]);
  }
  if (outcome.kind === 'duplicate') return undefined;
  if (outcome.kind === 'leased') {
    // The poll ended meanwhile: the action goes back to the queue, announced.
    if (!c.waiters.settle(poll, [outcome.lease])) {
      await inTransaction(c.pool, (t) => returnLeases(t, c.ctx, [outcome.lease.id]));
    }
    return outcome.state;
  }
  if (outcome.runnable) return outcome.state;
  // The worker left meanwhile and no other can run it: its countdown starts, or it fails.
  return inTransaction(c.pool, async (t) => {
    if (await startCountdownIfUnrunnable(t, c.ctx, e.id, e.required, e.nowMs)) {
      await t.query('SELECT pg_notify($1, $2)', [c.ctx.channels.work, JSON.stringify(e.required)]);
    }
    return readOperation(t, outcome.state.name);
  });
}
