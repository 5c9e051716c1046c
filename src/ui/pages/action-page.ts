/**
 * `/action/:fn/:hash/:size?instance=`: an action by its digest, the link
 * target for an action digest copied from Bazel. Shows the Action, its
 * Command and input root, and the cached ActionResult for the instance.
 */
import type { FastifyInstance } from 'fastify';
import type { VNode } from 'preact';
import type { Digest } from '../../digest/digest.ts';
import { notFound } from '../../errors.ts';
import type { ActionResult } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type ActionDetails,
  type CachedEntry,
  type LogContent,
  loadActionDetails,
  loadCachedEntry,
  loadLogs,
} from '../action-data.ts';
import { fullDigest } from '../components/digest-link.ts';
import { layout } from '../components/layout.ts';
import { provenanceView } from '../components/provenance-view.ts';
import { resultView } from '../components/result-view.ts';
import { digestFromParams } from '../digest-input.ts';
import { html } from '../html.ts';
import { pageHandler, queryString } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { inputsView } from './operation-page.ts';

/** What the action page shows. */
export interface ActionView {
  readonly digest: Digest;
  readonly instanceName: string;
  readonly details: ActionDetails;
  readonly result: ActionResult | undefined;
  /** The action cache entry, complete or not, with who wrote it. */
  readonly entry?: CachedEntry;
  readonly logs: { stdout: LogContent; stderr: LogContent } | undefined;
}

/** The action page. */
export function actionPage(v: ActionView): VNode {
  return layout({
    title: 'Action',
    section: 'cas',
    subtitle: html`<span>${fullDigest(v.digest)}${v.instanceName === '' ? '' : ` · instance ${v.instanceName}`}</span>`,
    body: html`<div class="action">
      <h2>Cached result</h2>
      ${
        v.result === undefined || v.logs === undefined
          ? html`<p class="muted">
            ${
              v.entry?.incomplete
                ? 'The action cache holds an entry for this action, but some of its outputs were evicted from the CAS, so it is not served.'
                : html`The action cache holds no result for this action${v.instanceName === '' ? '' : ` in instance "${v.instanceName}"`}
            (never run, failed, not cacheable, or its outputs were evicted).`
            }
          </p>`
          : resultView({
              result: v.result,
              fn: v.digest.fn,
              stdout: v.logs.stdout,
              stderr: v.logs.stderr,
            })
      }
      ${
        v.entry === undefined
          ? null
          : html`<h2>Written by</h2>
            ${provenanceView(v.entry.provenance)}`
      }
      ${inputsView(v.details)}
    </div>`,
  });
}

/** Registers `/action/:fn/:hash/:size`. */
export function registerActionPage(app: FastifyInstance, deps: UiDeps): void {
  app.get<{
    Params: { fn: string; hash: string; size: string };
    Querystring: Record<string, unknown>;
  }>(
    '/action/:fn/:hash/:size',
    pageHandler(deps.log, async (request) => {
      const { fn, hash, size } = request.params;
      const digest = digestFromParams(fn, hash, size);
      const instanceName = queryString(request.query.instance) ?? '';
      const [details, entry] = await Promise.all([
        loadActionDetails(deps.cas, digest),
        loadCachedEntry(deps.actionCache, instanceName, digest),
      ]);
      const result = entry?.result;
      if (details.action === undefined && entry === undefined) {
        throw notFound(
          `action ${digest.fn.name}/${digest.hash}/${digest.size} is neither in the CAS nor in the action cache`,
        );
      }
      const logs = result === undefined ? undefined : await loadLogs(deps.cas, result, digest.fn);
      return actionPage({ digest, instanceName, details, result, entry, logs });
    }),
  );
}
