/**
 * The `auth` section: which permissions unauthenticated callers have; the
 * static bearer tokens (in the file and in a reloaded tokens file), JWTs
 * and client-certificate identities, each with a principal, permissions
 * and instance prefixes. Without the section Kiln runs in protected mode
 * (see src/auth/authenticator.ts).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PERMISSIONS, type Permission } from '../auth/permissions.ts';

/** One entry of `auth.tokens`: exactly one of `token` and `sha256`. */
export interface TokenConfig {
  /** A name for logs and metrics. */
  readonly principal: string;
  /** The token itself (usually `${ENV}`). */
  readonly token?: string;
  /** The lower-case hex SHA-256 digest of the token, so the file holds no secret. */
  readonly sha256?: string;
  readonly permissions: readonly Permission[];
  /** Instance-name prefixes, matched per path segment; `""` is every instance. */
  readonly instances: readonly string[];
}

/** `auth.jwt`: how bearer JWTs are verified and what their claims grant. */
export interface JwtConfig {
  /** The `iss` every token must carry. */
  readonly issuer: string;
  /** An `aud` every token must carry (one of its audiences). */
  readonly audience: string;
  /** A JSON Web Key Set file, re-read when it changes. One of jwksFile and jwksUrl. */
  readonly jwksFile?: string;
  /** An https:// URL of the JSON Web Key Set. One of jwksFile and jwksUrl. */
  readonly jwksUrl?: string;
  /** PEM CA certificates to trust for jwksUrl instead of the system's. */
  readonly jwksCa?: string;
  /** How often the key set is fetched (or the file checked) again. */
  readonly jwksRefreshSeconds: number;
  /** Leeway for `exp` and `nbf` against clocks that differ. */
  readonly clockSkewSeconds: number;
  /** The claim that names the principal. */
  readonly principalClaim: string;
  /** The claim listing permissions (an array, or a space-separated string); none when unset. */
  readonly permissionsClaim?: string;
  /** The claim listing instance prefixes; when unset every token gets `instances`. */
  readonly instancesClaim?: string;
  /** Permissions every valid token has, besides those of its claim. */
  readonly permissions: readonly Permission[];
  /** Instance prefixes of every token when `instancesClaim` is unset. */
  readonly instances: readonly string[];
}

/** One entry of `auth.certificates`: a client certificate that maps to a principal. */
export interface CertificateIdentityConfig {
  readonly principal: string;
  /** Attributes the certificate's subject must have, `CN=worker-7` or `CN=a,O=Example`. */
  readonly subject?: string;
  /** A subject alternative name the certificate must have: `DNS:…`, `URI:…` or `email:…`. */
  readonly san?: string;
  readonly permissions: readonly Permission[];
  readonly instances: readonly string[];
}

/** `auth`: present means authentication is on (protected mode off). */
export interface AuthConfig {
  /** Permissions of callers that present no credentials (on every instance). */
  readonly anonymous: readonly Permission[];
  readonly tokens: readonly TokenConfig[];
  /** A YAML or JSON file with more entries like `tokens`, re-read when it changes. */
  readonly tokensFile?: string;
  readonly jwt?: JwtConfig;
  readonly certificates?: readonly CertificateIdentityConfig[];
}

const permissionSchema = z.enum(PERMISSIONS, {
  error: (issue) =>
    `unknown permission ${JSON.stringify(issue.input)} (expected one of ${PERMISSIONS.join(', ')})`,
});

const instancesSchema = z
  .array(z.string())
  .default([''])
  .describe(
    'Instance-name prefixes the permissions apply to, matched per path segment; "" is every instance. Default: [""].',
  );

/** The schema of one token entry, in `auth.tokens` and in `auth.tokensFile`. */
export const tokenSchema = z
  .object({
    principal: z
      .string()
      .min(1)
      .describe('A name for the caller, shown in logs and error messages. Required.'),
    token: z.string().min(1).optional().describe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shows the syntax literally.
      'The bearer token callers send (`Authorization: Bearer TOKEN`); write `${ENV_VAR}` to keep it out of the file. One of token and sha256.',
    ),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits (the SHA-256 digest of the token)')
      .transform((hex) => hex.toLowerCase())
      .optional()
      .describe(
        'The hex SHA-256 digest of the token instead of the token, so the file holds no secret. One of token and sha256.',
      ),
    permissions: z
      .array(permissionSchema)
      .describe(`What the token allows: any of ${PERMISSIONS.join(', ')}. Required.`),
    instances: instancesSchema,
  })
  .strict()
  .refine((t) => (t.token === undefined) !== (t.sha256 === undefined), {
    error: 'give exactly one of token and sha256',
  });

/** The SHA-256 digest (hex) of a token entry's token. */
export function tokenDigest(t: { readonly token?: string; readonly sha256?: string }): string {
  return (
    t.sha256 ??
    createHash('sha256')
      .update(t.token ?? '')
      .digest('hex')
  );
}

/**
 * Entries that repeat an earlier entry's token (also one given as `token`
 * and one as `sha256`): they would get the permissions of whichever comes first.
 */
export function duplicateTokens(
  tokens: readonly TokenConfig[],
  where: string,
): Array<{ index: number; first: number; message: string }> {
  const seen = new Map<string, number>();
  const duplicates: Array<{ index: number; first: number; message: string }> = [];
  tokens.forEach((t, i) => {
    const digest = tokenDigest(t);
    const first = seen.get(digest);
    if (first === undefined) seen.set(digest, i);
    else
      duplicates.push({
        index: i,
        first,
        message: `the same token as ${where}[${first}] (principal ${JSON.stringify(tokens[first]?.principal)})`,
      });
  });
  return duplicates;
}

const claimName = z.string().min(1);

const jwtSchema = z
  .object({
    issuer: z.string().min(1).describe('The issuer (`iss`) every token must name. Required.'),
    audience: z
      .string()
      .min(1)
      .describe('An audience (`aud`) every token must name, e.g. "kiln". Required.'),
    jwksFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'A JSON Web Key Set file with the public keys tokens are signed with; re-read when it changes. One of jwksFile and jwksUrl.',
      ),
    jwksUrl: z
      .url({ protocol: /^https$/, error: 'must be an https:// URL' })
      .optional()
      .describe(
        "The identity provider's JSON Web Key Set URL (https:// only). Fetched at start, every jwksRefreshSeconds, and when a token names a key it does not hold (at most every 10 s). One of jwksFile and jwksUrl.",
      ),
    jwksCa: z
      .string()
      .min(1)
      .optional()
      .describe(
        "A PEM file with the CA certificates to trust for jwksUrl instead of the system's. Default: the system's.",
      ),
    jwksRefreshSeconds: z
      .number()
      .int()
      .min(10)
      .default(300)
      .describe('How often the key set is fetched again (or the file checked). Default: 300.'),
    clockSkewSeconds: z
      .number()
      .int()
      .min(0)
      .max(600)
      .default(30)
      .describe(
        'Leeway for the expiry (`exp`) and not-before (`nbf`) claims, for clocks that differ. Default: 30.',
      ),
    principalClaim: claimName
      .default('sub')
      .describe('The claim whose string value is the principal. Default: "sub".'),
    permissionsClaim: claimName
      .optional()
      .describe(
        'A claim listing permissions, as an array of strings or a space-separated string (like OAuth "scope"); names that are not Kiln permissions are ignored. Default: none (only `permissions`).',
      ),
    instancesClaim: claimName
      .optional()
      .describe(
        'A claim listing instance-name prefixes (an array of strings, or one string). When set, a token without it is refused. Default: none (every token gets `instances`).',
      ),
    permissions: z
      .array(permissionSchema)
      .default([])
      .describe('Permissions every valid token has, besides those its claim lists. Default: [].'),
    instances: instancesSchema,
  })
  .strict()
  .refine((j) => (j.jwksFile === undefined) !== (j.jwksUrl === undefined), {
    error: 'give exactly one of jwksFile and jwksUrl',
  })
  .refine((j) => j.jwksCa === undefined || j.jwksUrl !== undefined, {
    error: 'jwksCa applies to jwksUrl only',
    path: ['jwksCa'],
  })
  .describe(
    'Bearer JSON Web Tokens (RS256, ES256 or EdDSA) from an identity provider: checked for signature, issuer, audience, expiry and not-before.',
  );

const certificateSchema = z
  .object({
    principal: z.string().min(1).describe('The name of the client. Required.'),
    subject: z
      .string()
      .regex(
        /^\s*[A-Za-z][\w.]*=[^,]+(,\s*[A-Za-z][\w.]*=[^,]+)*$/,
        'must be ATTRIBUTE=VALUE pairs separated by commas, e.g. "CN=worker-7,O=Example"',
      )
      .optional()
      .describe(
        'Subject attributes the certificate must have, e.g. "CN=worker-7" or "CN=ci,O=Example" (others may be present too).',
      ),
    san: z
      .string()
      .regex(/^(DNS|URI|email):.+$/, 'must start with DNS:, URI: or email:')
      .optional()
      .describe(
        'A subject alternative name the certificate must have, e.g. "DNS:worker-7.example" or "URI:spiffe://example/ci".',
      ),
    permissions: z.array(permissionSchema).describe('What the certificate allows. Required.'),
    instances: instancesSchema,
  })
  .strict()
  .refine((c) => c.subject !== undefined || c.san !== undefined, {
    error: 'give subject, san or both',
  });

/** The schema of `auth`. */
export const authSchema = z
  .object({
    anonymous: z
      .array(permissionSchema)
      .default([])
      .describe(
        'Permissions of callers that send no token, on every instance. Default: [] (none).',
      ),
    tokens: z
      .array(tokenSchema)
      .default([])
      .superRefine((tokens, ctx) => {
        for (const d of duplicateTokens(tokens, 'auth.tokens')) {
          ctx.addIssue({ code: 'custom', path: [d.index], message: d.message });
        }
      })
      .describe('Static bearer tokens, each with a principal, permissions and instance prefixes.'),
    tokensFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'A YAML or JSON file holding a list of entries shaped like auth.tokens, added to them and re-read when it changes ' +
          '(a file that does not load keeps the previous list, with an error logged). Environment variables are not expanded inside. Default: none.',
      ),
    jwt: jwtSchema.optional(),
    certificates: z
      .array(certificateSchema)
      .optional()
      .describe(
        'Principals of clients by their TLS client certificate (needs server.tls.clientCa); the first entry that matches applies. ' +
          'A call that sends a bearer token is authenticated by the token instead. Default: none.',
      ),
  })
  .strict()
  .describe(
    'Authentication and authorization of gRPC callers. Without this section Kiln is in protected mode: loopback callers may do everything, other callers are refused.',
  );
