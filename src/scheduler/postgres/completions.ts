/**
 * Lease completions under way in this process, by worker. A bot reports a
 * result and asks for more work in one call: the completion starts, then
 * the call's takeWork. The takeWork waits for the completion, so that its
 * claim sees the place the lease frees (a claim beside it would find none,
 * and another claim would have to follow), and asks the completion to
 * record the sign of life its long-poll needs: when no work can be queued
 * for the worker, the poll then waits without a statement of its own.
 */
import type { CompletionRecord } from './lease-reports.ts';

/** One completion under way, and the presence asked of it meanwhile. */
interface Pending {
  readonly done: Promise<CompletionRecord | undefined>;
  presentUntilMs: number | undefined;
}

/** What a worker's completions recorded, for its takeWork. */
export interface Completed {
  /** The latest presence they recorded. */
  readonly presentUntilMs: number;
  /** The worker's cancelled leases, as it read them. */
  readonly cancelled: string[];
}

/** Completions under way, by worker id. */
export class Completions {
  readonly #byWorker = new Map<string, Set<Pending>>();

  /**
   * Runs a completion of `workerId`'s lease; `run` is given the presence
   * asked of it so far, to read when it records the sign of life.
   */
  track(
    workerId: string,
    run: (presentUntil: () => number | undefined) => Promise<CompletionRecord>,
  ): Promise<void> {
    let pending = this.#byWorker.get(workerId);
    if (pending === undefined) {
      pending = new Set();
      this.#byWorker.set(workerId, pending);
    }
    const own = pending;
    let entry: Pending | undefined;
    const result = run(() => entry?.presentUntilMs);
    entry = {
      done: result.then(
        (r) => r,
        () => undefined,
      ),
      presentUntilMs: undefined,
    };
    own.add(entry);
    const settled = entry;
    void settled.done.then(() => {
      own.delete(settled);
      if (own.size === 0 && this.#byWorker.get(workerId) === own) this.#byWorker.delete(workerId);
    });
    return result.then(() => {});
  }

  /** Whether a completion of the worker is under way. */
  has(workerId: string): boolean {
    return this.#byWorker.has(workerId);
  }

  /**
   * Waits for the worker's completions under way, asking each to record it
   * present until `untilMs`. What one completion recorded; undefined when
   * none was under way, several were (which read last is unknown), or it
   * failed.
   */
  async wait(workerId: string, untilMs: number): Promise<Completed | undefined> {
    const pending = this.#byWorker.get(workerId);
    if (pending === undefined) return undefined;
    const entries = [...pending];
    for (const e of entries) e.presentUntilMs = Math.max(e.presentUntilMs ?? 0, untilMs);
    const records = await Promise.all(entries.map((e) => e.done));
    return records.length === 1 ? records[0] : undefined;
  }
}
