/**
 * Queries of the PostgreSQL scheduler that only read (the numbering of new
 * operations aside): operation listing with paging, and the counters of
 * `stats()`.
 */
import type { Pool } from 'pg';
import { invalidArgument, quote } from '../../errors.ts';
import type { PlatformProperty } from '../platform.ts';
import type { SchedulerPolicy } from '../policy.ts';
import type { ListOperationsQuery, OperationPage, SchedulerStats } from '../types.ts';
import { inTransaction } from './maintenance.ts';
import { type OperationRow, operationOfRow } from './rows.ts';

/** Serializes the numbering of new operations in one schema across processes. */
const LISTING_LOCK = 'SELECT pg_advisory_xact_lock(1802071151, hashtext(current_schema()))';

/**
 * Gives the operations committed since the last listing their place in the
 * listing order (`list_seq`), after every place given before. The order
 * of `seq` alone is not enough across processes: an Execute that took its
 * `seq` first may commit after another's, which a page token past the
 * latter would then skip for good. Operations locked at the moment (a
 * claim updating them) are numbered by a later listing.
 */
async function numberNewOperations(pool: Pool): Promise<void> {
  const pending = await pool.query('SELECT 1 FROM operations WHERE list_seq IS NULL LIMIT 1');
  if (pending.rowCount === 0) return;
  await inTransaction(pool, async (c) => {
    await c.query(LISTING_LOCK);
    await c.query(
      `WITH u AS (SELECT seq FROM operations WHERE list_seq IS NULL ORDER BY seq
                  FOR UPDATE SKIP LOCKED),
            n AS (SELECT seq, nextval('list_order') AS l FROM (SELECT seq FROM u ORDER BY seq) s)
       UPDATE operations o SET list_seq = n.l FROM n WHERE o.seq = n.seq`,
    );
  });
}

/**
 * One page of operations in listing order; the page token is the last
 * `list_seq` returned, so a token from one process works on any other.
 */
export async function listOperations(
  pool: Pool,
  policy: SchedulerPolicy,
  query: ListOperationsQuery,
): Promise<OperationPage> {
  const requested = query.pageSize ?? 0;
  if (!Number.isSafeInteger(requested) || requested < 0) {
    throw invalidArgument(`page_size ${requested} must be a non-negative integer`);
  }
  const pageSize = Math.min(
    requested === 0 ? policy.defaultPageSize : requested,
    policy.maxPageSize,
  );
  const token = query.pageToken ?? '';
  if (token !== '' && !/^[1-9][0-9]{0,15}$/.test(token)) {
    throw invalidArgument(`page_token ${quote(token)} is not valid`);
  }
  const newest = query.newestFirst === true;
  await numberNewOperations(pool);
  const where: string[] = ['list_seq IS NOT NULL'];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown): void => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (token !== '') add(newest ? 'list_seq < ?' : 'list_seq > ?', token);
  if (query.stage !== undefined) add('stage = ?', query.stage);
  if (query.done !== undefined)
    where.push(query.done ? "stage = 'COMPLETED'" : "stage <> 'COMPLETED'");
  if (query.instanceName !== undefined) add('instance_name = ?', query.instanceName);
  if (query.toolInvocationId !== undefined) add('tool_invocation_id = ?', query.toolInvocationId);
  if (query.correlatedInvocationsId !== undefined) {
    add('correlated_invocations_id = ?', query.correlatedInvocationsId);
  }
  params.push(pageSize + 1);
  const { rows } = await pool.query<OperationRow & { list_seq: string }>(
    `SELECT * FROM operations WHERE ${where.join(' AND ')}
     ORDER BY list_seq ${newest ? 'DESC' : 'ASC'} LIMIT $${params.length}`,
    params,
  );
  const more = rows.length > pageSize;
  const page = more ? rows.slice(0, pageSize) : rows;
  return {
    operations: page.map(operationOfRow),
    nextPageToken: more ? String(page[page.length - 1]?.list_seq ?? '') : '',
  };
}

/** Queue, operation and worker counters. */
export async function schedulerStats(pool: Pool): Promise<SchedulerStats> {
  const [platforms, principals, ops, workers] = await Promise.all([
    pool.query<{ platform: PlatformProperty[]; queued: string; executing: string }>(
      `SELECT platform, count(*) FILTER (WHERE state = 'QUEUED') AS queued,
         count(*) FILTER (WHERE state = 'EXECUTING') AS executing
       FROM executions GROUP BY platform`,
    ),
    pool.query<{ principal: string; queued: string; executing: string }>(
      `SELECT principal, count(*) FILTER (WHERE state = 'QUEUED') AS queued,
         count(*) FILTER (WHERE state = 'EXECUTING') AS executing
       FROM executions GROUP BY principal`,
    ),
    pool.query<{ active: string; completed: string }>(
      `SELECT count(*) FILTER (WHERE stage <> 'COMPLETED') AS active,
         count(*) FILTER (WHERE stage = 'COMPLETED') AS completed FROM operations`,
    ),
    pool.query<{ n: string; capacity: string | null }>(
      'SELECT count(*) AS n, sum(capacity) AS capacity FROM workers',
    ),
  ]);
  const busiestFirst = <E extends { queued: number; executing: number }>(a: E, b: E) =>
    b.queued + b.executing - (a.queued + a.executing);
  const queuedByPlatform = platforms.rows
    .map((r) => ({
      platform: r.platform,
      queued: Number(r.queued),
      executing: Number(r.executing),
    }))
    .sort(busiestFirst);
  return {
    queued: queuedByPlatform.reduce((n, p) => n + p.queued, 0),
    queuedByPlatform,
    executing: queuedByPlatform.reduce((n, p) => n + p.executing, 0),
    byPrincipal: principals.rows
      .map((r) => ({
        principal: r.principal,
        queued: Number(r.queued),
        executing: Number(r.executing),
      }))
      .filter((p) => p.queued + p.executing > 0)
      .sort(busiestFirst),
    activeOperations: Number(ops.rows[0]?.active ?? 0),
    completedOperations: Number(ops.rows[0]?.completed ?? 0),
    workers: Number(workers.rows[0]?.n ?? 0),
    workerCapacity: Number(workers.rows[0]?.capacity ?? 0),
  };
}
