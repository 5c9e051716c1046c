/**
 * Bearer JSON Web Tokens: verified with `jose` against a {@link JwksSource}
 * (signature by RS256, ES256 or EdDSA only; issuer, audience, expiry and
 * not-before with a clock skew), then mapped to an identity by the claims
 * `auth.jwt` names. Verdicts are cached briefly, keyed by the token's
 * digest, in a bounded LRU and never past the token's expiry, so a client
 * sending the same token on every call pays for one verification.
 */
import { errors, type JWTPayload, jwtVerify } from 'jose';
import type { JwtConfig } from '../config/auth-schema.ts';
import type { AuthenticationResult } from './authenticator.ts';
import type { JwksSource } from './jwks-source.ts';
import { type Identity, PERMISSIONS, type Permission } from './permissions.ts';

/** The signature algorithms accepted ("Ed25519" is the newer name of EdDSA over Ed25519). */
export const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];

/** Options for {@link JwtVerifier}. */
export interface JwtVerifierOptions {
  readonly config: JwtConfig;
  readonly keys: JwksSource;
  /** Most cached verdicts; 10,000 by default. */
  readonly cacheEntries?: number;
  /** Longest a verdict is cached; 60 s by default (never past the token's `exp`). */
  readonly cacheMs?: number;
}

interface Cached {
  readonly identity: Identity;
  readonly until: number;
}

const KNOWN = new Set<string>(PERMISSIONS);

/** Verifies JWTs and maps their claims to identities. */
export class JwtVerifier {
  readonly #config: JwtConfig;
  readonly #keys: JwksSource;
  readonly #cacheEntries: number;
  readonly #cacheMs: number;
  /** Digest (base64) → verdict; Map order is least recently used first. */
  readonly #cache = new Map<string, Cached>();
  /** Verifications under way, shared by the calls that bring the same token meanwhile. */
  readonly #pending = new Map<string, Promise<AuthenticationResult>>();

  constructor(options: JwtVerifierOptions) {
    this.#config = options.config;
    this.#keys = options.keys;
    this.#cacheEntries = options.cacheEntries ?? 10_000;
    this.#cacheMs = options.cacheMs ?? 60_000;
  }

  /** The identity of `token` (whose SHA-256 is `digest`): cached, or verified asynchronously. */
  verify(token: string, digest: Buffer): AuthenticationResult | Promise<AuthenticationResult> {
    const key = digest.toString('base64');
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#cache.delete(key);
      if (cached.until > Date.now()) {
        this.#cache.set(key, cached);
        return cached.identity;
      }
    }
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending;
    const verifying = this.#verify(token, key).finally(() => this.#pending.delete(key));
    this.#pending.set(key, verifying);
    return verifying;
  }

  async #verify(token: string, key: string): Promise<AuthenticationResult> {
    const config = this.#config;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keys.getKey, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: JWT_ALGORITHMS,
        clockTolerance: config.clockSkewSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      return { failure: this.#explain(err) };
    }
    const result = identityFromClaims(config, payload);
    if ('failure' in result) return result;
    const until = Math.min((payload.exp ?? 0) * 1000, Date.now() + this.#cacheMs);
    this.#cache.set(key, { identity: result, until });
    if (this.#cache.size > this.#cacheEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    return result;
  }

  /** A message that says what is wrong with a token and what to do. */
  #explain(err: unknown): string {
    const config = this.#config;
    if (err instanceof errors.JWTExpired) {
      const exp = typeof err.payload.exp === 'number' ? err.payload.exp : undefined;
      const when = exp === undefined ? '' : ` at ${new Date(exp * 1000).toISOString()}`;
      return `the JWT expired${when}; get a new token`;
    }
    if (err instanceof errors.JWTClaimValidationFailed) {
      switch (err.claim) {
        case 'iss':
          return `the JWT's issuer ${JSON.stringify(err.payload.iss)} is not ${JSON.stringify(config.issuer)} (auth.jwt.issuer)`;
        case 'aud':
          return `the JWT's audience ${JSON.stringify(err.payload.aud)} does not include ${JSON.stringify(config.audience)} (auth.jwt.audience)`;
        case 'nbf':
          return 'the JWT is not valid yet (its nbf is in the future): check the clocks';
        case 'exp':
          return 'the JWT has no expiry (exp claim), which Kiln requires';
        default:
          return `the JWT's ${err.claim} claim is not valid: ${err.reason}`;
      }
    }
    if (err instanceof errors.JOSEAlgNotAllowed) {
      return `the JWT's signature algorithm is not allowed (allowed: ${JWT_ALGORITHMS.join(', ')})`;
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      return 'the JWT signature does not verify';
    }
    if (err instanceof errors.JWKSNoMatchingKey) {
      return `the JWT is signed with a key that is not in the key set of ${this.#keys.where}: ${err.message}`;
    }
    if (err instanceof errors.JOSEError) return `the JWT is not valid: ${err.message}`;
    return `the JWT could not be verified: ${(err as Error).message}`;
  }
}

/** Strings of a claim: an array's strings, or a string's space-separated words. */
function claimStrings(value: unknown, split: boolean): string[] | undefined {
  if (typeof value === 'string')
    return split ? value.split(/\s+/).filter((s) => s !== '') : [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return undefined;
}

/**
 * The identity `auth.jwt` gives a verified payload: the principal claim,
 * the fixed permissions plus the Kiln permissions the permissions claim
 * lists (other names are ignored: a shared `scope` claim also holds other
 * applications' scopes), and the instances claim or the fixed instances.
 */
export function identityFromClaims(config: JwtConfig, payload: JWTPayload): AuthenticationResult {
  const principal = payload[config.principalClaim];
  if (typeof principal !== 'string' || principal === '') {
    return {
      failure: `the JWT has no string ${JSON.stringify(config.principalClaim)} claim to name its principal (auth.jwt.principalClaim)`,
    };
  }
  const permissions = new Set<Permission>(config.permissions);
  if (config.permissionsClaim !== undefined) {
    for (const p of claimStrings(payload[config.permissionsClaim], true) ?? []) {
      if (KNOWN.has(p)) permissions.add(p as Permission);
    }
  }
  let instances: readonly string[] = config.instances;
  if (config.instancesClaim !== undefined) {
    const claimed = claimStrings(payload[config.instancesClaim], false);
    if (claimed === undefined) {
      return {
        failure: `the JWT has no ${JSON.stringify(config.instancesClaim)} claim listing its instance prefixes (auth.jwt.instancesClaim)`,
      };
    }
    instances = claimed;
  }
  return { principal, authenticated: true, permissions, instances: [...instances] };
}
