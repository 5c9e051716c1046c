/** Links to CAS blobs, shown compactly with the full digest on hover. */
import type { VNode } from 'preact';
import type { Digest } from '../../digest/digest.ts';
import { formatBytes } from '../format.ts';
import { html } from '../html.ts';
import { type CasLinkOptions, casUrl, downloadUrl } from '../urls.ts';

/** `abcdef012345…/1234`: enough of the hash to recognise it. */
export function shortDigest(d: Digest): string {
  return `${d.hash.slice(0, 12)}…/${d.size}`;
}

/** A link to the CAS view of `d`, labelled with the short digest. */
export function digestLink(d: Digest, options: CasLinkOptions = {}): VNode {
  return html`<a class="digest" href=${casUrl(d, options)} title=${`${d.fn.name}/${d.hash}/${d.size}`}
    >${shortDigest(d)}</a
  >`;
}

/** The full digest as selectable text (for headings and copying into chat). */
export function fullDigest(d: Digest): VNode {
  return html`<code class="digest-full">${d.fn.name}/${d.hash}/${d.size}</code>`;
}

/** "view · download (12 KiB)" links for a file blob. */
export function fileLinks(d: Digest, path: string): VNode {
  const name = path.split('/').pop() || 'blob';
  return html`<span class="file-links">
    <a href=${casUrl(d, { path, as: 'file' })}>view</a>${' · '}<a
      href=${downloadUrl(d, name)}
      download=${name}
      >download</a
    >${' '}<span class="muted">(${formatBytes(d.size)})</span>
  </span>`;
}
