/**
 * The `ui` section: who may read the web UI and `/metrics`, how sessions
 * are signed, and OpenID Connect sign-in. See docs/security.md for the
 * modes and docs/web-ui.md for the sign-in pages.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { isLoopbackHost } from '../auth/peer-address.ts';
import { PERMISSIONS, type Permission } from '../auth/permissions.ts';
import { durationSchema } from './values.ts';

/** Who may read something served over HTTP. */
export type HttpAccess = 'public' | 'signedIn';

/** One rule of `ui.oidc.grants`: permissions for users whose claim has one of some values. */
export interface OidcGrantConfig {
  /** An ID token claim: a string, a number, a boolean or an array of strings. */
  readonly claim: string;
  /** The grant applies when the claim (or one of its elements) equals one of these. */
  readonly values: readonly string[];
  readonly permissions: readonly Permission[];
  /** Instance-name prefixes the permissions apply to; `""` is every instance. */
  readonly instances: readonly string[];
}

/** `ui.oidc`: sign-in with an OpenID Connect provider. */
export interface OidcConfig {
  /** The provider's issuer URL; its discovery document is read from it. */
  readonly issuer: string;
  readonly clientId: string;
  /** Absent: a public client (PKCE only). */
  readonly clientSecret?: string;
  /** The callback URL registered at the provider; absent: derived from each request's host. */
  readonly redirectUrl?: string;
  readonly scopes: readonly string[];
  /** The ID token claim that names the user (shown, logged). */
  readonly principalClaim: string;
  readonly grants: readonly OidcGrantConfig[];
}

/** `ui`: the web UI's sign-in and access rules. */
export interface UiConfig {
  /**
   * Who may read pages; absent: `signedIn` when `auth` or `ui.oidc` is
   * configured, else `public` (protected mode: loopback callers only).
   */
  readonly access?: HttpAccess;
  /** Who may read `/metrics` (in protected mode, loopback callers only either way). */
  readonly metricsAccess: HttpAccess;
  /** HMAC key for session cookies; absent: a random key per start. */
  readonly sessionKey?: string;
  /** How long a sign-in lasts. */
  readonly sessionLifetimeMs: number;
  readonly oidc?: OidcConfig;
}

const permissionSchema = z.enum(PERMISSIONS, {
  error: (issue) =>
    `unknown permission ${JSON.stringify(issue.input)} (expected one of ${PERMISSIONS.join(', ')})`,
});

const accessSchema = z.enum(['public', 'signedIn'], {
  error: 'expected public or signedIn',
});

/** Whether an issuer URL may be used: https, or http on a loopback address (tests, local providers). */
export function issuerAllowed(issuer: URL): boolean {
  if (issuer.protocol === 'https:') return true;
  if (issuer.protocol !== 'http:') return false;
  const host = issuer.hostname;
  return isIP(host.replace(/^\[|\]$/g, '')) !== 0 ? isLoopbackHost(host) : host === 'localhost';
}

const grantSchema = z
  .object({
    claim: z.string().min(1).describe('The ID token claim to look at, e.g. groups or email.'),
    values: z
      .array(z.string())
      .min(1)
      .describe(
        'The grant applies when the claim, or one element of an array claim, equals one of these.',
      ),
    permissions: z.array(permissionSchema).describe('The permissions granted.'),
    instances: z
      .array(z.string())
      .default([''])
      .describe('Instance-name prefixes the permissions apply to. Default: [""] (every instance).'),
  })
  .strict();

const oidcSchema = z
  .object({
    issuer: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .refine(
        (u) => issuerAllowed(new URL(u)),
        'must be https (plain http only on a loopback address)',
      )
      .describe(
        'The issuer URL of the provider; Kiln reads <issuer>/.well-known/openid-configuration. https, or http on a loopback address (tests).',
      ),
    clientId: z.string().min(1).describe('The client id registered at the provider. Required.'),
    clientSecret: z.string().min(1).optional().describe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shows the syntax literally.
      'The client secret (write ${ENV_VAR}); absent for a public client, which relies on PKCE alone.',
    ),
    redirectUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .optional()
      .describe(
        'The callback URL registered at the provider, ending in /signin/oidc/callback. Default: derived from the Host of each request.',
      ),
    scopes: z
      .array(z.string().min(1))
      .default(['openid', 'email'])
      .refine((s) => s.includes('openid'), 'must include openid')
      .describe('Scopes requested. Default: [openid, email].'),
    principalClaim: z
      .string()
      .min(1)
      .default('email')
      .describe('The ID token claim that names the user. Default: email.'),
    grants: z
      .array(grantSchema)
      .default([])
      .describe(
        'Permissions by claim value. A user no grant matches is not signed in. Default: [] (nobody).',
      ),
  })
  .strict();

/** The schema of `ui`. */
export const uiSchema = z
  .object({
    access: accessSchema
      .optional()
      .describe(
        'Who may read pages: public (anyone who reaches the HTTP port) or signedIn. Default: signedIn when auth or ui.oidc is configured, public otherwise (protected mode serves loopback callers only).',
      ),
    metricsAccess: accessSchema
      .default('public')
      .describe(
        'Who may read /metrics: public, or signedIn (a session, or an Authorization: Bearer token Kiln accepts: a static token or a JWT). In protected mode only loopback callers either way. Default: public.',
      ),
    sessionKey: z
      .string()
      .min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)')
      .optional()
      .describe(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shows the syntax literally.
        'The key that signs session cookies (write ${ENV_VAR}). Default: a random key at each start, so sessions end when Kiln restarts.',
      ),
    sessionLifetime: durationSchema
      .default(12 * 3600_000)
      .describe('How long a sign-in lasts. Default: 12h.'),
    oidc: oidcSchema.optional().describe('Sign-in with an OpenID Connect provider.'),
  })
  .strict()
  .transform(
    ({ sessionLifetime, ...rest }): UiConfig => ({
      ...rest,
      sessionLifetimeMs: sessionLifetime,
    }),
  )
  .describe('The web UI, served by the HTTP server (server.httpListen): access and sign-in.');
