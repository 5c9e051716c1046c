/**
 * Who is asking, and may they, for everything served over HTTP (web UI and
 * `/metrics`). One `onRequest` hook resolves the viewer of every request — a
 * signed session cookie, an `Authorization: Bearer` token from `auth.tokens`,
 * a loopback caller in protected mode, or an anonymous one — and turns away
 * those the configuration does not let read (`ui.access`,
 * `ui.metricsAccess`, protected mode). Routes then ask {@link viewerOf} and
 * {@link viewerAllows} for actions such as cancelling, and
 * {@link WebAccess.checkStateChange} guards every POST against cross-site
 * request forgery.
 */

import { TLSSocket } from 'node:tls';
import fastifyCookie from '@fastify/cookie';
import { Metadata } from '@grpc/grpc-js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Authenticator, isFailure, type PeerCertificateOf } from '../auth/authenticator.ts';
import { allows, type Identity, type Permission } from '../auth/permissions.ts';
import type { AuthConfig } from '../config/auth-schema.ts';
import type { HttpAccess, UiConfig } from '../config/ui-schema.ts';
import type { Logger } from '../util/logger.ts';
import type { RouteRegistrar } from './http-server.ts';
import { OidcSignIn } from './oidc-sign-in.ts';
import { PROBE_PATHS } from './probe-routes.ts';
import {
  CookieSigner,
  csrfTokenOf,
  newSessionId,
  openSession,
  type Session,
  type SessionGrant,
  sealSession,
} from './signed-cookies.ts';

/** Cookie names. */
export const SESSION_COOKIE = 'kiln_session';
export const CSRF_COOKIE = 'kiln_csrf';
export const OIDC_COOKIE = 'kiln_oidc';

/** The form field that carries the CSRF token on every POST. */
export const CSRF_FIELD = 'csrf';

/**
 * How a request's caller was identified:
 * - `session`: a signed-in browser;
 * - `credentials`: the request's own `Authorization: Bearer` token (or
 *   client certificate) as the `auth` section accepts them for gRPC;
 * - `loopback`: protected mode (no `auth` section), a loopback caller: may do everything;
 * - `anonymous`: nobody in particular; has `auth.anonymous`'s permissions;
 * - `outsider`: protected mode, not loopback, not signed in: may read nothing.
 */
export type ViewerKind = 'session' | 'credentials' | 'loopback' | 'anonymous' | 'outsider';

/** The caller of one HTTP request. */
export interface Viewer {
  readonly kind: ViewerKind;
  readonly principal: string;
  /** Each grant's permissions on its instances; the viewer may what any grant allows. */
  readonly grants: readonly Identity[];
  readonly session?: Session;
}

/** Whether the viewer may `permission` on `instanceName`. */
export function viewerAllows(
  viewer: Viewer,
  permission: Permission,
  instanceName: string,
): boolean {
  return viewer.grants.some((g) => allows(g, permission, instanceName));
}

/** Whether the viewer counts as signed in for `ui.access: signedIn`. */
export function isSignedIn(viewer: Viewer): boolean {
  return viewer.kind === 'session' || viewer.kind === 'credentials' || viewer.kind === 'loopback';
}

/** What the page frame shows about the viewer. */
export interface ViewerInfo {
  readonly viewer: Viewer;
  /** The session's CSRF token, for the sign-out form. */
  readonly csrf: string | undefined;
  /** Whether there is any way to sign in (tokens or OIDC). */
  readonly canSignIn: boolean;
}

const NOBODY: Viewer = { kind: 'outsider', principal: 'nobody', grants: [] };
const viewers = new WeakMap<FastifyRequest, ViewerInfo>();

/** The viewer the access hook resolved; nobody (no permissions) when there is no hook. */
export function viewerOf(request: FastifyRequest): Viewer {
  return viewers.get(request)?.viewer ?? NOBODY;
}

/** The viewer with what the page frame needs. */
export function viewerInfoOf(request: FastifyRequest): ViewerInfo {
  return viewers.get(request) ?? { viewer: NOBODY, csrf: undefined, canSignIn: false };
}

/** A refused request, answered by the `deny` callback of {@link WebAccess.registrar}. */
export interface Denial {
  /** 401 (sign in first) or 403. */
  readonly statusCode: 401 | 403;
  readonly message: string;
}

/** Options for {@link WebAccess}. */
export interface WebAccessOptions {
  /** The `auth` section, or undefined: protected mode. */
  readonly auth: AuthConfig | undefined;
  /** The server's authenticator for that section (shared with gRPC). */
  readonly authenticator: Authenticator;
  readonly ui: UiConfig;
  /** Served over TLS: cookies get `Secure`. */
  readonly secure: boolean;
  readonly log: Logger;
  /** Milliseconds since the epoch; injectable for expiry tests. */
  readonly now?: () => number;
}

/** What an HTTP caller from elsewhere is told in protected mode. */
export const HTTP_PROTECTED_MODE_MESSAGE =
  'Kiln is in protected mode: it has no auth section in its configuration, so its web UI and ' +
  '/metrics serve loopback callers only. To let other machines in, configure auth.tokens or ' +
  'ui.oidc (see docs/security.md)';

/** The HTTP access rules of one server. */
export class WebAccess {
  /** Who may read pages, with the default resolved. */
  readonly access: HttpAccess;
  readonly metricsAccess: HttpAccess;
  /** Sign-in with a pasted token is possible (an `auth` section with tokens or JWT). */
  readonly tokenSignIn: boolean;
  readonly oidc: OidcSignIn | undefined;
  readonly sessionLifetimeMs: number;
  readonly #authenticator: Authenticator;
  readonly #signer: CookieSigner;
  readonly #secure: boolean;
  readonly #now: () => number;

  constructor(options: WebAccessOptions) {
    const { auth, ui } = options;
    this.oidc = ui.oidc === undefined ? undefined : new OidcSignIn(ui.oidc, options.log);
    this.access =
      ui.access ?? (auth !== undefined || ui.oidc !== undefined ? 'signedIn' : 'public');
    this.metricsAccess = ui.metricsAccess;
    this.tokenSignIn =
      auth !== undefined &&
      (auth.tokens.length > 0 || auth.tokensFile !== undefined || auth.jwt !== undefined);
    this.sessionLifetimeMs = ui.sessionLifetimeMs;
    this.#authenticator = options.authenticator;
    this.#signer =
      ui.sessionKey === undefined
        ? CookieSigner.random()
        : new CookieSigner(Buffer.from(ui.sessionKey, 'utf8'));
    this.#secure = options.secure;
    this.#now = options.now ?? Date.now;
  }

  /** Milliseconds since the epoch, by this server's clock. */
  now(): number {
    return this.#now();
  }

  /** The signer of this server's cookies (sessions, sign-ins in progress). */
  get signer(): CookieSigner {
    return this.#signer;
  }

  /**
   * Registers cookie parsing, the form body parser and the access hook.
   * Register it before every other route. `deny` answers refused page
   * requests (with a rendered page); `/metrics` gets plain text.
   */
  registrar(deny: (reply: FastifyReply, denial: Denial) => FastifyReply): RouteRegistrar {
    return async (app: FastifyInstance) => {
      await app.register(fastifyCookie);
      // HTML forms post urlencoded bodies; they are small.
      app.addContentTypeParser(
        'application/x-www-form-urlencoded',
        { parseAs: 'string', bodyLimit: 16 * 1024 },
        (_request, body, done) => done(null, new URLSearchParams(body as string)),
      );
      app.addHook('onRequest', async (request, reply) => {
        // Probes answer anyone: no credentials to check, nothing to reveal.
        if (PROBE_PATHS.has(request.routeOptions.url ?? '')) return;
        const viewer = await this.#resolve(request);
        viewers.set(request, {
          viewer,
          csrf:
            viewer.session === undefined ? undefined : csrfTokenOf(this.#signer, viewer.session.id),
          canSignIn: this.tokenSignIn || this.oidc !== undefined,
        });
        const denial = this.#denial(request, viewer);
        if (denial === undefined) return;
        if (denial === 'sign-in') {
          return reply.redirect(`/signin?next=${encodeURIComponent(request.url)}`, 303);
        }
        if (request.routeOptions.url === '/metrics') {
          if (denial.statusCode === 401) reply.header('www-authenticate', 'Bearer');
          return reply
            .code(denial.statusCode)
            .type('text/plain; charset=utf-8')
            .send(`${denial.message}\n`);
        }
        return deny(reply, denial);
      });
    };
  }

  /** Who sent `request`. */
  async #resolve(request: FastifyRequest): Promise<Viewer> {
    const session = openSession(this.#signer, request.cookies[SESSION_COOKIE], this.#now());
    if (session !== undefined) {
      return {
        kind: 'session',
        principal: session.principal,
        grants: session.grants.map((g) => identityOf(session.principal, g)),
        session,
      };
    }
    const metadata = new Metadata();
    const header = request.headers.authorization;
    if (header !== undefined) metadata.set('authorization', header);
    const result = await this.#authenticator.authenticate(
      metadata,
      peerOf(request),
      certificateOf(request),
    );
    if (isFailure(result)) {
      // Protected mode refuses the peer; with tokens, the header was bad.
      return this.#authenticator.mode === 'protected'
        ? NOBODY
        : { kind: 'outsider', principal: 'invalid token', grants: [] };
    }
    const kind: ViewerKind =
      this.#authenticator.mode === 'protected'
        ? 'loopback'
        : result.authenticated
          ? 'credentials'
          : 'anonymous';
    return { kind, principal: result.principal, grants: [result] };
  }

  /** Why `viewer` may not have `request`, if so. */
  #denial(request: FastifyRequest, viewer: Viewer): Denial | 'sign-in' | undefined {
    // The matched route, not the raw URL, which may spell a path differently
    // (percent-encoded); no route (a 404) gets the rules of pages.
    const path = request.routeOptions.url ?? '';
    if (path.startsWith('/ui/')) return undefined; // the stylesheet and script
    const protectedOutsider =
      viewer.kind === 'outsider' && this.#authenticator.mode === 'protected';
    if (path === '/signin' || path.startsWith('/signin/') || path === '/signout') {
      // Someone from elsewhere in protected mode may sign in only with OIDC.
      return protectedOutsider && this.oidc === undefined
        ? { statusCode: 403, message: HTTP_PROTECTED_MODE_MESSAGE }
        : undefined;
    }
    if (viewer.kind === 'outsider' && !protectedOutsider) {
      return { statusCode: 401, message: 'the bearer token is not valid' };
    }
    if (path === '/metrics') {
      if (protectedOutsider) return { statusCode: 403, message: HTTP_PROTECTED_MODE_MESSAGE };
      return this.metricsAccess === 'signedIn' && !isSignedIn(viewer)
        ? {
            statusCode: 401,
            message:
              'reading /metrics needs a session or an authorization: Bearer token (a static token or a JWT) that Kiln accepts (ui.metricsAccess is signedIn)',
          }
        : undefined;
    }
    const mustSignIn = protectedOutsider || (this.access === 'signedIn' && !isSignedIn(viewer));
    if (!mustSignIn) return undefined;
    const canSignIn = this.oidc !== undefined || (this.tokenSignIn && !protectedOutsider);
    const page =
      request.method === 'GET' && !(request.headers.accept ?? '').includes('application/json');
    if (canSignIn && page) return 'sign-in';
    if (protectedOutsider) return { statusCode: 403, message: HTTP_PROTECTED_MODE_MESSAGE };
    return { statusCode: 401, message: 'sign in to see this page (ui.access is signedIn)' };
  }

  /** Starts a session for `principal`: sets its cookie on `reply`. */
  signIn(
    reply: FastifyReply,
    principal: string,
    via: Session['via'],
    grants: readonly SessionGrant[],
  ): Session {
    const session: Session = {
      id: newSessionId(),
      principal,
      via,
      grants,
      expiresAtMs: this.#now() + this.sessionLifetimeMs,
    };
    reply.setCookie(SESSION_COOKIE, sealSession(this.#signer, session), {
      ...this.cookieOptions(),
      maxAge: Math.ceil(this.sessionLifetimeMs / 1000),
    });
    return session;
  }

  /** Ends the session of the browser: clears its cookie. */
  signOut(reply: FastifyReply): void {
    reply.clearCookie(SESSION_COOKIE, this.cookieOptions());
  }

  /** Attributes of every cookie Kiln sets. */
  cookieOptions(): { path: string; httpOnly: true; sameSite: 'lax'; secure: boolean } {
    // Lax, not Strict: the provider's redirect back to the callback is a
    // cross-site navigation that must carry the sign-in cookie.
    return { path: '/', httpOnly: true, sameSite: 'lax', secure: this.#secure };
  }

  /**
   * The identity a pasted token gives (as `auth.tokens` and the gRPC
   * authenticator see it), or why it gives none.
   */
  async identityOfToken(token: string, request: FastifyRequest): Promise<Identity | string> {
    if (!this.tokenSignIn) return 'this server has no auth.tokens or auth.jwt to sign in with';
    if (!/^\S+$/.test(token.trim())) return 'paste the token alone, without spaces or "Bearer"';
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token.trim()}`);
    // No certificate: the identity must come from the token itself.
    const result = await this.#authenticator.authenticate(metadata, peerOf(request));
    if (isFailure(result)) return `that token was refused: ${result.failure}`;
    if (!result.authenticated) return 'that token is not valid';
    if (result.permissions.size === 0)
      return `the token of ${result.principal} grants no permission`;
    return result;
  }

  /**
   * The CSRF token for a form on the page answering `request`: the
   * session's, or for a visitor without a session the one of a random
   * id kept in a cookie (set here on first need).
   */
  csrfToken(request: FastifyRequest, reply: FastifyReply): string {
    const session = viewerOf(request).session;
    if (session !== undefined) return csrfTokenOf(this.#signer, session.id);
    let id = request.cookies[CSRF_COOKIE];
    if (id === undefined || !/^[\w-]{24}$/.test(id)) {
      id = newSessionId();
      reply.setCookie(CSRF_COOKIE, id, this.cookieOptions());
      // The page's later forms in this response reuse it.
      request.cookies[CSRF_COOKIE] = id;
    }
    return csrfTokenOf(this.#signer, id);
  }

  /**
   * Refuses (returns why) a state-changing request that another site could
   * have made the browser send: a cross-site `Sec-Fetch-Site`, an `Origin`
   * other than this server, or a missing or wrong CSRF token.
   */
  checkStateChange(request: FastifyRequest, form: URLSearchParams | undefined): string | undefined {
    const site = request.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      return 'cross-site requests may not change anything here';
    }
    const origin = request.headers.origin;
    if (origin !== undefined) {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        host = undefined;
      }
      if (host === undefined || host !== hostOf(request)) {
        return `requests from origin ${origin} may not change anything here`;
      }
    }
    const session = viewerOf(request).session;
    const id = session?.id ?? request.cookies[CSRF_COOKIE];
    const presented = form?.get(CSRF_FIELD) ?? '';
    if (id === undefined || presented === '' || !this.#signer.verify('csrf', id, presented)) {
      return 'the form is stale or was not sent by this site (CSRF token missing or wrong); reload the page and try again';
    }
    return undefined;
  }
}

/** The request's `Host`, normalised as URL.host writes it (no default port). */
function hostOf(request: FastifyRequest): string | undefined {
  try {
    return new URL(`${request.protocol}://${request.headers.host ?? ''}`).host;
  } catch {
    return undefined;
  }
}

/** The caller in grpc-js's peer notation (`ADDRESS:PORT`), which the authenticator reads. */
function peerOf(request: FastifyRequest): string {
  return `${request.socket.remoteAddress ?? 'unknown'}:${request.socket.remotePort ?? 0}`;
}

/** The verified client certificate of an HTTPS request, read only when asked. */
function certificateOf(request: FastifyRequest): PeerCertificateOf {
  return () => {
    const socket = request.socket;
    if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
    const cert = socket.getPeerCertificate();
    return cert.raw === undefined ? undefined : cert;
  };
}

function identityOf(principal: string, grant: SessionGrant): Identity {
  return {
    principal,
    authenticated: true,
    permissions: new Set(grant.permissions),
    instances: grant.instances,
  };
}
