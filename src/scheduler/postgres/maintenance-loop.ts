/**
 * When the timed work of maintenance.ts runs: a timer armed for the next
 * due time (one indexed query tells it), or `intervalMs` at the latest,
 * since other processes may add earlier deadlines. Rounds never overlap.
 * A round after operations completed also applies the caps on done
 * operations (see `pruneCompleted`), for every process's operations.
 */
import type { Pool } from 'pg';
import type { Logger } from '../../util/logger.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import type { ExecutionContext } from './executions.ts';
import { nextDue, pruneCompleted, runDue } from './maintenance.ts';

/** Pause before looking again at work a round left due. */
const OVERDUE_RETRY_MS = 100;

/**
 * The caps on done operations are applied once a process has completed a
 * quarter of `maxCompletedOperations` operations, or responses holding a
 * quarter of `maxCompletedBytes`, since it last applied them. Applying them
 * ranks every done operation (one statement, 20–25 ms with 10,000 kept):
 * done after every round with a completion, twice a second with two busy
 * processes, it took a core of PostgreSQL in bursts that delayed dispatch.
 */
const PRUNE_FRACTION = 4;

/** Options of {@link MaintenanceLoop}. */
export interface MaintenanceLoopOptions {
  readonly pool: Pool;
  readonly ctx: ExecutionContext;
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalMs: number;
  readonly closed: () => boolean;
}

/** The maintenance timer and the chain its rounds run on. */
export class MaintenanceLoop {
  readonly #pool: Pool;
  readonly #ctx: ExecutionContext;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #closed: () => boolean;
  #chain: Promise<void> = Promise.resolve();
  #timer: TimerHandle | undefined;
  /** Operations completed, and their responses' bytes, since the caps were last applied. */
  #completed = 0;
  #completedBytes = 0;
  /**
   * A response larger than `maxCompletedBytes` completed before the caps
   * were last applied: it is kept until the next operation completes, which
   * then applies them at once.
   */
  #oversized = false;
  #pruneAgain = false;

  constructor(options: MaintenanceLoopOptions) {
    this.#pool = options.pool;
    this.#ctx = options.ctx;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#intervalMs = options.intervalMs;
    this.#closed = options.closed;
  }

  /** Arms the first round. */
  start(): void {
    this.schedule(this.#intervalMs);
  }

  /** Does what was due at `now` after the rounds already started (tests on a fake clock). */
  catchUp(now: number): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      await this.runDueAt(now);
    });
    return this.#chain;
  }

  /** An operation completed with a response holding `bytes`; see {@link PRUNE_FRACTION}. */
  noteCompleted(bytes = 0): void {
    this.#completed++;
    this.#completedBytes += bytes;
    if (bytes > this.#ctx.policy.maxCompletedBytes) this.#oversized = true;
  }

  /** Whether enough completed since the caps were last applied. */
  #pruneDue(): boolean {
    const { maxCompletedOperations, maxCompletedBytes } = this.#ctx.policy;
    return (
      this.#pruneAgain ||
      this.#completed * PRUNE_FRACTION >= maxCompletedOperations ||
      this.#completedBytes * PRUNE_FRACTION >= maxCompletedBytes
    );
  }

  /** Stops the timer and waits for a round in progress. */
  async close(): Promise<void> {
    this.#timer?.cancel();
    await this.#chain.catch(() => {});
  }

  /** Arms the maintenance timer: at the next due time, or `intervalMs` at the latest. */
  schedule(ms: number): void {
    if (this.#closed()) return;
    this.#timer = this.#clock.setTimer(ms, () => {
      this.#timer = undefined;
      // The round does what was due when the timer fired, however late it runs.
      const at = this.#clock.now();
      this.#chain = this.#chain.then(() => this.#maintain(at));
    });
  }

  async #maintain(now: number): Promise<void> {
    let next = this.#intervalMs;
    const due = await this.runDueAt(now);
    if (due !== undefined) {
      const wait = due - this.#clock.now();
      // Still due after a round (a row another process holds, a failing
      // query): look again a little later, not in a tight loop.
      next = Math.min(next, wait > 0 ? wait : OVERDUE_RETRY_MS);
    }
    this.schedule(next);
  }

  /** Does what is due at `now`; returns when the next thing falls due. */
  async runDueAt(now: number): Promise<number | undefined> {
    if (this.#closed()) return undefined;
    try {
      let due = await nextDue(this.#pool, this.#ctx.policy.completedRetentionMs);
      if (due !== undefined && due <= now) {
        await runDue(this.#pool, this.#ctx, now);
        // Lost or unrunnable actions may have completed operations.
        this.noteCompleted();
        due = await nextDue(this.#pool, this.#ctx.policy.completedRetentionMs);
      }
      if (this.#completed > 0 && this.#pruneDue()) {
        this.#completed = 0;
        this.#completedBytes = 0;
        this.#pruneAgain = this.#oversized;
        this.#oversized = false;
        await pruneCompleted(this.#pool, this.#ctx.policy);
      }
      return due;
    } catch (err) {
      if (!this.#closed()) this.#log.warn({ err }, 'scheduler maintenance failed; retrying');
      return undefined;
    }
  }
}
