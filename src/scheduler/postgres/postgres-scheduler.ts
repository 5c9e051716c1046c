/**
 * The durable scheduler: operations, executions, the queue, leases and
 * workers live in PostgreSQL tables, so several Kiln processes share them and
 * a restarted process resumes. Each process keeps only what waits on it
 * (long-polls, watchers) and one LISTEN connection; see events.ts.
 * Behaviour follows the in-memory scheduler; the differences are listed in
 * docs/remote-execution.md ("The PostgreSQL scheduler").
 */

import type { Client, Pool } from 'pg';
import { invalidArgument, unavailable } from '../../errors.ts';
import { Action, Command } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { bytesHeld } from '../../util/detach-bytes.ts';
import { type Logger, silentLogger } from '../../util/logger.ts';
import { type Clock, systemClock } from '../clock.ts';
import { type IdGenerator, randomIds } from '../ids.ts';
import { normalizePlatform } from '../platform.ts';
import { resolvePolicy, type SchedulerPolicy } from '../policy.ts';
import { PrincipalQuotas } from '../principal-limits.ts';
import { cachedResponse, cachedResultOf, checkSubmit } from '../responses.ts';
import type { Scheduler } from '../scheduler.ts';
import type {
  ActionResultCache,
  HeartbeatResult,
  LeaseCompletion,
  LeaseProgress,
  ListOperationsQuery,
  OperationPage,
  OperationState,
  RegisteredWorker,
  SchedulerStats,
  SubmitRequest,
  TakeOptions,
  TakeResult,
  WatchOptions,
  WorkerRegistration,
  WorkerState,
} from '../types.ts';
import { announceFreedPlace, type ExecutingLimits, executingLimits } from './claim.ts';
import { connections, redact } from './connect.ts';
import { type DirectLeaseContext, submitToWaitingWorker } from './direct-lease.ts';
import { type Channels, channelsOf, Listener } from './events.ts';
import type { ExecutionContext } from './executions.ts';
import { Handoffs } from './handoffs.ts';
import { type LeaseReportContext, recordCompletion, recordProgress } from './lease-reports.ts';
import { removeWorker } from './maintenance.ts';
import { MaintenanceLoop } from './maintenance-loop.ts';
import { migrate } from './migrations.ts';
import * as operationWrites from './operation-writes.ts';
import {
  insertCachedOperation,
  type NewExecution,
  queueOperation,
  readOperation,
  requireOperation,
} from './operation-writes.ts';
import type { PostgresSchedulerOptions } from './options.ts';
import { listOperations, schedulerStats } from './queries.ts';
import { digestColumns, type OperationRow, operationOfRow, platformPairs } from './rows.ts';
import { Waiters } from './waiters.ts';
import { Wakeups } from './wakeups.ts';
import { WorkPolls } from './work-polls.ts';
import * as workerWrites from './worker-writes.ts';
import { upsertWorker } from './worker-writes.ts';

export type { PostgresSchedulerOptions } from './options.ts';

/** A {@link Scheduler} whose state is in PostgreSQL; open one with {@link PostgresScheduler.open}. */
export class PostgresScheduler implements Scheduler {
  readonly #pool: Pool;
  readonly #listener: Listener;
  readonly #cache: ActionResultCache;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  readonly #log: Logger;
  readonly #policy: SchedulerPolicy;
  readonly #quotas: PrincipalQuotas;
  /** The principals' `maxExecuting`; undefined when none has one. */
  readonly #limits: ExecutingLimits | undefined;
  readonly #channels: Channels;
  readonly #ctx: ExecutionContext;
  readonly #waiters: Waiters;
  readonly #handoffs: Handoffs;
  readonly #direct: DirectLeaseContext;
  readonly #polls: WorkPolls;
  readonly #awaitMaintenance: boolean;
  readonly #maintenance: MaintenanceLoop;
  readonly #wakeups: Wakeups;
  readonly #leaseReports: LeaseReportContext;
  #closed = false;

  private constructor(
    pool: Pool,
    connect: () => Promise<Client>,
    options: PostgresSchedulerOptions,
    schema: string,
  ) {
    this.#pool = pool;
    this.#cache = options.actionCache;
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? randomIds;
    this.#log = options.log ?? silentLogger();
    this.#policy = resolvePolicy(options.policy);
    this.#quotas = new PrincipalQuotas(this.#policy.principalLimits);
    this.#limits = executingLimits(this.#policy.principalLimits);
    this.#channels = channelsOf(schema);
    this.#ctx = { channels: this.#channels, policy: this.#policy, log: this.#log };
    this.#waiters = new Waiters(this.#clock);
    this.#handoffs = new Handoffs(this.#waiters);
    this.#awaitMaintenance = options.awaitMaintenance ?? false;
    const shared = {
      pool,
      ctx: this.#ctx,
      clock: this.#clock,
      log: this.#log,
      closed: () => this.#closed,
    };
    this.#maintenance = new MaintenanceLoop({
      ...shared,
      intervalMs: options.maintenanceIntervalMs ?? 1_000,
    });
    this.#wakeups = new Wakeups({ ...shared, waiters: this.#waiters });
    this.#direct = { pool, ctx: this.#ctx, waiters: this.#waiters, wakeups: this.#wakeups };
    this.#polls = new WorkPolls({
      ...shared,
      policy: this.#policy,
      channels: this.#channels,
      limits: this.#limits,
      waiters: this.#waiters,
      wakeups: this.#wakeups,
    });
    this.#leaseReports = {
      pool,
      ctx: this.#ctx,
      cache: this.#cache,
      clock: this.#clock,
      log: this.#log,
      policy: this.#policy,
      limits: this.#limits,
      noteCompleted: (bytes) => this.#maintenance.noteCompleted(bytes),
    };
    const wakeups = this.#wakeups;
    this.#listener = new Listener({
      connect,
      channels: this.#channels,
      log: this.#log,
      handlers: {
        work: (required) => wakeups.onWork(required),
        operations: (events) => wakeups.onOperations(events),
        workerCancelled: (id) => this.#waiters.wakeWorker(id),
        resync: () => {
          wakeups.onWork([]);
          void wakeups.refreshWatchers([...this.#waiters.watchers.keys()]);
        },
      },
    });
  }

  /**
   * Connects, applies missing schema migrations (one process at a time) and
   * starts listening. Rejects with UNAVAILABLE when PostgreSQL cannot be reached.
   */
  static async open(options: PostgresSchedulerOptions): Promise<PostgresScheduler> {
    const schema = options.schema ?? 'kiln';
    const log = options.log ?? silentLogger();
    const { pool, connect } = await connections({
      url: options.url,
      schema,
      poolSize: options.poolSize ?? 10,
      log,
    });
    let scheduler: PostgresScheduler | undefined;
    const closeListener = async (): Promise<void> => {
      if (scheduler !== undefined) await scheduler.#listener.close();
    };
    try {
      const client = await pool.connect();
      try {
        await migrate(client, schema);
      } finally {
        client.release();
      }
      scheduler = new PostgresScheduler(pool, connect, options, schema);
      await scheduler.#listener.start();
    } catch (err) {
      await closeListener();
      await pool.end().catch(() => {});
      throw unavailable(
        `cannot open the PostgreSQL scheduler at ${redact(options.url)}: ${(err as Error).message}`,
        err,
      );
    }
    scheduler.#maintenance.start();
    return scheduler;
  }

  async submit(request: SubmitRequest): Promise<OperationState> {
    await this.#enter();
    const checked = checkSubmit(request, this.#policy);
    const name = `operations/${this.#ids.next()}`;
    // Subscribed before the operation is written: the watch that follows
    // starts from the state the submit returns, without reading it back.
    const watcher = this.#handoffs.subscribe(name);
    try {
      const state = await this.#submit(request, checked, name);
      this.#handoffs.hold(name, watcher, state);
      return state;
    } catch (err) {
      this.#handoffs.abandon(name, watcher);
      throw err;
    }
  }

  async #submit(
    request: SubmitRequest,
    { timeoutMs, platform }: ReturnType<typeof checkSubmit>,
    name: string,
  ): Promise<OperationState> {
    const { instanceName, actionDigest, action, command } = request;
    const now = this.#clock.now();
    const columns = [
      name,
      instanceName,
      ...digestColumns(actionDigest),
      JSON.stringify(platform),
      request.priority,
      request.toolInvocationId,
      request.correlatedInvocationsId,
      now,
    ];
    if (!request.skipCacheLookup && !action.doNotCache) {
      const hit = await cachedResultOf(this.#cache, this.#log, request);
      if (hit !== undefined) {
        const response = cachedResponse(hit);
        this.#maintenance.noteCompleted(bytesHeld(response));
        const worker = hit.executionMetadata?.worker || undefined;
        return insertCachedOperation(this.#pool, columns, worker, response);
      }
    }
    const execution: NewExecution = {
      id: this.#ids.next(),
      // PostgreSQL text cannot hold the NUL of the in-memory dedup key.
      dedupKey: action.doNotCache ? null : JSON.stringify([instanceName, actionDigest.key]),
      action: Buffer.from(Action.encode(action).finish()),
      command: Buffer.from(Command.encode(command).finish()),
      doNotCache: action.doNotCache,
      required: platformPairs(platform),
      principal: request.principal ?? '',
      clientAddress: request.clientAddress,
      timeoutMs,
      priority: request.priority,
      nowMs: now,
      traceparent: request.traceparent,
    };
    // Straight to a worker waiting here, when no limit needs counting.
    const unlimited = this.#quotas.of(execution.principal).maxQueued === Number.POSITIVE_INFINITY;
    if (unlimited && this.#limits === undefined) {
      const leased = await submitToWaitingWorker(this.#direct, columns, execution, request);
      if (leased !== undefined) return leased;
    }
    return queueOperation(this.#pool, this.#ctx, this.#quotas, columns, execution);
  }

  async getOperation(name: string): Promise<OperationState> {
    await this.#enter();
    return readOperation(this.#pool, name);
  }

  async listOperations(query: ListOperationsQuery): Promise<OperationPage> {
    await this.#enter();
    return listOperations(this.#pool, this.#policy, query);
  }

  async *watchOperation(
    name: string,
    options: WatchOptions = {},
  ): AsyncGenerator<OperationState, void, undefined> {
    if (this.#closed) throw unavailable('the scheduler is shut down');
    const handed = this.#handoffs.take(name);
    // Subscribed before reading, so a change between the two is not missed;
    // the read is sent at once, so the first state is the one at the call.
    const watcher = handed ?? this.#waiters.watch(name);
    const read =
      handed === undefined
        ? this.#pool.query<OperationRow>({
            name: 'kiln_read_operation',
            text: 'SELECT * FROM operations WHERE name = $1',
            values: [name],
          })
        : undefined;
    try {
      if (read !== undefined) {
        const { rows } = await read;
        const row = requireOperation(rows[0], name);
        this.#waiters.start(name, watcher, operationOfRow(row), row.version);
      }
      const { coalesceMs } = options;
      yield* watcher.channel.iterate(
        options.signal,
        coalesceMs === undefined ? undefined : { ms: coalesceMs, clock: this.#clock },
      );
    } finally {
      this.#waiters.unwatch(name, watcher);
    }
  }

  async cancelOperation(name: string): Promise<OperationState> {
    await this.#enter();
    const now = this.#clock.now();
    const state = await operationWrites.cancelOperation(this.#pool, this.#ctx, name, now);
    this.#maintenance.noteCompleted();
    if (this.#limits !== undefined) await announceFreedPlace(this.#pool, this.#ctx, null);
    return state;
  }

  async deleteOperation(name: string): Promise<void> {
    await this.#enter();
    await operationWrites.deleteOperation(this.#pool, this.#ctx, name);
  }

  async registerWorker(registration: WorkerRegistration): Promise<WorkerState> {
    await this.#enter();
    if (registration.id === '') throw invalidArgument('worker id must not be empty');
    // Its platform or capacity may change: the next claim reads them again.
    this.#polls.forget(registration.id);
    if (!Number.isSafeInteger(registration.capacity) || registration.capacity < 1) {
      throw invalidArgument(
        `worker ${registration.id}: capacity ${registration.capacity} must be a positive integer`,
      );
    }
    const platform = normalizePlatform(registration.platform);
    const now = this.#clock.now();
    return upsertWorker(this.#pool, {
      id: registration.id,
      name: registration.name,
      platform,
      offered: platformPairs(platform),
      capacity: registration.capacity,
      principal: registration.principal ?? '',
      nowMs: now,
      expiresMs: now + this.#policy.workerTimeoutMs,
    });
  }

  async unregisterWorker(workerId: string): Promise<void> {
    await this.#enter();
    this.#polls.forget(workerId);
    await removeWorker(
      this.#pool,
      this.#ctx,
      workerId,
      'the worker unregistered',
      this.#clock.now(),
    );
  }

  async heartbeat(workerId: string): Promise<HeartbeatResult> {
    await this.#enter();
    const w = await this.#polls.touch(workerId, 0);
    return { cancelledLeaseIds: w.cancelled ?? [] };
  }

  takeWork(workerId: string, options: TakeOptions = {}): Promise<TakeResult> {
    const { maxLeases, waitMs = 0 } = options;
    if (maxLeases !== undefined && (!Number.isSafeInteger(maxLeases) || maxLeases < 0)) {
      return Promise.reject(
        invalidArgument(`maxLeases ${maxLeases} must be a non-negative integer`),
      );
    }
    // The poll gets in line, and its deadline starts, before anything is awaited.
    const waiting =
      waitMs > 0 && maxLeases !== 0 && !this.#closed
        ? this.#waiters.addPoll(workerId, waitMs, options.signal)
        : undefined;
    const calledAtMs = this.#clock.now();
    const taken = this.#enter(calledAtMs)
      .then(() => this.#polls.take(workerId, maxLeases, waitMs, waiting, calledAtMs))
      .catch((err: unknown) => {
        // A poll cut short by close() ends empty, as in memory.
        if (this.#closed && waiting !== undefined) return { leases: [], cancelledLeaseIds: [] };
        throw err;
      });
    return taken.finally(() => {
      if (waiting !== undefined) this.#waiters.settle(waiting.poll, []);
    });
  }

  async updateLease(
    workerId: string,
    leaseId: string,
    progress: LeaseProgress,
  ): Promise<HeartbeatResult> {
    await this.#enter();
    const w = await this.#polls.touch(workerId, 0);
    await recordProgress(this.#pool, { id: workerId, name: w.name }, leaseId, progress);
    return { cancelledLeaseIds: w.cancelled ?? [] };
  }

  completeLease(workerId: string, leaseId: string, completion: LeaseCompletion): Promise<void> {
    // The worker's takeWork waits for it (see #takeWork).
    return this.#polls.complete(workerId, async (presentUntil) => {
      await this.#enter();
      const record = await recordCompletion(
        this.#leaseReports,
        workerId,
        leaseId,
        completion,
        presentUntil,
      );
      // Its capacity grew: a poll of its own that found no room may now take work.
      this.#wakeups.serve([...this.#waiters.pollsOf(workerId)]);
      return record;
    });
  }

  async listWorkers(): Promise<readonly WorkerState[]> {
    await this.#enter();
    return workerWrites.listWorkers(this.#pool);
  }

  async findWorker(workerId: string): Promise<RegisteredWorker | undefined> {
    await this.#enter();
    return workerWrites.findWorker(this.#pool, workerId);
  }

  async stats(): Promise<SchedulerStats> {
    await this.#enter();
    return schedulerStats(this.#pool);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handoffs.clear();
    this.#waiters.close();
    await this.#maintenance.close();
    await this.#wakeups.idle();
    await this.#listener.close();
    await this.#pool.end().catch(() => {});
  }

  /**
   * Checks that the scheduler is open. With `awaitMaintenance` (tests on a
   * fake clock) it first does whatever was due at `now`, the time of the
   * call, as the in-memory scheduler's timers would have.
   */
  async #enter(now = this.#clock.now()): Promise<void> {
    if (this.#closed) throw unavailable('the scheduler is shut down');
    if (!this.#awaitMaintenance) return;
    await this.#maintenance.catchUp(now);
    if (this.#closed) throw unavailable('the scheduler is shut down');
  }
}
