/** `/builds` (every tracked build) and `/builds/:invocationId` (one build and its operations). */
import type { FastifyInstance } from 'fastify';
import type { VNode } from 'preact';
import { notFound } from '../../errors.ts';
import type { BuildSummary } from '../../observe/build-tracker.ts';
import type { OperationPage } from '../../scheduler/types.ts';
import { layout } from '../components/layout.ts';
import { buildsTable, operationsTable } from '../components/tables.ts';
import { formatBytes, formatCount, formatDuration, formatTime } from '../format.ts';
import { html } from '../html.ts';
import { pageHandler, queryString } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { buildUrl, operationsUrl } from '../urls.ts';

/** Operations shown per page of a build. */
const PAGE_SIZE = 100;

/** The list of builds. */
export function buildsPage(builds: readonly BuildSummary[], nowMs: number): VNode {
  return layout({
    title: 'Builds',
    section: 'builds',
    subtitle: `${formatCount(builds.length)} recent tool invocations, most recently active first.`,
    body: buildsTable(builds, nowMs),
  });
}

/**
 * CPU time and peak memory of the executions whose worker measured them;
 * says how many those were when some were not measured.
 */
function resourceRows(b: BuildSummary): [string, string][] {
  if (b.actionsMeasured === 0) {
    return [['CPU time (user + system)', '— (no worker reported resource usage)']];
  }
  const partial =
    b.actionsMeasured < b.actionsExecuted
      ? ` (${formatCount(b.actionsMeasured)} of ${formatCount(b.actionsExecuted)} executions measured)`
      : '';
  return [
    ['CPU time (user + system)', `${formatDuration(b.totalCpuMs)}${partial}`],
    ['Largest peak memory of an action', formatBytes(b.peakMemoryBytes)],
  ];
}

function summaryTable(b: BuildSummary): VNode {
  const rows: [string, string][] = [
    ['Tool', `${b.toolName} ${b.toolVersion}`.trim() || '—'],
    ['Correlated invocations', b.correlatedInvocationsId || '—'],
    ['First seen', formatTime(b.firstSeenMs)],
    ['Last seen', formatTime(b.lastSeenMs)],
    ['Actions executed', formatCount(b.actionsExecuted)],
    ['Cache hits', formatCount(b.cacheHits)],
    ['Cache misses', formatCount(b.cacheMisses)],
    ['Failures', formatCount(b.failures)],
    ['Wall time', formatDuration(b.wallMs)],
    ['Total execution time', formatDuration(b.totalExecutionMs)],
    ['Critical path (executed actions; a lower bound)', formatDuration(b.criticalMs)],
    ...resourceRows(b),
  ];
  return html`<table class="kv build-summary">
    <tbody>${rows.map(([k, v]) => html`<tr><th>${k}</th><td>${v}</td></tr>`)}</tbody>
  </table>`;
}

/** One build: its totals and its operations. */
export function buildPage(
  invocationId: string,
  build: BuildSummary | undefined,
  page: OperationPage | undefined,
  nowMs: number,
): VNode {
  const next =
    page === undefined || page.nextPageToken === ''
      ? null
      : html`<p><a class="next" href=${`${buildUrl(invocationId)}?page=${encodeURIComponent(page.nextPageToken)}`}>Next page →</a></p>`;
  return layout({
    title: 'Build',
    section: 'builds',
    subtitle: html`<code>${invocationId}</code>`,
    body: html`<div>
      ${
        build === undefined
          ? html`<p class="muted">This server has no totals for this build (forgotten, or it only used the cache).</p>`
          : summaryTable(build)
      }
      <h2>Operations <a class="more" href=${operationsUrl({ build: invocationId })}>filter all operations</a></h2>
      ${
        page === undefined
          ? html`<p class="muted">Remote execution is disabled: there are no operations.</p>`
          : operationsTable(page.operations, nowMs)
      }
      ${next}
    </div>`,
  });
}

/** Registers `/builds` and `/builds/:invocationId`. */
export function registerBuildsPages(app: FastifyInstance, deps: UiDeps): void {
  app.get(
    '/builds',
    pageHandler(deps.log, async () => buildsPage(deps.builds.list(), Date.now())),
  );
  app.get<{ Params: { invocationId: string }; Querystring: Record<string, unknown> }>(
    '/builds/:invocationId',
    pageHandler(deps.log, async (request) => {
      const { invocationId } = request.params;
      const build = deps.builds.get(invocationId);
      const page = await deps.scheduler?.listOperations({
        toolInvocationId: invocationId,
        pageSize: PAGE_SIZE,
        pageToken: queryString(request.query.page) ?? '',
      });
      if (build === undefined && (page === undefined || page.operations.length === 0)) {
        throw notFound(
          `no build with tool invocation id "${invocationId}" is known to this server`,
        );
      }
      return buildPage(invocationId, build, page, Date.now());
    }),
  );
}
