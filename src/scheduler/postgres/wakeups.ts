/**
 * What wakes this process's waiters: a queued action is claimed for the
 * longest-waiting poll that can run it, and operation changes are handed
 * to watchers (stage changes straight from the notification, completions
 * after reading the response). Claims for polls run in passes, one pass at
 * a time per process, and the polls offered work while a pass runs are
 * served together by the next one, so a burst of notifications does not
 * become a burst of queries: a pass claims for about as many polls as
 * actions were announced, and ends once a claim finds nothing for a kind of
 * worker.
 */
import type { Pool } from 'pg';
import { ExecuteResponse } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { detachBytes } from '../../util/detach-bytes.ts';
import type { Logger } from '../../util/logger.ts';
import type { Clock } from '../clock.ts';
import { claim, type ExecutingLimits, executingLimits } from './claim.ts';
import type { OperationEvent } from './events.ts';
import { type ExecutionContext, returnLeases } from './executions.ts';
import { inTransaction } from './maintenance.ts';
import { type OperationRow, operationOfRow } from './rows.ts';
import type { Change, Poll, PollWorker, Waiters } from './waiters.ts';

/** Most claims a pass runs at once (each holds a pooled connection meanwhile). */
const MAX_PARALLEL_CLAIMS = 4;

/** Each waiting worker's offers as one string, computed once per poll. */
const kinds = new WeakMap<PollWorker, string>();

/** The kind of a waiting worker: workers with the same offers can run the same work. */
function kindOf(worker: PollWorker): string {
  let kind = kinds.get(worker);
  if (kind === undefined) {
    kind = worker.offered.join('\u001e');
    kinds.set(worker, kind);
  }
  return kind;
}

/** The change a completion's notification makes, when it carries the response. */
function completionOf(e: OperationEvent): Change | undefined {
  const { completedAtMs, response: encoded, worker, version } = e;
  if (completedAtMs === undefined || encoded === undefined) return undefined;
  let response: ExecuteResponse;
  try {
    response = detachBytes(ExecuteResponse.decode(Buffer.from(encoded, 'base64')));
  } catch {
    return undefined;
  }
  return {
    version,
    next: (current) => ({
      ...current,
      stage: 'COMPLETED',
      done: true,
      response,
      worker,
      completedAtMs,
    }),
  };
}

/** Pause before reading watched operations again after a failed read. */
const REREAD_RETRY_MS = 1_000;

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
  readonly #limits: ExecutingLimits | undefined;
  /** Counts work notifications, so a poll can tell whether it missed one while claiming. */
  #workHeard = 0;
  #claims: Promise<void> = Promise.resolve();
  /** The polls of the next pass, while it waits for the one running. */
  #next: Set<Poll> | undefined;
  /** Work notifications since the last pass started. */
  #announced = 0;
  /** The work announced while a pass waits, by kind (its required pairs). */
  readonly #nextWork = new Map<string, readonly string[]>();
  /** By kind of worker: {@link workHeard} when a claim last found nothing queued for it. */
  readonly #emptyAt = new Map<string, number>();

  constructor(options: WakeupsOptions) {
    this.#pool = options.pool;
    this.#ctx = options.ctx;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#waiters = options.waiters;
    this.#closed = options.closed;
    this.#limits = executingLimits(options.ctx.policy.principalLimits);
  }

  /** How many work notifications arrived so far. */
  get workHeard(): number {
    return this.#workHeard;
  }

  /**
   * A claim for a worker offering `offered`, started when {@link workHeard}
   * was `heardAtStart`, considered no queued action (with room to take one).
   */
  noteEmpty(offered: readonly string[], heardAtStart: number): void {
    const kind = offered.join('\u001e');
    this.#emptyAt.set(kind, Math.max(this.#emptyAt.get(kind) ?? 0, heardAtStart));
  }

  /**
   * Whether nothing a worker offering `offered` can run is queued: a claim
   * for its kind found none, and no work was announced since that claim
   * started. Every queued action is announced once it is visible, so work
   * queued after that claim is announced to the polls waiting by then.
   */
  knownEmpty(offered: readonly string[]): boolean {
    return this.#emptyAt.get(offered.join('\u001e')) === this.#workHeard;
  }

  /** Resolves once the claims started so far are done. */
  idle(): Promise<void> {
    return this.#claims.catch(() => {});
  }

  /** Work requiring `required` was queued somewhere: offer it to matching polls. */
  onWork(required: readonly string[]): void {
    this.#workHeard++;
    this.#announced++;
    // A pass is waiting: it looks for the polls when it starts, once per kind of work.
    if (this.#next !== undefined) {
      this.#nextWork.set(required.join('\u001e'), required);
      return;
    }
    this.serve([...this.#waiters.pollsFor(required)]);
  }

  /**
   * Offers queued work to waiting polls, longest-waiting first. Polls
   * offered work before the waiting pass starts join it. A pass claims for
   * as many polls at once as actions were announced since the last pass
   * (at most {@link MAX_PARALLEL_CLAIMS}), then for one at a time: on a busy
   * database the claims' round trips overlap instead of adding up. Once a
   * poll whose worker had room gets nothing, the work its kind of worker
   * (the same platform) can run is gone: the pass skips the other polls of
   * that kind.
   */
  serve(polls: Poll[]): void {
    if (polls.length === 0) return;
    if (this.#next !== undefined) {
      for (const poll of polls) this.#next.add(poll);
      return;
    }
    const batch = new Set(polls);
    this.#next = batch;
    this.#claims = this.#claims.then(async () => {
      if (this.#next === batch) this.#next = undefined;
      for (const required of this.#nextWork.values()) {
        for (const poll of this.#waiters.pollsFor(required)) batch.add(poll);
      }
      this.#nextWork.clear();
      let owed = this.#announced;
      this.#announced = 0;
      const exhausted = new Set<string>();
      // Thousands of polls may wait: walked once, by index.
      const waiting = [...batch];
      let next = 0;
      while (next < waiting.length && !this.#closed()) {
        const wave: { poll: Poll; worker: PollWorker; kind: string }[] = [];
        const width = Math.min(MAX_PARALLEL_CLAIMS, Math.max(1, owed));
        while (wave.length < width && next < waiting.length) {
          const poll = waiting[next++] as Poll;
          const { worker } = poll;
          if (poll.settled || poll.reserved || worker === undefined) continue;
          const kind = kindOf(worker);
          if (!exhausted.has(kind)) wave.push({ poll, worker, kind });
        }
        const outcomes = await Promise.all(wave.map((w) => this.#claimFor(w.poll, w.worker)));
        for (const [i, out] of outcomes.entries()) {
          const { kind } = wave[i] as { kind: string };
          if (out === undefined) return;
          if (out.leases > 0) owed = Math.max(0, owed - out.leases);
          else if (out.room > 0) exhausted.add(kind);
        }
      }
    });
  }

  /** Claims for one waiting poll; how many leases it got, undefined when the claim failed. */
  async #claimFor(
    poll: Poll,
    worker: PollWorker,
  ): Promise<{ leases: number; room: number } | undefined> {
    try {
      const heard = this.#workHeard;
      const out = await claim(this.#pool, {
        workerId: poll.workerId,
        workerName: worker.workerName,
        offered: worker.offered,
        capacity: worker.capacity,
        maxLeases: worker.maxLeases,
        nowMs: this.#clock.now(),
        leaseGraceMs: this.#ctx.policy.leaseGraceMs,
        opsChannel: this.#ctx.channels.ops,
        limits: this.#limits,
      });
      // A poll that ended meanwhile cannot take them: they go back to the queue.
      if (out.leases.length > 0 && !this.#waiters.settle(poll, out.leases)) {
        const ids = out.leases.map((l) => l.id);
        await inTransaction(this.#pool, (c) => returnLeases(c, this.#ctx, ids));
      }
      if (out.room > 0 && out.candidates === 0) this.noteEmpty(worker.offered, heard);
      return { leases: out.leases.length, room: out.room };
    } catch (err) {
      this.#log.warn(
        { err, worker: worker.workerName },
        'claiming work for a waiting worker failed',
      );
      return undefined;
    }
  }

  /**
   * Applies operation changes to this process's watchers: a stage change
   * from the notification alone, a completion too when the notification
   * carries its response, else after reading it.
   */
  onOperations(events: readonly OperationEvent[]): void {
    const completed: string[] = [];
    for (const e of events) {
      if (!this.#waiters.watchers.has(e.name)) continue;
      if (e.stage === 'DELETED') {
        this.#waiters.publish(e.name, { version: e.version, next: undefined });
      } else if (e.stage === 'COMPLETED') {
        const done = completionOf(e);
        if (done === undefined) completed.push(e.name);
        else this.#waiters.publish(e.name, done);
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
      const { rows } = await this.#pool.query<OperationRow>({
        name: 'kiln_read_operations',
        text: 'SELECT * FROM operations WHERE name = ANY($1)',
        values: [watched],
      });
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
      if (this.#closed()) return;
      this.#log.warn({ err }, 'reading watched operations failed; retrying');
      // The change that asked for this read is not announced again: read
      // again later, until it works or nobody here watches them any more.
      const timer = setTimeout(() => void this.refreshWatchers(watched), REREAD_RETRY_MS);
      timer.unref();
    }
  }
}
