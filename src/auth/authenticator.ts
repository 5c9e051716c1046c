/**
 * Resolves who a call comes from: a static bearer token (`authorization:
 * Bearer TOKEN`, from the configuration or the tokens file), a JWT, a
 * client certificate, anonymous, or — with no `auth` section, protected
 * mode — any loopback caller, with every permission.
 */
import { readFile } from 'node:fs/promises';
import type { PeerCertificate } from 'node:tls';
import type { Metadata } from '@grpc/grpc-js';
import type { AuthConfig } from '../config/auth-schema.ts';
import type { Logger } from '../util/logger.ts';
import { CertificateIdentities } from './certificate-identities.ts';
// Types only: jose and the JWT code load when auth.jwt is configured.
import type { JwksSource } from './jwks-source.ts';
import type { JwtVerifier } from './jwt-verifier.ts';
import { isLoopbackHost, isLoopbackPeer } from './peer-address.ts';
import { type Identity, PERMISSIONS, type Permission } from './permissions.ts';
import { digestToken, StaticTokens } from './static-tokens.ts';
import { TokensFile } from './tokens-file.ts';

/** Why a call could not be authenticated at all (answered UNAUTHENTICATED). */
export interface AuthenticationFailure {
  readonly failure: string;
}

/** The outcome of {@link Authenticator.authenticate}. */
export type AuthenticationResult = Identity | AuthenticationFailure;

/** The verified client certificate of a call, when it has one (read only when needed). */
export type PeerCertificateOf = () => PeerCertificate | undefined;

/** Resolves the identity of calls. */
export interface Authenticator {
  /** `auth` configured (`tokens`) or protected mode (`protected`). */
  readonly mode: 'tokens' | 'protected';
  /**
   * The identity of a call with `metadata` from `peer` (grpc-js `getPeer()`)
   * with the client certificate `certificate` gives. Synchronous for static
   * tokens, certificates and cached JWTs; a promise while a JWT is verified.
   */
  authenticate(
    metadata: Metadata,
    peer: string,
    certificate?: PeerCertificateOf,
  ): AuthenticationResult | Promise<AuthenticationResult>;
  /** Stops watching files and refreshing keys. */
  close?(): void;
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

/** The parts of a configured authenticator that are built from files. */
interface Sources {
  readonly tokens: StaticTokens;
  readonly jwt?: JwtVerifier;
  readonly close: () => void;
}

/**
 * Builds the authenticator for an `auth` section without `jwt` and
 * `tokensFile` (which need files read: see {@link openAuthenticator}), or
 * protected mode without one.
 */
export function createAuthenticator(config: AuthConfig | undefined): Authenticator {
  if (config === undefined) {
    return {
      mode: 'protected',
      authenticate: (_metadata, peer) =>
        isLoopbackPeer(peer) ? EVERYTHING : { failure: PROTECTED_MODE_MESSAGE },
    };
  }
  if (config.jwt !== undefined || config.tokensFile !== undefined) {
    throw new Error('auth.jwt and auth.tokensFile need openAuthenticator, which reads their files');
  }
  return configured(config, { tokens: new StaticTokens(config.tokens), close: () => {} });
}

/** Options for {@link openAuthenticator}. */
export interface OpenAuthenticatorOptions {
  readonly log: Logger;
  /** Whether the server verifies client certificates (`server.tls.clientCa`). */
  readonly mutualTls: boolean;
  /** How often the tokens file is checked for changes; 1 s by default. */
  readonly tokensFilePollMs?: number;
  /** Least time between JWKS loads caused by unknown keys; 10 s by default. */
  readonly jwksMinRefreshMs?: number;
}

/**
 * Builds the authenticator for any `auth` section: reads the tokens file
 * and the JWT key set (rejecting with a message that names the problem) and
 * keeps them up to date until `close()`.
 */
export async function openAuthenticator(
  config: AuthConfig | undefined,
  options: OpenAuthenticatorOptions,
): Promise<Authenticator> {
  if (config === undefined) return createAuthenticator(undefined);
  if ((config.certificates?.length ?? 0) > 0 && !options.mutualTls) {
    throw new Error(
      'auth.certificates: client certificates need mutual TLS; set server.tls.clientCa (--tls-client-ca) too',
    );
  }
  const tokens = new StaticTokens(config.tokens);
  const file =
    config.tokensFile === undefined
      ? undefined
      : await TokensFile.open({
          path: config.tokensFile,
          configured: config.tokens,
          table: tokens,
          log: options.log,
          pollIntervalMs: options.tokensFilePollMs,
        });
  let keys: JwksSource | undefined;
  let verifier: typeof JwtVerifier | undefined;
  try {
    const jwt = config.jwt;
    if (jwt !== undefined) {
      const { JwksSource } = await import('./jwks-source.ts');
      ({ JwtVerifier: verifier } = await import('./jwt-verifier.ts'));
      const ca =
        jwt.jwksCa === undefined
          ? undefined
          : await readFile(jwt.jwksCa).catch((err: Error) => {
              throw new Error(`auth.jwt.jwksCa: cannot read ${jwt.jwksCa}: ${err.message}`);
            });
      keys = await JwksSource.open({
        file: jwt.jwksFile,
        url: jwt.jwksUrl,
        ca,
        refreshMs: jwt.jwksRefreshSeconds * 1000,
        minRefreshMs: options.jwksMinRefreshMs,
        log: options.log,
      });
    }
  } catch (err) {
    file?.close();
    throw err;
  }
  const source = keys;
  return configured(config, {
    tokens,
    jwt:
      source === undefined || config.jwt === undefined || verifier === undefined
        ? undefined
        : new verifier({ config: config.jwt, keys: source }),
    close: () => {
      file?.close();
      source?.close();
    },
  });
}

const BEARER = /^Bearer +(\S+) *$/i;

/** Whether a bearer token has the shape of a JWT: three base64url parts, the last maybe empty. */
function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

/**
 * The authenticator of an `auth` section. A call with a bearer token is
 * that token's (a static token first, else a JWT-shaped token verified as a
 * JWT); without one, its client certificate's, else anonymous.
 */
function configured(config: AuthConfig, sources: Sources): Authenticator {
  const anonymous: Identity = {
    principal: 'anonymous',
    authenticated: false,
    permissions: new Set(config.anonymous),
    instances: [''],
  };
  const certificates =
    (config.certificates?.length ?? 0) > 0
      ? new CertificateIdentities(config.certificates ?? [])
      : undefined;
  const { tokens, jwt } = sources;
  const invalid = {
    failure:
      jwt === undefined
        ? 'the bearer token is not valid'
        : 'the bearer token is not valid: neither a configured token nor a JWT',
  };
  return {
    mode: 'tokens',
    authenticate(metadata, _peer, certificate) {
      const values = metadata.get('authorization');
      if (values.length === 0) {
        const cert = certificates === undefined ? undefined : certificate?.();
        return (cert !== undefined && certificates?.identify(cert)) || anonymous;
      }
      const header = values.length === 1 ? values[0] : undefined;
      const match = typeof header === 'string' ? BEARER.exec(header) : null;
      if (match === null) {
        return { failure: 'the authorization header must be one "Bearer TOKEN"' };
      }
      const token = match[1] as string;
      const digest = digestToken(token);
      const found = tokens.lookup(digest);
      if (found !== undefined) return found;
      if (jwt !== undefined && looksLikeJwt(token)) return jwt.verify(token, digest);
      return invalid;
    },
    close: sources.close,
  };
}

/**
 * The line `kiln serve` prints about authentication at start: which mode,
 * which kinds of credentials are accepted, and in protected mode on a
 * non-loopback address, that others are refused.
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
  const kinds = [`${count} token${count === 1 ? '' : 's'}`];
  if (config.tokensFile !== undefined) kinds.push(`tokens from ${config.tokensFile}`);
  if (config.jwt !== undefined) {
    kinds.push(
      `JWTs from ${config.jwt.issuer} (keys from ${config.jwt.jwksUrl ?? config.jwt.jwksFile})`,
    );
  }
  const certs = config.certificates?.length ?? 0;
  if (certs > 0) kinds.push(`${certs} client certificate identit${certs === 1 ? 'y' : 'ies'}`);
  return `Authentication on: ${kinds.join(', ')}; callers without a token may: ${anonymous}`;
}
