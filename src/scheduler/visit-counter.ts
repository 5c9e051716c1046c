/**
 * A count of the records the dispatch indexes look at (polls, groups of
 * workers, platform queues, queued items). Tests read it to prove that the
 * work per dispatch does not grow with the number of workers or queued
 * actions, without timing anything.
 */

/** Incremented once per record visited; only ever read by tests and benchmarks. */
export interface VisitCounter {
  visits: number;
}

/** A fresh counter at zero. */
export function visitCounter(): VisitCounter {
  return { visits: 0 };
}
