// OpenID Connect sign-in in a real headless Chromium against a real
// provider (oidc-provider, on 127.0.0.1): an admin signs in and cancels an
// operation; a non-admin sees no cancel button, and forged cancel requests
// (no CSRF token, a wrong one, the right one without admin, the right one
// from another origin) change nothing.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import Provider from 'oidc-provider';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createUiFixture, submit, type UiFixture, uploadTestAction } from './ui-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];

/** Chromium for the test; skips locally without it, fails under CI. */
function requireChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `chromium not found at ${CHROMIUM}`;
  if (process.env.CI === 'true') {
    throw new Error(`${message}; CI must run the browser tests (apt-get install chromium)`);
  }
  t.skip(message);
  return false;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Who the test provider knows: any login name; alice is in kiln-admins, bob in staff. */
function claimsOf(login: string): { sub: string; [claim: string]: unknown } {
  return {
    sub: login,
    email: `${login}@example.test`,
    email_verified: true,
    groups:
      login === 'alice' ? ['kiln-admins', 'staff'] : login === 'bob' ? ['staff'] : ['visitors'],
  };
}

/** Starts oidc-provider on 127.0.0.1 with one confidential client whose callback is `redirectUri`. */
async function startProvider(server: Server, issuer: string, redirectUri: string): Promise<void> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'kiln',
        client_secret: 'kiln-test-secret',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    // The client must prove PKCE.
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    // Put the requested claims in the ID token, which is what Kiln reads.
    conformIdTokenClaims: false,
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => claimsOf(id) }),
    jwks: {
      keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test', use: 'sig', alg: 'RS256' }],
    },
    cookies: { keys: ['oidc-provider-test-cookie-key'] },
  });
  server.on('request', provider.callback());
}

/** Signs `login` in through the provider's login and consent pages; ends on `target`. */
async function signIn(page: Page, base: string, target: string, login: string): Promise<void> {
  await page.goto(`${base}${target}`);
  // Not signed in: the UI sends the browser to its sign-in page.
  assert.equal(new URL(page.url()).pathname, '/signin');
  await page.getByRole('link', { name: /^Sign in with 127\.0\.0\.1:/ }).click();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${base}${target}`);
  assert.equal(await page.locator('header .account .who').textContent(), `${login}@example.test`);
}

/** A POST to cancel `opId` from the page's own origin, with `body` as the form. */
async function postFromPage(page: Page, url: string, body: string): Promise<number> {
  return page.evaluate(
    async ({ url, body }) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        redirect: 'manual',
      });
      return response.status;
    },
    { url, body },
  );
}

test('OIDC sign-in in a browser: an admin cancels, a non-admin cannot, forged requests change nothing', {
  timeout: 60_000,
}, async (t) => {
  if (!requireChromium(t)) return;
  const providerServer = createServer();
  const providerPort = await listen(providerServer);
  t.after(() => {
    const closed = new Promise<void>((resolve) => providerServer.close(() => resolve()));
    providerServer.closeAllConnections();
    return closed;
  });
  const issuer = `http://127.0.0.1:${providerPort}`;

  const f: UiFixture = await createUiFixture({
    auth: { anonymous: [], tokens: [] },
    ui: {
      oidc: {
        issuer,
        clientId: 'kiln',
        clientSecret: 'kiln-test-secret',
        scopes: ['openid', 'email', 'groups'],
        principalClaim: 'email',
        grants: [
          {
            claim: 'groups',
            values: ['kiln-admins'],
            permissions: ['admin', 'execute'],
            instances: [''],
          },
          { claim: 'groups', values: ['staff'], permissions: ['execute'], instances: [''] },
        ],
      },
    },
  });
  t.after(() => f.close());
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
  await startProvider(providerServer, issuer, `${base}/signin/oidc/callback`);
  // The redirect to the provider asks for PKCE (S256), state and nonce; a
  // callback whose state does not match the signed cookie is refused.
  const start = await fetch(`${base}/signin/oidc?next=%2Fworkers`, { redirect: 'manual' });
  assert.equal(start.status, 303);
  const authorize = new URL(start.headers.get('location') ?? '');
  assert.equal(authorize.origin, issuer);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(authorize.searchParams.get('code_challenge'));
  assert.ok(authorize.searchParams.get('nonce'));
  assert.equal(authorize.searchParams.get('redirect_uri'), `${base}/signin/oidc/callback`);
  const pendingCookie = start.headers.getSetCookie().find((c) => c.startsWith('kiln_oidc='));
  assert.ok(pendingCookie);
  assert.match(pendingCookie, /; Path=\/signin\/oidc; HttpOnly; SameSite=Lax/);
  const wrongState = await fetch(`${base}/signin/oidc/callback?code=stolen&state=not-the-state`, {
    headers: { cookie: pendingCookie.split(';')[0] as string },
    redirect: 'manual',
  });
  assert.equal(wrongState.status, 401);
  assert.match(await wrongState.text(), /does not belong to the sign-in this browser started/);
  assert.ok(!wrongState.headers.getSetCookie().some((c) => c.startsWith('kiln_session=')));

  const ops: string[] = [];
  for (let i = 0; i < 3; i++) {
    const op = await submit(
      f,
      await uploadTestAction(f.cas, { args: ['/bin/sleep', `${100 + i}`] }),
    );
    ops.push(op.name);
  }
  const [op1, op2, op3] = ops as [string, string, string];
  const path = (name: string): string => `/operations/${name.slice('operations/'.length)}`;
  const done = async (name: string): Promise<boolean> =>
    (await f.scheduler.getOperation(name)).done;

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const newPage = async (): Promise<Page> => {
    const context = await browser.newContext();
    // Nothing outside this machine (the provider's pages link web fonts).
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
    return context.newPage();
  };

  // Alice, an admin: sees the button and cancels operation 1.
  const alice = await newPage();
  await signIn(alice, base, path(op1), 'alice');
  // Forged with alice's session: no CSRF token, a wrong one.
  assert.equal(await postFromPage(alice, `${path(op1)}/cancel`, ''), 403);
  assert.equal(await postFromPage(alice, `${path(op1)}/cancel`, 'csrf=not-the-token'), 403);
  assert.equal(await done(op1), false);
  const cancel = alice.getByRole('button', { name: 'Cancel this operation' });
  assert.equal(await cancel.count(), 1);
  await cancel.click();
  await alice.waitForURL(`${base}${path(op1)}`);
  assert.ok((await alice.getByText('cancelled', { exact: true }).count()) > 0);
  assert.equal(await done(op1), true);

  // Another origin on the same machine (same site, so the Lax cookie goes
  // along) posts with alice's session and even the right token: refused.
  const csrf = await alice.locator('form.sign-out input[name="csrf"]').getAttribute('value');
  assert.ok(csrf);
  await alice.goto(`${issuer}/.well-known/openid-configuration`);
  await alice.evaluate(
    async ({ url, body }) => {
      await fetch(url, {
        method: 'POST',
        mode: 'no-cors',
        credentials: 'include',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    },
    { url: `${base}${path(op3)}/cancel`, body: `csrf=${encodeURIComponent(csrf)}` },
  );
  assert.equal(await done(op3), false);

  // Bob, staff only: signed in, no button, and the right cookie and token lacking admin is refused.
  const bob = await newPage();
  await signIn(bob, base, path(op2), 'bob');
  assert.equal(await bob.getByRole('button', { name: 'Cancel this operation' }).count(), 0);
  const bobCsrf = await bob.locator('form.sign-out input[name="csrf"]').getAttribute('value');
  assert.ok(bobCsrf);
  assert.equal(
    await postFromPage(bob, `${path(op2)}/cancel`, `csrf=${encodeURIComponent(bobCsrf)}`),
    403,
  );
  assert.equal(await postFromPage(bob, `${path(op2)}/cancel`, ''), 403);
  assert.equal(await done(op2), false);

  // Mallory has an account at the provider, but no grant: not signed in.
  const mallory = await newPage();
  await mallory.goto(`${base}/signin`);
  await mallory.getByRole('link', { name: /^Sign in with 127\.0\.0\.1:/ }).click();
  await mallory.locator('input[name="login"]').fill('mallory');
  await mallory.locator('input[name="password"]').fill('any password');
  await mallory.getByRole('button', { name: 'Sign-in' }).click();
  await mallory.getByRole('button', { name: 'Continue' }).click();
  await mallory.waitForURL(/\/signin\/oidc\/callback/);
  assert.match(
    (await mallory.locator('.error-message').textContent()) ?? '',
    /mallory@example\.test signed in at the identity provider, but no entry of ui\.oidc\.grants/,
  );
  await mallory.goto(`${base}${path(op2)}`);
  assert.equal(new URL(mallory.url()).pathname, '/signin');

  // Signing out ends bob's session.
  await bob.getByRole('button', { name: 'Sign out' }).click();
  await bob.waitForURL(`${base}/signin`);
  await bob.goto(`${base}${path(op2)}`);
  assert.equal(new URL(bob.url()).pathname, '/signin');
});
