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
 *
 * Principals at their `maxExecuting` are skipped, and a claim leases no more
 * of a principal's actions than it has places left. With such limits the
 * claims of every process take turns (an advisory lock), so two processes
 * never both fill a principal's last place.
 */
import type { Pool } from 'pg';
import type { PrincipalLimits } from '../principal-limits.ts';
import type { Lease } from '../types.ts';
import type { ExecutionContext } from './executions.ts';
import { inTransaction } from './maintenance.ts';
import { type LeaseRow, leaseOfRow, OP_EVENT_SQL } from './rows.ts';
import type { WorkerInfo } from './worker-writes.ts';

/**
 * What a claim needs besides the worker id: the worker's name, offers and
 * capacity, or `touchUntilMs`, when the claim itself records the worker's
 * sign of life (present until then) and reads them from its row.
 */
export type ClaimRequest = ClaimOptions &
  (
    | {
        readonly workerName: string;
        /** The worker's offered platform pairs. */
        readonly offered: readonly string[];
        readonly capacity: number;
        readonly touchUntilMs?: undefined;
      }
    | { readonly touchUntilMs: number }
  );

/** The parts of a {@link ClaimRequest} every claim has. */
interface ClaimOptions {
  readonly workerId: string;
  /** At most this many; undefined: free capacity. */
  readonly maxLeases: number | undefined;
  readonly nowMs: number;
  readonly leaseGraceMs: number;
  readonly opsChannel: string;
  /** The principals' `maxExecuting` (see {@link executingLimits}); undefined when none has one. */
  readonly limits?: ExecutingLimits;
}

/** Each principal's `maxExecuting` as the claim reads it; null is unlimited. */
export interface ExecutingLimits {
  /** Principals with an entry of their own (which replaces the default). */
  readonly principals: Readonly<Record<string, number | null>>;
  readonly default: number | null;
}

/** The `maxExecuting` limits of `limits`, or undefined when no principal has one. */
export function executingLimits(limits: PrincipalLimits): ExecutingLimits | undefined {
  const principals: Record<string, number | null> = {};
  let any = limits.default?.maxExecuting !== undefined;
  for (const [name, quota] of Object.entries(limits.principals ?? {})) {
    principals[name] = quota.maxExecuting ?? null;
    any ||= quota.maxExecuting !== undefined;
  }
  return any ? { principals, default: limits.default?.maxExecuting ?? null } : undefined;
}

/**
 * An action of `principal` (of any principal when null) stopped running
 * and may have freed one of its `maxExecuting` places: waiting workers of
 * every process look again, if the principal has queued work.
 */
export async function announceFreedPlace(
  pool: Pool,
  ctx: ExecutionContext,
  principal: string | null,
): Promise<void> {
  await pool.query(
    `SELECT pg_notify($1, '[]') WHERE EXISTS (SELECT 1 FROM executions
       WHERE state = 'QUEUED' AND ($2::text IS NULL OR principal = $2))`,
    [ctx.channels.work, principal],
  );
}

/** Serializes limited claims of one schema across processes ("kiln" and the schema). */
const LIMITED_CLAIM_LOCK = 'SELECT pg_advisory_xact_lock(1802071150, hashtext(current_schema()))';

/** The leases handed out, and how many the worker could still take before the claim. */
export interface ClaimOutcome {
  readonly leases: Lease[];
  readonly room: number;
  /**
   * How many queued actions it could run the claim considered; 0 with
   * room: none was queued for this kind of worker (at its snapshot).
   */
  readonly candidates: number;
  /** The worker's row, read by a claim with `touchUntilMs`; undefined when it is gone. */
  readonly worker?: WorkerInfo;
}

const CLAIM_SQL = `
WITH touched AS (
  -- With $11 (touchUntilMs): the sign of life, and the worker as its row says.
  UPDATE workers SET last_seen_ms = $6, expires_ms = greatest(expires_ms, $11::bigint)
  WHERE id = $1 AND $11::bigint IS NOT NULL
  RETURNING name, offered, capacity, principal,
    (SELECT array_agg(id ORDER BY id) FROM leases
     WHERE worker_id = $1 AND state = 'CANCELLED') AS cancelled
), wk AS (
  SELECT name, offered, capacity, principal, cancelled FROM touched
  UNION ALL
  SELECT $2::text, $5::text[], $3::int, NULL::text, NULL::text[] WHERE $11::bigint IS NULL
), room AS (
  SELECT greatest(0, least(coalesce($4::int, wk.capacity),
    wk.capacity - (SELECT count(*) FROM leases WHERE worker_id = $1)))::int AS n FROM wk
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
  -- within the group, with the group's round-robin turns: a few more than
  -- the worker has room for, since claims running at the same time skip
  -- each other's (SKIP LOCKED) and must then find the next ones.
  SELECT c.id, c.rn, groups.priority, c.queue_order, groups.principal, a.allowance,
    coalesce(pt.served, 0) AS principal_turn, coalesce(it.served, 0) AS build_turn
  FROM groups
  LEFT JOIN fair_turns pt ON pt.key = 'p' || chr(31) || groups.principal
  LEFT JOIN fair_turns it
    ON it.key = 'i' || chr(31) || groups.principal || chr(31) || groups.tool_invocation_id,
  -- Places the principal has left under its maxExecuting; null when unlimited.
  LATERAL (
    SELECT CASE WHEN m.max IS NOT NULL THEN greatest(0, m.max - (
      SELECT count(*) FROM executions x
      WHERE x.state = 'EXECUTING' AND x.principal = groups.principal)) END AS allowance
    FROM (SELECT CASE WHEN $9::jsonb ? groups.principal THEN ($9::jsonb ->> groups.principal)::int
                 ELSE $10::int END AS max) m
  ) a,
  LATERAL (
    SELECT id, queue_order, row_number() OVER (ORDER BY queue_order) AS rn FROM (
      SELECT id, queue_order FROM executions
      WHERE state = 'QUEUED' AND priority = groups.priority AND principal = groups.principal
        AND tool_invocation_id = groups.tool_invocation_id
        AND required <@ (SELECT offered FROM wk)
      ORDER BY queue_order
      LIMIT least((SELECT CASE WHEN n = 0 THEN 0 ELSE n + 8 END FROM room), a.allowance)) f
  ) c
), picked AS (
  SELECT e.id, r.principal, r.allowance, r.priority, r.rn, r.principal_turn, r.build_turn,
    r.queue_order
  FROM ranked r JOIN executions e ON e.id = r.id
  WHERE e.state = 'QUEUED'
  ORDER BY r.priority, r.rn, r.principal_turn, r.build_turn, r.queue_order
  LIMIT (SELECT n FROM room)
  FOR UPDATE OF e SKIP LOCKED
), allowed AS (
  -- A principal with several builds may have been picked past its places.
  SELECT id FROM (
    SELECT id, allowance, row_number() OVER (PARTITION BY principal
      ORDER BY priority, rn, principal_turn, build_turn, queue_order) AS nth FROM picked
  ) p WHERE allowance IS NULL OR nth <= allowance
), upd AS (
  UPDATE executions x SET state = 'EXECUTING', attempts = x.attempts + 1,
    lease_id = gen_random_uuid()::text, worker_name = (SELECT name FROM wk),
    unschedulable_at_ms = NULL
  FROM allowed WHERE x.id = allowed.id
  RETURNING x.*
), ins AS (
  INSERT INTO leases (id, worker_id, execution_id, state, attempt, deadline_ms)
  SELECT lease_id, $1, id, 'PENDING', attempts, $6::bigint + timeout_ms + $7::bigint FROM upd
), ops AS (
  UPDATE operations o SET stage = 'EXECUTING', worker = upd.worker_name, version = o.version + 1
  FROM upd WHERE o.execution_id = upd.id AND o.stage <> 'COMPLETED'
  RETURNING o.name, o.stage, o.worker, o.version
), turns AS (
  -- In key order, as every statement that records turns: two of them
  -- locking the same rows in opposite orders would deadlock.
  INSERT INTO fair_turns (key, served)
  SELECT k, nextval('fair_turn') FROM (SELECT DISTINCT k FROM upd,
    LATERAL (VALUES ('p' || chr(31) || upd.principal),
                    ('i' || chr(31) || upd.principal || chr(31) || upd.tool_invocation_id)) AS v(k)) d
  ORDER BY k
  ON CONFLICT (key) DO UPDATE SET served = excluded.served
)
SELECT upd.lease_id, 'PENDING' AS lease_state, upd.attempts AS attempt,
  $6::bigint + upd.timeout_ms + $7::bigint AS deadline_ms,
  upd.instance_name, upd.digest_fn, upd.digest_hash, upd.digest_size, upd.action, upd.command,
  upd.timeout_ms, upd.priority, upd.tool_invocation_id, upd.correlated_invocations_id,
  upd.traceparent, room.n AS room, (SELECT count(*) FROM ranked)::int AS candidates,
  wk.name AS worker_name, wk.offered AS worker_offered,
  wk.capacity AS worker_capacity, wk.principal AS worker_principal,
  wk.cancelled AS worker_cancelled,
  (SELECT count(pg_notify($8, ${OP_EVENT_SQL})) FROM ops) AS notified
FROM wk CROSS JOIN room LEFT JOIN upd ON true ORDER BY upd.priority, upd.queue_order`;

/**
 * Claims up to the worker's free capacity (and `maxLeases`) in one
 * statement; with `touchUntilMs`, the same statement is the worker's sign
 * of life (and finds no row when the worker is gone).
 */
export async function claim(pool: Pool, r: ClaimRequest): Promise<ClaimOutcome> {
  const known = r.touchUntilMs === undefined ? r : undefined;
  const params = [
    ...[r.workerId, known?.workerName ?? null, known?.capacity ?? null, r.maxLeases ?? null],
    ...[known?.offered ?? null, r.nowMs, r.leaseGraceMs, r.opsChannel],
    ...[JSON.stringify(r.limits?.principals ?? {}), r.limits?.default ?? null],
    r.touchUntilMs ?? null,
  ];
  type Row = LeaseRow & {
    room: number;
    candidates: number;
    lease_id: string | null;
    worker_name: string;
    worker_offered: string[];
    worker_capacity: number;
    worker_principal: string | null;
    worker_cancelled: string[] | null;
  };
  // Named: each connection plans the statement once, not on every claim.
  const statement = { name: 'kiln_claim', text: CLAIM_SQL, values: params };
  const { rows } =
    r.limits === undefined
      ? await pool.query<Row>(statement)
      : await inTransaction(pool, async (c) => {
          await c.query(LIMITED_CLAIM_LOCK);
          return c.query<Row>(statement);
        });
  // One row even when nothing was leased (lease_id null), carrying the room the worker had.
  const first = rows[0];
  return {
    leases: rows.filter((row) => row.lease_id !== null).map((row) => leaseOfRow(row, r.workerId)),
    room: Number(first?.room ?? 0),
    candidates: Number(first?.candidates ?? 0),
    worker:
      first === undefined || r.touchUntilMs === undefined
        ? undefined
        : {
            name: first.worker_name,
            offered: first.worker_offered,
            capacity: first.worker_capacity,
            principal: first.worker_principal ?? '',
            cancelled: first.worker_cancelled,
          },
  };
}
