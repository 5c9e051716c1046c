/**
 * Queued actions split by the platform they require: one fair
 * {@link ActionQueue} per distinct requirement. A worker looks only at the
 * queues whose platform it satisfies (distinct platforms are few), and only
 * at the next item of each, so finding its next action never scans queued
 * actions it cannot run.
 */
import { ActionQueue, type QueuePlacement } from './action-queue.ts';
import { meets, type OfferedPlatform, type Requirement } from './platform.ts';
import type { VisitCounter } from './visit-counter.ts';

interface PlatformQueue<T> {
  readonly requirement: Requirement;
  readonly queue: ActionQueue<T>;
}

const ALL = (): boolean => true;

/**
 * The queue of every action waiting for a worker, indexed by required
 * platform.
 *
 * Within one platform the order is exactly {@link ActionQueue}'s: priority,
 * then round-robin between principals, then between their builds, then FIFO.
 * A worker that satisfies several platforms' queues takes the most urgent of
 * their next items: the lowest priority value, and at equal priority the
 * one queued first (a retried item counts as queued before everything). So
 * fairness between principals and builds holds inside each platform; across
 * platforms, equal priorities are served oldest first.
 *
 * Holds (a principal at its `maxExecuting`) apply to every platform queue.
 */
export class PlatformQueues<T> {
  readonly #queues = new Map<string, PlatformQueue<T>>();
  readonly #queueOf = new Map<T, PlatformQueue<T>>();
  /** Arrival order across queues; retries pushed to the front get ever smaller numbers. */
  readonly #order = new Map<T, number>();
  #nextOrder = 1;
  #nextFrontOrder = 0;
  readonly #held = new Set<string>();
  readonly #visits: VisitCounter;

  constructor(visits: VisitCounter = { visits: 0 }) {
    this.#visits = visits;
  }

  /** Number of queued items. */
  get size(): number {
    return this.#queueOf.size;
  }

  /** Whether `item` is queued. */
  has(item: T): boolean {
    return this.#queueOf.has(item);
  }

  /** Queues `item` on the queue of `requirement`; see {@link ActionQueue.push}. */
  push(
    item: T,
    placement: QueuePlacement,
    requirement: Requirement,
    options: { front?: boolean } = {},
  ): void {
    if (this.#queueOf.has(item)) throw new Error('item is already queued');
    let entry = this.#queues.get(requirement.key);
    if (entry === undefined) {
      entry = { requirement, queue: new ActionQueue(this.#visits) };
      for (const principal of this.#held) entry.queue.hold(principal);
      this.#queues.set(requirement.key, entry);
    }
    entry.queue.push(item, placement, options);
    this.#queueOf.set(item, entry);
    this.#order.set(item, options.front === true ? this.#nextFrontOrder-- : this.#nextOrder++);
  }

  /** Removes `item` wherever it is; false when it was not queued. */
  remove(item: T): boolean {
    const entry = this.#queueOf.get(item);
    if (entry === undefined) return false;
    entry.queue.remove(item);
    this.#forget(item, entry);
    return true;
  }

  /**
   * Removes and returns the next item a worker offering `offered` can run,
   * or undefined. Visits each platform queue once and no queued item but
   * the next one of each.
   */
  take(offered: OfferedPlatform): T | undefined {
    let best: PlatformQueue<T> | undefined;
    let bestPriority = 0;
    let bestOrder = 0;
    for (const entry of this.#queues.values()) {
      this.#visits.visits++;
      if (!meets(offered, entry.requirement)) continue;
      const next = entry.queue.peek();
      if (next === undefined) continue;
      const order = this.#order.get(next.item) ?? 0;
      if (
        best === undefined ||
        next.priority < bestPriority ||
        (next.priority === bestPriority && order < bestOrder)
      ) {
        best = entry;
        bestPriority = next.priority;
        bestOrder = order;
      }
    }
    if (best === undefined) return undefined;
    const item = best.queue.take(ALL);
    if (item !== undefined) this.#forget(item, best);
    return item;
  }

  /** Whether a worker offering `offered` would get an item from {@link take}. */
  hasWorkFor(offered: OfferedPlatform): boolean {
    for (const entry of this.#queues.values()) {
      this.#visits.visits++;
      if (meets(offered, entry.requirement) && entry.queue.peek() !== undefined) return true;
    }
    return false;
  }

  /** Distinct platforms with queued items. */
  *requirements(): IterableIterator<Requirement> {
    for (const entry of this.#queues.values()) yield entry.requirement;
  }

  /** Items queued for exactly `requirement`, in take order ignoring rotation. */
  queuedFor(requirement: Requirement): IterableIterator<T> {
    return this.#queues.get(requirement.key)?.queue.items() ?? [].values();
  }

  /** Stops offering `principal`'s items on every platform; see {@link ActionQueue.hold}. */
  hold(principal: string): void {
    if (this.#held.has(principal)) return;
    this.#held.add(principal);
    for (const entry of this.#queues.values()) entry.queue.hold(principal);
  }

  /** Offers a held principal's items again; false when it was not held. */
  release(principal: string): boolean {
    if (!this.#held.delete(principal)) return false;
    for (const entry of this.#queues.values()) entry.queue.release(principal);
    return true;
  }

  /** Whether `principal` is on hold. */
  isHeld(principal: string): boolean {
    return this.#held.has(principal);
  }

  /** Queued items of `principal`, over every platform. */
  countOf(principal: string): number {
    let count = 0;
    for (const entry of this.#queues.values()) count += entry.queue.countOf(principal);
    return count;
  }

  /** Each principal with queued items and how many. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const entry of this.#queues.values()) {
      for (const [principal, n] of entry.queue.counts()) {
        out.set(principal, (out.get(principal) ?? 0) + n);
      }
    }
    return out;
  }

  /** Every queued item, platform by platform, each in take order ignoring rotation and holds. */
  *items(): IterableIterator<T> {
    for (const entry of this.#queues.values()) yield* entry.queue.items();
  }

  #forget(item: T, entry: PlatformQueue<T>): void {
    this.#queueOf.delete(item);
    this.#order.delete(item);
    if (entry.queue.size === 0) this.#queues.delete(entry.requirement.key);
  }
}
