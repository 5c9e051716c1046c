/**
 * The viewer's corner of the page header: who is signed in with a sign-out
 * button, or a sign-in link. Pages do not pass the viewer down: `sendPage`
 * provides it through {@link ViewerContext} for the request being answered.
 */
import { createContext, type VNode } from 'preact';
import { useContext } from 'preact/hooks';
import { CSRF_FIELD, type ViewerInfo } from '../../http/web-access.ts';
import { html } from '../html.ts';

/** The viewer of the page being rendered; undefined outside a request. */
export const ViewerContext = createContext<ViewerInfo | undefined>(undefined);

/** A hidden field with the CSRF token, for every POST form. */
export function csrfField(token: string): VNode {
  return html`<input type="hidden" name=${CSRF_FIELD} value=${token} />`;
}

/** The sign-out form (for a signed-in session). */
export function signOutForm(csrf: string): VNode {
  return html`<form class="sign-out" method="post" action="/signout">
    ${csrfField(csrf)}<button type="submit">Sign out</button>
  </form>`;
}

/** The header's account box. */
export function AccountBox(): VNode | null {
  const info = useContext(ViewerContext);
  if (info === undefined) return null;
  const { viewer } = info;
  if (viewer.kind === 'session' && info.csrf !== undefined) {
    return html`<div class="account">
      <a href="/signin" class="who" title="Your session">${viewer.principal}</a>
      ${signOutForm(info.csrf)}
    </div>`;
  }
  if (viewer.kind === 'loopback' || viewer.kind === 'credentials') {
    return html`<div class="account"><span class="who muted-light">${viewer.principal}</span></div>`;
  }
  if (!info.canSignIn) return null;
  return html`<div class="account"><a href="/signin" class="sign-in">Sign in</a></div>`;
}
