/**
 * Configuration keys that existed once and were removed, with what replaced
 * them: the loader reports such a key with this hint instead of a bare
 * "unknown key", so that an old configuration file says how to update it.
 */

/** Full key path (`remoteAsset.pushEnabled`) → what to do instead. */
export const REMOVED_KEYS: ReadonlyMap<string, string> = new Map([
  [
    'remoteAsset.pushEnabled',
    'removed: who may push is now the asset:push permission (auth.tokens[].permissions; ' +
      'without an auth section loopback callers hold it); see docs/security.md',
  ],
  [
    'ui.allowCancel',
    'removed: cancelling from the web UI now needs the admin permission; delete this key and ' +
      'sign in with a token or an OpenID Connect identity that has admin (without an auth ' +
      'section loopback callers hold it); see docs/security.md',
  ],
]);
