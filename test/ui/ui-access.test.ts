// Who may read the web UI and /metrics, token sign-in, signed sessions
// (tampered, expired), CSRF and the admin permission for cancelling: every
// check is tried from the side that must be refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuthConfig } from '../../src/config/auth-schema.ts';
import { CookieSigner } from '../../src/http/signed-cookies.ts';
import { createUiFixture, submit, type UiFixture, uploadTestAction } from './ui-fixture.ts';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const READER_TOKEN = 'reader-token-0123456789abcdef';
const OTHER_ADMIN_TOKEN = 'other-admin-0123456789abcdef';

const AUTH: AuthConfig = {
  anonymous: [],
  tokens: [
    { principal: 'ops', token: ADMIN_TOKEN, permissions: ['admin', 'execute'], instances: [''] },
    {
      principal: 'dev',
      token: READER_TOKEN,
      permissions: ['cas:read', 'execute'],
      instances: [''],
    },
    {
      principal: 'team-b',
      token: OTHER_ADMIN_TOKEN,
      permissions: ['admin'],
      instances: ['team-b'],
    },
  ],
};

const FORM = 'application/x-www-form-urlencoded';

/** Cookies of a response as a `cookie` request header, merged over `jar`. */
function jarWith(jar: Record<string, string>, res: { cookies: { name: string; value: string }[] }) {
  const next = { ...jar };
  for (const c of res.cookies) {
    if (c.value === '') delete next[c.name];
    else next[c.name] = c.value;
  }
  return next;
}

function cookieHeader(jar: Record<string, string>): string {
  return Object.entries(jar)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');
}

/** The value of the hidden CSRF field of the first form of a page. */
function csrfOf(page: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(page);
  assert.ok(m, 'the page has a CSRF field');
  return m[1] as string;
}

/** Signs in with a token through the form, as a browser would; returns the cookie jar. */
async function signInWithToken(f: UiFixture, token: string): Promise<Record<string, string>> {
  const page = await f.app.inject('/signin');
  let jar = jarWith({}, page);
  const res = await f.app.inject({
    method: 'POST',
    url: '/signin/token',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar), origin: 'http://localhost:80' },
    payload: new URLSearchParams({
      csrf: csrfOf(page.body),
      token,
      next: '/operations',
    }).toString(),
  });
  assert.equal(res.statusCode, 303, res.body);
  assert.equal(res.headers.location, '/operations');
  jar = jarWith(jar, res);
  assert.ok(jar.kiln_session, 'a session cookie is set');
  return jar;
}

async function postCancel(
  f: UiFixture,
  jar: Record<string, string>,
  form: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return f.app.inject({
    method: 'POST',
    url: '/operations/1/cancel',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar), ...headers },
    payload: new URLSearchParams(form).toString(),
  });
}

test('in protected mode a loopback visitor cancels with the CSRF token, and nothing else gets through', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  await submit(f, await uploadTestAction(f.cas, { args: ['/bin/true'] }));
  const page = await f.app.inject('/operations/1');
  assert.match(page.body, /<form class="cancel" method="post" action="\/operations\/1\/cancel">/);
  const jar = jarWith({}, page);
  assert.ok(jar.kiln_csrf, 'a visitor without a session gets a CSRF cookie');
  const csrf = csrfOf(page.body);

  const noToken = await postCancel(f, jar, {});
  assert.equal(noToken.statusCode, 403);
  assert.match(noToken.body, /CSRF token missing or wrong/);
  const wrongToken = await postCancel(f, jar, { csrf: `${csrf.slice(0, -2)}AA` });
  assert.equal(wrongToken.statusCode, 403);
  const otherCookie = await postCancel(f, { kiln_csrf: 'A'.repeat(24) }, { csrf });
  assert.equal(otherCookie.statusCode, 403, 'the token is bound to its cookie');
  const crossSite = await postCancel(f, jar, { csrf }, { origin: 'https://evil.example' });
  assert.equal(crossSite.statusCode, 403);
  assert.match(crossSite.body, /origin https:\/\/evil.example may not/);
  const fetchMeta = await postCancel(f, jar, { csrf }, { 'sec-fetch-site': 'cross-site' });
  assert.equal(fetchMeta.statusCode, 403);
  const nullOrigin = await postCancel(f, jar, { csrf }, { origin: 'null' });
  assert.equal(nullOrigin.statusCode, 403);
  assert.equal((await f.scheduler.getOperation('operations/1')).done, false);

  const ok = await postCancel(f, jar, { csrf }, { 'sec-fetch-site': 'same-origin' });
  assert.equal(ok.statusCode, 303);
  assert.equal(ok.headers.location, '/operations/1');
  const op = await f.scheduler.getOperation('operations/1');
  assert.equal(op.done, true);
  assert.equal(op.response?.status?.code, 1); // CANCELLED
});

test('in protected mode other machines are refused pages and /metrics, with what to do', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const remote = { remoteAddress: '10.1.2.3' };
  const page = await f.app.inject({ url: '/', ...remote });
  assert.equal(page.statusCode, 403);
  assert.match(page.body, /protected mode.*configure auth.tokens or ui.oidc/);
  const metrics = await f.app.inject({ url: '/metrics', ...remote });
  assert.equal(metrics.statusCode, 403);
  const signIn = await f.app.inject({ url: '/signin', ...remote });
  assert.equal(signIn.statusCode, 403, 'no way to sign in without auth or oidc');
  const cancel = await f.app.inject({ method: 'POST', url: '/operations/1/cancel', ...remote });
  assert.equal(cancel.statusCode, 403);
  assert.equal((await f.app.inject({ url: '/ui/style.css', ...remote })).statusCode, 200);
  assert.equal((await f.app.inject('/')).statusCode, 200, 'loopback is served');
});

test('with auth, pages need a sign-in by default while /metrics stays public', async (t) => {
  const f = await createUiFixture({ auth: AUTH });
  t.after(() => f.close());
  const page = await f.app.inject('/operations?state=QUEUED');
  assert.equal(page.statusCode, 303);
  assert.equal(page.headers.location, '/signin?next=%2Foperations%3Fstate%3DQUEUED');
  const json = await f.app.inject({ url: '/', headers: { accept: 'application/json' } });
  assert.equal(json.statusCode, 401);
  assert.equal((await f.app.inject('/metrics')).statusCode, 200);

  const signInPage = await f.app.inject('/signin');
  assert.equal(signInPage.statusCode, 200);
  assert.match(
    signInPage.body,
    /<form class="token-sign-in" method="post" action="\/signin\/token">/,
  );

  const bearer = await f.app.inject({
    url: '/',
    headers: { authorization: `Bearer ${READER_TOKEN}` },
  });
  assert.equal(bearer.statusCode, 200, 'a bearer token from auth.tokens reads pages');
  const badBearer = await f.app.inject({ url: '/', headers: { authorization: 'Bearer nope' } });
  assert.equal(badBearer.statusCode, 401);
});

test('ui.access public lets anonymous visitors read but not cancel', async (t) => {
  const f = await createUiFixture({ auth: AUTH, ui: { access: 'public' } });
  t.after(() => f.close());
  await submit(f, await uploadTestAction(f.cas, { args: ['/bin/true'] }));
  const page = await f.app.inject('/operations/1');
  assert.equal(page.statusCode, 200);
  assert.doesNotMatch(page.body, /Cancel this operation/);
  assert.match(page.body, /<a href="\/signin" class="sign-in">Sign in<\/a>/);
  // The visitor gets a CSRF token from the sign-in page; it does not make them an admin.
  const signIn = await f.app.inject('/signin');
  const res = await postCancel(f, jarWith({}, signIn), { csrf: csrfOf(signIn.body) });
  assert.equal(res.statusCode, 403);
  assert.match(
    res.body,
    /needs permission admin on instance &quot;&quot;, which callers who are not signed in do not have/,
  );
  assert.equal((await f.scheduler.getOperation('operations/1')).done, false);
});

test('ui.metricsAccess signedIn asks /metrics for a bearer token', async (t) => {
  const f = await createUiFixture({ auth: AUTH, ui: { metricsAccess: 'signedIn' } });
  t.after(() => f.close());
  const without = await f.app.inject('/metrics');
  assert.equal(without.statusCode, 401);
  assert.equal(without.headers['www-authenticate'], 'Bearer');
  const withToken = await f.app.inject({
    url: '/metrics',
    headers: { authorization: `Bearer ${READER_TOKEN}` },
  });
  assert.equal(withToken.statusCode, 200);
  assert.match(withToken.body, /^# HELP/m);
});

test('token sign-in: a session with the token identity, HttpOnly and SameSite, refused for a wrong token or without CSRF', async (t) => {
  const f = await createUiFixture({ auth: AUTH });
  t.after(() => f.close());
  const page = await f.app.inject('/signin');
  const jar = jarWith({}, page);
  const csrf = csrfOf(page.body);
  const wrong = await f.app.inject({
    method: 'POST',
    url: '/signin/token',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    payload: new URLSearchParams({ csrf, token: 'not-a-token' }).toString(),
  });
  assert.equal(wrong.statusCode, 401);
  assert.match(wrong.body, /that token was refused/);
  assert.ok(!wrong.cookies.some((c) => c.name === 'kiln_session'));
  // Login CSRF: another site must not sign the browser in as someone else.
  const forged = await f.app.inject({
    method: 'POST',
    url: '/signin/token',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    payload: new URLSearchParams({ token: READER_TOKEN }).toString(),
  });
  assert.equal(forged.statusCode, 403);

  const ok = await f.app.inject({
    method: 'POST',
    url: '/signin/token',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    payload: new URLSearchParams({ csrf, token: READER_TOKEN, next: '//evil.example/' }).toString(),
  });
  assert.equal(ok.statusCode, 303);
  assert.equal(ok.headers.location, '/', 'a next URL elsewhere is not followed');
  const session = ok.cookies.find((c) => c.name === 'kiln_session');
  assert.ok(session);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  assert.equal(session.path, '/');
  assert.equal(session.secure, undefined, 'no Secure flag over plain HTTP');
  const home = await f.app.inject({
    url: '/',
    headers: { cookie: `kiln_session=${session.value}` },
  });
  assert.equal(home.statusCode, 200);
  assert.match(home.body, /<a href="\/signin" class="who" title="Your session">dev<\/a>/);
});

test('under TLS the session cookie is Secure', async (t) => {
  const f = await createUiFixture({ auth: AUTH, secure: true });
  t.after(() => f.close());
  const page = await f.app.inject('/signin');
  assert.equal(page.cookies.find((c) => c.name === 'kiln_csrf')?.secure, true);
  const again = await f.app.inject({
    method: 'POST',
    url: '/signin/token',
    headers: { 'content-type': FORM, cookie: cookieHeader(jarWith({}, page)) },
    payload: new URLSearchParams({ csrf: csrfOf(page.body), token: READER_TOKEN }).toString(),
  });
  assert.equal(again.statusCode, 303);
  assert.equal(again.cookies.find((c) => c.name === 'kiln_session')?.secure, true);
});

test('a tampered session cookie does not sign anyone in', async (t) => {
  const f = await createUiFixture({ auth: AUTH });
  t.after(() => f.close());
  await submit(f, await uploadTestAction(f.cas, { args: ['/bin/true'] }));
  const jar = await signInWithToken(f, READER_TOKEN);
  const signed = jar.kiln_session as string;
  const [body, mac] = signed.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  assert.equal(claims.principal, 'dev');

  // Give yourself admin, keep the old signature.
  claims.principal = 'ops';
  claims.grants = [{ permissions: ['admin', 'execute'], instances: [''] }];
  const forgedBody = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const attempts = [
    `${forgedBody}.${mac}`,
    `${body}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`,
    body,
    // Signed with another key (another server, or before a restart).
    new CookieSigner(Buffer.alloc(32, 7)).seal('session', claims),
  ];
  for (const value of attempts) {
    const res = await f.app.inject({
      url: '/operations/1',
      headers: { cookie: `kiln_session=${value}` },
    });
    assert.equal(res.statusCode, 303, `not signed in with ${value}`);
    assert.match(res.headers.location as string, /^\/signin\?next=/);
  }
  const genuine = await f.app.inject({
    url: '/operations/1',
    headers: { cookie: cookieHeader(jar) },
  });
  assert.equal(genuine.statusCode, 200);
  assert.doesNotMatch(genuine.body, /Cancel this operation/, 'dev is no admin');
});

test('an expired session is not signed in', async (t) => {
  let now = Date.now();
  const f = await createUiFixture({
    auth: AUTH,
    now: () => now,
    ui: { sessionLifetimeMs: 60_000 },
  });
  t.after(() => f.close());
  const jar = await signInWithToken(f, READER_TOKEN);
  assert.equal(
    (await f.app.inject({ url: '/', headers: { cookie: cookieHeader(jar) } })).statusCode,
    200,
  );
  now += 59_000;
  assert.equal(
    (await f.app.inject({ url: '/', headers: { cookie: cookieHeader(jar) } })).statusCode,
    200,
  );
  now += 2_000;
  const expired = await f.app.inject({ url: '/', headers: { cookie: cookieHeader(jar) } });
  assert.equal(expired.statusCode, 303);
  assert.equal(expired.headers.location, '/signin?next=%2F');
});

test('cancel needs admin on the operation instance, and a CSRF token even for admins', async (t) => {
  const f = await createUiFixture({ auth: AUTH });
  t.after(() => f.close());
  await submit(f, await uploadTestAction(f.cas, { args: ['/bin/true'] }));

  // A signed-in non-admin: no button, and a forged POST with a valid CSRF token is refused.
  const dev = await signInWithToken(f, READER_TOKEN);
  const devPage = await f.app.inject({
    url: '/operations/1',
    headers: { cookie: cookieHeader(dev) },
  });
  assert.doesNotMatch(devPage.body, /Cancel this operation/);
  const devCsrf = csrfOf(devPage.body); // the sign-out form's
  const devCancel = await postCancel(f, dev, { csrf: devCsrf });
  assert.equal(devCancel.statusCode, 403);
  assert.match(
    devCancel.body,
    /needs permission admin on instance &quot;&quot;, which principal &quot;dev&quot; does not have/,
  );

  // Admin on another instance only.
  const teamB = await signInWithToken(f, OTHER_ADMIN_TOKEN);
  const teamBPage = await f.app.inject({
    url: '/operations/1',
    headers: { cookie: cookieHeader(teamB) },
  });
  assert.doesNotMatch(teamBPage.body, /Cancel this operation/);
  assert.equal((await postCancel(f, teamB, { csrf: csrfOf(teamBPage.body) })).statusCode, 403);

  // An admin: the button is there; without or with another session's CSRF token, refused.
  const ops = await signInWithToken(f, ADMIN_TOKEN);
  const opsPage = await f.app.inject({
    url: '/operations/1',
    headers: { cookie: cookieHeader(ops) },
  });
  assert.match(opsPage.body, /Cancel this operation/);
  assert.equal((await postCancel(f, ops, {})).statusCode, 403);
  assert.equal((await postCancel(f, ops, { csrf: devCsrf })).statusCode, 403);
  assert.equal((await f.scheduler.getOperation('operations/1')).done, false);

  const form = /<form class="cancel"[\s\S]*?name="csrf" value="([^"]+)"/.exec(opsPage.body);
  assert.ok(form);
  const ok = await postCancel(
    f,
    ops,
    { csrf: form[1] as string },
    { origin: 'http://localhost:80' },
  );
  assert.equal(ok.statusCode, 303);
  assert.equal((await f.scheduler.getOperation('operations/1')).done, true);

  // The audit log counts the cancel and the two refusals for want of admin.
  const metrics = (await f.app.inject({ url: '/metrics' })).body;
  assert.match(metrics, /^kiln_admin_actions_total\{action="web-ui\.cancel"\} 1$/m);
  assert.match(
    metrics,
    /^kiln_auth_denials_total\{code="PERMISSION_DENIED",method="POST \/operations\/:id\/cancel"\} 2$/m,
  );
});

test('signing out clears the session, and needs the CSRF token', async (t) => {
  const f = await createUiFixture({ auth: AUTH });
  t.after(() => f.close());
  const jar = await signInWithToken(f, READER_TOKEN);
  const page = await f.app.inject({ url: '/', headers: { cookie: cookieHeader(jar) } });
  const forged = await f.app.inject({
    method: 'POST',
    url: '/signout',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    payload: '',
  });
  assert.equal(forged.statusCode, 403);
  const res = await f.app.inject({
    method: 'POST',
    url: '/signout',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    payload: new URLSearchParams({ csrf: csrfOf(page.body) }).toString(),
  });
  assert.equal(res.statusCode, 303);
  const cleared = res.cookies.find((c) => c.name === 'kiln_session');
  assert.ok(cleared && cleared.value === '', 'the cookie is cleared');
});

test('the OIDC callback refuses a sign-in it did not start', async (t) => {
  const f = await createUiFixture({
    auth: AUTH,
    ui: {
      oidc: {
        issuer: 'http://127.0.0.1:9/',
        clientId: 'kiln',
        scopes: ['openid'],
        principalClaim: 'sub',
        grants: [],
      },
    },
  });
  t.after(() => f.close());
  const res = await f.app.inject('/signin/oidc/callback?code=abc&state=xyz');
  assert.equal(res.statusCode, 401);
  assert.match(res.body, /this sign-in was not started here/);
  const forged = await f.app.inject({
    url: '/signin/oidc/callback?code=abc&state=xyz',
    headers: { cookie: `kiln_oidc=${new CookieSigner(Buffer.alloc(32, 1)).seal('oidc', {})}` },
  });
  assert.equal(forged.statusCode, 401);
  // The provider is down: a clear message, not a crash.
  const start = await f.app.inject('/signin/oidc?next=%2Fworkers');
  assert.equal(start.statusCode, 503);
  assert.match(start.body, /cannot reach the identity provider http:\/\/127.0.0.1:9\//);
});

test('a percent-encoded path gets the rules of the route it reaches', async (t) => {
  const f = await createUiFixture({
    auth: AUTH,
    ui: { access: 'public', metricsAccess: 'signedIn' },
  });
  t.after(() => f.close());
  assert.equal((await f.app.inject('/metrics')).statusCode, 401);
  const encoded = await f.app.inject('/%6Detrics');
  assert.equal(encoded.statusCode, 401, 'the spelling does not matter');
});
