/**
 * Operations run one after another per key, and in parallel across keys:
 * the disk store's renames and unlinks of one blob's file, so that an
 * eviction's unlink cannot land after a concurrent commit's rename of the
 * same key and delete the fresh file while the index still lists it.
 */
export class KeyedQueue {
  /** Tail of the queue of each key with operations pending. */
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `op` once every operation queued before it on `key` has settled. */
  run(key: string, op: () => Promise<void>): Promise<void> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(op);
    const tail = result.catch(() => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Whether any operation is pending. */
  get busy(): boolean {
    return this.#tails.size > 0;
  }

  /** Settles once the operations pending now have. */
  async settled(): Promise<void> {
    await Promise.all(this.#tails.values());
  }
}
