/**
 * The stages of one execution from `ExecutedActionMetadata`, as a table with
 * a bar per stage on a common time axis: where the time went, at a glance.
 */
import type { VNode } from 'preact';
import type { ExecutedActionMetadata } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { formatDuration, formatTime, timestampMs } from '../format.ts';
import { html } from '../html.ts';

/** One stage with its start and end in epoch milliseconds. */
export interface Stage {
  readonly name: string;
  readonly startMs: number | undefined;
  readonly endMs: number | undefined;
}

/** The REAPI stages in order: queued, worker setup, input fetch, execution, output upload, worker completion. */
export function stagesOf(m: ExecutedActionMetadata): Stage[] {
  const t = {
    queued: timestampMs(m.queuedTimestamp),
    workerStart: timestampMs(m.workerStartTimestamp),
    fetchStart: timestampMs(m.inputFetchStartTimestamp),
    fetchEnd: timestampMs(m.inputFetchCompletedTimestamp),
    execStart: timestampMs(m.executionStartTimestamp),
    execEnd: timestampMs(m.executionCompletedTimestamp),
    uploadStart: timestampMs(m.outputUploadStartTimestamp),
    uploadEnd: timestampMs(m.outputUploadCompletedTimestamp),
    workerEnd: timestampMs(m.workerCompletedTimestamp),
  };
  return [
    { name: 'Queued', startMs: t.queued, endMs: t.workerStart },
    { name: 'Input fetch', startMs: t.fetchStart, endMs: t.fetchEnd },
    { name: 'Execution', startMs: t.execStart, endMs: t.execEnd },
    { name: 'Output upload', startMs: t.uploadStart, endMs: t.uploadEnd },
    { name: 'Worker total', startMs: t.workerStart, endMs: t.workerEnd },
  ];
}

/** The timeline table; a note when the worker reported no timestamps. */
export function timeline(metadata: ExecutedActionMetadata | undefined): VNode {
  const stages = metadata === undefined ? [] : stagesOf(metadata);
  const times = stages.flatMap((s) => [s.startMs, s.endMs]).filter((t) => t !== undefined);
  if (times.length === 0) return html`<p class="muted">No stage timestamps were reported.</p>`;
  const origin = Math.min(...times);
  const span = Math.max(Math.max(...times) - origin, 1);
  const pct = (ms: number) => `${(((ms - origin) / span) * 100).toFixed(2)}%`;
  return html`<table class="timeline">
    <thead>
      <tr><th>Stage</th><th>Start</th><th>Duration</th><th class="bar-col">${formatDuration(span)} in all</th></tr>
    </thead>
    <tbody>
      ${stages.map((s) => {
        // A stage that ends before it starts (clocks of two machines) gets no bar.
        const known = s.startMs !== undefined && s.endMs !== undefined && s.endMs >= s.startMs;
        const duration =
          s.startMs !== undefined && s.endMs !== undefined ? s.endMs - s.startMs : undefined;
        return html`<tr>
          <th>${s.name}</th>
          <td>${formatTime(s.startMs)}</td>
          <td class="num">${formatDuration(duration)}</td>
          <td class="bar-col">
            ${
              known
                ? html`<div class="bar-track">
                  <div
                    class=${`bar bar-${s.name.toLowerCase().replace(/ /g, '-')}`}
                    style=${`margin-left:${pct(s.startMs as number)};width:max(2px,${(((duration as number) / span) * 100).toFixed(2)}%)`}
                  ></div>
                </div>`
                : null
            }
          </td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}
