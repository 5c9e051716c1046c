/**
 * Signing in and out of the web UI: `/signin` (the page), `POST
 * /signin/token` (a pasted token from `auth.tokens`), `/signin/oidc` and
 * its callback (OpenID Connect, authorization code flow with PKCE) and
 * `POST /signout`. A successful sign-in sets the signed session cookie.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { VNode } from 'preact';
import { notFound } from '../../errors.ts';
import {
  OidcSignInError,
  PENDING_SIGN_IN_MS,
  pendingSignInShape,
} from '../../http/oidc-sign-in.ts';
import { OIDC_COOKIE, type Viewer, viewerOf, type WebAccess } from '../../http/web-access.ts';
import { csrfField, signOutForm } from '../components/account.ts';
import { layout } from '../components/layout.ts';
import { formatTime } from '../format.ts';
import { readForm, safeNext } from '../forms.ts';
import { html } from '../html.ts';
import { pageHandler, queryString, sendPage } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';

/** The sign-in cookie goes only to the OIDC routes (the callback). */
const OIDC_COOKIE_PATH = '/signin/oidc';

/** What the sign-in page shows. */
interface SignInView {
  readonly viewer: Viewer;
  readonly access: WebAccess;
  readonly next: string;
  /** For the token form: the CSRF token. */
  readonly csrf: string;
  /** Why the last attempt failed. */
  readonly problem?: string;
}

function currentState(v: SignInView): VNode | null {
  const { viewer } = v;
  if (viewer.kind === 'session' && viewer.session !== undefined) {
    return html`<section class="sign-in">
      <p>
        Signed in as <strong>${viewer.principal}</strong> (${viewer.session.via === 'oidc' ? 'OpenID Connect' : 'token'})
        until ${formatTime(viewer.session.expiresAtMs)}.
      </p>
      ${signOutForm(v.csrf)}
    </section>`;
  }
  if (viewer.kind === 'loopback') {
    return html`<p class="muted">
      You are on this machine (a loopback address) and Kiln is in protected mode (no auth section):
      you may do everything without signing in.
    </p>`;
  }
  return null;
}

/** The sign-in page. */
function signInPage(v: SignInView): VNode {
  const { access } = v;
  const oidc = access.oidc;
  return layout({
    title: v.viewer.kind === 'session' ? 'Your session' : 'Sign in',
    section: 'none',
    body: html`<div class="sign-in-page">
      ${v.problem === undefined ? null : html`<div class="error-box"><p class="error-message">${v.problem}</p></div>`}
      ${currentState(v)}
      ${
        oidc === undefined
          ? null
          : html`<section class="sign-in">
            <h2>With your identity provider</h2>
            <a class="button" href=${`/signin/oidc?next=${encodeURIComponent(v.next)}`}
              >Sign in with ${oidc.providerName}</a
            >
          </section>`
      }
      ${
        access.tokenSignIn
          ? html`<section class="sign-in">
            <h2>With a token</h2>
            <form class="token-sign-in" method="post" action="/signin/token">
              ${csrfField(v.csrf)}
              <input type="hidden" name="next" value=${v.next} />
              <input
                type="password"
                name="token"
                aria-label="Token"
                placeholder="A token from auth.tokens"
                autocomplete="off"
                required
              />
              <button type="submit">Sign in</button>
            </form>
            <p class="muted">
              The bearer token your builds send (<code>--remote_header=Authorization=Bearer …</code>). The
              session gets its principal and permissions.
            </p>
          </section>`
          : null
      }
      ${
        oidc === undefined && !access.tokenSignIn
          ? html`<p class="muted">
            This server offers no sign-in: configure <code>auth.tokens</code> or <code>ui.oidc</code>
            (see docs/security.md).
          </p>`
          : null
      }
    </div>`,
  });
}

function renderSignIn(
  deps: UiDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  next: string,
  problem?: string,
): VNode {
  return signInPage({
    viewer: viewerOf(request),
    access: deps.access,
    next,
    csrf: deps.access.csrfToken(request, reply),
    ...(problem === undefined ? {} : { problem }),
  });
}

/** Registers the sign-in and sign-out routes. */
export function registerSignInPages(app: FastifyInstance, deps: UiDeps): void {
  const { access, log } = deps;
  app.get<{ Querystring: Record<string, unknown> }>(
    '/signin',
    pageHandler(log, async (request, reply) =>
      renderSignIn(deps, request, reply, safeNext(queryString(request.query.next))),
    ),
  );

  app.post(
    '/signin/token',
    pageHandler(log, async (request, reply) => {
      const form = readForm(access, request);
      const next = safeNext(form.get('next'));
      const identity = await access.identityOfToken(form.get('token') ?? '', request);
      if (typeof identity === 'string') {
        log.info({ from: request.ip }, 'web UI token sign-in refused');
        sendPage(reply, renderSignIn(deps, request, reply, next, identity), 401);
        return undefined;
      }
      access.signIn(reply, identity.principal, 'token', [
        { permissions: [...identity.permissions], instances: [...identity.instances] },
      ]);
      log.info({ principal: identity.principal, via: 'token' }, 'signed in to the web UI');
      reply.redirect(next, 303);
      return undefined;
    }),
  );

  app.get<{ Querystring: Record<string, unknown> }>(
    '/signin/oidc',
    pageHandler(log, async (request, reply) => {
      const oidc = access.oidc;
      if (oidc === undefined) throw notFound('this server has no OpenID Connect sign-in (ui.oidc)');
      const next = safeNext(queryString(request.query.next));
      const redirectUrl =
        oidc.redirectUrl ?? `${request.protocol}://${request.host}/signin/oidc/callback`;
      try {
        const { url, pending } = await oidc.begin(redirectUrl, next, access.now());
        reply.setCookie(OIDC_COOKIE, access.signer.seal('oidc', pending), {
          ...access.cookieOptions(),
          path: OIDC_COOKIE_PATH,
          maxAge: PENDING_SIGN_IN_MS / 1000,
        });
        reply.redirect(url.href, 303);
        return undefined;
      } catch (err) {
        if (!(err instanceof OidcSignInError)) throw err;
        sendPage(reply, renderSignIn(deps, request, reply, next, err.message), 503);
        return undefined;
      }
    }),
  );

  app.get(
    '/signin/oidc/callback',
    pageHandler(log, async (request, reply) => {
      const oidc = access.oidc;
      if (oidc === undefined) throw notFound('this server has no OpenID Connect sign-in (ui.oidc)');
      const pending = pendingSignInShape.safeParse(
        access.signer.open('oidc', request.cookies[OIDC_COOKIE]),
      );
      // One use only, whatever happens next.
      reply.clearCookie(OIDC_COOKIE, { ...access.cookieOptions(), path: OIDC_COOKIE_PATH });
      const refuse = (message: string): undefined => {
        sendPage(reply, renderSignIn(deps, request, reply, '/', message), 401);
        return undefined;
      };
      if (!pending.success || pending.data.expiresAtMs <= access.now()) {
        return refuse(
          'this sign-in was not started here, or took too long (10 minutes); start again',
        );
      }
      const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
      try {
        const user = await oidc.finish(query, pending.data);
        access.signIn(reply, user.principal, 'oidc', user.grants);
        log.info({ principal: user.principal, via: 'oidc' }, 'signed in to the web UI');
        reply.redirect(safeNext(pending.data.next), 303);
        return undefined;
      } catch (err) {
        if (!(err instanceof OidcSignInError)) throw err;
        return refuse(err.message);
      }
    }),
  );

  app.post(
    '/signout',
    pageHandler(log, async (request, reply) => {
      readForm(access, request);
      const viewer = viewerOf(request);
      access.signOut(reply);
      if (viewer.kind === 'session')
        log.info({ principal: viewer.principal }, 'signed out of the web UI');
      reply.redirect('/signin', 303);
      return undefined;
    }),
  );
}
