/**
 * `server.tls` and the `--tls-*` flags of `kiln serve`: a certificate without
 * its key (or the reverse) and files that cannot be used are clear start-up
 * errors.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load-config.ts';
import { kiln } from '../cli/kiln-cli.ts';
import { createTestCa, opensslMissing } from '../support/test-certificates.ts';

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml', { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

describe('server.tls configuration', () => {
  it('accepts a certificate with its key, and a client CA with both', () => {
    const config = parseConfigText(
      'server:\n  tls:\n    cert: /etc/kiln/tls.crt\n    key: /etc/kiln/tls.key\n    clientCa: /etc/kiln/ca.crt\n',
      'test.yaml',
    );
    assert.deepEqual(config.server.tls, {
      cert: '/etc/kiln/tls.crt',
      key: '/etc/kiln/tls.key',
      clientCa: '/etc/kiln/ca.crt',
    });
    assert.deepEqual(parseConfigText('', 'empty').server.tls, {});
  });

  it('rejects a certificate without its key and a key without its certificate', () => {
    assert.deepEqual(problemsOf('server:\n  tls:\n    cert: a.crt\n'), [
      'server.tls.key: missing; the certificate server.tls.cert needs its private key',
    ]);
    assert.deepEqual(problemsOf('server:\n  tls:\n    key: a.key\n'), [
      'server.tls.cert: missing; the private key server.tls.key needs its certificate',
    ]);
  });

  it('rejects a client CA without TLS, and unknown fields', () => {
    assert.deepEqual(problemsOf('server:\n  tls:\n    clientCa: ca.crt\n'), [
      'server.tls.clientCa: mutual TLS needs TLS; set server.tls.cert and server.tls.key too',
    ]);
    assert.match(problemsOf('server:\n  tls:\n    certificate: a.crt\n').join('\n'), /certificate/);
  });

  it('lets the --tls-* flags fill in and override the file, checked together', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tls-config-'));
    try {
      const file = join(dir, 'kiln.yaml');
      await writeFile(file, 'server:\n  tls:\n    cert: file.crt\n    key: file.key\n');
      const config = await loadConfig({
        file,
        overrides: { tlsCert: 'flag.crt', tlsKey: 'flag.key', tlsClientCa: 'ca.crt' },
      });
      assert.deepEqual(config.server.tls, {
        cert: 'flag.crt',
        key: 'flag.key',
        clientCa: 'ca.crt',
      });
      await assert.rejects(loadConfig({ overrides: { tlsCert: 'a.crt' } }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /server\.tls\.key: missing/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const missing = opensslMissing();

describe('kiln serve with unusable TLS files', { skip: !process.env.CI && missing }, () => {
  let dir: string;
  let cert: string;
  let otherKey: string;
  const serve = (...args: string[]) =>
    kiln(['serve', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), ...args]);

  before(async () => {
    assert.equal(missing, undefined, missing);
    dir = await mkdtemp(join(tmpdir(), 'kiln-tls-files-'));
    const ca = await createTestCa(dir);
    cert = (await ca.issue('kiln', 'server')).cert;
    otherKey = (await ca.issue('other', 'server')).key;
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start with a certificate but no key', async () => {
    const res = await serve('--tls-cert', cert);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /server\.tls\.key: missing/);
  });

  it('refuses to start when a file cannot be read', async () => {
    const res = await serve('--tls-cert', cert, '--tls-key', join(dir, 'absent.key'));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /server\.tls\.key: cannot read \S*absent\.key: no such file/);
    assert.doesNotMatch(res.stdout, /serving/);
  });

  it('refuses to start with a key that is not the certificate’s, or a file that is no certificate', async () => {
    const mismatch = await serve('--tls-cert', cert, '--tls-key', otherKey);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /is not a usable private key for .*key values mismatch/);
    const notPem = join(dir, 'not.pem');
    await writeFile(notPem, 'hello\n');
    const badCa = await serve('--tls-cert', cert, '--tls-key', otherKey, '--tls-client-ca', notPem);
    assert.equal(badCa.code, 1);
    assert.match(badCa.stderr, /server\.tls\.clientCa: \S*not\.pem holds no PEM certificate/);
  });
});
