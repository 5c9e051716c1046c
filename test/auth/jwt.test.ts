/**
 * Bearer JWTs checked against a key set file: each check that a token must
 * pass is tried with a token that fails it, the claims map to principal,
 * permissions and instances as documented, and verdicts are cached but
 * never past the token's expiry.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata } from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import {
  type AuthenticationResult,
  type Authenticator,
  describeAuthMode,
  isFailure,
  openAuthenticator,
} from '../../src/auth/authenticator.ts';
import { allows } from '../../src/auth/permissions.ts';
import { type AuthConfig, authSchema } from '../../src/config/auth-schema.ts';
import { silentLogger } from '../../src/util/logger.ts';
import {
  AUDIENCE,
  ISSUER,
  jwksText,
  type SigningKey,
  signingKey,
  signJwt,
  tamperedJwt,
  unsignedJwt,
} from './jwt-support.ts';

const PEER = '192.0.2.9:4000';

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

async function check(auth: Authenticator, token: string): Promise<AuthenticationResult> {
  return auth.authenticate(bearer(token), PEER);
}

async function refusal(auth: Authenticator, token: string): Promise<string> {
  const result = await check(auth, token);
  assert.ok(isFailure(result), `accepted as ${JSON.stringify(result)}`);
  return result.failure;
}

describe('JWT authentication (key set file)', () => {
  let dir: string;
  let jwksFile: string;
  let rsa: SigningKey;
  let ec: SigningKey;
  let ed: SigningKey;
  let stranger: SigningKey;
  let auth: Authenticator;

  const config = (jwt: Record<string, unknown>): AuthConfig =>
    authSchema.parse({
      tokens: [{ principal: 'static', token: 'static.token.with-dots', permissions: ['cas:read'] }],
      jwt: { issuer: ISSUER, audience: AUDIENCE, jwksFile, ...jwt },
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-jwt-'));
    jwksFile = join(dir, 'jwks.json');
    [rsa, ec, ed, stranger] = await Promise.all([
      signingKey('RS256', 'rsa-1'),
      signingKey('ES256', 'ec-1'),
      signingKey('EdDSA', 'ed-1'),
      signingKey('ES256', 'ec-1'),
    ]);
    await writeFile(jwksFile, jwksText(rsa, ec, ed));
    auth = await openAuthenticator(
      config({
        clockSkewSeconds: 5,
        permissionsClaim: 'scope',
        instancesClaim: 'kiln_instances',
        permissions: ['cas:read'],
      }),
      { log: silentLogger(), mutualTls: false, jwksMinRefreshMs: 0 },
    );
  });
  after(async () => {
    auth?.close?.();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('accepts RS256, ES256 and EdDSA tokens and maps their claims', async () => {
    for (const key of [rsa, ec, ed]) {
      const token = await signJwt(key, {
        sub: `ci-${key.alg}`,
        scope: 'openid ac:write execute not-a-kiln-permission',
        kiln_instances: ['team-a'],
      });
      const who = await check(auth, token);
      assert.ok(!isFailure(who), isFailure(who) ? who.failure : '');
      assert.equal(who.principal, `ci-${key.alg}`);
      assert.ok(who.authenticated);
      assert.deepEqual([...who.permissions].sort(), ['ac:write', 'cas:read', 'execute']);
      assert.ok(allows(who, 'execute', 'team-a/linux'));
      assert.ok(!allows(who, 'execute', 'team-b'), 'a token for team-a reaches team-b');
    }
  });

  it('takes permissions from an array claim too, ignoring names Kiln does not know', async () => {
    const token = await signJwt(ec, {
      scope: ['worker', 'admin:everything', 'cas:write'],
      kiln_instances: '',
    });
    const who = await check(auth, token);
    assert.ok(!isFailure(who));
    assert.deepEqual([...who.permissions].sort(), ['cas:read', 'cas:write', 'worker']);
    assert.ok(allows(who, 'worker', 'any/instance'));
  });

  it('refuses an expired token, and one whose expiry is beyond the clock skew only', async () => {
    assert.match(
      await refusal(auth, await signJwt(ec, { expiresIn: -3600, kiln_instances: [''] })),
      /the JWT expired at .*get a new token/,
    );
    // Expired 2 s ago, within the 5 s of skew: still good.
    const skewed = await check(auth, await signJwt(ec, { expiresIn: -2, kiln_instances: [''] }));
    assert.ok(!isFailure(skewed));
  });

  it('refuses a token that is not valid yet', async () => {
    const early = await signJwt(ec, { notBefore: 120, kiln_instances: [''] });
    assert.match(await refusal(auth, early), /not valid yet/);
  });

  it('refuses a token without an expiry', async () => {
    const forever = await signJwt(ec, { expiresIn: null, kiln_instances: [''] });
    assert.match(await refusal(auth, forever), /no expiry/);
  });

  it('refuses a token from another issuer or for another audience', async () => {
    const issuer = await signJwt(ec, { iss: 'https://evil.test', kiln_instances: [''] });
    assert.match(await refusal(auth, issuer), /issuer "https:\/\/evil\.test" is not/);
    const audience = await signJwt(ec, { aud: 'another-service', kiln_instances: [''] });
    assert.match(
      await refusal(auth, audience),
      /audience "another-service" does not include "kiln"/,
    );
  });

  it('refuses a bad signature: a changed payload, or a key that only claims a known kid', async () => {
    const good = await signJwt(ec, { kiln_instances: ['team-a'] });
    const widened = tamperedJwt(good, { kiln_instances: [''], scope: 'admin' });
    assert.match(await refusal(auth, widened), /signature does not verify/);
    const forged = await signJwt(stranger, { kiln_instances: [''] });
    assert.match(await refusal(auth, forged), /signature does not verify/);
  });

  it('refuses alg none and symmetric (HS256) tokens', async () => {
    assert.match(await refusal(auth, unsignedJwt('ec-1')), /algorithm is not allowed/);
    const secret = new TextEncoder().encode('a shared secret that is 32 bytes!');
    const hs = await new SignJWT({ kiln_instances: [''] })
      .setProtectedHeader({ alg: 'HS256', kid: 'ec-1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('mallory')
      .setExpirationTime('5m')
      .sign(secret);
    assert.match(await refusal(auth, hs), /algorithm is not allowed/);
  });

  it('refuses a token without the instances claim, or without a principal', async () => {
    assert.match(await refusal(auth, await signJwt(ec)), /no "kiln_instances" claim/);
    assert.match(
      await refusal(auth, await signJwt(ec, { sub: '', kiln_instances: [''] })),
      /"sub"/,
    );
  });

  it('keeps static tokens, even ones with dots, and refuses other non-JWT tokens', async () => {
    const who = await check(auth, 'static.token.with-dots');
    assert.ok(!isFailure(who));
    assert.equal(who.principal, 'static');
    assert.match(await refusal(auth, 'not-a-jwt'), /neither a configured token nor a JWT/);
  });

  it('answers a token it verified before at once, from its cache', async () => {
    const token = await signJwt(rsa, { sub: 'cached', kiln_instances: [''] });
    const first = auth.authenticate(bearer(token), PEER);
    assert.ok(first instanceof Promise, 'the first sight of a token is verified');
    const meanwhile = auth.authenticate(bearer(token), PEER);
    assert.equal(meanwhile, first, 'calls arriving during a verification share it');
    assert.ok(!isFailure(await first));
    const second = auth.authenticate(bearer(token), PEER);
    assert.ok(!(second instanceof Promise), 'the second is not verified again');
    assert.ok(!isFailure(second) && second.principal === 'cached');
  });

  it('never answers from its cache past the expiry', async () => {
    const strict = await openAuthenticator(config({ clockSkewSeconds: 0 }), {
      log: silentLogger(),
      mutualTls: false,
    });
    try {
      const token = await signJwt(ec, { sub: 'brief', expiresIn: 1 });
      assert.ok(!isFailure(await check(strict, token)));
      await sleep(2100);
      assert.match(await refusal(strict, token), /expired/);
    } finally {
      strict.close?.();
    }
  });

  it('loads the key set again for an unknown key id, so a rotation is picked up', async () => {
    const rotated = await signingKey('ES256', 'ec-2');
    const token = await signJwt(rotated, { sub: 'after-rotation', kiln_instances: [''] });
    assert.match(await refusal(auth, token), /not in the key set of auth\.jwt\.jwksFile/);
    await writeFile(jwksFile, jwksText(rsa, rotated));
    const who = await check(auth, token);
    assert.ok(!isFailure(who), isFailure(who) ? who.failure : '');
    assert.equal(who.principal, 'after-rotation');
  });

  it('says at start that JWTs are accepted', () => {
    assert.match(
      describeAuthMode(config({}), '0.0.0.0'),
      /^Authentication on: 1 token, JWTs from https:\/\/idp\.test \(keys from .*jwks\.json\); callers without a token may: nothing$/,
    );
  });

  it('refuses to start with a key set file that does not load', async () => {
    await writeFile(join(dir, 'broken.json'), '{"keys": 3}');
    await assert.rejects(
      openAuthenticator(config({ jwksFile: join(dir, 'broken.json') }), {
        log: silentLogger(),
        mutualTls: false,
      }),
      /broken\.json is not a JSON Web Key Set/,
    );
  });

  it('accepts only an https:// key set URL, and exactly one key set source', () => {
    const problems = (jwt: Record<string, unknown>): string =>
      JSON.stringify(
        authSchema.safeParse({ jwt: { issuer: ISSUER, audience: AUDIENCE, ...jwt } }).error?.issues,
      );
    assert.match(problems({ jwksUrl: 'http://idp.test/jwks' }), /must be an https:\/\/ URL/);
    assert.match(
      problems({ jwksUrl: 'https://idp.test/jwks', jwksFile: jwksFile }),
      /exactly one of jwksFile and jwksUrl/,
    );
    assert.match(problems({}), /exactly one of jwksFile and jwksUrl/);
    assert.match(problems({ jwksFile, jwksCa: '/ca.pem' }), /jwksCa applies to jwksUrl only/);
  });
});
