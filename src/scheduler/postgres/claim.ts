/**
 * Leasing queued actions to a worker in one statement: pick the most urgent
 * actions it can run (`FOR UPDATE SKIP LOCKED`, so processes claiming at the
 * same time never wait for or take the same row), turn them into leases, move
 * their operations to EXECUTING and tell their watchers.
 *
 * The candidates are the first `room` actions the worker can run of each
 * (priority, principal, build) group, found through the queue index, so a
 * claim reads O(groups × room) rows however long the queue is.
 *
 * Order: the lowest priority value first; then each build's first queued
 * action before any build's second (so one big build cannot starve a
 * small one); then the principal, and within it the build, served longest
 * ago (round-robin through `fair_turns`); then queue order (a retried action
 * counts as queued before everything else).
 */
import type { Pool } from 'pg';
import type { Lease } from '../types.ts';
import { type LeaseRow, leaseOfRow, OP_EVENT_SQL } from './rows.ts';

/** What a claim needs besides the worker id. */
export interface ClaimRequest {
  readonly workerId: string;
  readonly workerName: string;
  /** The worker's offered platform pairs. */
  readonly offered: readonly string[];
  readonly capacity: number;
  /** At most this many; undefined: free capacity. */
  readonly maxLeases: number | undefined;
  readonly nowMs: number;
  readonly leaseGraceMs: number;
  readonly opsChannel: string;
}

/** The leases handed out, and how many the worker could still take before the claim. */
export interface ClaimOutcome {
  readonly leases: Lease[];
  readonly room: number;
}

const CLAIM_SQL = `
WITH room AS (
  SELECT greatest(0, least($4::int, $3::int - (SELECT count(*) FROM leases WHERE worker_id = $1)))::int AS n
), groups AS (
  -- Each (priority, principal, build) with queued actions, found by skipping
  -- through the queue index group by group, not by reading every queued row.
  WITH RECURSIVE g AS (
    (SELECT priority, principal, tool_invocation_id FROM executions WHERE state = 'QUEUED'
     ORDER BY priority, principal, tool_invocation_id LIMIT 1)
    UNION ALL
    SELECT n.priority, n.principal, n.tool_invocation_id FROM g, LATERAL (
      SELECT priority, principal, tool_invocation_id FROM executions
      WHERE state = 'QUEUED'
        AND (priority, principal, tool_invocation_id) > (g.priority, g.principal, g.tool_invocation_id)
      ORDER BY priority, principal, tool_invocation_id LIMIT 1) n
  )
  SELECT * FROM g
), ranked AS MATERIALIZED (
  -- The first few actions of each group that this worker can run, numbered
  -- within the group, with the group's round-robin turns.
  SELECT c.id, c.rn, groups.priority, c.queue_order,
    coalesce(pt.served, 0) AS principal_turn, coalesce(it.served, 0) AS build_turn
  FROM groups
  LEFT JOIN fair_turns pt ON pt.key = 'p' || chr(31) || groups.principal
  LEFT JOIN fair_turns it
    ON it.key = 'i' || chr(31) || groups.principal || chr(31) || groups.tool_invocation_id,
  LATERAL (
    SELECT id, queue_order, row_number() OVER (ORDER BY queue_order) AS rn FROM (
      SELECT id, queue_order FROM executions
      WHERE state = 'QUEUED' AND priority = groups.priority AND principal = groups.principal
        AND tool_invocation_id = groups.tool_invocation_id AND required <@ $5::text[]
      ORDER BY queue_order LIMIT (SELECT n FROM room)) f
  ) c
), picked AS (
  SELECT e.id FROM ranked r JOIN executions e ON e.id = r.id
  WHERE e.state = 'QUEUED'
  ORDER BY r.priority, r.rn, r.principal_turn, r.build_turn, r.queue_order
  LIMIT (SELECT n FROM room)
  FOR UPDATE OF e SKIP LOCKED
), upd AS (
  UPDATE executions x SET state = 'EXECUTING', attempts = x.attempts + 1,
    lease_id = gen_random_uuid()::text, worker_name = $2, unschedulable_at_ms = NULL
  FROM picked WHERE x.id = picked.id
  RETURNING x.*
), ins AS (
  INSERT INTO leases (id, worker_id, execution_id, state, attempt, deadline_ms)
  SELECT lease_id, $1, id, 'PENDING', attempts, $6::bigint + timeout_ms + $7::bigint FROM upd
), ops AS (
  UPDATE operations o SET stage = 'EXECUTING', worker = $2, version = o.version + 1
  FROM upd WHERE o.execution_id = upd.id AND o.stage <> 'COMPLETED'
  RETURNING o.name, o.stage, o.worker, o.version
), turns AS (
  INSERT INTO fair_turns (key, served)
  SELECT k, nextval('fair_turn') FROM (SELECT DISTINCT k FROM upd,
    LATERAL (VALUES ('p' || chr(31) || upd.principal),
                    ('i' || chr(31) || upd.principal || chr(31) || upd.tool_invocation_id)) AS v(k)) d
  ON CONFLICT (key) DO UPDATE SET served = excluded.served
)
SELECT upd.lease_id, 'PENDING' AS lease_state, upd.attempts AS attempt,
  $6::bigint + upd.timeout_ms + $7::bigint AS deadline_ms,
  upd.instance_name, upd.digest_fn, upd.digest_hash, upd.digest_size, upd.action, upd.command,
  upd.timeout_ms, upd.priority, upd.tool_invocation_id, upd.correlated_invocations_id,
  (SELECT n FROM room) AS room,
  (SELECT count(pg_notify($8, ${OP_EVENT_SQL})) FROM ops) AS notified
FROM room LEFT JOIN upd ON true ORDER BY upd.priority, upd.queue_order`;

/** Claims up to the worker's free capacity (and `maxLeases`) in one statement. */
export async function claim(pool: Pool, r: ClaimRequest): Promise<ClaimOutcome> {
  const max = r.maxLeases ?? r.capacity;
  const { rows } = await pool.query<LeaseRow & { room: number; lease_id: string | null }>(
    CLAIM_SQL,
    [r.workerId, r.workerName, r.capacity, max, r.offered, r.nowMs, r.leaseGraceMs, r.opsChannel],
  );
  // One row even when nothing was leased (lease_id null), carrying the room the worker had.
  return {
    leases: rows.filter((row) => row.lease_id !== null).map((row) => leaseOfRow(row, r.workerId)),
    room: Number(rows[0]?.room ?? 0),
  };
}
