/**
 * A table of one Directory's entries with links: sub-directories open in the
 * CAS browser (carrying their path along for breadcrumbs), files can be
 * viewed or downloaded, symlinks show their target.
 */
import type { VNode } from 'preact';
import { type Digest, parseDigest } from '../../digest/digest.ts';
import type { Directory } from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { formatBytes } from '../format.ts';
import { html } from '../html.ts';
import { casUrl } from '../urls.ts';
import { digestLink, fileLinks } from './digest-link.ts';

function join(base: string, name: string): string {
  return base === '' ? name : `${base}/${name}`;
}

function digestOrUndefined(d: Parameters<typeof parseDigest>[0], fn: Digest['fn']) {
  try {
    return parseDigest(d, fn.value);
  } catch {
    return undefined;
  }
}

/** Rows for a Directory whose entries are at `basePath` inside the tree. */
export function directoryListing(dir: Directory, fn: Digest['fn'], basePath: string): VNode {
  const empty = dir.files.length === 0 && dir.directories.length === 0 && dir.symlinks.length === 0;
  if (empty) return html`<p class="muted">This directory is empty.</p>`;
  return html`<table class="listing">
    <thead>
      <tr><th>Name</th><th>Size</th><th>Digest</th><th></th></tr>
    </thead>
    <tbody>
      ${dir.directories.map((d) => {
        const digest = digestOrUndefined(d.digest, fn);
        const path = join(basePath, d.name);
        return html`<tr class="dir">
          <td>
            ${
              digest === undefined
                ? html`<span>${d.name}/</span>`
                : html`<a href=${casUrl(digest, { path, as: 'directory' })}>${d.name}/</a>`
            }
          </td>
          <td></td>
          <td>${digest === undefined ? 'invalid digest' : digestLink(digest, { path, as: 'directory' })}</td>
          <td></td>
        </tr>`;
      })}
      ${dir.files.map((f) => {
        const digest = digestOrUndefined(f.digest, fn);
        const path = join(basePath, f.name);
        return html`<tr class="file">
          <td>
            ${
              digest === undefined
                ? f.name
                : html`<a href=${casUrl(digest, { path, as: 'file' })}>${f.name}</a>`
            }
            ${f.isExecutable ? html`<span class="tag" title="executable">exec</span>` : null}
          </td>
          <td class="num">${digest === undefined ? '' : formatBytes(digest.size)}</td>
          <td>${digest === undefined ? 'invalid digest' : digestLink(digest, { path, as: 'file' })}</td>
          <td>${digest === undefined ? null : fileLinks(digest, path)}</td>
        </tr>`;
      })}
      ${dir.symlinks.map(
        (s) => html`<tr class="symlink">
          <td>${s.name}</td>
          <td></td>
          <td colspan="2"><span class="muted">symlink →</span> <code>${s.target}</code></td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
