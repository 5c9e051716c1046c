/** `/operations`: every operation the scheduler retains, filtered by state, instance and build. */
import type { FastifyInstance } from 'fastify';
import type { VNode } from 'preact';
import { invalidArgument } from '../../errors.ts';
import type { ExecutionStage, ListOperationsQuery, OperationPage } from '../../scheduler/types.ts';
import { layout } from '../components/layout.ts';
import { operationsTable } from '../components/tables.ts';
import { html } from '../html.ts';
import { pageHandler, queryString } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { type OperationsFilter, operationsUrl } from '../urls.ts';

const PAGE_SIZE = 100;
const STAGES: readonly ExecutionStage[] = ['QUEUED', 'EXECUTING', 'COMPLETED'];

/** The scheduler query for the page's filters; INVALID_ARGUMENT for an unknown state. */
export function listQuery(filter: OperationsFilter): ListOperationsQuery {
  const state = filter.state?.toUpperCase();
  if (state !== undefined && state !== '' && !STAGES.includes(state as ExecutionStage)) {
    throw invalidArgument(
      `unknown state "${filter.state}"; expected ${STAGES.map((s) => s.toLowerCase()).join(', ')}`,
    );
  }
  return {
    ...(state ? { stage: state as ExecutionStage } : {}),
    ...(filter.instance ? { instanceName: filter.instance } : {}),
    ...(filter.build ? { toolInvocationId: filter.build } : {}),
    pageSize: PAGE_SIZE,
    pageToken: filter.page ?? '',
    newestFirst: true,
  };
}

function filterForm(filter: OperationsFilter): VNode {
  const state = filter.state?.toLowerCase() ?? '';
  return html`<form class="filters" method="get" action="/operations">
    <label>State
      <select name="state">
        <option value="" selected=${state === ''}>any</option>
        ${STAGES.map((s) => s.toLowerCase()).map(
          (s) => html`<option value=${s} selected=${state === s}>${s}</option>`,
        )}
      </select>
    </label>
    <label>Instance <input name="instance" value=${filter.instance ?? ''} placeholder="any" /></label>
    <label>Build <input name="build" value=${filter.build ?? ''} placeholder="tool invocation id" size="38" /></label>
    <button type="submit">Filter</button>
    <a href="/operations">clear</a>
  </form>`;
}

/** The operations list page. */
export function operationsPage(
  filter: OperationsFilter,
  page: OperationPage | undefined,
  nowMs: number,
): VNode {
  const next =
    page === undefined || page.nextPageToken === ''
      ? null
      : html`<p><a class="next" href=${operationsUrl({ ...filter, page: page.nextPageToken })}>Next page →</a></p>`;
  return layout({
    title: 'Operations',
    section: 'operations',
    subtitle: 'Newest first; done operations are kept for a while after they complete.',
    body: html`<div>
      ${filterForm(filter)}
      ${
        page === undefined
          ? html`<p class="muted">Remote execution is disabled: there are no operations.</p>`
          : operationsTable(page.operations, nowMs)
      }
      ${next}
    </div>`,
  });
}

/** Registers `/operations`. */
export function registerOperationsPage(app: FastifyInstance, deps: UiDeps): void {
  app.get<{ Querystring: Record<string, unknown> }>(
    '/operations',
    pageHandler(deps.log, async (request) => {
      const q = request.query;
      const filter: OperationsFilter = {
        state: queryString(q.state),
        instance: queryString(q.instance),
        build: queryString(q.build),
        page: queryString(q.page),
      };
      const query = listQuery(filter);
      const page = await deps.scheduler?.listOperations(query);
      return operationsPage(filter, page, Date.now());
    }),
  );
}
