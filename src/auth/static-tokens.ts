/**
 * The static bearer tokens: SHA-256 digests of the tokens with the identity
 * each grants, looked up in constant time. The table can be replaced as a
 * whole (when the tokens file changes) while calls are being served.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenConfig } from '../config/auth-schema.ts';
import { tokenDigest } from '../config/auth-schema.ts';
import type { Identity } from './permissions.ts';

interface TokenEntry {
  readonly digest: Buffer;
  readonly identity: Identity;
}

/** The SHA-256 digest of a presented token. */
export function digestToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The identity a token entry grants. */
function identityOf(t: TokenConfig): Identity {
  return {
    principal: t.principal,
    authenticated: true,
    permissions: new Set(t.permissions),
    instances: [...t.instances],
  };
}

/** A replaceable table of static tokens. */
export class StaticTokens {
  #entries: readonly TokenEntry[] = [];

  constructor(tokens: readonly TokenConfig[] = []) {
    this.replace(tokens);
  }

  /** How many tokens the table holds. */
  get size(): number {
    return this.#entries.length;
  }

  /** Makes `tokens` the table (at once: a call sees the old or the new table, never a mix). */
  replace(tokens: readonly TokenConfig[]): void {
    this.#entries = tokens.map((t) => ({
      digest: Buffer.from(tokenDigest(t), 'hex'),
      identity: identityOf(t),
    }));
  }

  /**
   * The identity of the token whose digest is `presented`, or undefined.
   * Compares with every entry, so the time taken says nothing about which matched.
   */
  lookup(presented: Buffer): Identity | undefined {
    let found: Identity | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, presented) && found === undefined) found = entry.identity;
    }
    return found;
  }
}
