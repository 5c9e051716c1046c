/**
 * `kiln_process_failures_total`: uncaught exceptions and unhandled
 * rejections of this process, read at scrape time from the handlers that
 * `kiln serve` installs (src/util/process-failures.ts).
 */
import { Counter, type Registry } from 'prom-client';
import type { ProcessFailureCounts, ProcessFailureKind } from '../util/process-failures.ts';

const KINDS: readonly ProcessFailureKind[] = ['uncaught_exception', 'unhandled_rejection'];

/** Registers the process failure counter in `registry`, read from `read` at each scrape. */
export function registerProcessFailureCounter(
  registry: Registry,
  read: () => ProcessFailureCounts,
): void {
  new Counter({
    name: 'kiln_process_failures_total',
    help: 'Failures outside any request, by kind: uncaught_exception (the process then exits to be restarted) or unhandled_rejection (it carries on).',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      // Mirrors the handlers' running totals: reset, then set by one increment per kind.
      const counts = read();
      this.reset();
      for (const kind of KINDS) this.inc({ kind }, counts[kind]);
    },
  });
}
