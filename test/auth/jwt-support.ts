/**
 * An identity provider in miniature for JWT tests: signing keys with key
 * ids, the JSON Web Key Set that publishes them, and tokens signed by them
 * (or not signed at all, for `alg: none`).
 */
import {
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';

/** The issuer and audience the tests configure. */
export const ISSUER = 'https://idp.test';
export const AUDIENCE = 'kiln';

/** A private key that signs tokens and the public JWK that verifies them. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256' | 'EdDSA';
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

/** A new key pair for `alg`, published under `kid`. */
export async function signingKey(alg: SigningKey['alg'], kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

/** The JSON text of a key set publishing `keys`. */
export function jwksText(...keys: SigningKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.jwk) });
}

/** What a test token says; times are seconds from now. */
export interface TokenClaims {
  readonly sub?: string;
  readonly iss?: string;
  readonly aud?: string;
  /** Seconds from now; 300 by default; null for no `exp`. */
  readonly expiresIn?: number | null;
  /** Seconds from now. */
  readonly notBefore?: number;
  readonly [claim: string]: unknown;
}

const now = (): number => Math.floor(Date.now() / 1000);

/** A token signed by `key` (with its kid, or `kid` instead). */
export async function signJwt(
  key: SigningKey,
  claims: TokenClaims = {},
  kid = key.kid,
): Promise<string> {
  const {
    sub = 'alice',
    iss = ISSUER,
    aud = AUDIENCE,
    expiresIn = 300,
    notBefore,
    ...rest
  } = claims;
  const jwt = new SignJWT(rest as JWTPayload)
    .setProtectedHeader({ alg: key.alg, kid, typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(iss)
    .setAudience(aud)
    .setIssuedAt();
  if (expiresIn !== null) jwt.setExpirationTime(now() + expiresIn);
  if (notBefore !== undefined) jwt.setNotBefore(now() + notBefore);
  return jwt.sign(key.privateKey);
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`) with otherwise valid claims. */
export function unsignedJwt(kid: string, sub = 'mallory'): string {
  const payload = { sub, iss: ISSUER, aud: AUDIENCE, exp: now() + 300 };
  return `${b64({ alg: 'none', kid, typ: 'JWT' })}.${b64(payload)}.`;
}

/** `token` with its payload replaced by `claims` (the signature no longer matches). */
export function tamperedJwt(token: string, claims: Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.');
  const decoded = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as object;
  return `${header}.${b64({ ...decoded, ...claims })}.${signature}`;
}
