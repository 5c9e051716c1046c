/**
 * The web UI's templating: `htm` tagged templates over Preact's `h`, rendered
 * to a string on the server. Text and attribute values are escaped by Preact;
 * nothing here builds markup by string concatenation.
 */
// `htm/preact` is `htm.bind(h)` for Preact's `h`. Importing it rather than
// binding here avoids htm's type declarations, which describe a CommonJS
// default export where Node loads an ES module.
import { html as boundHtml } from 'htm/preact';
import type { VNode } from 'preact';
import { renderToString } from 'preact-render-to-string';

/**
 * The tagged template every view uses: `html\`<p>${text}</p>\``. Each template
 * must have exactly one root element, so the result is one VNode.
 */
export const html: (strings: TemplateStringsArray, ...values: unknown[]) => VNode = boundHtml;

/** What a view may return where a child is expected: a node, text, a list, or nothing. */
export type Child = VNode | string | number | null | undefined | false | readonly Child[];

/** Renders a whole page, with the doctype that keeps browsers in standards mode. */
export function renderDocument(page: VNode): string {
  return `<!doctype html>${renderToString(page)}`;
}

/** Renders a fragment (a live-updated section of a page) without a doctype. */
export function renderFragment(node: VNode): string {
  return renderToString(node);
}
