/**
 * The permissions a caller may hold, and the identity that holds them. A
 * permission is granted on instance-name prefixes, matched per path segment.
 */

/** Every permission, in the order the documentation lists them. */
export const PERMISSIONS = [
  'cas:read',
  'cas:write',
  'ac:read',
  'ac:write',
  'execute',
  'worker',
  'admin',
  'asset:fetch',
  'asset:push',
] as const;

/** One permission name. */
export type Permission = (typeof PERMISSIONS)[number];

/** Who is calling, as the authentication interceptor resolved it. */
export interface Identity {
  /** The token's principal, `anonymous`, or `loopback` (protected mode). */
  readonly principal: string;
  /** Whether the caller presented a valid token (false: anonymous or loopback). */
  readonly authenticated: boolean;
  readonly permissions: ReadonlySet<Permission>;
  /** Instance-name prefixes the permissions apply to; `""` is every instance. */
  readonly instances: readonly string[];
}

/**
 * Whether `prefix` covers `instanceName` segment by segment: `a/b` covers
 * `a/b` and `a/b/c`, not `a/bc`; `""` covers every instance.
 */
export function instanceCovered(prefix: string, instanceName: string): boolean {
  if (prefix === '' || prefix === instanceName) return true;
  return instanceName.startsWith(prefix) && instanceName.charCodeAt(prefix.length) === 0x2f;
}

/** Whether `identity` holds `permission` on `instanceName`. */
export function allows(identity: Identity, permission: Permission, instanceName: string): boolean {
  if (!identity.permissions.has(permission)) return false;
  for (const prefix of identity.instances) if (instanceCovered(prefix, instanceName)) return true;
  return false;
}
