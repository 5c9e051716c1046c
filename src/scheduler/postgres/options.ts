/**
 * The options of the PostgreSQL scheduler (see postgres-scheduler.ts), in a
 * file of their own so that the scheduler's file holds only its behaviour.
 */
import type { Logger } from '../../util/logger.ts';
import type { Clock } from '../clock.ts';
import type { IdGenerator } from '../ids.ts';
import type { SchedulerPolicy } from '../policy.ts';
import type { ActionResultCache } from '../types.ts';

/** Options for `PostgresScheduler.open` (postgres-scheduler.ts). */
export interface PostgresSchedulerOptions {
  /** `postgresql://user@host:port/database`. */
  readonly url: string;
  /** Schema holding the tables; created when missing. Default `kiln`. */
  readonly schema?: string;
  /** Most pooled connections (the listening one not counted). Default 10. */
  readonly poolSize?: number;
  readonly actionCache: ActionResultCache;
  readonly clock?: Clock;
  /** Operation names; default random UUIDs (unique across processes). */
  readonly ids?: IdGenerator;
  readonly log?: Logger;
  readonly policy?: Partial<SchedulerPolicy>;
  /** Longest gap between two looks for due work (expired leases and workers). Default 1 s. */
  readonly maintenanceIntervalMs?: number;
  /**
   * Make every call first do whatever timed work was due at the moment of
   * the call (one more query each): tests on a fake clock then see a lease
   * expire right after `advance`, as with the in-memory scheduler's timers.
   * Default false.
   */
  readonly awaitMaintenance?: boolean;
}
