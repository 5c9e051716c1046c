/**
 * Builds the scheduler `execution.scheduler` asks for: the in-memory one, or
 * the PostgreSQL one (loaded, with its database driver, only when configured).
 */
import type { ExecutionConfig } from '../config/execution-schema.ts';
import { InMemoryScheduler } from '../scheduler/in-memory-scheduler.ts';
import type { SchedulerPolicy } from '../scheduler/policy.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { ActionResultCache } from '../scheduler/types.ts';
import type { Logger } from '../util/logger.ts';

/** The scheduler of `exec`; rejects with UNAVAILABLE when its database cannot be opened. */
export async function openScheduler(
  exec: ExecutionConfig,
  actionCache: ActionResultCache,
  log: Logger,
): Promise<Scheduler> {
  const policy: Partial<SchedulerPolicy> = {
    defaultTimeoutMs: exec.defaultTimeoutMs,
    maxTimeoutMs: exec.maxTimeoutMs,
    workerTimeoutMs: exec.workerTimeoutMs,
    unschedulableTimeoutMs: exec.unschedulableTimeoutMs,
    maxRetries: exec.maxRetries,
    principalLimits: exec.principalLimits,
  };
  if (exec.scheduler === 'memory') return new InMemoryScheduler({ actionCache, log, policy });
  const { postgres } = exec.scheduler;
  const { PostgresScheduler } = await import('../scheduler/postgres/postgres-scheduler.ts');
  const scheduler = await PostgresScheduler.open({
    url: postgres.url,
    schema: postgres.schema,
    poolSize: postgres.poolSize,
    actionCache,
    log,
    policy,
  });
  log.info({ schema: postgres.schema }, 'scheduler state in PostgreSQL');
  return scheduler;
}
