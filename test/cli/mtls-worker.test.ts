/**
 * Mutual TLS from the configuration file (`server.tls.clientCa`): the CLI and
 * HTTPS clients need a certificate signed by the client CA, and a separate
 * `kiln worker` with one joins over grpcs:// and runs actions.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KilnProcess, startKiln, startKilnWorker } from '../support/kiln-process.ts';
import {
  createTestCa,
  type IssuedCertificate,
  opensslMissing,
  type TestCa,
} from '../support/test-certificates.ts';
import { httpsGet } from '../support/tls-probes.ts';
import { kiln, oneErrorLine } from './kiln-cli.ts';

const missing = opensslMissing();

describe('mutual TLS', { skip: !process.env.CI && missing }, () => {
  let dir: string;
  let ca: TestCa;
  let client: IssuedCertificate;
  let stranger: IssuedCertificate;
  let server: KilnProcess;
  let worker: ChildProcess | undefined;
  let httpUrl: string;
  const cli = (...args: string[]) => kiln(args, { server: `grpcs://${server.address}` });
  const withCert = () => ['--tls-ca', ca.cert, '--tls-cert', client.cert, '--tls-key', client.key];

  before(async () => {
    assert.equal(missing, undefined, missing);
    dir = await mkdtemp(join(tmpdir(), 'kiln-mtls-'));
    ca = await createTestCa(dir);
    const serverCert = await ca.issue('kiln-server', 'server');
    client = await ca.issue('ci', 'client');
    await mkdir(join(dir, 'other'));
    stranger = await (await createTestCa(join(dir, 'other'), 'Other CA')).issue(
      'stranger',
      'client',
    );
    const config = join(dir, 'kiln.yaml');
    await writeFile(
      config,
      [
        'server:',
        '  tls:',
        `    cert: ${serverCert.cert}`,
        `    key: ${serverCert.key}`,
        `    clientCa: ${ca.cert}`,
        'execution:',
        '  localWorkers: 0',
        '',
      ].join('\n'),
    );
    server = await startKiln([
      ...['--config', config, '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')],
    ]);
    httpUrl = /Web UI and metrics on (\S+?)\/?\n/.exec(server.stdout())?.[1] ?? '';
  });
  after(async () => {
    if (worker !== undefined && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
    await server?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('says client certificates are required', () => {
    assert.match(server.stdout(), /serving on grpcs:\/\/\S+ \(.*client certificates required\)/);
  });

  it('refuses a client without a certificate, or with one from another CA', async () => {
    const bare = await cli('capabilities', '--tls-ca', ca.cert);
    assert.equal(bare.code, 1);
    assert.match(oneErrorLine(bare), /over TLS \(see --tls-ca, .*certificate required/);
    const foreign = await cli(
      ...['capabilities', '--tls-ca', ca.cert],
      ...['--tls-cert', stranger.cert, '--tls-key', stranger.key],
    );
    assert.equal(foreign.code, 1);
    // grpc-js reports this refusal as no more than "Failed to connect".
    assert.match(oneErrorLine(foreign), /cannot reach the server/);
  });

  it('accepts a client with a certificate signed by the client CA', async () => {
    const caps = await cli('capabilities', ...withCert());
    assert.equal(caps.code, 0, caps.stderr);
  });

  it('serves HTTPS /metrics only to clients with a certificate', async () => {
    const ok = await httpsGet(`${httpUrl}/metrics`, {
      ca: ca.cert,
      cert: client.cert,
      key: client.key,
    });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^# HELP /m);
    await assert.rejects(httpsGet(`${httpUrl}/metrics`, { ca: ca.cert }));
  });

  it('runs an action on a kiln worker that joined over mutual TLS', async () => {
    const started = await startKilnWorker([
      ...['--scheduler', `grpcs://${server.address}`, ...withCert()],
      ...['--concurrency', '1', '--work-dir', join(dir, 'worker')],
      ...['--action-users', 'off', '--sandbox', 'off'],
    ]);
    worker = started.child;
    assert.match(started.stdout, /is working for grpcs:\/\/127\.0\.0\.1:\d+/);
    const inputs = join(dir, 'inputs');
    await mkdir(inputs);
    await writeFile(join(inputs, 'in.txt'), 'through mTLS\n');
    const res = await cli('run', ...withCert(), '--input-root', inputs, '--', 'cat', 'in.txt');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'through mTLS\n');
  });
});
