/**
 * A set that remembers only its most recently added values: past its
 * capacity, the value added longest ago is forgotten first.
 */
export class RecentSet<T> {
  readonly #values = new Set<T>();
  readonly #capacity: number;

  /** `capacity`: most values kept; at least 1. */
  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  /** Adds `value` as the most recent one. */
  add(value: T): void {
    this.#values.delete(value);
    this.#values.add(value);
    for (const oldest of this.#values) {
      if (this.#values.size <= this.#capacity) break;
      this.#values.delete(oldest);
    }
  }

  has(value: T): boolean {
    return this.#values.has(value);
  }

  get size(): number {
    return this.#values.size;
  }
}
