/**
 * Read-only queries of the PostgreSQL scheduler: operation listing with
 * paging, and the counters of `stats()`.
 */
import type { Pool } from 'pg';
import { invalidArgument, quote } from '../../errors.ts';
import type { PlatformProperty } from '../platform.ts';
import type { SchedulerPolicy } from '../policy.ts';
import type { ListOperationsQuery, OperationPage, SchedulerStats } from '../types.ts';
import { type OperationRow, operationOfRow } from './rows.ts';

/** One page of operations; the page token is the last sequence number returned. */
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
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown): void => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (token !== '') add(newest ? 'seq < ?' : 'seq > ?', token);
  if (query.stage !== undefined) add('stage = ?', query.stage);
  if (query.done !== undefined)
    where.push(query.done ? "stage = 'COMPLETED'" : "stage <> 'COMPLETED'");
  if (query.instanceName !== undefined) add('instance_name = ?', query.instanceName);
  if (query.toolInvocationId !== undefined) add('tool_invocation_id = ?', query.toolInvocationId);
  if (query.correlatedInvocationsId !== undefined) {
    add('correlated_invocations_id = ?', query.correlatedInvocationsId);
  }
  params.push(pageSize + 1);
  const { rows } = await pool.query<OperationRow>(
    `SELECT * FROM operations ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY seq ${newest ? 'DESC' : 'ASC'} LIMIT $${params.length}`,
    params,
  );
  const more = rows.length > pageSize;
  const page = more ? rows.slice(0, pageSize) : rows;
  return {
    operations: page.map(operationOfRow),
    nextPageToken: more ? String(page[page.length - 1]?.seq ?? '') : '',
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
