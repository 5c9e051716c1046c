/**
 * Values that the server hands to browsers in cookies and must get back
 * unchanged: JSON signed with HMAC-SHA256 under a server key, each with a
 * purpose so that a value signed for one use (an OpenID Connect sign-in in
 * progress) is worthless in another (a session). Also the web UI's
 * sessions and their CSRF tokens, which are derived, never stored.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { PERMISSIONS, type Permission } from '../auth/permissions.ts';

/** What a signed value is for; part of what the MAC covers. */
export type SignedPurpose = 'session' | 'oidc' | 'csrf';

/** Signs and verifies cookie values with one key. */
export class CookieSigner {
  readonly #key: Buffer;

  /** `key`: at least 32 bytes of secret. */
  constructor(key: Uint8Array) {
    if (key.length < 32) throw new Error('a cookie signing key needs at least 32 bytes');
    this.#key = Buffer.from(key);
  }

  /** A signer with a random key, valid until the process ends. */
  static random(): CookieSigner {
    return new CookieSigner(randomBytes(32));
  }

  /** `base64url(JSON)`.`base64url(MAC)`. */
  seal(purpose: SignedPurpose, value: unknown): string {
    const body = Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${body}.${this.mac(purpose, body)}`;
  }

  /** The value sealed for `purpose`, or undefined for anything altered, truncated or foreign. */
  open(purpose: SignedPurpose, text: string | undefined): unknown {
    if (text === undefined) return undefined;
    const dot = text.indexOf('.');
    if (dot <= 0) return undefined;
    const body = text.slice(0, dot);
    if (!this.verify(purpose, body, text.slice(dot + 1))) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
  }

  /** The MAC of `text` for `purpose`, base64url. */
  mac(purpose: SignedPurpose, text: string): string {
    return createHmac('sha256', this.#key).update(`${purpose}\n${text}`).digest('base64url');
  }

  /** Whether `presented` is the MAC of `text` for `purpose`, compared in constant time. */
  verify(purpose: SignedPurpose, text: string, presented: string): boolean {
    const expected = Buffer.from(this.mac(purpose, text));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** Permissions on instance prefixes, as one token or one OIDC grant gives them. */
export interface SessionGrant {
  readonly permissions: readonly Permission[];
  /** Instance-name prefixes; `""` is every instance. */
  readonly instances: readonly string[];
}

/** A signed-in browser. */
export interface Session {
  /** Random: identifies the session, and its CSRF token is derived from it. */
  readonly id: string;
  readonly principal: string;
  /** How the user signed in. */
  readonly via: 'token' | 'oidc';
  readonly grants: readonly SessionGrant[];
  /** Milliseconds since the epoch; the session is void from then on. */
  readonly expiresAtMs: number;
}

const sessionShape = z.object({
  id: z.string().min(16),
  principal: z.string().min(1),
  via: z.enum(['token', 'oidc']),
  grants: z.array(
    z.object({ permissions: z.array(z.enum(PERMISSIONS)), instances: z.array(z.string()) }),
  ),
  expiresAtMs: z.number(),
});

/** A new session id. */
export function newSessionId(): string {
  return randomBytes(18).toString('base64url');
}

/** The cookie value of a session. */
export function sealSession(signer: CookieSigner, session: Session): string {
  return signer.seal('session', session);
}

/** The session in a cookie value, or undefined when it is missing, altered or expired. */
export function openSession(
  signer: CookieSigner,
  text: string | undefined,
  nowMs: number,
): Session | undefined {
  const parsed = sessionShape.safeParse(signer.open('session', text));
  if (!parsed.success || parsed.data.expiresAtMs <= nowMs) return undefined;
  return parsed.data;
}

/**
 * The CSRF token of a session, or of a visitor's CSRF cookie id: forms
 * carry it, and a POST without it (a forged one) is refused.
 */
export function csrfTokenOf(signer: CookieSigner, id: string): string {
  return signer.mac('csrf', id);
}
