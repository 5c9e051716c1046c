/**
 * Identity for operations, tasks and leases. Injected so scenario tests can
 * assert exact operation names and lease ids.
 */
import { randomUUID } from 'node:crypto';

/** Produces unique identifiers. */
export interface IdGenerator {
  /** A new identifier, never returned before by this generator. */
  next(): string;
}

/** Random UUIDs: unique across processes and restarts, which a shared (PostgreSQL) queue needs. */
export const randomIds: IdGenerator = Object.freeze({ next: () => randomUUID() });

/** `1`, `2`, `3`, … with an optional prefix: predictable ids for tests. */
export class SequentialIds implements IdGenerator {
  readonly #prefix: string;
  #n = 0;

  constructor(prefix = '') {
    this.#prefix = prefix;
  }

  next(): string {
    this.#n += 1;
    return `${this.#prefix}${this.#n}`;
  }
}
