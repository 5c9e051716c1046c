/**
 * Resolves who a call comes from: a static bearer token (`authorization:
 * Bearer TOKEN`), anonymous, or — with no `auth` section, protected mode —
 * any loopback caller, with every permission.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { AuthConfig } from '../config/auth-schema.ts';
import { isLoopbackHost, isLoopbackPeer } from './peer-address.ts';
import { type Identity, PERMISSIONS, type Permission } from './permissions.ts';

/** Why a call could not be authenticated at all (answered UNAUTHENTICATED). */
export interface AuthenticationFailure {
  readonly failure: string;
}

/** The outcome of {@link Authenticator.authenticate}. */
export type AuthenticationResult = Identity | AuthenticationFailure;

/** Resolves the identity of calls. */
export interface Authenticator {
  /** `auth` configured (`tokens`) or protected mode (`protected`). */
  readonly mode: 'tokens' | 'protected';
  /** The identity of a call with `metadata` from `peer` (grpc-js `getPeer()`). */
  authenticate(metadata: Metadata, peer: string): AuthenticationResult;
}

/** Whether a result is a failure. */
export function isFailure(result: AuthenticationResult): result is AuthenticationFailure {
  return 'failure' in result;
}

/** What protected mode answers non-loopback callers. */
export const PROTECTED_MODE_MESSAGE =
  'Kiln is in protected mode: it has no auth section in its configuration, so it serves ' +
  'loopback callers only. To let other machines in, configure auth.tokens (see docs/security.md) ' +
  'and send "authorization: Bearer TOKEN" (Bazel: --remote_header=Authorization=Bearer TOKEN)';

const EVERYTHING: Identity = {
  principal: 'loopback',
  authenticated: false,
  permissions: new Set<Permission>(PERMISSIONS),
  instances: [''],
};

interface TokenEntry {
  readonly digest: Buffer;
  readonly identity: Identity;
}

/** Builds the authenticator for an `auth` section, or protected mode without one. */
export function createAuthenticator(config: AuthConfig | undefined): Authenticator {
  if (config === undefined) {
    return {
      mode: 'protected',
      authenticate: (_metadata, peer) =>
        isLoopbackPeer(peer) ? EVERYTHING : { failure: PROTECTED_MODE_MESSAGE },
    };
  }
  const anonymous: Identity = {
    principal: 'anonymous',
    authenticated: false,
    permissions: new Set(config.anonymous),
    instances: [''],
  };
  const entries: TokenEntry[] = config.tokens.map((t) => ({
    digest:
      t.sha256 !== undefined
        ? Buffer.from(t.sha256, 'hex')
        : createHash('sha256')
            .update(t.token ?? '')
            .digest(),
    identity: {
      principal: t.principal,
      authenticated: true,
      permissions: new Set(t.permissions),
      instances: [...t.instances],
    },
  }));
  return {
    mode: 'tokens',
    authenticate(metadata) {
      const values = metadata.get('authorization');
      if (values.length === 0) return anonymous;
      const header = values.length === 1 ? values[0] : undefined;
      const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
      if (match === null) {
        return { failure: 'the authorization header must be one "Bearer TOKEN"' };
      }
      const presented = createHash('sha256')
        .update(match[1] as string)
        .digest();
      // Compare against every token, so the time taken says nothing about which matched.
      let found: Identity | undefined;
      for (const entry of entries) {
        if (timingSafeEqual(entry.digest, presented) && found === undefined) found = entry.identity;
      }
      return found ?? { failure: 'the bearer token is not valid' };
    },
  };
}

/**
 * The line `kiln serve` prints about authentication at start: which mode,
 * and in protected mode on a non-loopback address, that others are refused.
 */
export function describeAuthMode(config: AuthConfig | undefined, listenHost: string): string {
  if (config === undefined) {
    return isLoopbackHost(listenHost)
      ? 'Protected mode (no auth section): loopback callers may do everything'
      : 'Protected mode (no auth section): loopback callers may do everything; ' +
          'callers from other machines are refused until auth.tokens is configured';
  }
  const anonymous = config.anonymous.length === 0 ? 'nothing' : config.anonymous.join(', ');
  const count = config.tokens.length;
  return `Authentication on: ${count} token${count === 1 ? '' : 's'}; callers without a token may: ${anonymous}`;
}
