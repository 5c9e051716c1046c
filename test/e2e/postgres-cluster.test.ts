/**
 * Two `kiln serve` processes sharing one PostgreSQL scheduler. Each keeps
 * its own storage (its own data directory); the test uploads the action's
 * blobs to both, as a shared store would make them visible. Process A runs
 * the only worker, process B none: an Execute sent to B is run by A's worker,
 * and the operation is followed through A (WaitExecution, GetOperation)
 * while B's own Execute stream also ends with the result. ListOperations
 * pages through the operations of both, each page asked of the other
 * process with the token the previous one gave.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { DigestMessage } from '../../src/digest/digest.ts';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { executeAll, uploadAction } from '../support/actions.ts';
import { call, connectClients, type KilnClients } from '../support/grpc-clients.ts';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';

let dir: string;
let pg: PostgresServer;
const kilns: KilnProcess[] = [];
const clients: KilnClients[] = [];

async function startNode(name: string, localWorkers: number): Promise<KilnProcess> {
  const config = {
    server: { httpListen: 'off', dataDir: join(dir, name) },
    execution: { localWorkers, scheduler: { postgres: { url: pg.url, poolSize: 4 } } },
  };
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(config));
  return startKiln(['--config', file, '--listen', '127.0.0.1:0']);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-pg-e2e-'));
  pg = await startPostgres();
  // Started together: both apply the schema migrations at once.
  const [a, b] = await Promise.all([startNode('a', 1), startNode('b', 0)]);
  for (const kiln of [a, b] as KilnProcess[]) {
    kilns.push(kiln);
    clients.push(connectClients(kiln.address));
  }
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(kilns.map((k) => k.stop()));
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('Execute on one process; WaitExecution and GetOperation on the other', {
  timeout: 90_000,
}, async () => {
  const [onA, onB] = clients as [KilnClients, KilnClients];
  const spec = { args: ['sh', '-c', 'echo ran-by-a'], salt: String(Date.now()) };
  const digest = await uploadAction(onA, spec);
  assert.deepEqual(await uploadAction(onB, spec), digest);

  let named: (name: string) => void = () => {};
  const name = new Promise<string>((resolve) => {
    named = resolve;
  });
  const viaB = executeAll(onB, digest, { onFirst: (op) => named(op.name) });

  const waited = await new Promise<Operation[]>((resolve, reject) => {
    void name.then((n) => {
      const ops: Operation[] = [];
      const stream = onA.execution.waitExecution({ name: n });
      stream.on('data', (op: Operation) => ops.push(op));
      stream.on('error', reject);
      stream.on('end', () => resolve(ops));
    });
  });
  const last = waited.at(-1) as Operation;
  assert.equal(last.done, true);
  const response = executeResponseOf(last);
  assert.equal(response?.status?.code ?? status.OK, status.OK, response?.status?.message);
  assert.equal(response?.result?.exitCode, 0);

  const got = await call(onA.operations, 'getOperation', { name: await name });
  assert.equal(got.done, true);
  // The worker wrote its stdout to A's storage.
  const stdoutDigest = response?.result?.stdoutDigest as DigestMessage;
  const read = await call(onA.cas, 'batchReadBlobs', {
    instanceName: '',
    digests: [stdoutDigest],
    acceptableCompressors: [],
    digestFunction: 0,
  });
  assert.equal(Buffer.from(read.responses[0]?.data ?? []).toString(), 'ran-by-a\n');
  // B's own Execute stream was told too, through the database's notification.
  const fromB = executeResponseOf((await viaB).at(-1) as Operation);
  assert.deepEqual(fromB?.result?.stdoutDigest, stdoutDigest);
  assert.equal(
    fromB?.result?.executionMetadata?.worker,
    response?.result?.executionMetadata?.worker,
  );
});

it('ListOperations pages through both processes with page tokens from either', {
  timeout: 90_000,
}, async () => {
  const [onA, onB] = clients as [KilnClients, KilnClients];
  const spec = { args: ['sh', '-c', 'echo listed'], salt: `list-${Date.now()}` };
  const digest = await uploadAction(onA, spec);
  await uploadAction(onB, spec);
  const names: string[] = [];
  for (const c of [onA, onB, onA, onB]) {
    const ops = await executeAll(c, digest);
    names.push((ops[0] as Operation).name);
  }

  // Two at a time, each page from the other process than the one before.
  const listed: string[] = [];
  let pageToken = '';
  for (let page = 0; ; page++) {
    const via = page % 2 === 0 ? onB : onA;
    const got = await call(via.operations, 'listOperations', {
      name: '',
      filter: '',
      pageSize: 2,
      pageToken,
      returnPartialSuccess: false,
    });
    listed.push(...got.operations.map((o) => o.name));
    pageToken = got.nextPageToken;
    if (pageToken === '') break;
  }
  assert.equal(new Set(listed).size, listed.length, 'no operation twice');
  // Oldest first: this test's four come last, in the order they were created.
  assert.deepEqual(listed.slice(-4), names);
});
