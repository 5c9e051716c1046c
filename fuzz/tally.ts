/**
 * Counts of a fuzz run: calls per method and status, findings by kind, and
 * the server's resource use over time.
 */
import { status } from '@grpc/grpc-js';
import type { Finding, FindingKind, Step } from './fuzz-context.ts';

/** How many findings of each kind keep their details (the rest are only counted). */
const KEPT_PER_KIND = 10;

/** Status column for calls the fuzzer cancelled itself. */
export const CLIENT_CANCELLED = 'CANCELLED(client)';
/** Status column for calls that may wait and reached their deadline. */
export const WAITED = 'DEADLINE(wait)';

/** Resource samples of the server child. */
export interface ResourceStats {
  baselineRssBytes: number;
  peakRssBytes: number;
  finalRssBytes: number;
  baselineFds: number;
  peakFds: number;
  finalFds: number;
  /** Server CPU seconds used between setup and the last sample. */
  cpuSeconds: number;
}

/** Running counts of one fuzz run. */
export class Tally {
  /** Calls made so far. */
  calls = 0;
  /** `Service.Method` → status column → calls. */
  readonly methods = new Map<string, Map<string, number>>();
  /** `Service.Method status` → the first status message seen, to judge how deep requests get. */
  readonly sampleDetails = new Map<string, string>();
  /** Request kind (`generic` or a scenario name) → requests. */
  readonly requestKinds = new Map<string, number>();
  readonly findingCounts = new Map<FindingKind, number>();
  readonly findings: Finding[] = [];
  readonly resources: ResourceStats = {
    baselineRssBytes: 0,
    peakRssBytes: 0,
    finalRssBytes: 0,
    baselineFds: 0,
    peakFds: 0,
    finalFds: 0,
    cpuSeconds: 0,
  };
  #baselineCpu = 0;

  /** Counts a request of `kind`. */
  request(kind: string): void {
    this.requestKinds.set(kind, (this.requestKinds.get(kind) ?? 0) + 1);
  }

  /** Counts one call and turns its status into findings where it must. */
  step(step: Step, index: number): void {
    this.calls++;
    const { code, cancelledByUs, details } = step.outcome;
    let column: string = status[code] ?? String(code);
    if (cancelledByUs) column = CLIENT_CANCELLED;
    else if (code === status.DEADLINE_EXCEEDED && step.mayWait) column = WAITED;
    const row = this.methods.get(step.method) ?? new Map<string, number>();
    row.set(column, (row.get(column) ?? 0) + 1);
    this.methods.set(step.method, row);
    const sampleKey = `${step.method} ${column}`;
    if (!this.sampleDetails.has(sampleKey))
      this.sampleDetails.set(sampleKey, `${step.input}: ${details}`);
    const finding = (kind: FindingKind): void =>
      this.finding({
        kind,
        method: step.method,
        index,
        input: step.input,
        message: details,
        bytes: step.bytes,
      });
    if (code === status.INTERNAL) finding('internal');
    else if (code === status.UNKNOWN) finding('unknown');
    else if (code === status.DEADLINE_EXCEEDED && !step.mayWait) finding('hang');
    else if (code === status.UNAVAILABLE) finding('unavailable');
  }

  /** RSS rises of more than ~50 MB within a second, with the requests running then (the first 20). */
  readonly rssJumps: Array<{
    calls: number;
    fromBytes: number;
    toBytes: number;
    requests: string;
  }> = [];

  /** Records an RSS rise and the requests in flight or just finished when it happened. */
  rssJump(fromBytes: number, toBytes: number, requests: readonly string[]): void {
    if (this.rssJumps.length >= 20) return;
    const counts = new Map<string, number>();
    for (const r of requests) counts.set(r, (counts.get(r) ?? 0) + 1);
    const summary = [...counts]
      .sort((a, b) => b[1] - a[1])
      .map(([r, n]) => (n > 1 ? `${r} x${n}` : r))
      .join(', ');
    this.rssJumps.push({ calls: this.calls, fromBytes, toBytes, requests: summary });
  }

  /** Records a finding (details of the first few of each kind). */
  finding(finding: Finding): void {
    const count = (this.findingCounts.get(finding.kind) ?? 0) + 1;
    this.findingCounts.set(finding.kind, count);
    if (count <= KEPT_PER_KIND) this.findings.push(finding);
  }

  /** Findings of `kind` so far. */
  count(kind: FindingKind): number {
    return this.findingCounts.get(kind) ?? 0;
  }

  /** Records the first resource sample, after setup. */
  baseline(sample: {
    rssBytes: number;
    peakRssBytes: number;
    fds: number;
    cpuSeconds: number;
  }): void {
    this.resources.baselineRssBytes = sample.rssBytes;
    this.resources.baselineFds = sample.fds;
    this.#baselineCpu = sample.cpuSeconds;
    this.sample(sample);
  }

  /** Records a resource sample. */
  sample(sample: {
    rssBytes: number;
    peakRssBytes: number;
    fds: number;
    cpuSeconds: number;
  }): void {
    const { rssBytes, peakRssBytes, fds } = sample;
    const r = this.resources;
    r.cpuSeconds = sample.cpuSeconds - this.#baselineCpu;
    r.peakRssBytes = Math.max(r.peakRssBytes, peakRssBytes, rssBytes);
    r.peakFds = Math.max(r.peakFds, fds);
    r.finalRssBytes = rssBytes;
    r.finalFds = fds;
  }
}
