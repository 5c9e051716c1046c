/**
 * Connected workers and their liveness: a worker that has not called the
 * scheduler within `workerTimeoutMs` is declared gone.
 */
import { invalidArgument, notFound } from '../errors.ts';
import type { Clock, TimerHandle } from './clock.ts';
import {
  normalizePlatform,
  type OfferedPlatform,
  offeredSet,
  type PlatformProperty,
  satisfies,
  type WorkerOffer,
} from './platform.ts';
import type { LeaseRecord } from './task.ts';
import type { WorkerRegistration, WorkerState } from './types.ts';

/** One connected worker. Only the scheduler changes it. */
export interface WorkerRecord {
  readonly id: string;
  name: string;
  platform: readonly PlatformProperty[];
  offered: OfferedPlatform;
  capacity: number;
  /** The principal it authenticated as, for the provenance of its results; '' when none. */
  principal: string;
  /** Leases it holds, including cancelled ones not yet acknowledged. */
  readonly leases: Map<string, LeaseRecord>;
  readonly registeredAtMs: number;
  lastSeenMs: number;
  /** Leases it completed with a result, for operators. */
  actionsDone: number;
  /** Long-polls in progress; a worker inside one is present even without heartbeats. */
  polls: number;
  expiry: TimerHandle | undefined;
}

/** Options for {@link WorkerRegistry}. */
export interface WorkerRegistryOptions {
  readonly clock: Clock;
  /** Silence after which a worker is gone. */
  readonly timeoutMs: number;
  /** Called once for a worker that went silent, after it was removed. */
  readonly onExpired: (worker: WorkerRecord) => void;
}

/** Workers by id, each with a liveness timer that every call from it restarts. */
export class WorkerRegistry {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #onExpired: (worker: WorkerRecord) => void;
  readonly #workers = new Map<string, WorkerRecord>();

  constructor(options: WorkerRegistryOptions) {
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#onExpired = options.onExpired;
  }

  /** Adds a worker, or refreshes the name, platform and capacity of a known one. */
  register(registration: WorkerRegistration): WorkerRecord {
    if (registration.id === '') throw invalidArgument('worker id must not be empty');
    if (!Number.isSafeInteger(registration.capacity) || registration.capacity < 1) {
      throw invalidArgument(
        `worker ${registration.id}: capacity ${registration.capacity} must be a positive integer`,
      );
    }
    const platform = normalizePlatform(registration.platform);
    let worker = this.#workers.get(registration.id);
    if (worker === undefined) {
      const now = this.#clock.now();
      worker = {
        id: registration.id,
        name: registration.name,
        platform,
        offered: offeredSet(platform),
        capacity: registration.capacity,
        principal: registration.principal ?? '',
        leases: new Map(),
        registeredAtMs: now,
        lastSeenMs: now,
        actionsDone: 0,
        polls: 0,
        expiry: undefined,
      };
      this.#workers.set(worker.id, worker);
    } else {
      worker.name = registration.name;
      worker.platform = platform;
      worker.offered = offeredSet(platform);
      worker.capacity = registration.capacity;
      worker.principal = registration.principal ?? '';
    }
    this.touch(worker);
    return worker;
  }

  /** The worker, marked as seen now; NOT_FOUND when unknown or already declared gone. */
  require(id: string): WorkerRecord {
    const worker = this.#workers.get(id);
    if (worker === undefined) {
      throw notFound(`worker "${id}" is not registered (it may have timed out); register it again`);
    }
    this.touch(worker);
    return worker;
  }

  /** The worker, or undefined; does not count as a sign of life. */
  find(id: string): WorkerRecord | undefined {
    return this.#workers.get(id);
  }

  /** Records a sign of life and restarts the liveness timer. */
  touch(worker: WorkerRecord): void {
    worker.lastSeenMs = this.#clock.now();
    worker.expiry?.cancel();
    worker.expiry = this.#clock.setTimer(this.#timeoutMs, () => {
      worker.expiry = undefined;
      if (worker.polls > 0) {
        this.touch(worker);
        return;
      }
      this.remove(worker);
      this.#onExpired(worker);
    });
  }

  /** Forgets a worker and stops its timer. Its leases are the caller's business. */
  remove(worker: WorkerRecord): void {
    worker.expiry?.cancel();
    worker.expiry = undefined;
    if (this.#workers.get(worker.id) === worker) this.#workers.delete(worker.id);
  }

  /** Whether `worker` is still registered. */
  isConnected(worker: WorkerRecord): boolean {
    return this.#workers.get(worker.id) === worker;
  }

  /** Whether any connected worker can run an action requiring `required`. */
  canRun(required: readonly PlatformProperty[]): boolean {
    for (const w of this.#workers.values()) if (satisfies(w.offered, required)) return true;
    return false;
  }

  /** What each connected worker offers, for the unschedulable message. */
  offers(): WorkerOffer[] {
    return [...this.#workers.values()].map((w) => ({ name: w.name, platform: w.platform }));
  }

  /** Connected workers in registration order. */
  values(): IterableIterator<WorkerRecord> {
    return this.#workers.values();
  }

  get size(): number {
    return this.#workers.size;
  }

  /** A plain copy for callers. */
  snapshot(worker: WorkerRecord): WorkerState {
    return {
      id: worker.id,
      name: worker.name,
      platform: worker.platform,
      capacity: worker.capacity,
      leaseIds: [...worker.leases.keys()],
      registeredAtMs: worker.registeredAtMs,
      lastSeenMs: worker.lastSeenMs,
      actionsDone: worker.actionsDone,
    };
  }

  /** Stops every liveness timer. */
  close(): void {
    for (const w of this.#workers.values()) {
      w.expiry?.cancel();
      w.expiry = undefined;
    }
  }
}

/** Leases the worker may still take on. */
export function freeCapacity(worker: WorkerRecord): number {
  return Math.max(0, worker.capacity - worker.leases.size);
}
