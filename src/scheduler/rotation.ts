/**
 * An insertion-ordered map for round-robin rotations, whose first entry is
 * found in O(1) however many entries were deleted before it. A JavaScript
 * Map finds its first entry by skipping the tombstones of deleted ones until
 * it rebuilds its table, so a rotation that keeps deleting its front and
 * re-adding at the back costs O(entries) per turn there.
 */

interface Node<K, V> {
  readonly key: K;
  value: V;
  prev: Node<K, V> | undefined;
  next: Node<K, V> | undefined;
}

/**
 * The subset of the Map API the queue uses, with Map's order semantics:
 * `set` of a new key appends it, `set` of a present key keeps its place,
 * and iteration runs from the oldest entry to the newest.
 */
export class Rotation<K, V> {
  readonly #nodes = new Map<K, Node<K, V>>();
  #head: Node<K, V> | undefined;
  #tail: Node<K, V> | undefined;

  get size(): number {
    return this.#nodes.size;
  }

  get(key: K): V | undefined {
    return this.#nodes.get(key)?.value;
  }

  has(key: K): boolean {
    return this.#nodes.has(key);
  }

  set(key: K, value: V): this {
    const node = this.#nodes.get(key);
    if (node !== undefined) {
      node.value = value;
      return this;
    }
    const added: Node<K, V> = { key, value, prev: this.#tail, next: undefined };
    if (this.#tail === undefined) this.#head = added;
    else this.#tail.next = added;
    this.#tail = added;
    this.#nodes.set(key, added);
    return this;
  }

  delete(key: K): boolean {
    const node = this.#nodes.get(key);
    if (node === undefined) return false;
    this.#nodes.delete(key);
    if (node.prev === undefined) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.#tail = node.prev;
    else node.next.prev = node.prev;
    return true;
  }

  /** The oldest entry's value. */
  first(): V | undefined {
    return this.#head?.value;
  }

  /** Entries oldest first. Deleting the current entry while iterating is safe. */
  *[Symbol.iterator](): IterableIterator<[K, V]> {
    for (let node = this.#head; node !== undefined; ) {
      const { next } = node;
      yield [node.key, node.value];
      node = next;
    }
  }

  *values(): IterableIterator<V> {
    for (let node = this.#head; node !== undefined; ) {
      const { next } = node;
      yield node.value;
      node = next;
    }
  }
}
