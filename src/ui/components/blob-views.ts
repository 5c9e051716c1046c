/**
 * Views of a CAS blob's content: text, a hex dump for binary data, and a
 * whole output Tree as nested folders.
 */
import type { VNode } from 'preact';
import { type Digest, parseDigest } from '../../digest/digest.ts';
import type {
  Directory,
  Tree,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { formatBytes } from '../format.ts';
import { html } from '../html.ts';
import { casUrl } from '../urls.ts';
import { fileLinks } from './digest-link.ts';

/** Bytes shown as a hex dump when a blob is not text. */
export const HEX_LIMIT = 16 * 1024;

/** The text of `data` if it is UTF-8 without NUL bytes, else undefined. */
export function asText(data: Buffer, truncated: boolean): string | undefined {
  if (data.includes(0)) return undefined;
  // A cut-off head may end inside a multi-byte character: ignore the last 3 bytes then.
  const checked = truncated ? data.subarray(0, Math.max(0, data.length - 3)) : data;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(checked);
  } catch {
    return undefined;
  }
  return new TextDecoder('utf-8').decode(data);
}

/** `00000010  68 65 6c 6c 6f …  |hello…|`, sixteen bytes per line. */
export function hexDump(data: Buffer): string {
  const lines: string[] = [];
  for (let offset = 0; offset < data.length; offset += 16) {
    const row = data.subarray(offset, offset + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...row]
      .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'))
      .join('');
    lines.push(
      `${offset.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`,
    );
  }
  return lines.join('\n');
}

/** A file's content: text when it is text, otherwise a hex dump of its start. */
export function fileView(data: Buffer, truncated: boolean, total: number): VNode {
  const text = asText(data, truncated);
  if (text !== undefined) {
    return html`<div class="file-view">
      <pre class="file-text">${text}</pre>
      ${truncated ? html`<p class="muted">Only the first ${formatBytes(data.length)} of ${formatBytes(total)} are shown.</p>` : null}
    </div>`;
  }
  const shown = data.subarray(0, HEX_LIMIT);
  return html`<div class="file-view">
    <p class="muted">Binary content${shown.length < total ? `; the first ${formatBytes(shown.length)} of ${formatBytes(total)}` : ''}:</p>
    <pre class="hex">${hexDump(shown)}</pre>
  </div>`;
}

/** Stops a huge Tree from producing a page of megabytes. */
const TREE_ENTRY_LIMIT = 5000;

function digestOrUndefined(
  d: Parameters<typeof parseDigest>[0],
  fn: Digest['fn'],
): Digest | undefined {
  try {
    return parseDigest(d, fn.value);
  } catch {
    return undefined;
  }
}

/**
 * A Tree as nested folders. `children` maps each child Directory's digest key
 * to the Directory, since a Tree names its children only by digest.
 */
export function treeView(
  tree: Tree,
  children: ReadonlyMap<string, Directory>,
  fn: Digest['fn'],
  basePath: string,
): VNode {
  let budget = TREE_ENTRY_LIMIT;
  const render = (dir: Directory, path: string, depth: number): VNode => {
    const entries: VNode[] = [];
    for (const d of dir.directories) {
      if (budget-- <= 0) break;
      const digest = digestOrUndefined(d.digest, fn);
      const child = digest === undefined ? undefined : children.get(digest.key);
      const childPath = path === '' ? d.name : `${path}/${d.name}`;
      entries.push(html`<li class="dir">
        <details open=${depth < 2}>
          <summary>${d.name}/</summary>
          ${
            child === undefined || depth > 50
              ? html`<p class="muted">Not part of this Tree.</p>`
              : render(child, childPath, depth + 1)
          }
        </details>
      </li>`);
    }
    for (const f of dir.files) {
      if (budget-- <= 0) break;
      const digest = digestOrUndefined(f.digest, fn);
      const filePath = path === '' ? f.name : `${path}/${f.name}`;
      entries.push(html`<li class="file">
        ${
          digest === undefined
            ? f.name
            : html`<a href=${casUrl(digest, { path: filePath, as: 'file' })}>${f.name}</a>`
        }
        ${f.isExecutable ? html`<span class="tag">exec</span>` : null}
        ${digest === undefined ? null : fileLinks(digest, filePath)}
      </li>`);
    }
    for (const s of dir.symlinks) {
      if (budget-- <= 0) break;
      entries.push(
        html`<li class="symlink">${s.name} <span class="muted">→</span> <code>${s.target}</code></li>`,
      );
    }
    return html`<ul class="tree">${entries}</ul>`;
  };
  return html`<div class="tree-view">
    ${tree.root === undefined ? html`<p class="muted">The Tree has no root.</p>` : render(tree.root, basePath, 0)}
    ${budget < 0 ? html`<p class="muted">Only the first ${TREE_ENTRY_LIMIT} entries are shown.</p>` : null}
  </div>`;
}
