/**
 * Who a call comes from and whether it may go on: the caller's identity as
 * the edge interceptor (edge-interceptor.ts) resolved it, read by handlers
 * with {@link identityOf}, the messages of a refusal, and what the audit log
 * is told.
 */
import { type Metadata, status } from '@grpc/grpc-js';
import type { MethodRule } from '../auth/method-permissions.ts';
import { allows, type Identity } from '../auth/permissions.ts';

/**
 * Where a call's identity is kept: on the call's metadata object (the one
 * object the interceptor and the handler share), under a symbol no client
 * can send. A WeakMap keyed by the metadata did the same, but each entry is
 * an ephemeron the garbage collector must revisit; with tens of thousands of
 * long polls pending they were a visible part of its work.
 */
const IDENTITY: unique symbol = Symbol('kiln.callIdentity');

type WithIdentity = Metadata & { [IDENTITY]?: Identity };

/**
 * The caller of the call whose metadata this is; undefined when the server
 * runs without authentication (then nothing is restricted).
 */
export function identityOf(metadata: Metadata): Identity | undefined {
  return (metadata as WithIdentity)[IDENTITY];
}

/** Records the caller of the call whose metadata this is (the edge interceptor does). */
export function recordIdentity(metadata: Metadata, identity: Identity): void {
  (metadata as WithIdentity)[IDENTITY] = identity;
}

/**
 * Told about every refused call and every admitted call that needs `admin`
 * (the audit log, src/observe/audit-log.ts). Called on the call's path, so cheap.
 */
export interface AuthAudit {
  denied(denial: {
    readonly method: string;
    readonly code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED';
    readonly details: string;
    readonly principal: string | undefined;
    readonly peer: string;
  }): void;
  admin(action: {
    readonly action: string;
    readonly principal: string;
    readonly peer: string;
    readonly detail: { readonly instance: string };
  }): void;
}

/** `/pkg.Service/Method` → `Service.Method`, for messages. */
export function shortName(path: string): string {
  const slash = path.lastIndexOf('/');
  const qualified = path.slice(1, slash);
  return `${qualified.slice(qualified.lastIndexOf('.') + 1)}.${path.slice(slash + 1)}`;
}

/** Why `identity` may not call `path` on `instance`, or undefined when it may. */
export function refusal(
  identity: Identity,
  rule: MethodRule,
  path: string,
  instance: string,
): { code: status; details: string } | undefined {
  if (allows(identity, rule.permission, instance)) return undefined;
  const what = `${shortName(path)} needs permission ${rule.permission} on instance ${JSON.stringify(instance)}`;
  if (!identity.authenticated) {
    return {
      code: status.UNAUTHENTICATED,
      details: `${what}, which callers without a token do not have; send "authorization: Bearer TOKEN"`,
    };
  }
  return {
    code: status.PERMISSION_DENIED,
    details: `${what}, which principal ${JSON.stringify(identity.principal)} does not have`,
  };
}
