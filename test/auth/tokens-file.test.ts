/**
 * `auth.tokensFile`: tokens added to the configuration's, re-read when the
 * file changes (added and revoked without a restart); a change that does
 * not load keeps the previous tokens and logs an error naming the problem.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata } from '@grpc/grpc-js';
import { pino } from 'pino';
import {
  type Authenticator,
  describeAuthMode,
  isFailure,
  openAuthenticator,
} from '../../src/auth/authenticator.ts';
import { type AuthConfig, authSchema } from '../../src/config/auth-schema.ts';
import { silentLogger } from '../../src/util/logger.ts';

const POLL_MS = 50;

describe('tokens file', () => {
  let dir: string;
  let file: string;
  let config: AuthConfig;
  let auth: Authenticator;
  const lines: Array<{ level: number; msg: string; err?: string }> = [];

  /** The principal `token` authenticates as, or undefined when it is refused. */
  async function principalOf(token: string): Promise<string | undefined> {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    const result = await auth.authenticate(metadata, '192.0.2.1:1');
    return isFailure(result) ? undefined : result.principal;
  }

  /** Replaces the file as deployment tools do: write aside, then rename over it. */
  async function replaceFile(text: string): Promise<void> {
    await writeFile(`${file}.new`, text);
    await rename(`${file}.new`, file);
  }

  async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
      await sleep(POLL_MS);
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-tokens-file-'));
    file = join(dir, 'tokens.yaml');
    await writeFile(
      file,
      [
        '- principal: from-file',
        '  token: file-token-1',
        '  permissions: [cas:read]',
        '- principal: hashed-in-file',
        `  sha256: ${createHash('sha256').update('file-token-2').digest('hex')}`,
        '  permissions: [ac:read]',
        '  instances: [team-a]',
        '',
      ].join('\n'),
    );
    config = authSchema.parse({
      tokens: [{ principal: 'from-config', token: 'config-token', permissions: ['admin'] }],
      tokensFile: file,
    });
    const log = pino(
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()));
          done();
        },
      }),
    );
    auth = await openAuthenticator(config, { log, mutualTls: false, tokensFilePollMs: POLL_MS });
  });
  after(async () => {
    auth?.close?.();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('adds the file’s tokens (plain or by digest) to the configuration’s', async () => {
    assert.equal(await principalOf('config-token'), 'from-config');
    assert.equal(await principalOf('file-token-1'), 'from-file');
    assert.equal(await principalOf('file-token-2'), 'hashed-in-file');
    assert.equal(await principalOf('nobody'), undefined);
    assert.match(describeAuthMode(config, '0.0.0.0'), /1 token, tokens from .*tokens\.yaml/);
  });

  it('picks up added and revoked tokens when the file changes', async () => {
    await replaceFile(
      '[{"principal": "rotated", "token": "file-token-3", "permissions": ["cas:write"]}]',
    );
    await until(
      'the new token works',
      async () => (await principalOf('file-token-3')) === 'rotated',
    );
    assert.equal(await principalOf('file-token-1'), undefined, 'a revoked token still works');
    assert.equal(await principalOf('config-token'), 'from-config');
  });

  for (const [what, text, problem] of [
    ['bad YAML', '- principal: [unclosed\n', /is not valid YAML or JSON/],
    [
      'an unknown permission',
      '- {principal: x, token: t-x, permissions: [cas:read, superuser]}\n',
      /\[0\]\.permissions\[1\]: unknown permission "superuser"/,
    ],
    [
      'a token of the configuration',
      '- {principal: copy, token: config-token, permissions: [admin]}\n',
      /repeats a token .*entry \[0\] has the same token as auth\.tokens\[0\] \(principal "from-config"\)/,
    ],
  ] as const) {
    it(`keeps the previous tokens when the file changes to ${what}, and logs why`, async () => {
      const errors = lines.filter((l) => l.level === 50).length;
      await replaceFile(text);
      await until('the error is logged', () => lines.filter((l) => l.level === 50).length > errors);
      const error = lines.filter((l) => l.level === 50).at(-1);
      assert.match(error?.err ?? '', problem);
      assert.match(error?.msg ?? '', /the previous tokens stay in force/);
      assert.equal(await principalOf('file-token-3'), 'rotated');
    });
  }

  it('loads the file again once it is fixed', async () => {
    await replaceFile('- {principal: fixed, token: file-token-4, permissions: [cas:read]}\n');
    await until(
      'the fixed file is loaded',
      async () => (await principalOf('file-token-4')) === 'fixed',
    );
    assert.equal(await principalOf('file-token-3'), undefined);
  });

  it('refuses to start without a usable file, naming it', async () => {
    await assert.rejects(
      openAuthenticator(
        { ...config, tokensFile: join(dir, 'missing.yaml') },
        {
          log: silentLogger(),
          mutualTls: false,
        },
      ),
      /auth\.tokensFile: cannot read .*missing\.yaml: no such file/,
    );
  });
});
