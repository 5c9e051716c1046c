/**
 * `/operations/:id`: one operation with everything needed to understand it:
 * the Command, the input root, outputs, stdout/stderr and the stage
 * timeline. `POST /operations/:id/cancel` cancels it, for viewers with the
 * `admin` permission on its instance.
 */
import type { FastifyInstance } from 'fastify';
import type { VNode } from 'preact';
import { notFound } from '../../errors.ts';
import { viewerAllows, viewerOf } from '../../http/web-access.ts';
import type { Scheduler } from '../../scheduler/scheduler.ts';
import type { OperationState } from '../../scheduler/types.ts';
import {
  type ActionDetails,
  type LogContent,
  loadActionDetails,
  loadLogs,
} from '../action-data.ts';
import { csrfField } from '../components/account.ts';
import { codeName, outcomeBadge, platformText, stageBadge } from '../components/badges.ts';
import { actionFields, commandView } from '../components/command-view.ts';
import { fullDigest } from '../components/digest-link.ts';
import { directoryListing } from '../components/directory-listing.ts';
import { layout } from '../components/layout.ts';
import { resultView } from '../components/result-view.ts';
import { formatDuration, formatTime } from '../format.ts';
import { readForm } from '../forms.ts';
import { html } from '../html.ts';
import { pageHandler, permissionDenied } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { actionUrl, buildUrl, casUrl, operationNameOf, operationUrl } from '../urls.ts';

/** What the operation page shows. */
export interface OperationView {
  readonly op: OperationState;
  readonly details: ActionDetails;
  readonly logs: { stdout: LogContent; stderr: LogContent } | undefined;
  /** The CSRF token of the cancel form; undefined: the viewer may not cancel (no button). */
  readonly cancelCsrf: string | undefined;
  readonly nowMs: number;
}

function summary(v: OperationView): VNode {
  const { op } = v;
  const st = op.response?.status;
  const took = (op.completedAtMs ?? v.nowMs) - op.createdAtMs;
  return html`<table class="kv summary">
    <tbody>
      <tr><th>Stage</th><td>${stageBadge(op)} ${outcomeBadge(op)}</td></tr>
      ${
        st !== undefined && st.code !== 0
          ? html`<tr><th>Status</th><td class="fail-text">${codeName(st.code)}: ${st.message}</td></tr>`
          : null
      }
      ${
        op.response?.message ? html`<tr><th>Message</th><td>${op.response.message}</td></tr>` : null
      }
      <tr>
        <th>Action</th>
        <td><a href=${actionUrl(op.actionDigest, op.instanceName)}>${fullDigest(op.actionDigest)}</a></td>
      </tr>
      <tr><th>Instance</th><td>${op.instanceName === '' ? '(default)' : op.instanceName}</td></tr>
      <tr>
        <th>Build</th>
        <td>
          ${
            op.toolInvocationId === ''
              ? '—'
              : html`<a href=${buildUrl(op.toolInvocationId)}><code>${op.toolInvocationId}</code></a>`
          }
        </td>
      </tr>
      ${
        op.correlatedInvocationsId === ''
          ? null
          : html`<tr><th>Correlated invocations</th><td><code>${op.correlatedInvocationsId}</code></td></tr>`
      }
      <tr><th>Platform</th><td>${platformText(op.platform)}</td></tr>
      <tr><th>Priority</th><td>${op.priority}</td></tr>
      <tr><th>Worker</th><td>${op.worker ?? '—'}</td></tr>
      <tr><th>Created</th><td>${formatTime(op.createdAtMs)}</td></tr>
      <tr><th>Completed</th><td>${formatTime(op.completedAtMs)}</td></tr>
      <tr><th>${op.done ? 'Took' : 'Running for'}</th><td>${formatDuration(took)}</td></tr>
    </tbody>
  </table>`;
}

function cancelForm(v: OperationView): VNode | null {
  if (v.cancelCsrf === undefined || v.op.done) return null;
  return html`<form class="cancel" method="post" action=${`${operationUrl(v.op.name)}/cancel`}>
    ${csrfField(v.cancelCsrf)}
    <button type="submit" class="danger">Cancel this operation</button>
  </form>`;
}

/** The inputs: Action fields, Command and the top of the input root. */
export function inputsView(details: ActionDetails): VNode {
  const { action, command, inputRoot, inputRootDigest } = details;
  return html`<div class="inputs">
    ${
      details.problems.length === 0
        ? null
        : html`<ul class="problems">${details.problems.map((p) => html`<li>${p}</li>`)}</ul>`
    }
    ${command === undefined ? null : commandView(command, details.commandDigest)}
    ${
      action === undefined
        ? null
        : html`<section><h2>Action</h2>${actionFields(action, inputRootDigest)}</section>`
    }
    ${
      inputRootDigest === undefined || inputRoot === undefined
        ? null
        : html`<section class="input-root">
          <h2>Input root <a class="more" href=${casUrl(inputRootDigest, { as: 'directory' })}>open in the CAS browser</a></h2>
          ${directoryListing(inputRoot, inputRootDigest.fn, '')}
        </section>`
    }
  </div>`;
}

/** The operation page. */
export function operationPage(v: OperationView): VNode {
  const result = v.op.response?.result;
  return layout({
    title: 'Operation',
    section: 'operations',
    subtitle: html`<code>${v.op.name}</code>`,
    body: html`<div class="operation">
      ${summary(v)}
      ${cancelForm(v)}
      ${
        result === undefined || v.logs === undefined
          ? html`<p class="muted">${v.op.done ? 'No ActionResult: the action did not run to completion.' : 'No result yet.'}</p>`
          : html`<div><h2>Result</h2>${resultView({
              result,
              fn: v.op.actionDigest.fn,
              stdout: v.logs.stdout,
              stderr: v.logs.stderr,
              cached: v.op.response?.cachedResult,
            })}</div>`
      }
      ${inputsView(v.details)}
    </div>`,
  });
}

/** Registers `/operations/:id` and its cancel action. */
export function registerOperationPage(app: FastifyInstance, deps: UiDeps): void {
  const requireScheduler = (): Scheduler => {
    if (deps.scheduler === undefined) {
      throw notFound('remote execution is disabled on this server: there are no operations');
    }
    return deps.scheduler;
  };
  app.get<{ Params: { id: string } }>(
    '/operations/:id',
    pageHandler(deps.log, async (request, reply) => {
      const op = await requireScheduler().getOperation(operationNameOf(request.params.id));
      const result = op.response?.result;
      const [details, logs] = await Promise.all([
        loadActionDetails(deps.cas, op.actionDigest),
        result === undefined ? undefined : loadLogs(deps.cas, result, op.actionDigest.fn),
      ]);
      const mayCancel = !op.done && viewerAllows(viewerOf(request), 'admin', op.instanceName);
      return operationPage({
        op,
        details,
        logs,
        cancelCsrf: mayCancel ? deps.access.csrfToken(request, reply) : undefined,
        nowMs: Date.now(),
      });
    }),
  );
  registerCancel(app, deps, requireScheduler);
}

function registerCancel(
  app: FastifyInstance,
  deps: UiDeps,
  requireScheduler: () => Scheduler,
): void {
  app.post<{ Params: { id: string } }>(
    '/operations/:id/cancel',
    pageHandler(deps.log, async (request, reply) => {
      readForm(deps.access, request);
      const name = operationNameOf(request.params.id);
      const scheduler = requireScheduler();
      const op = await scheduler.getOperation(name);
      const viewer = viewerOf(request);
      // Operation names carry no instance, but the operation knows its own.
      if (!viewerAllows(viewer, 'admin', op.instanceName)) {
        const who =
          viewer.kind === 'anonymous' || viewer.kind === 'outsider'
            ? 'callers who are not signed in do'
            : `principal ${JSON.stringify(viewer.principal)} does`;
        const details = `cancelling needs permission admin on instance ${JSON.stringify(op.instanceName)}, which ${who} not have`;
        if (deps.audit !== undefined) {
          deps.audit.denied({
            method: 'POST /operations/:id/cancel',
            code: 'PERMISSION_DENIED',
            details,
            principal: viewer.principal,
            peer: request.ip,
          });
        } else {
          deps.log.warn(
            { operation: name, principal: viewer.principal, instance: op.instanceName },
            'web UI cancel refused: no admin permission',
          );
        }
        throw permissionDenied(details);
      }
      await scheduler.cancelOperation(name);
      if (deps.audit !== undefined) {
        deps.audit.admin({
          action: 'web-ui.cancel',
          principal: viewer.principal,
          peer: request.ip,
          detail: { operation: name, instance: op.instanceName },
        });
      } else {
        deps.log.info(
          { operation: name, principal: viewer.principal },
          'operation cancelled from the web UI',
        );
      }
      reply.redirect(operationUrl(name), 303);
      return undefined;
    }),
  );
}
