// The web UI's access rules on a whole Kiln started by createServer, over
// real sockets: protected mode refuses another machine's address, tokens
// sign a browser in, and under TLS the session cookie is Secure.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import { parseConfigText } from '../../src/config/load-config.ts';
import { createServer, type KilnServer } from '../../src/server/create-server.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { createTestCa, opensslMissing } from '../support/test-certificates.ts';

async function startKiln(t: TestContext, yaml: string): Promise<KilnServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-web-access-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const config = parseConfigText(
    `${yaml}
storage:
  cas: { memory: { maxSize: 16MiB } }
  actionCache: { memory: { maxSize: 1MiB } }
execution:
  localWorkers: 0
`,
    'test.yaml',
    { overrides: { dataDir } },
  );
  const kiln = await createServer({ config, log: silentLogger() });
  t.after(() => kiln.close());
  return kiln;
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

const TOKENS = `
auth:
  tokens:
    - principal: ops
      token: web-ops-token-0123456789
      permissions: [admin, execute]
`;

/** The kiln_csrf cookie and the CSRF field of the sign-in page. */
async function signInForm(base: string, init: object = {}) {
  const page = await undiciFetch(`${base}/signin`, init);
  assert.equal(page.status, 200);
  const cookie = (page.headers.getSetCookie()[0] ?? '').split(';')[0] as string;
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  assert.ok(csrf && cookie.startsWith('kiln_csrf='));
  return { cookie, csrf };
}

test('in protected mode, the HTTP port refuses another machine and serves loopback', async (t) => {
  const address = externalAddress();
  if (address === undefined) {
    t.skip('this machine has no non-loopback IPv4 address');
    return;
  }
  const kiln = await startKiln(t, 'server:\n  listen: 0.0.0.0:0\n');
  const port = (kiln.httpAddress as string).split(':').pop();
  const remote = await fetch(`http://${address}:${port}/`);
  assert.equal(remote.status, 403);
  assert.match(await remote.text(), /protected mode/);
  const metrics = await fetch(`http://${address}:${port}/metrics`);
  assert.equal(metrics.status, 403);
  await metrics.arrayBuffer();
  const local = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(local.status, 200);
  await local.arrayBuffer();
});

test('with auth.tokens, pages need a sign-in, and a pasted token signs in', async (t) => {
  const kiln = await startKiln(t, `server:\n  listen: 127.0.0.1:0\n${TOKENS}`);
  const base = `http://${kiln.httpAddress}`;
  const home = await fetch(`${base}/`, { redirect: 'manual' });
  assert.equal(home.status, 303);
  assert.equal(home.headers.get('location'), '/signin?next=%2F');
  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.status, 200, '/metrics stays public by default');
  await metrics.arrayBuffer();

  const { cookie, csrf } = await signInForm(base);
  const res = await fetch(`${base}/signin/token`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, token: 'web-ops-token-0123456789', next: '/workers' }),
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/workers');
  const session = res.headers.getSetCookie().find((c) => c.startsWith('kiln_session='));
  assert.ok(session);
  assert.match(session, /; HttpOnly/);
  assert.match(session, /; SameSite=Lax/);
  assert.doesNotMatch(session, /; Secure/);
  const workers = await fetch(`${base}/workers`, {
    headers: { cookie: session.split(';')[0] as string },
  });
  assert.equal(workers.status, 200);
  assert.match(await workers.text(), /class="who" title="Your session">ops</);
});

test('under TLS the session cookie is Secure', async (t) => {
  const missing = opensslMissing();
  if (missing !== undefined) {
    if (process.env.CI === 'true') throw new Error(missing);
    t.skip(missing);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'kiln-web-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await createTestCa(dir);
  const server = await ca.issue('127.0.0.1', 'server');
  const kiln = await startKiln(
    t,
    `server:\n  listen: 127.0.0.1:0\n  tls: { cert: ${server.cert}, key: ${server.key} }\n${TOKENS}`,
  );
  const base = `https://${kiln.httpAddress}`;
  const dispatcher = new Agent({ connect: { ca: await readFile(ca.cert) } });
  t.after(() => dispatcher.close());
  const { cookie, csrf } = await signInForm(base, { dispatcher });
  const res = await undiciFetch(`${base}/signin/token`, {
    dispatcher,
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, token: 'web-ops-token-0123456789' }),
  });
  assert.equal(res.status, 303);
  const session = res.headers.getSetCookie().find((c) => c.startsWith('kiln_session='));
  assert.ok(session);
  assert.match(session, /; Secure/);
});
