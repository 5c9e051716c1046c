/**
 * stdout and stderr with their ANSI colours. ansi_up escapes the text it is
 * given (`escape_html` stays on) and emits only spans with colour styles, so
 * its output is the one place the UI inserts markup it did not build itself.
 */
import { AnsiUp } from 'ansi_up';
import type { VNode } from 'preact';
import { LOG_DISPLAY_LIMIT, type LogContent } from '../action-data.ts';
import { formatBytes } from '../format.ts';
import { html } from '../html.ts';
import { downloadUrl } from '../urls.ts';

/** OSC 8 hyperlink escapes: `ESC ] 8 ; params ; URL` ended by BEL or `ESC \`. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matches terminal escape sequences.
const OSC8 = /\u001b\]8;[^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

/** HTML for ANSI-coloured text; every character of the input is escaped. */
export function ansiToHtml(text: string): string {
  const converter = new AnsiUp();
  converter.escape_html = true;
  // A build log must not plant links in the page: hyperlink escapes are
  // dropped and their text kept (ansi_up would drop the text with them).
  converter.url_allowlist = {};
  return converter.ansi_to_html(text.replace(OSC8, ''));
}

/** One log stream: its text, a note when cut short or evicted, and a download link. */
export function logView(title: string, log: LogContent, fileName: string): VNode {
  const download =
    log.digest === undefined || log.digest.size === 0
      ? null
      : html`<a href=${downloadUrl(log.digest, fileName)} download=${fileName}
          >download full (${formatBytes(log.digest.size)})</a
        >`;
  let body: VNode;
  if (log.missing) {
    body = html`<p class="muted">Not in the CAS any more (evicted).</p>`;
  } else if (log.text === '') {
    body = html`<p class="muted">Empty.</p>`;
  } else {
    body = html`<pre class="log" dangerouslySetInnerHTML=${{ __html: ansiToHtml(log.text) }}></pre>`;
  }
  return html`<section class="log-section" data-log=${fileName}>
    <h3>${title} <span class="more">${download}</span></h3>
    ${body}
    ${
      log.truncated
        ? html`<p class="muted">Only the first ${formatBytes(LOG_DISPLAY_LIMIT)} are shown.</p>`
        : null
    }
  </section>`;
}
