/**
 * `/`: the state of the service at a glance, and `/api/overview`, the JSON
 * the page polls to refresh its sections in place (see `assets/app.js`).
 */
import type { FastifyInstance } from 'fastify';
import type { VNode } from 'preact';
import { platformText } from '../components/badges.ts';
import { layout } from '../components/layout.ts';
import { buildsTable, errorsTable } from '../components/tables.ts';
import {
  formatAge,
  formatBytes,
  formatCount,
  formatDuration,
  formatPercent,
  plural,
} from '../format.ts';
import { html, renderFragment } from '../html.ts';
import { gatherOverview, type OverviewData } from '../overview-data.ts';
import { pageHandler, setSecurityHeaders } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { fleetTable } from './workers-page.ts';

function card(label: string, value: string, detail: string, key: string): VNode {
  return html`<div class="card" data-card=${key}>
    <div class="card-label">${label}</div>
    <div class="card-value">${value}</div>
    <div class="card-detail">${detail}</div>
  </div>`;
}

function cards(d: OverviewData): VNode {
  const s = d.scheduler;
  const lookups = d.cache.hits + d.cache.misses;
  const cas = d.cas;
  const reach = cas?.oldestAccessMs === undefined ? undefined : d.nowMs - cas.oldestAccessMs;
  return html`<div class="cards">
    ${card('Queued', s ? formatCount(s.queued) : '—', s ? 'actions waiting for a worker' : 'execution disabled', 'queued')}
    ${card('Executing', s ? formatCount(s.executing) : '—', s ? `${plural(s.activeOperations, 'active operation')}` : 'execution disabled', 'executing')}
    ${card('Workers', s ? formatCount(s.workers) : '—', s ? `capacity ${formatCount(s.workerCapacity)} (command slots + prefetch)` : 'execution disabled', 'workers')}
    ${card('Action cache hit rate', formatPercent(d.cache.hits, lookups), `${plural(d.cache.hits, 'hit')}, ${plural(d.cache.misses, 'miss', 'misses')}`, 'hit-rate')}
    ${card('CAS size', cas ? formatBytes(cas.bytes) : '—', cas ? `${plural(cas.blobs, 'blob')}, budget ${formatBytes(cas.maxBytes)}` : 'not reported by this store', 'cas-size')}
    ${card('CAS reach', reach === undefined ? '—' : formatDuration(reach), cas ? `oldest blob last used ${formatAge(d.nowMs, cas.oldestAccessMs)}; ${plural(cas.evictions, 'eviction')} (${formatBytes(cas.evictedBytes)})` : 'not reported by this store', 'cas-reach')}
    ${card('Builds', formatCount(d.buildCount), 'tool invocations tracked', 'builds')}
  </div>`;
}

function queues(d: OverviewData): VNode {
  if (d.scheduler === undefined) return html`<p class="muted">Remote execution is disabled.</p>`;
  if (d.queues.length === 0) return html`<p class="muted">Nothing queued or running.</p>`;
  return html`<table class="data queues">
    <thead><tr><th>Platform</th><th class="num">Queued</th><th class="num">Executing</th></tr></thead>
    <tbody>
      ${d.queues.map(
        (q) => html`<tr>
          <td>${platformText(q.platform)}</td>
          <td class="num">${formatCount(q.queued)}</td>
          <td class="num">${formatCount(q.executing)}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

/** Workers per platform and how busy they are; each platform links to its workers. */
function fleet(d: OverviewData): VNode {
  if (d.fleet === undefined) return html`<p class="muted">Remote execution is disabled.</p>`;
  return fleetTable(d.fleet);
}

/** The sections the page refreshes, each rendered on its own. */
function sections(d: OverviewData): Record<string, VNode> {
  return {
    cards: cards(d),
    queues: queues(d),
    fleet: fleet(d),
    builds: buildsTable(d.builds, d.nowMs),
    errors: errorsTable(d.errors, d.nowMs),
  };
}

/** The overview page. */
export function overviewPage(d: OverviewData): VNode {
  const s = sections(d);
  return layout({
    title: 'Overview',
    section: 'overview',
    body: html`<div class="overview" data-poll="/api/overview">
      <div data-live="cards">${s.cards}</div>
      <h2>Platform queues</h2>
      <div data-live="queues">${s.queues}</div>
      <h2>Workers by platform <a class="more" href="/workers">all workers</a></h2>
      <div data-live="fleet">${s.fleet}</div>
      <h2>Recent builds <a class="more" href="/builds">all builds</a></h2>
      <div data-live="builds">${s.builds}</div>
      <h2>Recent errors</h2>
      <div data-live="errors">${s.errors}</div>
      <p class="muted small live-note" data-live-status>Updates every 2 seconds.</p>
    </div>`,
  });
}

/** Registers `/` and `/api/overview`. */
export function registerOverviewPage(app: FastifyInstance, deps: UiDeps): void {
  app.get(
    '/',
    pageHandler(deps.log, async () => overviewPage(await gatherOverview(deps))),
  );
  app.get('/api/overview', async (_request, reply) => {
    const d = await gatherOverview(deps);
    const rendered = Object.fromEntries(
      Object.entries(sections(d)).map(([key, node]) => [key, renderFragment(node)]),
    );
    return setSecurityHeaders(reply)
      .header('cache-control', 'no-store')
      .send({
        nowMs: d.nowMs,
        scheduler: d.scheduler ?? null,
        queues: d.queues,
        fleet: d.fleet ?? null,
        cache: d.cache,
        cas: d.cas ?? null,
        buildCount: d.buildCount,
        builds: d.builds,
        errors: d.errors,
        html: rendered,
      });
  });
}
