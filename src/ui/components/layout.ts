/**
 * The frame of every page: head, header navigation, the digest lookup form
 * and the main content.
 */

import type { VNode } from 'preact';
import { DIGEST_FUNCTIONS } from '../../digest/digest-function.ts';
import { type Child, html } from '../html.ts';
import { AccountBox } from './account.ts';

/** The sections of the header navigation. */
export type Section = 'overview' | 'builds' | 'operations' | 'workers' | 'cas' | 'none';

const NAV: readonly { section: Section; href: string; label: string }[] = [
  { section: 'overview', href: '/', label: 'Overview' },
  { section: 'builds', href: '/builds', label: 'Builds' },
  { section: 'operations', href: '/operations', label: 'Operations' },
  { section: 'workers', href: '/workers', label: 'Workers' },
  { section: 'cas', href: '/cas', label: 'CAS' },
];

/** What {@link layout} needs. */
export interface LayoutProps {
  /** Page title, shown in the tab and as the page heading. */
  readonly title: string;
  /** The highlighted navigation entry. */
  readonly section: Section;
  /** The page body, below the heading. */
  readonly body: Child;
  /** A line under the heading (a digest, a state). */
  readonly subtitle?: Child;
}

/** The digest lookup form; on every page, and on the CAS page as its main content. */
export function lookupForm(value = '', autofocus = false): VNode {
  return html`<form class="lookup" method="get" action="/lookup" role="search">
    <input
      type="search"
      name="digest"
      value=${value}
      placeholder="Digest: HASH/SIZE, fn/HASH/SIZE or an operation name"
      aria-label="Digest or operation name"
      autofocus=${autofocus}
      spellcheck="false"
    />
    <select name="fn" aria-label="Digest function">
      <option value="">auto</option>
      ${DIGEST_FUNCTIONS.map((f) => html`<option value=${f.name}>${f.name}</option>`)}
    </select>
    <button type="submit">Go</button>
  </form>`;
}

/** A complete HTML page. */
export function layout(props: LayoutProps): VNode {
  return html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>${props.title} · Kiln</title>
      <link rel="icon" href="/ui/favicon.svg" type="image/svg+xml" />
      <link rel="stylesheet" href="/ui/style.css" />
      <script src="/ui/app.js" defer></script>
    </head>
    <body>
      <header class="top">
        <a class="brand" href="/">Kiln</a>
        <nav>
          ${NAV.map(
            (n) =>
              html`<a href=${n.href} class=${n.section === props.section ? 'active' : undefined}
                >${n.label}</a
              >`,
          )}
        </nav>
        ${lookupForm()}
        <${AccountBox} />
      </header>
      <main>
        <h1>${props.title}</h1>
        ${props.subtitle === undefined ? null : html`<p class="subtitle">${props.subtitle}</p>`}
        ${props.body}
      </main>
    </body>
  </html>`;
}
