/**
 * How UI routes answer: rendered pages with safe headers, and errors turned
 * into readable pages with the matching HTTP status (a bad digest is a 400, a
 * missing blob a 404), so that a pasted link never ends in a stack trace.
 */
import { status } from '@grpc/grpc-js';
import type { FastifyReply, FastifyRequest, RouteGenericInterface } from 'fastify';
import type { VNode } from 'preact';
import { KilnError } from '../errors.ts';
import { viewerInfoOf } from '../http/web-access.ts';
import type { Logger } from '../util/logger.ts';
import { ViewerContext } from './components/account.ts';
import { layout } from './components/layout.ts';
import { html, renderDocument } from './html.ts';

/**
 * Scripts only from this origin (the live-update script); inline styles are
 * allowed because ANSI colours and timeline bars are style attributes.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers every UI response carries. */
export function setSecurityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('x-frame-options', 'DENY');
}

/**
 * Sends a rendered page, with the viewer of the request in the header.
 * Pages show live state and who is signed in, so they are never cached.
 */
export function sendPage(reply: FastifyReply, page: VNode, statusCode = 200): FastifyReply {
  const withViewer = html`<${ViewerContext.Provider} value=${viewerInfoOf(reply.request)}>${page}<//>`;
  return setSecurityHeaders(reply)
    .code(statusCode)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(renderDocument(withViewer));
}

/** A KilnError for a forbidden request (403). */
export function permissionDenied(message: string): KilnError {
  return new KilnError(status.PERMISSION_DENIED, message);
}

const HTTP_STATUS: Partial<Record<status, number>> = {
  [status.INVALID_ARGUMENT]: 400,
  [status.OUT_OF_RANGE]: 400,
  [status.FAILED_PRECONDITION]: 400,
  [status.NOT_FOUND]: 404,
  [status.PERMISSION_DENIED]: 403,
  [status.UNAUTHENTICATED]: 401,
  [status.UNAVAILABLE]: 503,
  [status.UNIMPLEMENTED]: 501,
};

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Not signed in',
  403: 'Forbidden',
  404: 'Not found',
  500: 'Internal error',
  501: 'Not available',
  503: 'Unavailable',
};

/** The HTTP status for a thrown value: a KilnError's code mapped, anything else 500. */
export function httpStatusOf(err: unknown): number {
  return err instanceof KilnError ? (HTTP_STATUS[err.code] ?? 500) : 500;
}

/** A page that explains what went wrong. */
export function errorPage(statusCode: number, message: string): VNode {
  return layout({
    title: TITLES[statusCode] ?? `Error ${statusCode}`,
    section: 'none',
    body: html`<div class="error-box">
      <p class="error-message">${message}</p>
      <p>
        Status ${statusCode}.
        ${statusCode === 401 ? html`<a href="/signin">Sign in</a>. ` : null}<a href="/">Back to the overview</a>.
      </p>
    </div>`,
  });
}

/** Sends the error page for `err`; unexpected errors are logged and not shown in detail. */
export function sendError(reply: FastifyReply, log: Logger, err: unknown): FastifyReply {
  const statusCode = httpStatusOf(err);
  let message: string;
  if (statusCode === 500 || !(err instanceof KilnError)) {
    log.error({ err, url: reply.request.url }, 'web UI request failed');
    message = 'Something went wrong while rendering this page; the server log has the details.';
  } else {
    message = err.message;
  }
  return sendPage(reply, errorPage(statusCode, message), statusCode);
}

/**
 * Wraps a page handler: a returned VNode is sent as a 200 page, `undefined`
 * means the handler answered itself (a redirect, a download), and a thrown
 * error becomes an error page.
 */
export function pageHandler<R extends RouteGenericInterface = RouteGenericInterface>(
  log: Logger,
  render: (request: FastifyRequest<R>, reply: FastifyReply) => Promise<VNode | undefined>,
): (request: FastifyRequest<R>, reply: FastifyReply) => Promise<FastifyReply> {
  return async (request, reply) => {
    try {
      const page = await render(request, reply);
      return page === undefined ? reply : sendPage(reply, page);
    } catch (err) {
      if (reply.sent) {
        log.warn({ err, url: request.url }, 'web UI response failed after it started');
        return reply;
      }
      return sendError(reply, log, err);
    }
  };
}

/** The first string value of a query parameter (repeated parameters arrive as arrays). */
export function queryString(value: unknown): string | undefined {
  if (Array.isArray(value)) return queryString(value[0]);
  return typeof value === 'string' ? value : undefined;
}
