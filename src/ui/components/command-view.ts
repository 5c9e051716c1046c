/** The Action and Command of an action: what ran, where, with which environment. */
import type { VNode } from 'preact';
import type { Digest } from '../../digest/digest.ts';
import type {
  Action,
  Command,
  Platform,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { durationMs, formatDuration } from '../format.ts';
import { html } from '../html.ts';
import { digestLink } from './digest-link.ts';

/** Quotes an argument for display the way a POSIX shell would need it. */
export function shellQuote(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'"'"'`)}'`;
}

/** A property table for a Platform; a note when there is none. */
export function platformTable(platform: Platform | undefined): VNode {
  const props = platform?.properties ?? [];
  if (props.length === 0) return html`<p class="muted">No platform properties.</p>`;
  return html`<table class="kv">
    <tbody>
      ${props.map((p) => html`<tr><th>${p.name}</th><td><code>${p.value}</code></td></tr>`)}
    </tbody>
  </table>`;
}

/** The Command: arguments, environment, working directory, platform and declared outputs. */
export function commandView(command: Command, commandDigest: Digest | undefined): VNode {
  const outputs = [
    ...command.outputPaths.map((p) => ['path', p] as const),
    ...command.outputFiles.map((p) => ['file', p] as const),
    ...command.outputDirectories.map((p) => ['directory', p] as const),
  ];
  return html`<section class="command">
    <h2>Command ${commandDigest === undefined ? null : digestLink(commandDigest, { as: 'command' })}</h2>
    <pre class="cmdline">${command.arguments.map(shellQuote).join(' ')}</pre>
    <details>
      <summary>Arguments (${command.arguments.length})</summary>
      <ol class="args" start="0">
        ${command.arguments.map((a) => html`<li><code>${a}</code></li>`)}
      </ol>
    </details>
    <h3>Working directory</h3>
    <p><code>${command.workingDirectory === '' ? '(input root)' : command.workingDirectory}</code></p>
    <h3>Environment (${command.environmentVariables.length})</h3>
    ${
      command.environmentVariables.length === 0
        ? html`<p class="muted">No environment variables.</p>`
        : html`<table class="kv env">
          <tbody>
            ${command.environmentVariables.map(
              (e) => html`<tr><th>${e.name}</th><td><code>${e.value}</code></td></tr>`,
            )}
          </tbody>
        </table>`
    }
    ${
      command.platform !== undefined && command.platform.properties.length > 0
        ? html`<div><h3>Command platform</h3>${platformTable(command.platform)}</div>`
        : null
    }
    <h3>Declared outputs (${outputs.length})</h3>
    ${
      outputs.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<ul class="outputs">
          ${outputs.map(([kind, p]) => html`<li><code>${p}</code> <span class="tag">${kind}</span></li>`)}
        </ul>`
    }
  </section>`;
}

/** The Action's own fields: input root, timeout, caching, salt and platform. */
export function actionFields(action: Action, inputRoot: Digest | undefined): VNode {
  return html`<table class="kv">
    <tbody>
      <tr>
        <th>Input root</th>
        <td>${inputRoot === undefined ? '—' : digestLink(inputRoot, { as: 'directory' })}</td>
      </tr>
      <tr><th>Timeout</th><td>${action.timeout === undefined ? 'server default' : formatDuration(durationMs(action.timeout))}</td></tr>
      <tr><th>Cacheable</th><td>${action.doNotCache ? 'no (do_not_cache)' : 'yes'}</td></tr>
      ${
        action.salt.length > 0
          ? html`<tr><th>Salt</th><td><code>${Buffer.from(action.salt).toString('hex')}</code></td></tr>`
          : null
      }
      <tr><th>Platform</th><td>${platformTable(action.platform)}</td></tr>
    </tbody>
  </table>`;
}
