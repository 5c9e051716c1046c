/**
 * An ActionResult: exit code, worker, outputs with links, stdout, stderr, the
 * stage timeline and, when the worker measured them, the resources it used.
 */
import type { VNode } from 'preact';
import { type Digest, parseDigest } from '../../digest/digest.ts';
import type {
  ActionResult,
  Digest as DigestMessage,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { LogContent } from '../action-data.ts';
import { formatBytes } from '../format.ts';
import { html } from '../html.ts';
import { casUrl } from '../urls.ts';
import { digestLink, fileLinks } from './digest-link.ts';
import { logView } from './log-view.ts';
import { resourceUsageView } from './resource-usage-view.ts';
import { timeline } from './timeline.ts';

function digestOf(message: DigestMessage | undefined, fn: Digest['fn']): Digest | undefined {
  try {
    return message === undefined ? undefined : parseDigest(message, fn.value);
  } catch {
    return undefined;
  }
}

/** The outputs table: files (view, download), directories (as a Tree), symlinks. */
export function outputsView(result: ActionResult, fn: Digest['fn']): VNode {
  const symlinks = [
    ...result.outputSymlinks,
    ...result.outputFileSymlinks,
    ...result.outputDirectorySymlinks,
  ];
  const count = result.outputFiles.length + result.outputDirectories.length + symlinks.length;
  if (count === 0) return html`<p class="muted">The action produced no outputs.</p>`;
  return html`<table class="listing outputs">
    <thead><tr><th>Path</th><th>Size</th><th>Digest</th><th></th></tr></thead>
    <tbody>
      ${result.outputFiles.map((f) => {
        const d = digestOf(f.digest, fn);
        return html`<tr class="file">
          <td>
            ${d === undefined ? f.path : html`<a href=${casUrl(d, { path: f.path, as: 'file' })}>${f.path}</a>`}
            ${f.isExecutable ? html`<span class="tag">exec</span>` : null}
          </td>
          <td class="num">${d === undefined ? '' : formatBytes(d.size)}</td>
          <td>${d === undefined ? 'invalid digest' : digestLink(d, { path: f.path, as: 'file' })}</td>
          <td>${d === undefined ? null : fileLinks(d, f.path)}</td>
        </tr>`;
      })}
      ${result.outputDirectories.map((o) => {
        const tree = digestOf(o.treeDigest, fn);
        return html`<tr class="dir">
          <td>
            ${
              tree === undefined
                ? `${o.path}/`
                : html`<a href=${casUrl(tree, { path: o.path, as: 'tree' })}>${o.path}/</a>`
            }
          </td>
          <td></td>
          <td>${tree === undefined ? 'invalid digest' : digestLink(tree, { path: o.path, as: 'tree' })}</td>
          <td><span class="tag">directory (Tree)</span></td>
        </tr>`;
      })}
      ${symlinks.map(
        (s) => html`<tr class="symlink">
          <td>${s.path}</td>
          <td></td>
          <td colspan="2"><span class="muted">symlink →</span> <code>${s.target}</code></td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

/** What {@link resultView} shows. */
export interface ResultViewProps {
  readonly result: ActionResult;
  readonly fn: Digest['fn'];
  readonly stdout: LogContent;
  readonly stderr: LogContent;
  /** Whether the result came from the action cache rather than an execution. */
  readonly cached?: boolean;
}

/** The whole result section. */
export function resultView(props: ResultViewProps): VNode {
  const { result, fn } = props;
  const worker = result.executionMetadata?.worker ?? '';
  return html`<section class="result">
    <table class="kv">
      <tbody>
        <tr>
          <th>Exit code</th>
          <td>
            <span class=${result.exitCode === 0 ? 'badge ok' : 'badge fail'} data-exit-code=${result.exitCode}
              >${result.exitCode}</span
            >
          </td>
        </tr>
        <tr><th>Worker</th><td>${worker === '' ? '—' : worker}</td></tr>
        ${
          props.cached === undefined
            ? null
            : html`<tr><th>Source</th><td>${props.cached ? 'action cache hit' : 'executed'}</td></tr>`
        }
      </tbody>
    </table>
    <h2>Outputs</h2>
    ${outputsView(result, fn)}
    <h2>Logs</h2>
    ${logView('stdout', props.stdout, 'stdout.txt')}
    ${logView('stderr', props.stderr, 'stderr.txt')}
    <h2>Timeline</h2>
    ${timeline(result.executionMetadata)}
    ${resourceUsageView(result.executionMetadata)}
  </section>`;
}
