/**
 * Connected workers and their liveness: a worker that has not called the
 * scheduler within `workerTimeoutMs` is declared gone. Workers are also
 * grouped by the exact platform they offer, so questions about the fleet
 * ("can anyone run this?") cost O(distinct platforms), not O(workers).
 */
import { invalidArgument, notFound } from '../errors.ts';
import type { Clock, TimerHandle } from './clock.ts';
import {
  meets,
  normalizePlatform,
  type OfferedPlatform,
  offeredSet,
  type PlatformOffer,
  type PlatformProperty,
  platformKey,
  type Requirement,
} from './platform.ts';
import type { LeaseRecord } from './task.ts';
import type { WorkerRegistration, WorkerState } from './types.ts';
import type { VisitCounter } from './visit-counter.ts';

/** One connected worker. Only the scheduler changes it. */
export interface WorkerRecord {
  readonly id: string;
  name: string;
  platform: readonly PlatformProperty[];
  /** {@link platformKey} of `platform`: workers with equal keys offer exactly the same. */
  platformKey: string;
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
  readonly visits?: VisitCounter;
}

/** Connected workers offering one exact platform. */
interface PlatformGroup {
  readonly platform: readonly PlatformProperty[];
  readonly offered: OfferedPlatform;
  readonly members: Set<WorkerRecord>;
}

const NAMES_PER_GROUP = 3;

/**
 * Workers by id and by platform. Each worker has one liveness timer, armed
 * for `timeoutMs` after the call that armed it; a sign of life only records
 * the time, and the timer, when it fires, re-arms itself for what is left.
 * So a worker costs at most one timer callback per `timeoutMs` however
 * often it calls, and nothing sweeps the fleet.
 */
export class WorkerRegistry {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #onExpired: (worker: WorkerRecord) => void;
  readonly #visits: VisitCounter;
  readonly #workers = new Map<string, WorkerRecord>();
  readonly #groups = new Map<string, PlatformGroup>();

  constructor(options: WorkerRegistryOptions) {
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#onExpired = options.onExpired;
    this.#visits = options.visits ?? { visits: 0 };
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
        platformKey: platformKey(platform),
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
      this.#group(worker);
    } else {
      worker.name = registration.name;
      const key = platformKey(platform);
      if (key !== worker.platformKey) {
        this.#ungroup(worker);
        worker.platform = platform;
        worker.platformKey = key;
        worker.offered = offeredSet(platform);
        this.#group(worker);
      }
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

  /** Records a sign of life: the worker is gone `timeoutMs` after its last one. */
  touch(worker: WorkerRecord): void {
    worker.lastSeenMs = this.#clock.now();
    if (worker.expiry === undefined && this.isConnected(worker)) this.#arm(worker, this.#timeoutMs);
  }

  #arm(worker: WorkerRecord, ms: number): void {
    worker.expiry = this.#clock.setTimer(ms, () => {
      worker.expiry = undefined;
      if (!this.isConnected(worker)) return;
      // A worker inside a long-poll is present; its silence starts again now.
      if (worker.polls > 0) worker.lastSeenMs = this.#clock.now();
      const left = worker.lastSeenMs + this.#timeoutMs - this.#clock.now();
      if (left > 0) {
        this.#arm(worker, left);
        return;
      }
      this.remove(worker);
      this.#onExpired(worker);
    });
  }

  /**
   * Forgets a worker and stops its timer. Its leases are the caller's
   * business. Returns true when it was the last connected worker offering
   * its platform (only then can an action have lost every worker able to run it).
   */
  remove(worker: WorkerRecord): boolean {
    worker.expiry?.cancel();
    worker.expiry = undefined;
    if (this.#workers.get(worker.id) !== worker) return false;
    this.#workers.delete(worker.id);
    return this.#ungroup(worker);
  }

  /** Whether `worker` is still registered. */
  isConnected(worker: WorkerRecord): boolean {
    return this.#workers.get(worker.id) === worker;
  }

  /** Whether any connected worker can run an action with `required`; O(distinct platforms). */
  canRun(required: Requirement): boolean {
    for (const group of this.#groups.values()) {
      this.#visits.visits++;
      if (meets(group.offered, required)) return true;
    }
    return false;
  }

  /** Each distinct platform connected workers offer, with a few names, for the unschedulable message. */
  offers(): PlatformOffer[] {
    return [...this.#groups.values()].map((group) => {
      const names: string[] = [];
      for (const w of group.members) {
        if (names.length === NAMES_PER_GROUP) break;
        names.push(w.name);
      }
      return { platform: group.platform, names, count: group.members.size };
    });
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

  #group(worker: WorkerRecord): void {
    let group = this.#groups.get(worker.platformKey);
    if (group === undefined) {
      group = { platform: worker.platform, offered: worker.offered, members: new Set() };
      this.#groups.set(worker.platformKey, group);
    }
    group.members.add(worker);
  }

  /** Returns true when that emptied its group. */
  #ungroup(worker: WorkerRecord): boolean {
    const group = this.#groups.get(worker.platformKey);
    if (group === undefined || !group.members.delete(worker)) return false;
    if (group.members.size > 0) return false;
    this.#groups.delete(worker.platformKey);
    return true;
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
