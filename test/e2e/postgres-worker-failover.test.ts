/**
 * A `kiln worker` outlives the `kiln serve` process it is connected to, with
 * the scheduler in PostgreSQL. Process A (the worker's) is killed with
 * SIGKILL while the worker runs an action a client submitted to process B;
 * a new process takes A's address (as a load balancer would send the worker
 * elsewhere). The worker keeps its bot session, the new process continues
 * it from the database, the action finishes once (it is not aborted, nor
 * run again after the worker timeout), and the client waiting on B gets
 * the result.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { executeAll, uploadAction } from '../support/actions.ts';
import { freePort } from '../support/free-port.ts';
import { connectClients, type KilnClients } from '../support/grpc-clients.ts';
import { type KilnProcess, startKiln, startKilnWorker } from '../support/kiln-process.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';

let dir: string;
let pg: PostgresServer;
const kilns: KilnProcess[] = [];
const clients: KilnClients[] = [];
let worker: ChildProcess | undefined;
let workerLog = '';

/** `kiln serve` with its own data directory on the shared database. */
async function serve(name: string, port: number): Promise<KilnProcess> {
  const config = {
    server: { httpListen: 'off', dataDir: join(dir, name) },
    execution: {
      localWorkers: 0,
      scheduler: { postgres: { url: pg.url, poolSize: 4 } },
    },
  };
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(config));
  const kiln = await startKiln(['--config', file, '--listen', `127.0.0.1:${port}`]);
  kilns.push(kiln);
  return kiln;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-pg-failover-'));
  pg = await startPostgres();
});

/** Ends a child process at once unless it has already exited. */
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

after(async () => {
  if (worker) await kill(worker);
  for (const c of clients) c.close();
  await Promise.all(
    kilns.map((k) => (k.child.signalCode === null ? k.stop() : Promise.resolve(null))),
  );
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('the worker of a killed process finishes its action through the next one', {
  timeout: 120_000,
}, async () => {
  const portA = await freePort();
  const a = await serve('a', portA);
  const b = await serve('b', 0);
  const onA = connectClients(a.address);
  const onB = connectClients(b.address);
  clients.push(onA, onB);
  const started = await startKilnWorker([
    ...['--scheduler', `grpc://127.0.0.1:${portA}`, '--concurrency', '1'],
    ...['--work-dir', join(dir, 'worker'), '--action-users', 'off', '--sandbox', 'off'],
  ]);
  worker = started.child;
  worker.stderr?.on('data', (d: Buffer) => {
    workerLog += d.toString();
  });

  // Each run of the action leaves a line in `runs`.
  const runs = join(dir, 'runs');
  const spec = {
    args: ['sh', '-c', `echo run >> ${runs}; sleep 4; echo finished`],
    salt: String(Date.now()),
  };
  const digest = await uploadAction(onA, spec);
  assert.deepEqual(await uploadAction(onB, spec), digest);
  const viaB = executeAll(onB, digest);

  // Once the action runs, A dies without a word to anyone.
  const running = async () => (await readFile(runs, 'utf8').catch(() => '')).length > 0;
  for (let i = 0; i < 200 && !(await running()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(await running(), `the action never started:\n${workerLog}`);
  await kill(a.child);

  // Another process takes A's address (and its disk, where the outputs go).
  const next = await serve('a', portA);

  const last = (await viaB).at(-1) as Operation;
  const response = executeResponseOf(last);
  assert.equal(response?.status?.code ?? status.OK, status.OK, response?.status?.message);
  assert.equal(response?.result?.exitCode, 0);
  assert.equal(await readFile(runs, 'utf8'), 'run\n', 'the action ran once');
  assert.match(next.stderr(), /bot session resumed/);
  assert.doesNotMatch(workerLog, /bot session lost/);
});
