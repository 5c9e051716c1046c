/**
 * The embedded scheduler: all state in this process, nothing survives a
 * restart. Fast, and the reference behaviour for other implementations.
 */
import { status as Code } from '@grpc/grpc-js';
import { invalidArgument, notFound, unavailable } from '../errors.ts';
import { detachBytes } from '../util/detach-bytes.ts';
import { type Logger, silentLogger } from '../util/logger.ts';
import { type Clock, systemClock } from './clock.ts';
import { Dispatcher } from './dispatcher.ts';
import { type IdGenerator, randomIds } from './ids.ts';
import { OperationStore } from './operation-store.ts';
import { platformKey } from './platform.ts';
import { resolvePolicy, type SchedulerPolicy } from './policy.ts';
import {
  cachedResponse,
  cachedResultOf,
  checkSubmit,
  executedResponse,
  withSchedulerMetadata,
} from './responses.ts';
import type { Scheduler } from './scheduler.ts';
import { dedupKey, type LeaseRecord, leaseSnapshot } from './task.ts';
import type {
  ActionResultCache,
  HeartbeatResult,
  LeaseCompletion,
  LeaseProgress,
  ListOperationsQuery,
  OperationPage,
  OperationState,
  PlatformQueueStats,
  RegisteredWorker,
  SchedulerStats,
  SubmitRequest,
  TakeOptions,
  TakeResult,
  WatchOptions,
  WorkerRegistration,
  WorkerState,
} from './types.ts';
import type { VisitCounter } from './visit-counter.ts';
import type { WorkerRecord } from './worker-registry.ts';

/** Options for {@link InMemoryScheduler}. */
export interface InMemorySchedulerOptions {
  /** Consulted before queueing (unless skipped) and filled with cacheable results. */
  readonly actionCache: ActionResultCache;
  /** Time source; default {@link systemClock}. Tests pass a FakeClock. */
  readonly clock?: Clock;
  /** Operation names, task and lease ids; default random UUIDs. */
  readonly ids?: IdGenerator;
  /** Where lost leases and action cache failures are reported; default silent. */
  readonly log?: Logger;
  /** Timeouts, retries and retention; see {@link SchedulerPolicy} for each default. */
  readonly policy?: Partial<SchedulerPolicy>;
  /**
   * Up to this fraction of each long-poll of a second or more is cut off,
   * spread over the polls, so a fleet that started together does not come
   * back in bunches. Default 0.1; tests that check exact poll deadlines pass 0.
   */
  readonly pollJitter?: number;
  /** Counts the records dispatch visits; tests use it to prove dispatch cost does not grow with the fleet. */
  readonly visits?: VisitCounter;
}

/**
 * A {@link Scheduler} that keeps operations, the queue and workers in memory.
 * State changes happen synchronously between awaits, so nothing needs a
 * lock; the only awaits are action cache calls.
 */
export class InMemoryScheduler implements Scheduler {
  readonly #cache: ActionResultCache;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  readonly #log: Logger;
  readonly #policy: SchedulerPolicy;
  readonly #ops: OperationStore;
  readonly #dispatcher: Dispatcher;
  #closed = false;

  constructor(options: InMemorySchedulerOptions) {
    this.#cache = options.actionCache;
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? randomIds;
    this.#log = options.log ?? silentLogger();
    this.#policy = resolvePolicy(options.policy);
    this.#ops = new OperationStore({ clock: this.#clock, policy: this.#policy });
    this.#dispatcher = new Dispatcher({
      clock: this.#clock,
      ids: this.#ids,
      log: this.#log,
      policy: this.#policy,
      operations: this.#ops,
      pollJitter: options.pollJitter,
      visits: options.visits,
    });
  }

  async submit(request: SubmitRequest): Promise<OperationState> {
    this.#checkOpen();
    const { instanceName, actionDigest, action, command } = request;
    const { timeoutMs, platform } = checkSubmit(request, this.#policy);
    const fields = {
      instanceName,
      actionDigest,
      platform,
      priority: request.priority,
      toolInvocationId: request.toolInvocationId,
      correlatedInvocationsId: request.correlatedInvocationsId,
    };

    if (!request.skipCacheLookup && !action.doNotCache) {
      const hit = await cachedResultOf(this.#cache, this.#log, request);
      this.#checkOpen();
      if (hit !== undefined) {
        const op = this.#ops.create({
          ...fields,
          name: this.#newName(),
          stage: 'QUEUED',
          worker: undefined,
        });
        this.#ops.complete(op, cachedResponse(hit), hit.executionMetadata?.worker || undefined);
        return this.#ops.snapshot(op);
      }
    }

    // do_not_cache actions must not be merged: each call runs on its own.
    const key = action.doNotCache ? undefined : dedupKey(instanceName, actionDigest);
    const existing = key === undefined ? undefined : this.#dispatcher.inFlight(key);
    if (existing !== undefined) {
      const op = this.#ops.create({
        ...fields,
        name: this.#newName(),
        stage: existing.state === 'QUEUED' ? 'QUEUED' : 'EXECUTING',
        worker: existing.lease?.worker.name,
      });
      this.#dispatcher.join(op, existing);
      return { ...this.#ops.snapshot(op), joined: { traceparent: existing.traceparent } };
    }
    const principal = request.principal ?? '';
    this.#dispatcher.checkQuota(principal);
    const op = this.#ops.create({
      ...fields,
      name: this.#newName(),
      stage: 'QUEUED',
      worker: undefined,
    });
    // A queued action may wait for a long time: its own copy of Action.salt,
    // not a view that keeps a whole pool slab or request alive meanwhile.
    this.#dispatcher.start(
      {
        ...fields,
        id: this.#ids.next(),
        principal,
        clientAddress: request.clientAddress,
        traceparent: request.traceparent,
        dedupKey: key,
        action: detachBytes(action),
        command: detachBytes(command),
        timeoutMs,
      },
      op,
    );
    return this.#ops.snapshot(op);
  }

  async getOperation(name: string): Promise<OperationState> {
    this.#checkOpen();
    return this.#ops.snapshot(this.#ops.require(name));
  }

  async listOperations(query: ListOperationsQuery): Promise<OperationPage> {
    this.#checkOpen();
    return this.#ops.list(query);
  }

  async *watchOperation(
    name: string,
    options?: WatchOptions,
  ): AsyncGenerator<OperationState, void, undefined> {
    this.#checkOpen();
    yield* this.#ops.watch(name, options);
  }

  async cancelOperation(name: string): Promise<OperationState> {
    this.#checkOpen();
    const op = this.#ops.require(name);
    this.#dispatcher.cancel(op);
    return this.#ops.snapshot(op);
  }

  async deleteOperation(name: string): Promise<void> {
    this.#checkOpen();
    const op = this.#ops.require(name);
    this.#dispatcher.detach(op);
    this.#ops.delete(op);
  }

  async registerWorker(registration: WorkerRegistration): Promise<WorkerState> {
    this.#checkOpen();
    const worker = this.#dispatcher.workers.register(registration);
    this.#dispatcher.workerRegistered(worker);
    return this.#dispatcher.workers.snapshot(worker);
  }

  async unregisterWorker(workerId: string): Promise<void> {
    this.#checkOpen();
    const worker = this.#dispatcher.workers.find(workerId);
    if (worker !== undefined) this.#dispatcher.workerGone(worker, 'the worker unregistered');
  }

  async heartbeat(workerId: string): Promise<HeartbeatResult> {
    this.#checkOpen();
    return { cancelledLeaseIds: cancelledLeaseIds(this.#dispatcher.workers.require(workerId)) };
  }

  takeWork(workerId: string, options: TakeOptions = {}): Promise<TakeResult> {
    // Not an async function: with a long poll, its promise would wait on
    // the poll's through a further promise and job, once per idle worker.
    try {
      return this.#takeWork(workerId, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #takeWork(workerId: string, options: TakeOptions): Promise<TakeResult> {
    this.#checkOpen();
    const { workers } = this.#dispatcher;
    const worker = workers.require(workerId);
    const { maxLeases, waitMs = 0 } = options;
    if (maxLeases !== undefined && (!Number.isSafeInteger(maxLeases) || maxLeases < 0)) {
      throw invalidArgument(`maxLeases ${maxLeases} must be a non-negative integer`);
    }
    const leases = this.#dispatcher.assign(worker, maxLeases);
    if (leases.length === 0 && waitMs > 0 && maxLeases !== 0) {
      // Returned, not awaited: an awaiting frame would stay on the heap for
      // the whole long poll.
      return this.#dispatcher.poll(worker, maxLeases, waitMs, options.signal).then((polled) => {
        // The end of a long-poll is a sign of life too.
        if (!this.#closed && workers.isConnected(worker)) workers.touch(worker);
        return { leases: polled, cancelledLeaseIds: cancelledLeaseIds(worker) };
      });
    }
    return Promise.resolve({ leases, cancelledLeaseIds: cancelledLeaseIds(worker) });
  }

  async updateLease(
    workerId: string,
    leaseId: string,
    progress: LeaseProgress,
  ): Promise<HeartbeatResult> {
    this.#checkOpen();
    const worker = this.#dispatcher.workers.require(workerId);
    const lease = requireLease(worker, leaseId);
    if (lease.state !== 'CANCELLED') lease.state = progress.state;
    return { cancelledLeaseIds: cancelledLeaseIds(worker) };
  }

  async completeLease(
    workerId: string,
    leaseId: string,
    completion: LeaseCompletion,
  ): Promise<void> {
    this.#checkOpen();
    const worker = this.#dispatcher.workers.require(workerId);
    const lease = requireLease(worker, leaseId);
    if (completion.status.code === Code.OK && completion.result === undefined) {
      throw invalidArgument(
        `lease ${leaseId}: a completion with status OK must carry an ActionResult`,
      );
    }
    const task = this.#dispatcher.release(lease);
    if (task === undefined) return;
    const result =
      completion.result && withSchedulerMetadata(completion.result, worker.name, task.queuedAtMs);
    const cacheable =
      result !== undefined &&
      result.exitCode === 0 &&
      completion.status.code === Code.OK &&
      !task.action.doNotCache;
    // Stored before the operations complete, so a client that reads the cache right after sees it.
    if (cacheable) {
      try {
        await this.#cache.put(task.instanceName, task.actionDigest, result, {
          source: 'execution',
          principal: task.principal,
          worker: worker.name,
          workerSession: worker.id,
          workerPrincipal: worker.principal,
          toolInvocationId: task.toolInvocationId,
          clientAddress: task.clientAddress,
        });
      } catch (err) {
        this.#log.warn(
          { err, actionDigest: task.actionDigest.key, instanceName: task.instanceName },
          'storing an action result failed; the operations still get it',
        );
      }
    }
    if (this.#closed) return;
    const response = executedResponse(result, completion.status, completion.message ?? '');
    this.#dispatcher.finish(task, response, worker.name);
  }

  async listWorkers(): Promise<readonly WorkerState[]> {
    this.#checkOpen();
    const { workers } = this.#dispatcher;
    return [...workers.values()].map((w) => workers.snapshot(w));
  }

  async findWorker(workerId: string): Promise<RegisteredWorker | undefined> {
    this.#checkOpen();
    const worker = this.#dispatcher.workers.find(workerId);
    if (worker === undefined) return undefined;
    const leases = [...worker.leases.values()]
      .filter((l) => l.state !== 'CANCELLED')
      .map((l) => leaseSnapshot(l));
    return { id: worker.id, name: worker.name, principal: worker.principal, leases };
  }

  async stats(): Promise<SchedulerStats> {
    this.#checkOpen();
    const byPlatform = new Map<
      string,
      { -readonly [K in keyof PlatformQueueStats]: PlatformQueueStats[K] }
    >();
    const entryFor = (platform: PlatformQueueStats['platform']) => {
      const key = platformKey(platform);
      let entry = byPlatform.get(key);
      if (entry === undefined) {
        entry = { platform, queued: 0, executing: 0 };
        byPlatform.set(key, entry);
      }
      return entry;
    };
    let queued = 0;
    for (const task of this.#dispatcher.queued()) {
      queued++;
      entryFor(task.platform).queued++;
    }
    let executing = 0;
    for (const task of this.#dispatcher.executing()) {
      executing++;
      entryFor(task.platform).executing++;
    }
    let workerCapacity = 0;
    for (const w of this.#dispatcher.workers.values()) workerCapacity += w.capacity;
    const counts = this.#ops.counts();
    const busiestFirst = <E extends { queued: number; executing: number }>(a: E, b: E) =>
      b.queued + b.executing - (a.queued + a.executing);
    return {
      queued,
      queuedByPlatform: [...byPlatform.values()].sort(busiestFirst),
      executing,
      byPrincipal: [...this.#dispatcher.byPrincipal()]
        .map(([principal, n]) => ({ principal, ...n }))
        .sort(busiestFirst),
      activeOperations: counts.active,
      completedOperations: counts.completed,
      workers: this.#dispatcher.workers.size,
      workerCapacity,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#dispatcher.close();
    this.#ops.close();
  }

  #newName(): string {
    return `operations/${this.#ids.next()}`;
  }

  #checkOpen(): void {
    if (this.#closed) throw unavailable('the scheduler is shut down');
  }
}

function requireLease(worker: WorkerRecord, leaseId: string): LeaseRecord {
  const lease = worker.leases.get(leaseId);
  if (lease === undefined) {
    throw notFound(
      `worker ${worker.name} holds no lease "${leaseId}" (lost, reassigned or already completed)`,
    );
  }
  return lease;
}

/** Ids of `worker`'s cancelled leases; asked on every poll, so it allocates nothing more than the answer. */
function cancelledLeaseIds(worker: WorkerRecord): string[] {
  const ids: string[] = [];
  for (const lease of worker.leases.values()) if (lease.state === 'CANCELLED') ids.push(lease.id);
  return ids;
}
