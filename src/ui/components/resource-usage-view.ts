/**
 * What an action used (CPU time, peak memory, storage I/O), from the
 * kiln.worker.v1.ResourceUsage a measuring worker put into the result's
 * ExecutedActionMetadata; nothing when the worker reported none.
 */
import type { VNode } from 'preact';
import {
  findResourceUsage,
  formatCpuSeconds,
  resourceUsageFigures,
} from '../../execution/resource-usage.ts';
import type { ExecutedActionMetadata } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { formatBytes } from '../format.ts';
import { html } from '../html.ts';

const SOURCES: Record<string, string> = {
  rusage: 'rusage (wait4 of the process tree)',
  cgroup: 'cgroup of the action',
};

/** The resources section: a heading and a table, or null without a ResourceUsage. */
export function resourceUsageView(metadata: ExecutedActionMetadata | undefined): VNode | null {
  const usage = findResourceUsage(metadata);
  if (usage === undefined) return null;
  const f = resourceUsageFigures(usage);
  const limit = f.memoryLimitBytes > 0 ? ` (limit ${formatBytes(f.memoryLimitBytes)})` : '';
  const rows: [string, string][] = [
    ['CPU user', formatCpuSeconds(f.userTimeMs)],
    ['CPU system', formatCpuSeconds(f.systemTimeMs)],
    ['Peak memory', `${formatBytes(f.peakMemoryBytes)}${limit}`],
    ['Read', formatBytes(f.readBytes)],
    ['Written', formatBytes(f.writtenBytes)],
    ['Measured by', SOURCES[f.source] ?? (f.source || '—')],
  ];
  return html`<h2>Resources</h2>
    <table class="kv resources">
      <tbody>${rows.map(([k, v]) => html`<tr><th>${k}</th><td>${v}</td></tr>`)}</tbody>
    </table>`;
}
