/**
 * Two `kiln serve` processes, the way an operator runs them: a storage node
 * with the default disk stores, and frontends whose CAS and action cache are
 * `grpc` stores pointing at it. What a client stores through one frontend is
 * on the storage node and served by another frontend; with the storage node
 * gone, the frontend answers UNAVAILABLE naming it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServiceError, status } from '@grpc/grpc-js';
import {
  ActionResult,
  Compressor_Value,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { sha256Digest } from '../support/blobs.ts';
import { call, connectClients, type KilnClients } from '../support/grpc-clients.ts';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';

describe('frontends over a storage node (grpc stores, real processes)', () => {
  let dir: string;
  let storage: KilnProcess;
  let config: string;
  const started: KilnProcess[] = [];
  const clients: KilnClients[] = [];

  async function frontend(): Promise<KilnClients> {
    const name = `frontend-${started.length}`;
    const kiln = await startKiln([
      ...['--config', config, '--listen', '127.0.0.1:0', '--http-listen', 'off'],
      ...['--data-dir', join(dir, name)],
    ]);
    started.push(kiln);
    const c = connectClients(kiln.address);
    clients.push(c);
    return c;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-grpc-e2e-'));
    storage = await startKiln([
      ...['--listen', '127.0.0.1:0', '--http-listen', 'off', '--data-dir', join(dir, 'storage')],
    ]);
    started.push(storage);
    config = join(dir, 'frontend.yaml');
    await writeFile(
      config,
      [
        'storage:',
        `  cas: { grpc: { endpoint: "grpc://${storage.address}", instanceName: main } }`,
        `  actionCache: { grpc: { endpoint: "grpc://${storage.address}", instanceName: main } }`,
        `  assets: { grpc: { endpoint: "grpc://${storage.address}", instanceName: assets } }`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const kiln of started) await kiln.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('blobs and action results stored through one frontend are on the storage node and served by another', async () => {
    const first = await frontend();
    const blob = Buffer.from('output of an action, stored through the first frontend\n');
    const up = await call(first.cas, 'batchUpdateBlobs', {
      instanceName: 'team-a',
      digestFunction: 0,
      requests: [{ digest: sha256Digest(blob), data: blob, compressor: Compressor_Value.IDENTITY }],
    });
    assert.equal(up.responses[0]?.status?.code, status.OK);
    const action = sha256Digest(Buffer.from('an action'));
    await call(first.actionCache, 'updateActionResult', {
      instanceName: 'team-a',
      actionDigest: action,
      actionResult: ActionResult.fromPartial({ exitCode: 0, stdoutDigest: sha256Digest(blob) }),
      resultsCachePolicy: undefined,
      digestFunction: 0,
    });

    // The storage node holds the blob, under the configured instance.
    const direct = connectClients(storage.address);
    clients.push(direct);
    const read = await call(direct.cas, 'batchReadBlobs', {
      instanceName: 'main',
      digestFunction: 0,
      digests: [sha256Digest(blob)],
      acceptableCompressors: [],
    });
    assert.deepEqual(read.responses[0]?.data, blob);

    // A second frontend, with nothing of its own, serves both.
    const second = await frontend();
    const hit = await call(second.actionCache, 'getActionResult', {
      instanceName: 'team-a',
      actionDigest: action,
      inlineStdout: true,
      inlineStderr: false,
      inlineOutputFiles: [],
      digestFunction: 0,
    });
    assert.deepEqual(hit.stdoutDigest, sha256Digest(blob));
    assert.deepEqual(hit.stdoutRaw, blob);
    // Action cache entries are per instance on the frontends, as always.
    await assert.rejects(
      call(second.actionCache, 'getActionResult', {
        instanceName: 'team-b',
        actionDigest: action,
        inlineStdout: false,
        inlineStderr: false,
        inlineOutputFiles: [],
        digestFunction: 0,
      }),
      (err: ServiceError) => err.code === status.NOT_FOUND,
    );
  });

  it('with the storage node down, a frontend answers UNAVAILABLE naming it', async () => {
    const front = await frontend();
    assert.equal(await storage.stop(), 0);
    await assert.rejects(
      call(front.cas, 'findMissingBlobs', {
        instanceName: '',
        blobDigests: [sha256Digest(Buffer.from('anything'))],
        digestFunction: 0,
      }),
      (err: ServiceError) => {
        assert.equal(err.code, status.UNAVAILABLE, err.details);
        assert.match(
          err.details,
          new RegExp(`storage backend grpc://${storage.address} is unavailable`),
        );
        return true;
      },
    );
  });
});
