/**
 * The role examples of deploy/examples, loaded and run as they are: a
 * storage node (storage.yaml), two frontends on one PostgreSQL scheduler
 * (frontend.yaml) and a `kiln worker` that joined one of them run an action
 * sent to each frontend; one process with every role (all-in-one.yaml) runs
 * one too. Only addresses, ports, directories and secrets come from the
 * test, through the variables the examples read.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type ServiceError, status } from '@grpc/grpc-js';
import { bearerTokenInterceptor } from '../../src/client/bearer-token.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { type StoreRef, storeChildren } from '../../src/config/schema.ts';
import { call, connectClients } from '../support/grpc-clients.ts';
import {
  KILN_BIN,
  type KilnProcess,
  NODE24,
  ROOT,
  startKiln,
  startKilnWorker,
} from '../support/kiln-process.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';

const EXAMPLES = join(ROOT, 'deploy', 'examples');
const run = promisify(execFile);

const secret = () => randomBytes(16).toString('hex');
const tokens = { storage: secret(), bazel: secret(), worker: secret() };

/** The variables the examples read, as the test sets them. */
function exampleEnv(storageAddress: string, pgUrl: string): Record<string, string> {
  return {
    KILN_STORAGE_ENDPOINT: `grpc://${storageAddress}`,
    KILN_STORAGE_TOKEN: tokens.storage,
    KILN_POSTGRES_URL: pgUrl,
    KILN_BAZEL_TOKEN: tokens.bazel,
    KILN_WORKER_TOKEN: tokens.worker,
  };
}

/** The store kinds of a store tree, depth first, named stores followed. */
function storeKinds(ref: StoreRef, named: Readonly<Record<string, StoreRef>>): string[] {
  const node = typeof ref === 'string' ? named[ref] : ref;
  assert.ok(node !== undefined, `no store named ${String(ref)}`);
  if (typeof node === 'string') return storeKinds(node, named);
  return [node.kind, ...storeChildren(node).flatMap((c) => storeKinds(c.ref, named))];
}

describe('role examples (deploy/examples)', () => {
  let dir: string;
  let pg: PostgresServer;
  const kilns: KilnProcess[] = [];
  const workers: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-roles-'));
    // Searchable by the users actions run as: the worker's directory is inside.
    await chmod(dir, 0o755);
    pg = await startPostgres();
  });

  after(async () => {
    for (const w of workers) {
      if (w.exitCode === null && w.signalCode === null) {
        w.kill('SIGTERM');
        await once(w, 'exit');
      }
    }
    await Promise.all(kilns.map((k) => k.stop()));
    await pg?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** `kiln serve` with an example file; the rest of it as written. */
  async function serve(example: string, name: string, env: Record<string, string>) {
    const kiln = await startKiln(
      [
        '--config',
        join(EXAMPLES, example),
        '--listen',
        '127.0.0.1:0',
        '--http-listen',
        'off',
        '--data-dir',
        join(dir, name),
      ],
      { env },
    );
    kilns.push(kiln);
    return kiln;
  }

  /** `kiln run` through `address` as Bazel would call it (its token): the --json result. */
  async function runAction(address: string, name: string) {
    const input = join(dir, `input-${name}`);
    await mkdir(input, { recursive: true });
    await writeFile(join(input, 'in.txt'), `uploaded through ${name}\n`);
    const { stdout } = await run(
      NODE24,
      [
        KILN_BIN,
        'run',
        '--server',
        `grpc://${address}`,
        '--json',
        '--input-root',
        input,
        '--output',
        'out.txt',
        '--',
        'sh',
        '-c',
        `tr a-z A-Z < in.txt > out.txt; echo ran ${name}`,
      ],
      { env: { ...process.env, KILN_TOKEN: tokens.bazel } },
    );
    const result = JSON.parse(stdout) as {
      exitCode: number;
      stdout: string;
      worker: string;
      outputFiles: { path: string; digest: string }[];
    };
    assert.equal(result.exitCode, 0, stdout);
    assert.equal(result.stdout, `ran ${name}\n`);
    assert.equal(
      await readFile(join(input, 'out.txt'), 'utf8'),
      `UPLOADED THROUGH ${name.toUpperCase()}\n`,
    );
    return result;
  }

  it('each example loads with the config loader and has its role', async () => {
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, ['all-in-one.yaml', 'frontend.yaml', 'storage.yaml']);
    const env = exampleEnv('storage.build.internal:8980', 'postgresql://kiln@db/kiln');
    const load = (f: string) => loadConfig({ file: join(EXAMPLES, f), env });

    const storage = await load('storage.yaml');
    assert.equal(storage.execution.enabled, false);
    assert.deepEqual(storeKinds(storage.storage.cas, storage.storage.stores), ['disk']);
    assert.deepEqual(storeKinds(storage.storage.actionCache, {}), ['disk']);

    const frontend = await load('frontend.yaml');
    const { stores } = frontend.storage;
    assert.deepEqual(storeKinds(frontend.storage.cas, stores), [
      'existenceCache',
      'readCaching',
      'disk',
      'grpc',
    ]);
    assert.deepEqual(storeKinds(frontend.storage.actionCache, stores), ['grpc']);
    assert.deepEqual(storeKinds(frontend.storage.assets, stores), ['grpc']);
    assert.equal(frontend.execution.enabled, true);
    assert.equal(frontend.execution.localWorkers, 0);
    assert.deepEqual(Object.keys(frontend.execution.scheduler), ['postgres']);

    const all = await load('all-in-one.yaml');
    assert.equal(all.execution.enabled, true);
    assert.ok(all.execution.localWorkers > 0);
    assert.equal(all.execution.scheduler, 'memory');
    assert.deepEqual(storeKinds(all.storage.cas, all.storage.stores), ['disk']);
  });

  it('a storage node, two frontends and a joined worker run an action through each frontend', {
    timeout: 120_000,
  }, async () => {
    const storage = await serve('storage.yaml', 'storage', exampleEnv('unused:1', pg.url));
    const env = exampleEnv(storage.address, pg.url);
    // Started together: both apply the scheduler's schema migrations at once.
    const [one, two] = (await Promise.all([
      serve('frontend.yaml', 'frontend-1', env),
      serve('frontend.yaml', 'frontend-2', env),
    ])) as [KilnProcess, KilnProcess];
    // The only worker joins the first frontend, as it would any process that schedules.
    const worker = await startKilnWorker(
      [
        '--scheduler',
        `grpc://${one.address}`,
        '--name',
        'roles-worker',
        '--concurrency',
        '1',
        '--work-dir',
        join(dir, 'worker'),
      ],
      { KILN_TOKEN: tokens.worker },
    );
    workers.push(worker.child);

    const viaOne = await runAction(one.address, 'frontend-1');
    // The second frontend has no worker: its action is queued in PostgreSQL
    // and run by the first frontend's worker, on inputs from the storage node.
    const viaTwo = await runAction(two.address, 'frontend-2');
    assert.equal(viaOne.worker, 'roles-worker');
    assert.equal(viaTwo.worker, 'roles-worker');

    // The outputs are on the storage node, which the frontends' token reads.
    const node = connectClients(storage.address, [bearerTokenInterceptor(tokens.storage)]);
    try {
      const digests = [viaOne, viaTwo].map((r) => {
        const [hash, size] = (r.outputFiles[0]?.digest ?? '').split('/');
        return { hash: hash ?? '', sizeBytes: Number(size) };
      });
      const missing = await call(node.cas, 'findMissingBlobs', {
        instanceName: '',
        blobDigests: digests,
        digestFunction: 0,
      });
      assert.deepEqual(missing.missingBlobDigests, []);
    } finally {
      node.close();
    }
    // Nobody else: a caller without the frontends' token is refused.
    const stranger = connectClients(storage.address);
    try {
      await assert.rejects(
        call(stranger.cas, 'findMissingBlobs', {
          instanceName: '',
          blobDigests: [],
          digestFunction: 0,
        }),
        (err: ServiceError) =>
          err.code === status.UNAUTHENTICATED || err.code === status.PERMISSION_DENIED,
      );
    } finally {
      stranger.close();
    }
  });

  it('one process with every role runs an action', { timeout: 60_000 }, async () => {
    const all = await serve('all-in-one.yaml', 'all-in-one', exampleEnv('unused:1', pg.url));
    const result = await runAction(all.address, 'all-in-one');
    assert.ok(result.worker !== '', 'a worker of the process ran it');
  });
});
