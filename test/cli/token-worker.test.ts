/**
 * A Kiln with an `auth` section end to end: `kiln serve` says authentication
 * is on, a `kiln worker` joins with a token holding `worker` (declared by its
 * sha256 digest), clients run actions with theirs, and the in-process
 * workers of `kiln serve` need none.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KilnProcess, startKiln, startKilnWorker } from '../support/kiln-process.ts';
import { kiln } from './kiln-cli.ts';

const CLIENT_TOKEN = 'client-token-5f1c';
const WORKER_TOKEN = 'worker-token-9a2e';

function authConfig(localWorkers: number): string {
  return [
    'auth:',
    '  tokens:',
    '    - principal: ci',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the configuration's ${ENV} syntax.
    '      token: ${CI_TOKEN}',
    '      permissions: [cas:read, cas:write, ac:read, execute]',
    '    - principal: workers',
    `      sha256: ${createHash('sha256').update(WORKER_TOKEN).digest('hex')}`,
    '      permissions: [worker, cas:read, cas:write]',
    'execution:',
    `  localWorkers: ${localWorkers}`,
    '',
  ].join('\n');
}

describe('tokens end to end', () => {
  let dir: string;
  let inputs: string;
  const servers: KilnProcess[] = [];
  let worker: ChildProcess | undefined;

  const serve = async (name: string, localWorkers: number): Promise<KilnProcess> => {
    const config = join(dir, `${name}.yaml`);
    await writeFile(config, authConfig(localWorkers));
    const server = await startKiln(
      ['--config', config, '--listen', '127.0.0.1:0', '--data-dir', join(dir, name)],
      { env: { CI_TOKEN: CLIENT_TOKEN } },
    );
    servers.push(server);
    return server;
  };
  const run = (server: KilnProcess, token: string) =>
    kiln(['run', '--input-root', inputs, '--', 'cat', 'in.txt'], {
      server: server.address,
      env: { KILN_TOKEN: token },
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-token-e2e-'));
    inputs = join(dir, 'inputs');
    await mkdir(inputs);
    await writeFile(join(inputs, 'in.txt'), 'with a token\n');
  });
  after(async () => {
    if (worker !== undefined && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
    for (const s of servers) await s.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a kiln worker joins with a worker token and runs a client action', async () => {
    const server = await serve('remote', 0);
    assert.match(
      server.stdout(),
      /Authentication on: 2 tokens; callers without a token may: nothing/,
    );
    const tokenFile = join(dir, 'worker-token');
    await writeFile(tokenFile, `${WORKER_TOKEN}\n`);
    worker = await startKilnWorker(
      [
        ...['--scheduler', `grpc://${server.address}`, '--token-file', tokenFile],
        ...['--concurrency', '1', '--work-dir', join(dir, 'worker')],
        ...['--action-users', 'off', '--sandbox', 'off'],
      ],
      { KILN_TOKEN: '' },
    ).then((w) => w.child);
    const res = await run(server, CLIENT_TOKEN);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'with a token\n');
  });

  it('without a token a client cannot run actions', async () => {
    const server = servers[0] as KilnProcess;
    const denied = await run(server, '');
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /not authenticated/);
  });

  it('the in-process workers of kiln serve need no token', async () => {
    const server = await serve('local', 1);
    const res = await run(server, CLIENT_TOKEN);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'with a token\n');
  });
});
