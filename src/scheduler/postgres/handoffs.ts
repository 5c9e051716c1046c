/**
 * Watchers that an Execute's submit subscribes for the watch that follows
 * it. The Execution service submits an action and at once watches the new
 * operation; without this the watch would read back the row the submit has
 * just written. Subscribing before the submit's statement is sent, and
 * starting the watcher from the statement's own result, keeps what the
 * read guaranteed: no change made after that state is missed, because any
 * notification of a later change arrives after the subscription and waits
 * for the first state (see {@link Waiters.start}).
 */
import type { OperationState } from '../types.ts';
import type { Waiters, Watcher } from './waiters.ts';

/** How long a watcher waits for its watch to take it; then it is dropped. */
const UNCLAIMED_MS = 10_000;

/** Subscribed watchers of submitted operations, until their watch takes them. */
export class Handoffs {
  readonly #waiters: Waiters;
  readonly #held = new Map<string, { watcher: Watcher; timer: NodeJS.Timeout }>();

  constructor(waiters: Waiters) {
    this.#waiters = waiters;
  }

  /** Subscribes a watcher of `name` before the operation is written. */
  subscribe(name: string): Watcher {
    return this.#waiters.watch(name);
  }

  /**
   * Starts the watcher with the state the submit's statement returned and
   * keeps it for {@link take}. A new operation's row is at version 0 until
   * another transaction changes it; the submit's transaction changes it
   * only to complete it (an action no worker can run), and a done state
   * ends the watcher anyway.
   */
  hold(name: string, watcher: Watcher, state: OperationState): void {
    this.#waiters.start(name, watcher, state, 0);
    const timer = setTimeout(() => this.#drop(name), UNCLAIMED_MS);
    timer.unref();
    const previous = this.#held.get(name);
    if (previous !== undefined) clearTimeout(previous.timer);
    this.#held.set(name, { watcher, timer });
  }

  /** Unsubscribes a watcher whose submit failed. */
  abandon(name: string, watcher: Watcher): void {
    this.#waiters.unwatch(name, watcher);
  }

  /** The started watcher of a just-submitted operation, once; undefined otherwise. */
  take(name: string): Watcher | undefined {
    const held = this.#held.get(name);
    if (held === undefined) return undefined;
    this.#held.delete(name);
    clearTimeout(held.timer);
    return held.watcher;
  }

  /** Forgets every held watcher (the scheduler is closing; Waiters ends them). */
  clear(): void {
    for (const { timer } of this.#held.values()) clearTimeout(timer);
    this.#held.clear();
  }

  #drop(name: string): void {
    const held = this.#held.get(name);
    if (held === undefined) return;
    this.#held.delete(name);
    held.watcher.channel.end();
    this.#waiters.unwatch(name, held.watcher);
  }
}
