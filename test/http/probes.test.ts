/**
 * `/healthz` and `/readyz` of a real `kiln serve`: both 200 once it serves;
 * `/readyz` 503 while a large disk CAS loads its index and once SIGTERM has
 * begun the shutdown, agreeing with the gRPC health status each time; and
 * both answer callers without credentials where web auth turns them away
 * from every other page.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { check, healthClient } from '../support/health-client.ts';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import { writeLargeDiskStore } from './large-disk-store.ts';

/** Blobs in the large CAS: about 4 s of indexing on the 2-core development machine. */
const LARGE_CAS_BLOBS = 600_000;

const TOKEN = 'probes-test-token-51d2';

/** The HTTP `host:port` a `kiln serve` printed. */
function httpAddress(kiln: KilnProcess): string {
  const match = /Web UI and metrics on http:\/\/(\S+)\//.exec(kiln.stdout());
  assert.ok(match?.[1], `no HTTP address in:\n${kiln.stdout()}`);
  return match[1];
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: Headers;
}

async function get(address: string, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`http://${address}${path}`, { headers, redirect: 'manual' });
  return { status: res.status, body: await res.text(), headers: res.headers } satisfies Answer;
}

async function grpcStatus(address: string): Promise<string | undefined> {
  const client = healthClient(address);
  try {
    return (await check(client, '')).status;
  } finally {
    client.close();
  }
}

async function startIn(dir: string, config: string): Promise<KilnProcess> {
  const file = join(dir, 'kiln.yaml');
  await writeFile(file, config);
  return startKiln([
    '--config',
    file,
    '--listen',
    '127.0.0.1:0',
    '--http-listen',
    '127.0.0.1:0',
    '--data-dir',
    join(dir, 'data'),
  ]);
}

describe('/healthz and /readyz with web auth configured', () => {
  let dir: string;
  let kiln: KilnProcess;
  let http: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-probes-'));
    kiln = await startIn(
      dir,
      [
        'auth:',
        '  tokens:',
        '    - principal: ci',
        `      token: ${TOKEN}`,
        '      permissions: [cas:read, ac:read]',
        'ui:',
        '  access: signedIn',
        '  metricsAccess: signedIn',
        'execution:',
        '  localWorkers: 0',
        '',
      ].join('\n'),
    );
    http = httpAddress(kiln);
  });
  after(async () => {
    await kiln.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 200 on both without credentials, and says nothing but the phase', async () => {
    // The empty disk stores index at once; readiness follows the gRPC health status.
    let ready = await get(http, '/readyz');
    const deadline = Date.now() + 30_000;
    while (ready.status !== 200 && Date.now() < deadline) {
      await sleep(50);
      ready = await get(http, '/readyz');
    }
    assert.deepEqual([ready.status, ready.body], [200, 'ready\n']);
    assert.equal(await grpcStatus(kiln.address), 'SERVING');
    const live = await get(http, '/healthz');
    assert.deepEqual([live.status, live.body], [200, 'ok\n']);
    for (const answer of [ready, live]) {
      assert.equal(answer.headers.get('set-cookie'), null);
      assert.equal(answer.headers.get('cache-control'), 'no-store');
    }
    // A wrong token is not even looked at: probes carry none.
    const wrong = await get(http, '/readyz', { authorization: 'Bearer wrong' });
    assert.deepEqual([wrong.status, wrong.body], [200, 'ready\n']);
  });

  it('still turns away callers without credentials from every other page', async () => {
    const page = await get(http, '/');
    assert.equal(page.status, 303, 'the overview redirects to sign-in');
    assert.match(page.headers.get('location') ?? '', /^\/signin/);
    const json = await get(http, '/operations', { accept: 'application/json' });
    assert.equal(json.status, 401);
    assert.equal((await get(http, '/metrics')).status, 401);
    const wrong = await get(http, '/metrics', { authorization: 'Bearer wrong' });
    assert.equal(wrong.status, 401);
    const signedIn = await get(http, '/metrics', { authorization: `Bearer ${TOKEN}` });
    assert.equal(signedIn.status, 200);
  });
});

describe('/readyz while a large disk CAS loads its index', () => {
  let dir: string;
  const config = ['execution:', '  localWorkers: 0', ''].join('\n');
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-probes-large-'));
    // The default CAS: a disk store at <dataDir>/cas.
    await writeLargeDiskStore(join(dir, 'data', 'cas'), LARGE_CAS_BLOBS);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is 503 until the index is loaded, then 200, with gRPC health saying the same', async () => {
    const kiln = await startIn(dir, config);
    try {
      const http = httpAddress(kiln);
      const starting = await get(http, '/readyz');
      assert.deepEqual(
        [starting.status, starting.body],
        [503, 'not ready: starting (disk stores are loading their index)\n'],
      );
      assert.equal(await grpcStatus(kiln.address), 'NOT_SERVING');
      // The process answers: alive, just not ready.
      assert.equal((await get(http, '/healthz')).status, 200);
      let ready = starting;
      const deadline = Date.now() + 120_000;
      while (ready.status !== 200 && Date.now() < deadline) {
        await sleep(100);
        ready = await get(http, '/readyz');
      }
      assert.deepEqual([ready.status, ready.body], [200, 'ready\n']);
      assert.equal(await grpcStatus(kiln.address), 'SERVING');
    } finally {
      assert.equal(await kiln.stop(), 0);
    }
  });

  it('is 503 "shutting down" once SIGTERM begins the shutdown, while /healthz stays 200', async () => {
    const kiln = await startIn(dir, config);
    const http = httpAddress(kiln);
    // Still loading: the shutdown then waits for the index (the disk store
    // closes only once it has one), which keeps the process answering.
    assert.equal((await get(http, '/readyz')).status, 503);
    const exited = once(kiln.child, 'exit');
    kiln.child.kill('SIGTERM');
    while (!kiln.stderr().includes('shutting down')) await sleep(10);
    const draining = await get(http, '/readyz');
    assert.deepEqual([draining.status, draining.body], [503, 'not ready: shutting down\n']);
    assert.equal((await get(http, '/healthz')).status, 200);
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
  });
});
