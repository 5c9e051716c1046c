/**
 * The queue of actions waiting for a worker: ordered by priority and, within
 * one priority, shared fairly first between principals (who submitted) and
 * then between the tool invocations (builds) of each principal.
 */
import { Fifo } from './fifo.ts';
import { Rotation } from './rotation.ts';
import type { VisitCounter } from './visit-counter.ts';

/** Where an item sits in the queue. */
export interface QueuePlacement {
  /** REAPI priority: lower values run sooner; 0 is the default. */
  readonly priority: number;
  /** The authenticated caller the item counts against; `''` (the default) is one shared principal. */
  readonly principal?: string;
  /** The tool invocation (build) the item belongs to; `''` is one anonymous invocation. */
  readonly invocationId: string;
}

/** Builds of one principal at one priority: invocation → FIFO, in rotation order. */
type Builds<T> = Rotation<string, Fifo<T>>;

/** One priority level. */
interface Level<T> {
  /** Principals that may be served, in rotation order. */
  readonly rotation: Rotation<string, Builds<T>>;
  /** Principals on hold (see {@link ActionQueue.hold}); they keep their items but are skipped. */
  readonly held: Rotation<string, Builds<T>>;
}

/** What the queue knows about one principal with queued items. */
interface PrincipalEntry {
  /** Its queued items, over every level. */
  count: number;
  /** The priorities at which it has items. */
  readonly priorities: Set<number>;
}

interface Placed {
  readonly priority: number;
  readonly principal: string;
  readonly invocationId: string;
}

/**
 * A priority queue with two-level round-robin fairness.
 * {@link ActionQueue.take} returns an acceptable item of the lowest priority
 * value present; among that priority's items it rotates between principals
 * (the principal just served moves to the back), and within the chosen
 * principal between its invocations (likewise). So a principal that queued
 * ten thousand actions does not starve one that queued ten a moment later,
 * and neither does one build of a principal starve its other builds. Within
 * one invocation items leave in FIFO order.
 *
 * Rotations are {@link Rotation}s (insertion-ordered like a Map, with an O(1)
 * first entry), whose order is the rotation: re-inserting a key moves it to
 * the back in O(1). A principal put on hold moves from its
 * levels' rotations to their `held` maps, in O(levels it has items in), so
 * taking never looks at held principals' items at all.
 */
export class ActionQueue<T> {
  readonly #levels = new Map<number, Level<T>>();
  /** Priorities present, ascending. */
  #priorities: number[] = [];
  readonly #placements = new Map<T, Placed>();
  readonly #principals = new Map<string, PrincipalEntry>();
  readonly #held = new Set<string>();
  readonly #visits: VisitCounter | undefined;

  /** `visits` counts the queued items that taking and removing look at (for tests). */
  constructor(visits?: VisitCounter) {
    this.#visits = visits;
  }

  /** Number of queued items. */
  get size(): number {
    return this.#placements.size;
  }

  /** Whether `item` is queued. */
  has(item: T): boolean {
    return this.#placements.has(item);
  }

  /** Queued items of `principal`. */
  countOf(principal: string): number {
    return this.#principals.get(principal)?.count ?? 0;
  }

  /** Each principal with queued items and how many. */
  *counts(): IterableIterator<[principal: string, queued: number]> {
    for (const [principal, entry] of this.#principals) yield [principal, entry.count];
  }

  /**
   * Queues `item`. With `front`, it goes ahead of its invocation's other
   * items (for a retry of an action that was already dispatched once).
   */
  push(item: T, placement: QueuePlacement, options: { front?: boolean } = {}): void {
    if (this.#placements.has(item)) throw new Error('item is already queued');
    const placed: Placed = {
      priority: placement.priority,
      principal: placement.principal ?? '',
      invocationId: placement.invocationId,
    };
    let level = this.#levels.get(placed.priority);
    if (level === undefined) {
      level = { rotation: new Rotation(), held: new Rotation() };
      this.#levels.set(placed.priority, level);
      this.#priorities.push(placed.priority);
      this.#priorities.sort((a, b) => a - b);
    }
    const group = this.#held.has(placed.principal) ? level.held : level.rotation;
    let builds = group.get(placed.principal);
    if (builds === undefined) {
      builds = new Rotation();
      group.set(placed.principal, builds);
    }
    let fifo = builds.get(placed.invocationId);
    if (fifo === undefined) {
      fifo = new Fifo(this.#visits);
      builds.set(placed.invocationId, fifo);
    }
    if (options.front === true) fifo.unshift(item);
    else fifo.push(item);
    let entry = this.#principals.get(placed.principal);
    if (entry === undefined) {
      entry = { count: 0, priorities: new Set() };
      this.#principals.set(placed.principal, entry);
    }
    entry.count++;
    entry.priorities.add(placed.priority);
    this.#placements.set(item, placed);
  }

  /** Removes `item` wherever it is; false when it was not queued. */
  remove(item: T): boolean {
    const placed = this.#placements.get(item);
    if (placed === undefined) return false;
    this.#fifoOf(placed).remove(item);
    this.#detach(item, placed, false);
    return true;
  }

  /**
   * Removes and returns the next item `accept` agrees to (for a worker: one
   * whose platform it satisfies), or undefined when there is none. Items it
   * refuses keep their place; items of held principals are not offered.
   */
  take(accept: (item: T) => boolean): T | undefined {
    for (const priority of this.#priorities) {
      const level = this.#levels.get(priority);
      if (level === undefined) continue;
      for (const [principal, builds] of level.rotation) {
        for (const [invocationId, fifo] of builds) {
          const item = fifo.take(accept);
          if (item === undefined) continue;
          this.#detach(item, { priority, principal, invocationId }, true);
          return item;
        }
      }
    }
    return undefined;
  }

  /**
   * The item `take(() => true)` would return and its priority, without
   * taking it. Looks at one FIFO; only priorities whose principals are all
   * held are stepped over.
   */
  peek(): { readonly item: T; readonly priority: number } | undefined {
    for (const priority of this.#priorities) {
      const level = this.#levels.get(priority);
      if (level === undefined) continue;
      // Empty FIFOs and principals without builds are removed at once, so the first is the one.
      const item = level.rotation.first()?.first()?.peek();
      if (item !== undefined) return { item, priority };
    }
    return undefined;
  }

  /**
   * Stops offering `principal`'s items (it reached its limit of executing
   * actions) until {@link release}. Its items keep their order and still
   * count as queued; items it queues meanwhile wait with them.
   */
  hold(principal: string): void {
    if (this.#held.has(principal)) return;
    this.#held.add(principal);
    this.#move(principal, 'rotation', 'held');
  }

  /** Offers a held principal's items again; they rejoin each rotation at the back. False when it was not held. */
  release(principal: string): boolean {
    if (!this.#held.delete(principal)) return false;
    this.#move(principal, 'held', 'rotation');
    return true;
  }

  /** Whether `principal` is on hold. */
  isHeld(principal: string): boolean {
    return this.#held.has(principal);
  }

  /** Every queued item in take order, ignoring rotation and holds (for stats and tests). */
  *items(): IterableIterator<T> {
    for (const priority of this.#priorities) {
      const level = this.#levels.get(priority);
      if (level === undefined) continue;
      for (const group of [level.rotation, level.held]) {
        for (const builds of group.values()) for (const fifo of builds.values()) yield* fifo;
      }
    }
  }

  #move(principal: string, from: 'rotation' | 'held', to: 'rotation' | 'held'): void {
    for (const priority of this.#principals.get(principal)?.priorities ?? []) {
      const level = this.#levels.get(priority);
      const builds = level?.[from].get(principal);
      if (level === undefined || builds === undefined) continue;
      level[from].delete(principal);
      level[to].set(principal, builds);
    }
  }

  #groupOf(placed: Placed): Rotation<string, Builds<T>> {
    const level = this.#levels.get(placed.priority);
    if (level === undefined) throw new Error('queue index is inconsistent');
    return this.#held.has(placed.principal) ? level.held : level.rotation;
  }

  #fifoOf(placed: Placed): Fifo<T> {
    const fifo = this.#groupOf(placed).get(placed.principal)?.get(placed.invocationId);
    if (fifo === undefined) throw new Error('queue index is inconsistent');
    return fifo;
  }

  /**
   * Forgets `item`'s placement and tidies up after it. A served principal
   * and invocation move to the back of their rotations; a removal
   * (cancellation) leaves them in place.
   */
  #detach(item: T, placed: Placed, served: boolean): void {
    this.#placements.delete(item);
    const group = this.#groupOf(placed);
    const builds = group.get(placed.principal) as Builds<T>;
    const fifo = builds.get(placed.invocationId) as Fifo<T>;
    if (fifo.length === 0 || served) builds.delete(placed.invocationId);
    if (fifo.length > 0 && served) builds.set(placed.invocationId, fifo);
    const entry = this.#principals.get(placed.principal) as PrincipalEntry;
    entry.count--;
    if (builds.size === 0) {
      group.delete(placed.principal);
      entry.priorities.delete(placed.priority);
      if (entry.count === 0) this.#principals.delete(placed.principal);
    } else if (served) {
      group.delete(placed.principal);
      group.set(placed.principal, builds);
    }
    const level = this.#levels.get(placed.priority) as Level<T>;
    if (level.rotation.size === 0 && level.held.size === 0) {
      this.#levels.delete(placed.priority);
      this.#priorities = this.#priorities.filter((p) => p !== placed.priority);
    }
  }
}
