/**
 * A first-in first-out list of distinct items with O(1) push, unshift,
 * front removal and removal from anywhere. A doubly linked list indexed by
 * item: cancelling one of a build's 100,000 queued actions unlinks its node
 * instead of searching the array and copying everything behind it (the
 * array this replaced was O(queue) per cancellation, and a plain array's
 * shift() made draining quadratic before that).
 */
import type { VisitCounter } from './visit-counter.ts';

interface Node<T> {
  readonly item: T;
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
}

/** A FIFO of distinct items, with removal from anywhere (for cancellations). */
export class Fifo<T> {
  readonly #nodes = new Map<T, Node<T>>();
  #head: Node<T> | undefined;
  #tail: Node<T> | undefined;
  readonly #visits: VisitCounter | undefined;

  /** `visits` counts the nodes {@link take} and {@link remove} look at (for tests). */
  constructor(visits?: VisitCounter) {
    this.#visits = visits;
  }

  /** Number of items. */
  get length(): number {
    return this.#nodes.size;
  }

  /** The first item, or undefined when empty. */
  peek(): T | undefined {
    return this.#head?.item;
  }

  /** Adds `item` at the back. */
  push(item: T): void {
    const node: Node<T> = { item, prev: this.#tail, next: undefined };
    this.#add(item, node);
    if (this.#tail === undefined) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
  }

  /** Adds `item` at the front. */
  unshift(item: T): void {
    const node: Node<T> = { item, prev: undefined, next: this.#head };
    this.#add(item, node);
    if (this.#head === undefined) this.#tail = node;
    else this.#head.prev = node;
    this.#head = node;
  }

  /**
   * Removes and returns the first item `accept` agrees to, or undefined.
   * Costs the items refused before it (none when every item is acceptable,
   * as for a queue of one platform).
   */
  take(accept: (item: T) => boolean): T | undefined {
    for (let node = this.#head; node !== undefined; node = node.next) {
      if (this.#visits !== undefined) this.#visits.visits++;
      if (!accept(node.item)) continue;
      this.#unlink(node);
      return node.item;
    }
    return undefined;
  }

  /** Removes `item` in O(1); false when it is not here. */
  remove(item: T): boolean {
    const node = this.#nodes.get(item);
    if (node === undefined) return false;
    if (this.#visits !== undefined) this.#visits.visits++;
    this.#unlink(node);
    return true;
  }

  /** The items, front first. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let node = this.#head; node !== undefined; ) {
      const { next } = node;
      yield node.item;
      node = next;
    }
  }

  #add(item: T, node: Node<T>): void {
    if (this.#nodes.has(item)) throw new Error('item is already in the fifo');
    this.#nodes.set(item, node);
  }

  #unlink(node: Node<T>): void {
    this.#nodes.delete(node.item);
    const { prev, next } = node;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    node.prev = undefined;
    node.next = undefined;
  }
}
