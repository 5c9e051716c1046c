/**
 * The fuzz run's verdict and its report: calls per method and status as a
 * Markdown table, request kinds, server memory and descriptors, and the
 * findings with what to send to make each again.
 */
import type { FindingKind } from './fuzz-context.ts';
import type { FuzzResult } from './run-fuzz.ts';
import { CLIENT_CANCELLED, WAITED } from './tally.ts';

/** Finding kinds that fail a run. `valid-rejected` and `unavailable` are reported only. */
export const FAILING_KINDS: readonly FindingKind[] = [
  'internal',
  'unknown',
  'hang',
  'wrong-bytes',
  'lost-blob',
  'accepted-invalid',
  'health',
];

/** Why the run failed; empty when it passed. */
export function verdict(result: FuzzResult, options: { maxFinalRssBytes: number }): string[] {
  const failures: string[] = [];
  if (result.crash)
    failures.push(`the server exited (${result.crash.signal ?? result.crash.code})`);
  for (const kind of FAILING_KINDS) {
    const n = result.tally.count(kind);
    if (n > 0) failures.push(`${n} ${kind}`);
  }
  if (!result.crash && result.metrics === undefined) failures.push('/metrics did not answer');
  for (const [kind, n] of Object.entries(result.metrics?.processFailures ?? {})) {
    if (n > 0) failures.push(`${n} ${kind} in the server (kiln_process_failures_total)`);
  }
  const finalRss = result.tally.resources.finalRssBytes;
  if (!result.crash && finalRss >= options.maxFinalRssBytes) {
    failures.push(`final RSS ${mb(finalRss)} is over ${mb(options.maxFinalRssBytes)}`);
  }
  const unused = result.methods.filter((m) => !result.tally.methods.has(m.key));
  if (unused.length > 0 && result.tally.calls > 1000) {
    failures.push(`never called: ${unused.map((m) => m.key).join(', ')}`);
  }
  return failures;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

const COLUMN_ORDER = ['OK', CLIENT_CANCELLED, WAITED];

/** The first status message of each method and status, one per line. */
export function formatSampleDetails(result: FuzzResult): string {
  return [...result.tally.sampleDetails]
    .sort()
    .map(([key, details]) => `${key}: ${details.slice(0, 300)}`)
    .join('\n');
}

/** The report as Markdown. */
export function formatReport(result: FuzzResult): string {
  const { tally } = result;
  const seconds = result.durationMs / 1000;
  const lines: string[] = [];
  lines.push(
    `Seed ${result.seed}: ${tally.calls} calls in ${seconds.toFixed(1)} s ` +
      `(${(tally.calls / seconds).toFixed(0)} calls/s)`,
    '',
  );
  const columns = new Set<string>();
  for (const row of tally.methods.values()) for (const c of row.keys()) columns.add(c);
  const ordered = [
    ...COLUMN_ORDER.filter((c) => columns.has(c)),
    ...[...columns].filter((c) => !COLUMN_ORDER.includes(c)).sort(),
  ];
  lines.push(`| Method | Calls | ${ordered.join(' | ')} |`);
  lines.push(`| --- | ---: | ${ordered.map(() => '---:').join(' | ')} |`);
  for (const method of result.methods) {
    const row = tally.methods.get(method.key) ?? new Map<string, number>();
    const total = [...row.values()].reduce((a, b) => a + b, 0);
    lines.push(
      `| ${method.key} | ${total} | ${ordered.map((c) => row.get(c) ?? '').join(' | ')} |`,
    );
  }
  lines.push(
    '',
    `${CLIENT_CANCELLED}: the fuzzer cancelled the call; ${WAITED}: a call that may wait reached its deadline.`,
    '',
  );
  lines.push('| Request kind | Requests |', '| --- | ---: |');
  for (const [kind, n] of [...tally.requestKinds].sort()) lines.push(`| ${kind} | ${n} |`);
  const r = tally.resources;
  lines.push(
    '',
    `Server RSS: ${mb(r.baselineRssBytes)} after setup, peak ${mb(r.peakRssBytes)}, final ${mb(r.finalRssBytes)}.`,
    `Server file descriptors: ${r.baselineFds} after setup, peak ${r.peakFds}, final ${r.finalFds}.`,
    `Server CPU: ${r.cpuSeconds.toFixed(1)} s (${(r.cpuSeconds / seconds).toFixed(2)} cores on average).`,
    `Server error log lines: ${result.serverErrors.count}; kiln_process_failures_total: ${JSON.stringify(result.metrics?.processFailures ?? {})}.`,
  );
  if (result.metrics !== undefined) {
    const m = result.metrics;
    lines.push(
      `Server memory at the end (/metrics): V8 heap ${mb(m.heapUsedBytes)} used of ${mb(m.heapTotalBytes)}, ` +
        `external (Buffers) ${mb(m.externalBytes)}; the rest of the RSS is code, stacks and native allocations.`,
    );
  }
  for (const j of tally.rssJumps) {
    lines.push(
      `- RSS ${mb(j.fromBytes)} -> ${mb(j.toBytes)} around call ${j.calls}, during: ${j.requests}`,
    );
  }
  if (result.crash) {
    lines.push(
      '',
      `CRASH: the server exited (${result.crash.signal ?? result.crash.code}). Last stderr:`,
      '```',
      result.crash.stderrTail,
      '```',
    );
  }
  const counts = [...tally.findingCounts].map(([k, n]) => `${k}: ${n}`).join(', ');
  lines.push('', `Findings: ${counts || 'none'}.`);
  for (const f of tally.findings) {
    const bytes = f.bytes
      ? ` [${f.bytes.length} bytes: ${f.bytes.subarray(0, 48).toString('hex')}${f.bytes.length > 48 ? '…' : ''}]`
      : '';
    lines.push(
      `- ${f.kind} ${f.method} (request ${f.index}, ${f.input})${bytes}: ${f.message.slice(0, 500)}`,
    );
  }
  for (const e of result.serverErrors.first.slice(0, 10))
    lines.push(`- server log (level ${e.level}): ${e.line.slice(0, 600)}`);
  return `${lines.join('\n')}\n`;
}
