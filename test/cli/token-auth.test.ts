/**
 * The client commands send a bearer token from `--token-file` or
 * `KILN_TOKEN`, and say how to pass one when the server wants it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { kiln } from './kiln-cli.ts';

describe('client commands with a token', () => {
  let t: TestServer;
  let dir: string;
  let tokenFile: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-token-'));
    tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'cli-secret-token\n');
    t = await startTestServer({
      authenticator: createAuthenticator({
        anonymous: [],
        tokens: [
          {
            principal: 'cli',
            token: 'cli-secret-token',
            permissions: ['cas:read', 'cas:write'],
            instances: [''],
          },
        ],
      }),
    });
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('without a token the command fails with UNAUTHENTICATED and says how to pass one', async () => {
    const r = await kiln(['capabilities'], { server: t.server.address, env: { KILN_TOKEN: '' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not authenticated/);
    assert.match(r.stderr, /--token-file or KILN_TOKEN/);
    assert.match(r.stderr, /permission cas:read on instance ""/);
  });

  it('--token-file sends the token in the file', async () => {
    const r = await kiln(['capabilities', '--token-file', tokenFile], {
      server: t.server.address,
      env: { KILN_TOKEN: '' },
    });
    assert.equal(r.code, 0, r.stderr);
  });

  it('KILN_TOKEN sends the token from the environment', async () => {
    const file = join(dir, 'hello.txt');
    await writeFile(file, 'hello from the CLI');
    const r = await kiln(['cas', 'upload', file], {
      server: t.server.address,
      env: { KILN_TOKEN: 'cli-secret-token' },
    });
    assert.equal(r.code, 0, r.stderr);
  });

  it('a token the server does not know is UNAUTHENTICATED', async () => {
    const r = await kiln(['capabilities'], {
      server: t.server.address,
      env: { KILN_TOKEN: 'wrong-token' },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not authenticated.*bearer token is not valid/);
  });

  it('a missing token file is a usage error naming the file', async () => {
    const r = await kiln(['capabilities', '--token-file', join(dir, 'nope')], {
      server: t.server.address,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read --token-file .*nope: no such file/);
  });
});
