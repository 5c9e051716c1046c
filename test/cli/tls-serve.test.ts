/**
 * `kiln serve --tls-cert --tls-key`: gRPC and HTTP over TLS with real
 * certificates, the `kiln` CLI over grpcs://, plaintext clients refused, and
 * certificates rotated (or badly replaced) while the server runs.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import {
  commonName,
  createTestCa,
  type IssuedCertificate,
  opensslMissing,
  type TestCa,
} from '../support/test-certificates.ts';
import { httpsGet, servedName } from '../support/tls-probes.ts';
import { kiln, oneErrorLine } from './kiln-cli.ts';

const missing = opensslMissing();

/** Replaces `target` by a copy of `source` atomically, as rotation tools do. */
async function replaceFile(source: string, target: string): Promise<void> {
  await copyFile(source, `${target}.new`);
  await rename(`${target}.new`, target);
}

/** Waits until `check` resolves true, for up to `ms`. */
async function eventually(what: string, check: () => Promise<boolean>, ms = 15_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`timed out waiting until ${what}`);
    await sleep(200);
  }
}

describe('kiln serve over TLS', { skip: !process.env.CI && missing }, () => {
  let dir: string;
  let ca: TestCa;
  let first: IssuedCertificate;
  let server: KilnProcess;
  /** The files the server reads, which the tests replace. */
  const files = { cert: '', key: '' };
  let httpUrl: string;
  const cli = (...args: string[]) => kiln(args, { server: `grpcs://${server.address}` });

  before(async () => {
    assert.equal(missing, undefined, missing);
    dir = await mkdtemp(join(tmpdir(), 'kiln-tls-'));
    ca = await createTestCa(dir);
    first = await ca.issue('kiln-one', 'server');
    files.cert = join(dir, 'server.crt');
    files.key = join(dir, 'server.key');
    await copyFile(first.cert, files.cert);
    await copyFile(first.key, files.key);
    server = await startKiln([
      ...['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')],
      ...['--tls-cert', files.cert, '--tls-key', files.key],
    ]);
    httpUrl = /Web UI and metrics on (\S+?)\/?\n/.exec(server.stdout())?.[1] ?? '';
  });
  after(async () => {
    await server?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('says it serves grpcs:// and https://', () => {
    assert.match(server.stdout(), /Kiln is serving on grpcs:\/\/127\.0\.0\.1:\d+/);
    assert.match(httpUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers the kiln CLI over grpcs:// with the CA trusted', async () => {
    const caps = await cli('capabilities', '--tls-ca', ca.cert, '--json');
    assert.equal(caps.code, 0, caps.stderr);
    assert.ok(JSON.parse(caps.stdout));
    const file = join(dir, 'blob.txt');
    await writeFile(file, 'over TLS\n');
    const upload = await cli('cas', 'upload', '--tls-ca', ca.cert, file);
    assert.equal(upload.code, 0, upload.stderr);
    const digest = upload.stdout.trim().split(/\s+/)[0] ?? '';
    const cat = await cli('cas', 'cat', '--tls-ca', ca.cert, digest);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'over TLS\n');
  });

  it('refuses a plaintext client, and a client that does not trust the certificate', async () => {
    const plain = await kiln(['capabilities'], { server: `grpc://${server.address}` });
    assert.equal(plain.code, 1);
    oneErrorLine(plain);
    const untrusting = await cli('capabilities');
    assert.equal(untrusting.code, 1);
    assert.match(oneErrorLine(untrusting), /over TLS \(see --tls-ca, .*certificate/i);
  });

  it('serves /metrics over HTTPS', async () => {
    const res = await httpsGet(`${httpUrl}/metrics`, { ca: ca.cert });
    assert.equal(res.status, 200);
    assert.match(res.body, /^# HELP /m);
    await assert.rejects(fetch(`${httpUrl.replace('https:', 'http:')}/metrics`));
  });

  it('serves a replaced certificate to new connections without a restart', async () => {
    assert.equal(await servedName(server.address, { ca: ca.cert }), 'kiln-one');
    const second = await ca.issue('kiln-two', 'server');
    assert.equal(await commonName(second.cert), 'kiln-two');
    await replaceFile(second.cert, files.cert);
    await replaceFile(second.key, files.key);
    await eventually('gRPC serves the new certificate', async () => {
      return (await servedName(server.address, { ca: ca.cert })) === 'kiln-two';
    });
    const httpAddress = httpUrl.replace('https://', '');
    await eventually('HTTPS serves the new certificate', async () => {
      return (await servedName(httpAddress, { ca: ca.cert })) === 'kiln-two';
    });
    const caps = await cli('capabilities', '--tls-ca', ca.cert);
    assert.equal(caps.code, 0, caps.stderr);
    assert.match(server.stderr(), /TLS certificate reloaded/);
  });

  it('keeps the current certificate and logs an error when a replacement is not usable', async () => {
    const before = await servedName(server.address, { ca: ca.cert });
    await writeFile(files.cert, 'not a certificate\n');
    await eventually('the bad file is reported', async () =>
      server.stderr().includes('TLS files changed but are not usable'),
    );
    const line = server
      .stderr()
      .split('\n')
      .find((l) => l.includes('not usable'));
    assert.match(line ?? '', /"level":50/);
    assert.match(line ?? '', /server\.crt holds no PEM certificate/);
    assert.equal(await servedName(server.address, { ca: ca.cert }), before);
    const caps = await cli('capabilities', '--tls-ca', ca.cert);
    assert.equal(caps.code, 0, caps.stderr);
  });
});
