/** Tables that several pages share: builds, operations and recent errors. */
import type { VNode } from 'preact';
import type { BuildSummary } from '../../observe/build-tracker.ts';
import type { RecentError } from '../../observe/recent-errors.ts';
import type { OperationState } from '../../scheduler/types.ts';
import {
  formatAge,
  formatBytes,
  formatCount,
  formatDuration,
  formatTime,
  shortId,
} from '../format.ts';
import { html } from '../html.ts';
import { actionUrl, buildUrl, operationUrl } from '../urls.ts';
import { outcomeBadge, platformText, stageBadge } from './badges.ts';
import { shortDigest } from './digest-link.ts';

/** Builds, most recently active first. */
export function buildsTable(builds: readonly BuildSummary[], nowMs: number): VNode {
  if (builds.length === 0) return html`<p class="muted">No builds seen yet.</p>`;
  return html`<table class="data builds">
    <thead>
      <tr>
        <th>Invocation</th><th>Tool</th><th>Last seen</th><th class="num">Executed</th>
        <th class="num">Cache hits</th><th class="num">Misses</th><th class="num">Failures</th>
        <th class="num">Wall</th><th class="num">Total exec</th><th class="num">Critical path</th>
        <th class="num">CPU</th><th class="num">Peak memory</th>
      </tr>
    </thead>
    <tbody>
      ${builds.map(
        (b) => html`<tr data-invocation=${b.invocationId}>
          <td><a href=${buildUrl(b.invocationId)}><code>${b.invocationId}</code></a></td>
          <td>${b.toolName === '' ? '—' : `${b.toolName} ${b.toolVersion}`.trim()}</td>
          <td title=${formatTime(b.lastSeenMs)}>${formatAge(nowMs, b.lastSeenMs)}</td>
          <td class="num">${formatCount(b.actionsExecuted)}</td>
          <td class="num">${formatCount(b.cacheHits)}</td>
          <td class="num">${formatCount(b.cacheMisses)}</td>
          <td class=${b.failures > 0 ? 'num fail-text' : 'num'}>${formatCount(b.failures)}</td>
          <td class="num">${formatDuration(b.wallMs)}</td>
          <td class="num">${formatDuration(b.totalExecutionMs)}</td>
          <td class="num">${formatDuration(b.criticalMs)}</td>
          <td class="num">${b.actionsMeasured === 0 ? '—' : formatDuration(b.totalCpuMs)}</td>
          <td class="num">${b.actionsMeasured === 0 ? '—' : formatBytes(b.peakMemoryBytes)}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

/** Operations with their state, outcome, action and build. */
export function operationsTable(ops: readonly OperationState[], nowMs: number): VNode {
  if (ops.length === 0) return html`<p class="muted">No operations match.</p>`;
  return html`<table class="data operations">
    <thead>
      <tr>
        <th>Operation</th><th>Stage</th><th>Outcome</th><th>Action</th><th>Platform</th>
        <th>Build</th><th>Worker</th><th>Created</th><th class="num">Took</th>
      </tr>
    </thead>
    <tbody>
      ${ops.map(
        (op) => html`<tr data-operation=${op.name}>
          <td><a href=${operationUrl(op.name)}><code>${op.name}</code></a></td>
          <td>${stageBadge(op)}</td>
          <td>${outcomeBadge(op)}</td>
          <td>
            <a class="digest" href=${actionUrl(op.actionDigest, op.instanceName)}>${shortDigest(op.actionDigest)}</a>
            ${op.instanceName === '' ? null : html`<span class="tag instance">${op.instanceName}</span>`}
          </td>
          <td class="small">${platformText(op.platform)}</td>
          <td>
            ${
              op.toolInvocationId === ''
                ? '—'
                : html`<a href=${buildUrl(op.toolInvocationId)}>${shortId(op.toolInvocationId)}</a>`
            }
          </td>
          <td>${op.worker ?? '—'}</td>
          <td title=${formatTime(op.createdAtMs)}>${formatAge(nowMs, op.createdAtMs)}</td>
          <td class="num">
            ${formatDuration((op.completedAtMs ?? nowMs) - op.createdAtMs)}
          </td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

/** The latest RPC failures. */
export function errorsTable(errors: readonly RecentError[], nowMs: number): VNode {
  if (errors.length === 0) return html`<p class="muted">No errors lately.</p>`;
  return html`<table class="data errors">
    <thead><tr><th>When</th><th>Method</th><th>Code</th><th>Message</th><th>Build</th></tr></thead>
    <tbody>
      ${errors.map(
        (e) => html`<tr>
          <td title=${formatTime(e.timeMs)}>${formatAge(nowMs, e.timeMs)}</td>
          <td><code>${e.method}</code></td>
          <td><span class="badge fail">${e.code}</span></td>
          <td class="message">${e.message}</td>
          <td>
            ${
              e.invocationId === ''
                ? '—'
                : html`<a href=${buildUrl(e.invocationId)}>${shortId(e.invocationId)}</a>`
            }
          </td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
