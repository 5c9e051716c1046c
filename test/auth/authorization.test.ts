import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Client, status } from '@grpc/grpc-js';
import { type Authenticator, openAuthenticator } from '../../src/auth/authenticator.ts';
import { METHOD_RULES, PUBLIC_METHODS } from '../../src/auth/method-permissions.ts';
import { PERMISSIONS, type Permission } from '../../src/auth/permissions.ts';
import { defaultRemoteAssetConfig } from '../../src/config/asset-schema.ts';
import type { AuthConfig, JwtConfig } from '../../src/config/auth-schema.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { AUDIENCE, ISSUER, jwksText, signingKey, signJwt } from './jwt-support.ts';
import { callMethod, METHOD_CALLS, rawClient } from './method-calls.ts';

const RIGHT = 'right-token-0123456789';
const OTHER_PREFIX = 'other-prefix-token-0123456789';
const lacking = (p: Permission): string => `lacks-${p.replace(':', '-')}-token`;

/** Tokens: one with everything, one for another instance prefix, one lacking each permission. */
const AUTH: AuthConfig = {
  anonymous: [],
  tokens: [
    { principal: 'everything', token: RIGHT, permissions: [...PERMISSIONS], instances: [''] },
    {
      principal: 'team-b',
      // Declared by digest, as a file that holds no secret would.
      sha256: createHash('sha256').update(OTHER_PREFIX).digest('hex'),
      permissions: [...PERMISSIONS],
      instances: ['team-b'],
    },
    ...PERMISSIONS.map((p) => ({
      principal: `all-but-${p}`,
      token: lacking(p),
      permissions: PERMISSIONS.filter((q) => q !== p),
      instances: [''],
    })),
  ],
};

/** The instance requests name; operation names carry none, so those calls check "". */
const INSTANCE = 'team-a/linux';

const AUTH_CODES = new Set([status.UNAUTHENTICATED, status.PERMISSION_DENIED]);

/** JWTs from the test issuer get every permission on every instance. */
const jwtConfig = (jwksFile: string): JwtConfig => ({
  issuer: ISSUER,
  audience: AUDIENCE,
  jwksFile,
  jwksRefreshSeconds: 300,
  clockSkewSeconds: 30,
  principalClaim: 'sub',
  permissions: [...PERMISSIONS],
  instances: [''],
});

/** Starts a server with every service: execution, Remote Asset and the given authenticator. */
async function startFullServer(authenticator: Authenticator, dir: string): Promise<TestServer> {
  return startTestServer({
    scheduler: {},
    remoteAsset: {
      config: { ...defaultRemoteAssetConfig(), enabled: true },
      associations: new MemoryBlobStore({ maxBytes: 1 << 20 }),
      tempDir: join(dir, 'downloads'),
    },
    authenticator,
  });
}

describe('authorization of every method', () => {
  let dir: string;
  let t: TestServer;
  let client: Client;
  let authenticator: Authenticator;
  let expiredJwt: string;
  let rightJwt: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-auth-'));
    const key = await signingKey('ES256', 'table');
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, jwksText(key));
    // An hour past its expiry: far beyond the clock skew.
    expiredJwt = await signJwt(key, { sub: 'expired-everything', expiresIn: -3600 });
    rightJwt = await signJwt(key, { sub: 'jwt-everything' });
    authenticator = await openAuthenticator(
      { ...AUTH, jwt: jwtConfig(jwksFile) },
      { log: silentLogger(), mutualTls: false },
    );
    t = await startFullServer(authenticator, dir);
    client = rawClient(t.server.address);
  });
  after(async () => {
    client.close();
    await t.stop();
    authenticator.close?.();
    await rm(dir, { recursive: true, force: true });
  });

  it('maps every method the server registers to a permission, or lists it as public', () => {
    const guarded = t.server.methodPaths.filter((path) => !PUBLIC_METHODS.has(path));
    const unmapped = guarded.filter((path) => !METHOD_RULES.has(path));
    assert.deepEqual(unmapped, []);
    // And the table names nothing the server does not serve (a stale entry hides a rename).
    const stale = [...METHOD_RULES.keys(), ...PUBLIC_METHODS].filter(
      (path) => !t.server.methodPaths.includes(path),
    );
    assert.deepEqual(stale, []);
    assert.equal(guarded.length, METHOD_CALLS.size);
    // Only the health checks are public.
    assert.deepEqual(
      [...PUBLIC_METHODS].map((path) => path.slice(0, path.lastIndexOf('/'))),
      ['/grpc.health.v1.Health', '/grpc.health.v1.Health'],
    );
  });

  for (const [path, rule] of METHOD_RULES) {
    const name = path.slice(path.lastIndexOf('.') + 1);
    const instance = INSTANCE;
    describe(name, () => {
      it('without credentials: UNAUTHENTICATED naming the permission and instance', async () => {
        const out = await callMethod(client, path, instance);
        assert.equal(out.code, status.UNAUTHENTICATED, out.details);
        assert.match(out.details, new RegExp(`permission ${rule.permission} on instance "`));
      });
      it('with a wrong token: UNAUTHENTICATED', async () => {
        const out = await callMethod(client, path, instance, 'Bearer not-a-token');
        assert.equal(out.code, status.UNAUTHENTICATED, out.details);
      });
      it('with an expired JWT: UNAUTHENTICATED saying it expired', async () => {
        const out = await callMethod(client, path, instance, `Bearer ${expiredJwt}`);
        assert.equal(out.code, status.UNAUTHENTICATED, out.details);
        assert.match(out.details, /the JWT expired at /);
      });
      it(`with a token lacking ${rule.permission}: PERMISSION_DENIED`, async () => {
        const out = await callMethod(client, path, instance, `Bearer ${lacking(rule.permission)}`);
        assert.equal(out.code, status.PERMISSION_DENIED, out.details);
        assert.match(out.details, new RegExp(`needs permission ${rule.permission} on instance`));
        assert.match(out.details, new RegExp(`all-but-${rule.permission}`));
      });
      it('with a token for another instance prefix: PERMISSION_DENIED', async () => {
        const out = await callMethod(client, path, instance, `Bearer ${OTHER_PREFIX}`);
        assert.equal(out.code, status.PERMISSION_DENIED, out.details);
      });
      it('with the right token: not an authorization error', async () => {
        const out = await callMethod(client, path, instance, `Bearer ${RIGHT}`);
        assert.ok(!AUTH_CODES.has(out.code), `${status[out.code]}: ${out.details}`);
      });
      it('with a valid JWT granting everything: not an authorization error', async () => {
        const out = await callMethod(client, path, instance, `Bearer ${rightJwt}`);
        assert.ok(!AUTH_CODES.has(out.code), `${status[out.code]}: ${out.details}`);
      });
    });
  }
});
