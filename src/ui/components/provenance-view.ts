/** Who wrote an action cache entry, on the action page. */
import type { VNode } from 'preact';
import { msOf, type Provenance, Provenance_Source } from '../../cache/provenance.ts';
import { formatTime } from '../format.ts';
import { html } from '../html.ts';
import { buildUrl } from '../urls.ts';

const dash = (s: string): string => (s === '' ? '—' : s);

/** The "Written by" table; a note for entries older than provenance. */
export function provenanceView(p: Provenance | undefined): VNode {
  if (p === undefined) {
    return html`<p class="muted provenance">
      Who wrote this entry is not known: it was stored before Kiln recorded provenance.
    </p>`;
  }
  const source =
    p.source === Provenance_Source.UPLOAD
      ? 'uploaded by a client (UpdateActionResult)'
      : p.source === Provenance_Source.EXECUTION
        ? 'executed by a worker'
        : 'unknown';
  return html`<table class="kv provenance">
    <tbody>
      <tr><th>Written by</th><td data-principal=${p.principal}>${p.principal === '' ? '— (no authentication)' : p.principal}</td></tr>
      <tr><th>How</th><td>${source}</td></tr>
      ${
        p.source === Provenance_Source.EXECUTION
          ? html`<tr><th>Worker</th><td data-worker=${p.worker}>${dash(p.worker)}${
              p.workerPrincipal === '' ? '' : ` (principal ${p.workerPrincipal})`
            }</td></tr>
            <tr><th>Bot session</th><td><code>${dash(p.workerSession)}</code></td></tr>`
          : null
      }
      <tr><th>Build</th><td>${
        p.toolInvocationId === ''
          ? '—'
          : html`<a href=${buildUrl(p.toolInvocationId)}><code>${p.toolInvocationId}</code></a>`
      }</td></tr>
      <tr><th>Client address</th><td><code>${dash(p.clientAddress)}</code></td></tr>
      <tr><th>Written at</th><td>${p.writtenAt === undefined ? '—' : formatTime(msOf(p.writtenAt))}</td></tr>
    </tbody>
  </table>`;
}
