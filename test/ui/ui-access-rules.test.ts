// The web UI's access rules that need no server: where the sign-in page may
// return to, the removed ui.allowCancel switch and OIDC settings, and which
// OIDC claims grant permissions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';
import { grantsFor } from '../../src/http/oidc-sign-in.ts';
import { safeNext } from '../../src/ui/forms.ts';

test('the sign-in page only returns to local paths', () => {
  assert.equal(safeNext('/operations?state=QUEUED'), '/operations?state=QUEUED');
  for (const bad of [
    '//evil.example',
    '/\\evil.example',
    'https://evil.example',
    '/\tx',
    '/signin',
    '',
  ]) {
    assert.equal(safeNext(bad), '/', bad);
  }
});

test('ui.allowCancel is rejected with a message that says what replaced it', () => {
  assert.throws(
    () => parseConfigText('ui:\n  allowCancel: true\n', 'old.yaml'),
    (err: unknown) =>
      err instanceof ConfigError &&
      /ui\.allowCancel: removed: cancelling from the web UI now needs the admin permission/.test(
        err.message,
      ),
  );
  assert.throws(
    () => parseConfigText('ui:\n  oidc:\n    issuer: http://idp.example/\n    clientId: k\n', 'x'),
    /must be https \(plain http only on a loopback address\)/,
  );
  const config = parseConfigText(
    'ui:\n  access: signedIn\n  sessionKey: "0123456789abcdef0123456789abcdef"\n  sessionLifetime: 2h\n',
    'ok.yaml',
  );
  assert.equal(config.ui.access, 'signedIn');
  assert.equal(config.ui.sessionLifetimeMs, 2 * 3600_000);
});

test('OIDC grants match string, array and boolean claims, and nothing else', () => {
  const grants = [
    { claim: 'groups', values: ['admins'], permissions: ['admin' as const], instances: [''] },
    {
      claim: 'email',
      values: ['ci@example.test'],
      permissions: ['execute' as const],
      instances: ['ci'],
    },
    {
      claim: 'email_verified',
      values: ['true'],
      permissions: ['cas:read' as const],
      instances: [''],
    },
  ];
  assert.deepEqual(grantsFor(grants, { groups: ['staff', 'admins'] }), [
    { permissions: ['admin'], instances: [''] },
  ]);
  assert.deepEqual(grantsFor(grants, { email: 'ci@example.test', email_verified: true }), [
    { permissions: ['execute'], instances: ['ci'] },
    { permissions: ['cas:read'], instances: [''] },
  ]);
  assert.deepEqual(
    grantsFor(grants, { groups: 'admins-not', email: ['x'], email_verified: false }),
    [],
  );
  assert.deepEqual(grantsFor(grants, { groups: [{ name: 'admins' }] }), []);
});
