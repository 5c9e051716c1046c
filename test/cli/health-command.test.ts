/**
 * Health checking on a real `kiln serve` with tokens configured: load
 * balancers (no credentials) get Check and Watch answered while every other
 * method still needs a token; SIGTERM turns Watch streams NOT_SERVING before
 * the listener closes; and `kiln health` exits 0 only when the server serves.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { HealthClient } from '../../src/gen/grpc/health/v1/health.js';
import { connectClients, type KilnClients } from '../support/grpc-clients.ts';
import { check, healthClient, watch } from '../support/health-client.ts';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import { kiln } from './kiln-cli.ts';

const TOKEN = 'health-e2e-token-7c31';

const CONFIG = [
  'auth:',
  '  tokens:',
  '    - principal: ci',
  `      token: ${TOKEN}`,
  '      permissions: [cas:read, cas:write, ac:read, execute]',
  'execution:',
  '  localWorkers: 0',
  '',
].join('\n');

describe('health of kiln serve', () => {
  let dir: string;
  let server: KilnProcess;
  let health: HealthClient;
  let clients: KilnClients;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-health-'));
    const config = join(dir, 'kiln.yaml');
    await writeFile(config, CONFIG);
    server = await startKiln([
      '--config',
      config,
      '--listen',
      '127.0.0.1:0',
      '--http-listen',
      'off',
      '--data-dir',
      join(dir, 'data'),
    ]);
    health = healthClient(server.address);
    clients = connectClients(server.address);
  });
  after(async () => {
    health.close();
    clients.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers Check "" SERVING to a caller without a token', async () => {
    assert.deepEqual(await check(health, ''), { status: 'SERVING' });
    assert.deepEqual(await check(health, 'build.bazel.remote.execution.v2.Execution'), {
      status: 'SERVING',
    });
  });

  it('still refuses other methods without a token: UNAUTHENTICATED', async () => {
    const code = await new Promise<number | undefined>((resolve) =>
      clients.capabilities.getCapabilities({ instanceName: '' }, (err) => resolve(err?.code)),
    );
    assert.equal(code, status.UNAUTHENTICATED);
  });

  it('answers NOT_FOUND for a service it does not serve', async () => {
    const out = await check(health, 'no.such.Service');
    assert.equal(out.error?.code, status.NOT_FOUND, JSON.stringify(out));
  });

  it('kiln health prints SERVING and exits 0, without a token', async () => {
    const r = await kiln(['health'], { server: server.address, env: { KILN_TOKEN: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'SERVING\n');
    const json = await kiln(['health', '--json'], { server: server.address });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { service: '', status: 'SERVING' });
  });

  it('kiln health exits 1 for a service the server does not serve', async () => {
    const r = await kiln(['health', 'no.such.Service'], { server: server.address });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not serve "no\.such\.Service"/);
  });

  it('kiln health refuses a malformed --timeout with exit 2', async () => {
    const r = await kiln(['health', '--timeout', 'soon'], { server: server.address });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--timeout "soon"/);
  });

  it('on SIGTERM, Watch gets NOT_SERVING before the stream ends, then kiln health exits 1', async () => {
    const watching = watch(health, '');
    assert.deepEqual(await watching.next(1), ['SERVING']);
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    assert.deepEqual(await watching.next(2), ['SERVING', 'NOT_SERVING']);
    const end = await watching.ended;
    assert.equal(end.code, status.UNAVAILABLE);
    assert.match(end.details, /shutting down/);
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, server.stderr());
    const r = await kiln(['health', '--timeout', '2'], { server: server.address });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the server/);
  });
});
