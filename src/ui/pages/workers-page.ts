/**
 * `/workers`: the fleet by platform (size, busy, idle, lost, utilisation),
 * then connected workers one page at a time, filtered by platform, state and
 * name through query parameters, with what each is running.
 */
import type { FastifyInstance } from 'fastify';
import type { VNode } from 'preact';
import type { OperationState, WorkerState } from '../../scheduler/types.ts';
import { platformText } from '../components/badges.ts';
import { shortDigest } from '../components/digest-link.ts';
import { layout } from '../components/layout.ts';
import { formatAge, formatCount, formatPercent, formatTime } from '../format.ts';
import { html } from '../html.ts';
import { listExecuting } from '../overview-data.ts';
import { pageHandler, queryString } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { operationUrl, workersUrl } from '../urls.ts';
import {
  ACTIVITIES,
  activityOf,
  type PlatformFleet,
  platformLabel,
  selectWorkers,
  type WorkersFilter,
  type WorkersView,
} from '../workers-data.ts';

/**
 * What a worker's capacity counts: `kiln worker --concurrency` (the local
 * worker's `localWorkers`) plus `--prefetch` (`localPrefetch`).
 */
const CAPACITY_MEANS =
  'Actions a worker takes at once: its command slots (one command each) plus its prefetch (actions whose inputs are staged and outputs uploaded while other commands run)';

/** Workers per platform, each platform a link to the list filtered by it. */
export function fleetTable(platforms: readonly PlatformFleet[], filter: WorkersFilter = {}): VNode {
  if (platforms.length === 0) return html`<p class="muted">No worker is connected.</p>`;
  return html`<table class="data fleet">
    <thead>
      <tr>
        <th>Platform</th><th class="num">Workers</th><th class="num">Busy</th>
        <th class="num">Idle</th><th class="num">Lost</th><th class="num">Utilisation</th>
        <th class="num" title=${CAPACITY_MEANS}>Leases / capacity</th>
      </tr>
    </thead>
    <tbody>
      ${platforms.map((p) => {
        const label = platformLabel(p.platform);
        return html`<tr data-platform=${label}>
          <td><a href=${workersUrl({ ...filter, platform: label, page: undefined })}>${platformText(p.platform)}</a></td>
          <td class="num">${formatCount(p.workers)}</td>
          <td class="num">${formatCount(p.busy)}</td>
          <td class="num">${formatCount(p.idle)}</td>
          <td class="num">${formatCount(p.lost)}</td>
          <td class="num">${formatPercent(p.busy, p.workers)}</td>
          <td class="num">${formatCount(p.leases)} / ${formatCount(p.capacity)}</td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

function filterForm(filter: WorkersFilter, platforms: readonly PlatformFleet[]): VNode {
  const state = filter.state?.toLowerCase() ?? '';
  return html`<form class="filters" method="get" action="/workers">
    <label>Platform
      <input name="platform" value=${filter.platform ?? ''} placeholder="NAME=VALUE, …" list="worker-platforms" size="32" />
    </label>
    <datalist id="worker-platforms">
      ${platforms.map((p) => html`<option value=${platformLabel(p.platform)} />`)}
    </datalist>
    <label>State
      <select name="state">
        <option value="" selected=${state === ''}>any</option>
        ${ACTIVITIES.map((s) => html`<option value=${s} selected=${state === s}>${s}</option>`)}
      </select>
    </label>
    <label>Name <input name="name" value=${filter.name ?? ''} placeholder="contains" /></label>
    <button type="submit">Filter</button>
    <a href="/workers">clear</a>
  </form>`;
}

function pager(filter: WorkersFilter, view: WorkersView): VNode | null {
  if (view.pages <= 1) return null;
  const link = (page: number, text: string, rel: string) =>
    html`<a class=${rel} rel=${rel} href=${workersUrl({ ...filter, page: String(page) })}>${text}</a>`;
  return html`<p class="pager">
    ${view.page > 1 ? link(view.page - 1, '← Previous page', 'prev') : null}
    <span class="muted"> Page ${view.page} of ${view.pages} </span>
    ${view.page < view.pages ? link(view.page + 1, 'Next page →', 'next') : null}
  </p>`;
}

function workerRow(w: WorkerState, running: readonly OperationState[], nowMs: number): VNode {
  const activity = activityOf(w, nowMs);
  return html`<tr data-worker=${w.name} data-state=${activity}>
    <td><strong>${w.name}</strong><div class="muted small"><code>${w.id}</code></div></td>
    <td class="small">
      ${
        w.platform.length === 0
          ? platformText(w.platform)
          : html`<ul class="plain">${w.platform.map((p) => html`<li><code>${p.name}=${p.value}</code></li>`)}</ul>`
      }
    </td>
    <td>${activity}</td>
    <td class="num">${w.leaseIds.length} / ${w.capacity}</td>
    <td>
      ${
        running.length === 0
          ? html`<span class="muted">${activity === 'busy' ? 'not listed' : 'idle'}</span>`
          : html`<ul class="plain">
            ${running.map(
              (op) => html`<li>
                <a href=${operationUrl(op.name)}>${shortDigest(op.actionDigest)}</a>
                <span class="muted small"> created ${formatAge(nowMs, op.createdAtMs)}</span>
              </li>`,
            )}
          </ul>`
      }
    </td>
    <td class="num">${w.actionsDone}</td>
    <td title=${formatTime(w.registeredAtMs)}>${formatAge(nowMs, w.registeredAtMs)}</td>
    <td title=${formatTime(w.lastSeenMs)}>${formatAge(nowMs, w.lastSeenMs)}</td>
  </tr>`;
}

/**
 * The workers page: `view` is one page of the filtered list (undefined when
 * execution is disabled); `executing` are operations in the EXECUTING stage.
 */
export function workersPage(
  filter: WorkersFilter,
  view: WorkersView | undefined,
  executing: readonly OperationState[],
  nowMs: number,
): VNode {
  if (view === undefined) {
    return layout({
      title: 'Workers',
      section: 'workers',
      body: html`<p class="muted">Remote execution is disabled: there are no workers.</p>`,
    });
  }
  const onPage = new Set(view.rows.map((w) => w.name));
  const byWorker = new Map<string, OperationState[]>();
  for (const op of executing) {
    if (op.worker === undefined || !onPage.has(op.worker)) continue;
    byWorker.set(op.worker, [...(byWorker.get(op.worker) ?? []), op]);
  }
  const filtered = view.matching !== view.total;
  return layout({
    title: 'Workers',
    section: 'workers',
    subtitle: `${formatCount(view.total)} connected${filtered ? `, ${formatCount(view.matching)} matching the filters` : ''}.`,
    body: html`<div>
      <h2>Fleet by platform</h2>
      ${fleetTable(view.platforms)}
      <h2>Workers</h2>
      ${filterForm(filter, view.platforms)}
      ${
        view.rows.length === 0
          ? html`<p class="muted">${view.total === 0 ? 'No worker is connected.' : 'No worker matches.'}</p>`
          : html`<table class="data workers">
            <thead>
              <tr>
                <th>Name</th><th>Platform</th><th>State</th><th class="num" title=${CAPACITY_MEANS}>Leases / capacity</th><th>Running</th>
                <th class="num">Actions done</th><th>Connected</th><th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              ${view.rows.map((w) => workerRow(w, byWorker.get(w.name) ?? [], nowMs))}
            </tbody>
          </table>`
      }
      ${pager(filter, view)}
    </div>`,
  });
}

/** Registers `/workers`. */
export function registerWorkersPage(app: FastifyInstance, deps: UiDeps): void {
  app.get<{ Querystring: Record<string, unknown> }>(
    '/workers',
    pageHandler(deps.log, async (request) => {
      const q = request.query;
      const filter: WorkersFilter = {
        platform: queryString(q.platform),
        state: queryString(q.state),
        name: queryString(q.name),
        page: queryString(q.page),
      };
      const { scheduler } = deps;
      if (scheduler === undefined) return workersPage(filter, undefined, [], Date.now());
      const workers = await scheduler.listWorkers();
      const nowMs = Date.now();
      const view = selectWorkers(workers, filter, nowMs);
      // Operations only matter for a page with a busy worker on it.
      const executing = view.rows.some((w) => w.leaseIds.length > 0)
        ? await listExecuting(scheduler)
        : [];
      return workersPage(filter, view, executing, nowMs);
    }),
  );
}
