/** `/workers`: connected workers, what they offer and what they are running. */
import type { FastifyInstance } from 'fastify';
import type { VNode } from 'preact';
import type { OperationState, WorkerState } from '../../scheduler/types.ts';
import { platformText } from '../components/badges.ts';
import { shortDigest } from '../components/digest-link.ts';
import { layout } from '../components/layout.ts';
import { formatAge, formatTime } from '../format.ts';
import { html } from '../html.ts';
import { listExecuting } from '../overview-data.ts';
import { pageHandler } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { operationUrl } from '../urls.ts';

/** The workers page; `executing` are the operations in the EXECUTING stage. */
export function workersPage(
  workers: readonly WorkerState[] | undefined,
  executing: readonly OperationState[],
  nowMs: number,
): VNode {
  if (workers === undefined) {
    return layout({
      title: 'Workers',
      section: 'workers',
      body: html`<p class="muted">Remote execution is disabled: there are no workers.</p>`,
    });
  }
  const byWorker = new Map<string, OperationState[]>();
  for (const op of executing) {
    if (op.worker === undefined) continue;
    byWorker.set(op.worker, [...(byWorker.get(op.worker) ?? []), op]);
  }
  return layout({
    title: 'Workers',
    section: 'workers',
    subtitle: `${workers.length} connected.`,
    body:
      workers.length === 0
        ? html`<p class="muted">No worker is connected.</p>`
        : html`<table class="data workers">
            <thead>
              <tr>
                <th>Name</th><th>Platform</th><th class="num">Leases</th><th>Running</th>
                <th class="num">Actions done</th><th>Connected</th><th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              ${workers.map((w) => {
                const running = byWorker.get(w.name) ?? [];
                return html`<tr data-worker=${w.name}>
                  <td><strong>${w.name}</strong><div class="muted small"><code>${w.id}</code></div></td>
                  <td class="small">
                    ${
                      w.platform.length === 0
                        ? platformText(w.platform)
                        : html`<ul class="plain">${w.platform.map((p) => html`<li><code>${p.name}=${p.value}</code></li>`)}</ul>`
                    }
                  </td>
                  <td class="num">${w.leaseIds.length} / ${w.capacity}</td>
                  <td>
                    ${
                      running.length === 0
                        ? html`<span class="muted">idle</span>`
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
              })}
            </tbody>
          </table>`,
  });
}

/** Registers `/workers`. */
export function registerWorkersPage(app: FastifyInstance, deps: UiDeps): void {
  app.get(
    '/workers',
    pageHandler(deps.log, async () => {
      const { scheduler } = deps;
      const [workers, executing] = await Promise.all([
        scheduler?.listWorkers(),
        scheduler === undefined ? [] : listExecuting(scheduler),
      ]);
      return workersPage(workers, executing, Date.now());
    }),
  );
}
