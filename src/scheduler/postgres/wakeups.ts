/**
 * What wakes this process's waiters: a queued action is claimed for the
 * longest-waiting poll that can run it, and operation changes are handed
 * to watchers (stage changes straight from the notification, completions
 * after reading the response). Claims for polls run one at a time per
 * process, so a burst of notifications does not become a burst of queries.
 */
import type { Pool } from 'pg';
import type { Logger } from '../../util/logger.ts';
import type { Clock } from '../clock.ts';
import { claim } from './claim.ts';
import type { OperationEvent } from './events.ts';
import { type ExecutionContext, returnLeases } from './executions.ts';
import { inTransaction } from './maintenance.ts';
import { type OperationRow, operationOfRow } from './rows.ts';
import type { Poll, Waiters } from './waiters.ts';

/** Options of {@link Wakeups}. */
export interface WakeupsOptions {
  readonly pool: Pool;
  readonly ctx: ExecutionContext;
  readonly clock: Clock;
  readonly log: Logger;
  readonly waiters: Waiters;
  readonly closed: () => boolean;
}

/** Serves waiting polls and watchers from notifications. */
export class Wakeups {
  readonly #pool: Pool;
  readonly #ctx: ExecutionContext;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #waiters: Waiters;
  readonly #closed: () => boolean;
  /** Counts work notifications, so a poll can tell whether it missed one while claiming. */
  #workHeard = 0;
  #claims: Promise<void> = Promise.resolve();

  constructor(options: WakeupsOptions) {
    this.#pool = options.pool;
    this.#ctx = options.ctx;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#waiters = options.waiters;
    this.#closed = options.closed;
  }

  /** How many work notifications arrived so far. */
  get workHeard(): number {
    return this.#workHeard;
  }

  /** Resolves once the claims started so far are done. */
  idle(): Promise<void> {
    return this.#claims.catch(() => {});
  }

  /** Work requiring `required` was queued somewhere: offer it to matching polls. */
  onWork(required: readonly string[]): void {
    this.#workHeard++;
    this.serve([...this.#waiters.pollsFor(required)]);
  }

  /**
   * Offers queued work to waiting polls, longest-waiting first, one claim at
   * a time in this process; stops at the first poll whose worker had room
   * but got nothing (the work is gone).
   */
  serve(polls: Poll[]): void {
    if (polls.length === 0) return;
    this.#claims = this.#claims.then(async () => {
      for (const poll of polls) {
        const { worker } = poll;
        if (poll.settled || worker === undefined || this.#closed()) continue;
        try {
          const out = await claim(this.#pool, {
            workerId: poll.workerId,
            workerName: worker.workerName,
            offered: worker.offered,
            capacity: worker.capacity,
            maxLeases: worker.maxLeases,
            nowMs: this.#clock.now(),
            leaseGraceMs: this.#ctx.policy.leaseGraceMs,
            opsChannel: this.#ctx.channels.ops,
          });
          if (out.leases.length > 0) {
            // A poll that ended meanwhile cannot take them: they go back to the queue.
            if (!this.#waiters.settle(poll, out.leases)) {
              const ids = out.leases.map((l) => l.id);
              await inTransaction(this.#pool, (c) => returnLeases(c, this.#ctx, ids));
            }
            continue;
          }
          if (out.room > 0) return;
        } catch (err) {
          this.#log.warn(
            { err, worker: worker.workerName },
            'claiming work for a waiting worker failed',
          );
          return;
        }
      }
    });
  }

  /**
   * Applies operation changes to this process's watchers: a stage change
   * from the notification alone, a completion after reading the response.
   */
  onOperations(events: readonly OperationEvent[]): void {
    const completed: string[] = [];
    for (const e of events) {
      if (!this.#waiters.watchers.has(e.name)) continue;
      if (e.stage === 'DELETED') {
        this.#waiters.publish(e.name, { version: e.version, next: undefined });
      } else if (e.stage === 'COMPLETED') {
        completed.push(e.name);
      } else {
        const { stage, worker } = e;
        this.#waiters.publish(e.name, {
          version: e.version,
          next: (current) => ({ ...current, stage, worker }),
        });
      }
    }
    if (completed.length > 0) void this.refreshWatchers(completed);
  }

  /** Reads watched operations again and hands on what changed (or their deletion). */
  async refreshWatchers(names: readonly string[]): Promise<void> {
    const watched = names.filter((n) => this.#waiters.watchers.has(n));
    if (watched.length === 0 || this.#closed()) return;
    try {
      const { rows } = await this.#pool.query<OperationRow>(
        'SELECT * FROM operations WHERE name = ANY($1)',
        [watched],
      );
      const byName = new Map(rows.map((r) => [r.name, r]));
      for (const name of watched) {
        const row = byName.get(name);
        const state = row === undefined ? undefined : operationOfRow(row);
        this.#waiters.publish(name, {
          version: row?.version ?? Number.MAX_SAFE_INTEGER,
          next: state === undefined ? undefined : () => state,
        });
      }
    } catch (err) {
      if (!this.#closed()) this.#log.warn({ err }, 'reading watched operations failed');
    }
  }
}
