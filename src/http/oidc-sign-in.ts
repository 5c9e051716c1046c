/**
 * OpenID Connect sign-in for the web UI: the authorization code flow with
 * PKCE, state and nonce, through `openid-client`. The provider's metadata
 * comes from its discovery document (read on first use, read again after a
 * failure); the ID token's signature is checked against the provider's
 * JWKS, its issuer, audience, expiry and nonce by the library. What the
 * flow needs between the redirect and the callback travels in a short-lived
 * signed cookie (see the sign-in routes), not in server memory.
 */
import type * as OpenIdClient from 'openid-client';
import { z } from 'zod';
import { issuerAllowed, type OidcConfig, type OidcGrantConfig } from '../config/ui-schema.ts';
import type { Logger } from '../util/logger.ts';
import type { SessionGrant } from './signed-cookies.ts';

/** What the callback needs to finish a sign-in that {@link OidcSignIn.begin} started. */
export interface PendingSignIn {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  /** The redirect URL sent to the provider; the token request must repeat it. */
  readonly redirectUrl: string;
  /** The local path to return to. */
  readonly next: string;
  readonly expiresAtMs: number;
}

/** The shape of a {@link PendingSignIn} read back from its cookie. */
export const pendingSignInShape = z.object({
  state: z.string().min(1),
  nonce: z.string().min(1),
  verifier: z.string().min(43),
  redirectUrl: z.string().min(1),
  next: z.string(),
  expiresAtMs: z.number(),
});

/** Someone the provider vouched for, with what Kiln's grants give them. */
export interface OidcUser {
  readonly principal: string;
  readonly grants: readonly SessionGrant[];
}

/** A sign-in that could not complete, with a message for the user. */
export class OidcSignInError extends Error {
  override readonly name = 'OidcSignInError';
}

/** How long a started sign-in may take at the provider. */
export const PENDING_SIGN_IN_MS = 10 * 60_000;

/** Whether a claim value (or one element of an array claim) is one of `values`. */
function claimMatches(claim: unknown, values: readonly string[]): boolean {
  const candidates = Array.isArray(claim) ? claim : [claim];
  return candidates.some(
    (c) =>
      (typeof c === 'string' || typeof c === 'number' || typeof c === 'boolean') &&
      values.includes(String(c)),
  );
}

/** The grants of `config` that `claims` satisfy. */
export function grantsFor(
  grants: readonly OidcGrantConfig[],
  claims: Readonly<Record<string, unknown>>,
): SessionGrant[] {
  return grants
    .filter((g) => claimMatches(claims[g.claim], g.values))
    .map((g) => ({ permissions: [...g.permissions], instances: [...g.instances] }));
}

/** openid-client, loaded on the first sign-in: servers without `ui.oidc` never load it. */
let library: typeof OpenIdClient | undefined;
async function openIdClient(): Promise<typeof OpenIdClient> {
  library ??= await import('openid-client');
  return library;
}

/** One configured provider. */
export class OidcSignIn {
  readonly #config: OidcConfig;
  readonly #log: Logger;
  readonly #issuer: URL;
  #discovered: Promise<OpenIdClient.Configuration> | undefined;

  constructor(config: OidcConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.#issuer = new URL(config.issuer);
    if (!issuerAllowed(this.#issuer)) {
      throw new Error(
        `ui.oidc.issuer ${config.issuer} must be https (plain http only on a loopback address)`,
      );
    }
  }

  /** The provider's host, to name it on the sign-in page. */
  get providerName(): string {
    return this.#issuer.host;
  }

  /** The configured callback URL, if any. */
  get redirectUrl(): string | undefined {
    return this.#config.redirectUrl;
  }

  #configuration(): Promise<OpenIdClient.Configuration> {
    if (this.#discovered === undefined) {
      const { clientId, clientSecret } = this.#config;
      const discovered = openIdClient().then((client) =>
        client
          .discovery(
            this.#issuer,
            clientId,
            clientSecret === undefined ? {} : { client_secret: clientSecret },
            clientSecret === undefined ? client.None() : client.ClientSecretBasic(clientSecret),
            this.#issuer.protocol === 'http:'
              ? { execute: [client.allowInsecureRequests] }
              : undefined,
          )
          .then((configuration) => {
            // Check the ID token's signature too, not only its claims.
            client.enableNonRepudiationChecks(configuration);
            return configuration;
          }),
      );
      this.#discovered = discovered;
      // A provider that was down must not stay unusable until a restart.
      discovered.catch((err: unknown) => {
        if (this.#discovered === discovered) this.#discovered = undefined;
        this.#log.warn({ err, issuer: this.#config.issuer }, 'OpenID Connect discovery failed');
      });
    }
    return this.#discovered;
  }

  /** Starts a sign-in: where to send the browser, and what to keep until it returns. */
  async begin(
    redirectUrl: string,
    next: string,
    nowMs: number,
  ): Promise<{ url: URL; pending: PendingSignIn }> {
    const configuration = await this.#configuration().catch((err: unknown) => {
      throw new OidcSignInError(
        `cannot reach the identity provider ${this.#config.issuer}: ${(err as Error).message}`,
      );
    });
    const client = await openIdClient();
    const verifier = client.randomPKCECodeVerifier();
    const pending: PendingSignIn = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier,
      redirectUrl,
      next,
      expiresAtMs: nowMs + PENDING_SIGN_IN_MS,
    };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUrl,
      scope: this.#config.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url, pending };
  }

  /**
   * Finishes a sign-in from the callback's query string: exchanges the code
   * (with the PKCE verifier), verifies the ID token and maps its claims.
   */
  async finish(query: string, pending: PendingSignIn): Promise<OidcUser> {
    const currentUrl = new URL(pending.redirectUrl);
    currentUrl.search = query;
    // The library checks this too; checked first for a clearer message.
    if (currentUrl.searchParams.get('state') !== pending.state) {
      throw new OidcSignInError(
        'the answer does not belong to the sign-in this browser started (state mismatch); start again',
      );
    }
    let claims: Readonly<Record<string, unknown>> | undefined;
    try {
      const configuration = await this.#configuration();
      const client = await openIdClient();
      const tokens = await client.authorizationCodeGrant(configuration, currentUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (err) {
      this.#log.info({ err }, 'OpenID Connect sign-in refused');
      throw new OidcSignInError(`the identity provider's answer was refused: ${describe(err)}`);
    }
    if (claims === undefined) throw new OidcSignInError('the provider sent no ID token');
    const name = claims[this.#config.principalClaim];
    if (typeof name !== 'string' && typeof name !== 'number') {
      throw new OidcSignInError(
        `the ID token has no ${this.#config.principalClaim} claim to name you by; ` +
          'ask the administrator to set ui.oidc.principalClaim or ui.oidc.scopes',
      );
    }
    const principal = String(name);
    const grants = grantsFor(this.#config.grants, claims);
    if (grants.every((g) => g.permissions.length === 0)) {
      throw new OidcSignInError(
        `${principal} signed in at the identity provider, but no entry of ui.oidc.grants ` +
          'gives this account any permission on Kiln; ask the administrator for access',
      );
    }
    return { principal, grants };
  }
}

function describe(err: unknown): string {
  if (library !== undefined && err instanceof library.AuthorizationResponseError) {
    return `${err.error}${err.error_description === undefined ? '' : ` (${err.error_description})`}`;
  }
  return err instanceof Error ? err.message : String(err);
}
