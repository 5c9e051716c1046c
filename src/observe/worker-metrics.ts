/**
 * Counters of the in-process worker's guards, read at scrape time: cached
 * input files found changed in place (same-user mode), and processes and
 * shared temporary files that actions left and privilege separation removed.
 */
import { Counter, type Registry } from 'prom-client';

/** The running totals a worker keeps. */
export interface WorkerCounters {
  /** Cached input files found changed in place and discarded. */
  readonly cacheFilesDiscarded: number;
  /** Processes actions left running (in sessions of their own) that were killed after them. */
  readonly leftoverProcessesKilled: number;
  /**
   * Times an action user's processes could not be killed all at once by the
   * kernel and `/proc` was walked instead (see kill-user.mjs).
   */
  readonly leftoverKillFallbacks: number;
  /** Entries action users left at the top of /tmp, /var/tmp and /dev/shm, removed after them. */
  readonly leftoverTempEntriesRemoved: number;
}

/** Registers the worker's counters in `registry`, read from `read` at each scrape. */
export function registerWorkerCounters(registry: Registry, read: () => WorkerCounters): void {
  const counter = (name: string, help: string, pick: (c: WorkerCounters) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        // Mirrors the worker's own running total: reset, then set by one increment.
        this.reset();
        this.inc(pick(read()));
      },
    });
  };
  counter(
    'kiln_worker_cache_files_discarded_total',
    'Cached input files an action changed in place (actions running as the worker user), dropped and fetched anew.',
    (c) => c.cacheFilesDiscarded,
  );
  counter(
    'kiln_worker_leftover_processes_killed_total',
    'Processes actions left running in sessions of their own, killed after the action ended (privilege separation).',
    (c) => c.leftoverProcessesKilled,
  );
  counter(
    'kiln_worker_leftover_kill_fallbacks_total',
    "Times an action user's processes could not be killed at once by the kernel and /proc was walked instead (privilege separation without cgroups).",
    (c) => c.leftoverKillFallbacks,
  );
  counter(
    'kiln_worker_leftover_temp_entries_removed_total',
    'Entries actions left at the top of /tmp, /var/tmp and /dev/shm, removed after the action ended (privilege separation).',
    (c) => c.leftoverTempEntriesRemoved,
  );
}
