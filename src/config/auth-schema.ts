/**
 * The `auth` section: which permissions unauthenticated callers have, and
 * the static bearer tokens with their principal, permissions and instance
 * prefixes. Without the section Kiln runs in protected mode (see
 * src/auth/authenticator.ts).
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

/** `auth`: present means authentication is on (protected mode off). */
export interface AuthConfig {
  /** Permissions of callers that present no token (on every instance). */
  readonly anonymous: readonly Permission[];
  readonly tokens: readonly TokenConfig[];
}

const permissionSchema = z.enum(PERMISSIONS, {
  error: (issue) =>
    `unknown permission ${JSON.stringify(issue.input)} (expected one of ${PERMISSIONS.join(', ')})`,
});

const tokenSchema = z
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
    instances: z
      .array(z.string())
      .default([''])
      .describe(
        'Instance-name prefixes the permissions apply to, matched per path segment; "" is every instance. Default: [""].',
      ),
  })
  .strict()
  .refine((t) => (t.token === undefined) !== (t.sha256 === undefined), {
    error: 'give exactly one of token and sha256',
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
        // Two entries with one token would give it the permissions of whichever comes first.
        const seen = new Map<string, number>();
        tokens.forEach((t, i) => {
          const digest =
            t.sha256 ??
            createHash('sha256')
              .update(t.token ?? '')
              .digest('hex');
          const first = seen.get(digest);
          if (first === undefined) seen.set(digest, i);
          else
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `the same token as auth.tokens[${first}] (principal ${JSON.stringify(tokens[first]?.principal)})`,
            });
        });
      })
      .describe('Static bearer tokens, each with a principal, permissions and instance prefixes.'),
  })
  .strict()
  .describe(
    'Authentication and authorization of gRPC callers. Without this section Kiln is in protected mode: loopback callers may do everything, other callers are refused.',
  );
