/**
 * The grpc-js server interceptor that authenticates every call (from its
 * metadata and peer) and authorizes it against {@link METHOD_RULES} on the
 * instance name of its first request message, before any handler sees the
 * message. Handlers read the caller with {@link identityOf}.
 */
import { Metadata, ServerInterceptingCall, type ServerInterceptor, status } from '@grpc/grpc-js';
import { type Authenticator, isFailure } from './authenticator.ts';
import { METHOD_RULES, type MethodRule } from './method-permissions.ts';
import { allows, type Identity } from './permissions.ts';

/** The caller of each call, keyed by the metadata object grpc-js hands to the handler. */
const identities = new WeakMap<Metadata, Identity>();

/**
 * The caller of the call whose metadata this is; undefined when the server
 * runs without the interceptor (then nothing is restricted).
 */
export function identityOf(metadata: Metadata): Identity | undefined {
  return identities.get(metadata);
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
export function authInterceptor(authenticator: Authenticator): ServerInterceptor {
  return (descriptor, call) => {
    const path = descriptor.path;
    const rule = METHOD_RULES.get(path);
    let identity: Identity | undefined;
    let decided = false;
    let rejected = false;
    const reject = (code: status, details: string): void => {
      rejected = true;
      intercepting.sendStatus({ code, details, metadata: new Metadata() });
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
            const result = authenticator.authenticate(metadata, call.getPeer());
            if (isFailure(result)) {
              reject(status.UNAUTHENTICATED, result.failure);
              return;
            }
            identity = result;
            identities.set(metadata, result);
            nextMetadata(metadata);
          },
          onReceiveMessage: (message, nextMessage) => {
            if (rejected) return;
            if (!decided && rule !== undefined && identity !== undefined) {
              decided = true;
              const denied = refusal(identity, rule, path, rule.instanceOf(message));
              if (denied !== undefined) {
                reject(denied.code, denied.details);
                return;
              }
            }
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!rejected) nextHalfClose();
          },
        }),
    });
    return intercepting;
  };
}
