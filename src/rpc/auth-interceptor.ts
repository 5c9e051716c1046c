/**
 * The grpc-js server interceptor that authenticates every call (from its
 * metadata and peer) and authorizes it against {@link METHOD_RULES} on the
 * instance name of its first request message, before any handler sees the
 * message. Handlers read the caller with {@link identityOf}. Authentication
 * may take a while (a JWT whose key set must be fetched): messages that
 * arrive meanwhile are held, in order, until the verdict.
 */
import { Metadata, ServerInterceptingCall, type ServerInterceptor, status } from '@grpc/grpc-js';
import { type AuthenticationResult, type Authenticator, isFailure } from '../auth/authenticator.ts';
import { METHOD_RULES, type MethodRule, PUBLIC_METHODS } from '../auth/method-permissions.ts';
import { allows, type Identity } from '../auth/permissions.ts';

/** The caller of each call, keyed by the metadata object grpc-js hands to the handler. */
const identities = new WeakMap<Metadata, Identity>();

/**
 * The caller of the call whose metadata this is; undefined when the server
 * runs without the interceptor (then nothing is restricted).
 */
export function identityOf(metadata: Metadata): Identity | undefined {
  return identities.get(metadata);
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
function shortName(path: string): string {
  const slash = path.lastIndexOf('/');
  const qualified = path.slice(1, slash);
  return `${qualified.slice(qualified.lastIndexOf('.') + 1)}.${path.slice(slash + 1)}`;
}

/** Why `identity` may not call `path` on `instance`, or undefined when it may. */
function refusal(
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

/**
 * Authentication and authorization for every call. List it before
 * (inside) the request-boundary interceptor, after the observer, so that
 * the observer sees its denials.
 */
export function authInterceptor(
  authenticator: Authenticator,
  audit?: AuthAudit,
): ServerInterceptor {
  return (descriptor, call) => {
    const path = descriptor.path;
    // Health checks: neither authenticated nor audited (a balancer calls every few seconds).
    if (PUBLIC_METHODS.has(path)) return new ServerInterceptingCall(call);
    const rule = METHOD_RULES.get(path);
    let identity: Identity | undefined;
    let decided = false;
    let rejected = false;
    /** What arrived while an asynchronous verdict was pending; undefined when none is. */
    let held: Array<() => void> | undefined;
    const reject = (code: status, details: string): void => {
      rejected = true;
      intercepting.sendStatus({ code, details, metadata: new Metadata() });
      audit?.denied({
        method: path,
        code: code === status.UNAUTHENTICATED ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED',
        details,
        principal: identity?.principal,
        peer: call.getPeer(),
      });
    };
    const certificate = () => call.getAuthContext()?.sslPeerCertificate;
    const admit = (
      result: AuthenticationResult,
      metadata: Metadata,
      nextMetadata: (metadata: Metadata) => void,
    ): void => {
      if (isFailure(result)) {
        reject(status.UNAUTHENTICATED, result.failure);
        return;
      }
      identity = result;
      identities.set(metadata, result);
      nextMetadata(metadata);
    };
    const authorize = (message: unknown, nextMessage: (message: unknown) => void): void => {
      if (rejected) return;
      if (!decided && rule !== undefined && identity !== undefined) {
        decided = true;
        const instance = rule.instanceOf(message);
        const denied = refusal(identity, rule, path, instance);
        if (denied !== undefined) {
          reject(denied.code, denied.details);
          return;
        }
        if (rule.permission === 'admin') {
          audit?.admin({
            action: path,
            principal: identity.principal,
            peer: call.getPeer(),
            detail: { instance },
          });
        }
      }
      nextMessage(message);
    };
    const intercepting: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            if (rule === undefined) {
              // Fail closed: a method without a rule is a bug, not an open door.
              reject(status.PERMISSION_DENIED, `${shortName(path)} has no permission rule`);
              return;
            }
            const result = authenticator.authenticate(metadata, call.getPeer(), certificate);
            if (!(result instanceof Promise)) {
              admit(result, metadata, nextMetadata);
              return;
            }
            held = [];
            void result
              .then(
                (verdict) => admit(verdict, metadata, nextMetadata),
                (err: Error) =>
                  reject(
                    status.UNAUTHENTICATED,
                    `the credentials could not be checked: ${err.message}`,
                  ),
              )
              .finally(() => {
                const queue = held ?? [];
                held = undefined;
                for (const release of queue) release();
              });
          },
          onReceiveMessage: (message, nextMessage) => {
            if (held !== undefined) held.push(() => authorize(message, nextMessage));
            else authorize(message, nextMessage);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            const release = () => {
              if (!rejected) nextHalfClose();
            };
            if (held !== undefined) held.push(release);
            else release();
          },
        }),
    });
    return intercepting;
  };
}
