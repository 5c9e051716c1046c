/**
 * The queue of actions waiting for a worker, ordered by priority and, within
 * one priority, shared fairly between tool invocations (builds).
 */

/** Where an item sits in the queue. */
export interface QueuePlacement {
  /** REAPI priority: lower values run sooner; 0 is the default. */
  readonly priority: number;
  /** The tool invocation (build) the item belongs to; `''` is one anonymous invocation. */
  readonly invocationId: string;
}

/**
 * A priority queue with round-robin fairness. {@link ActionQueue.take} always
 * returns an acceptable item of the lowest priority value present; among
 * items of that priority it rotates between invocations (the invocation just
 * served moves to the back of the rotation), so a build that queued ten
 * thousand actions does not starve one that queued ten a moment later.
 * Within one invocation items leave in FIFO order.
 *
 * Each level keeps its invocations in a Map, whose insertion order is the
 * rotation: re-inserting a key moves it to the back in O(1).
 */
export class ActionQueue<T> {
  readonly #levels = new Map<number, Map<string, T[]>>();
  /** Priorities present, ascending. */
  #priorities: number[] = [];
  readonly #placements = new Map<T, QueuePlacement>();

  /** Number of queued items. */
  get size(): number {
    return this.#placements.size;
  }

  /** Whether `item` is queued. */
  has(item: T): boolean {
    return this.#placements.has(item);
  }

  /**
   * Queues `item`. With `front`, it goes ahead of its invocation's other
   * items (for a retry of an action that was already dispatched once).
   */
  push(item: T, placement: QueuePlacement, options: { front?: boolean } = {}): void {
    if (this.#placements.has(item)) throw new Error('item is already queued');
    let level = this.#levels.get(placement.priority);
    if (level === undefined) {
      level = new Map();
      this.#levels.set(placement.priority, level);
      this.#priorities.push(placement.priority);
      this.#priorities.sort((a, b) => a - b);
    }
    let fifo = level.get(placement.invocationId);
    if (fifo === undefined) {
      fifo = [];
      level.set(placement.invocationId, fifo);
    }
    if (options.front === true) fifo.unshift(item);
    else fifo.push(item);
    this.#placements.set(item, {
      priority: placement.priority,
      invocationId: placement.invocationId,
    });
  }

  /** Removes `item` wherever it is; false when it was not queued. */
  remove(item: T): boolean {
    const placement = this.#placements.get(item);
    if (placement === undefined) return false;
    const level = this.#levels.get(placement.priority);
    const fifo = level?.get(placement.invocationId);
    if (level === undefined || fifo === undefined) throw new Error('queue index is inconsistent');
    fifo.splice(fifo.indexOf(item), 1);
    this.#detach(item, placement, level, fifo, false);
    return true;
  }

  /**
   * Removes and returns the next item `accept` agrees to (for a worker: one
   * whose platform it satisfies), or undefined when there is none. Items it
   * refuses keep their place.
   */
  take(accept: (item: T) => boolean): T | undefined {
    for (const priority of this.#priorities) {
      const level = this.#levels.get(priority);
      if (level === undefined) continue;
      for (const [invocationId, fifo] of level) {
        const index = fifo.findIndex(accept);
        if (index < 0) continue;
        const [item] = fifo.splice(index, 1) as [T];
        this.#detach(item, { priority, invocationId }, level, fifo, true);
        return item;
      }
    }
    return undefined;
  }

  /** Every queued item in take order, ignoring rotation within a level (for stats and tests). */
  *items(): IterableIterator<T> {
    for (const priority of this.#priorities) {
      for (const fifo of this.#levels.get(priority)?.values() ?? []) yield* fifo;
    }
  }

  /**
   * Forgets `item`'s placement and tidies its level. A served invocation moves
   * to the back of the rotation; a removal (cancellation) leaves it in place.
   */
  #detach(
    item: T,
    placement: QueuePlacement,
    level: Map<string, T[]>,
    fifo: T[],
    served: boolean,
  ): void {
    this.#placements.delete(item);
    if (fifo.length === 0 || served) level.delete(placement.invocationId);
    if (fifo.length > 0 && served) level.set(placement.invocationId, fifo);
    if (level.size === 0) {
      this.#levels.delete(placement.priority);
      this.#priorities = this.#priorities.filter((p) => p !== placement.priority);
    }
  }
}
