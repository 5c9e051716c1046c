/**
 * A first-in first-out list whose front removal is amortised O(1) however
 * long it grows. A plain array's shift() or splice(0, 1) copies every
 * remaining element once the array is large (V8 cannot trim arrays in its
 * large-object space), which made draining one build's 100,000 queued
 * actions quadratic.
 */

/** Dead slots tolerated at the front before the live part is copied down. */
const COMPACT_AFTER = 1024;

/** A FIFO of distinct items (never `undefined`), with removal from anywhere (for cancellations). */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  /** Index of the first live item; slots before it are dead. */
  #head = 0;

  /** Number of items. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The first item, or undefined when empty. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /** Adds `item` at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Adds `item` at the front. */
  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.unshift(item);
  }

  /** Removes and returns the first item `accept` agrees to, or undefined. */
  take(accept: (item: T) => boolean): T | undefined {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const item = items[i] as T;
      if (!accept(item)) continue;
      if (i === this.#head) {
        items[i] = undefined;
        this.#head++;
        this.#compact();
      } else {
        items.splice(i, 1);
      }
      return item;
    }
    return undefined;
  }

  /** Removes `item`; false when it is not here. */
  remove(item: T): boolean {
    const index = this.#items.indexOf(item, this.#head);
    if (index < 0) return false;
    if (index === this.#head) {
      this.#items[index] = undefined;
      this.#head++;
      this.#compact();
    } else {
      this.#items.splice(index, 1);
    }
    return true;
  }

  /** The items, front first. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
