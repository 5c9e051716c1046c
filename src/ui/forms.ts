/**
 * State-changing requests from the UI's forms: every POST route reads its
 * form through {@link readForm}, which refuses what another site could have
 * made a browser send (see `WebAccess.checkStateChange`).
 */
import type { FastifyRequest } from 'fastify';
import type { WebAccess } from '../http/web-access.ts';
import { permissionDenied } from './respond.ts';

/** The posted form, after the origin and CSRF checks; throws a 403 error when they fail. */
export function readForm(access: WebAccess, request: FastifyRequest): URLSearchParams {
  const form = request.body instanceof URLSearchParams ? request.body : undefined;
  const refused = access.checkStateChange(request, form);
  if (refused !== undefined) throw permissionDenied(refused);
  return form ?? new URLSearchParams();
}

/**
 * A local path to return to after signing in: only paths on this server,
 * so that a link cannot send a user elsewhere (an open redirect).
 */
export function safeNext(next: string | null | undefined): string {
  if (next === null || next === undefined) return '/';
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  // Control characters and backslashes can make browsers read another host.
  for (const ch of next) {
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f || ch === '\\') return '/';
  }
  if (next === '/signout' || next.startsWith('/signin')) return '/';
  return next;
}
