/**
 * A worker's log lines about an action name the build (the tool invocation
 * id of the Execute that queued it, carried in the lease payload over the
 * Remote Worker API) and the action digest.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { pino } from 'pino';
import {
  type Digest as DigestMessage,
  RequestMetadata,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { detectPlatform } from '../../src/worker/platform-detect.ts';
import { type RunningWorker, startWorker } from '../../src/worker/start-worker.ts';
import { executeAll, uploadAction } from '../support/actions.ts';
import type { KilnClients } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const INVOCATION = 'b7a4c1d2-log-context';

function execute(clients: KilnClients, actionDigest: DigestMessage): Promise<Operation[]> {
  const metadata = new Metadata();
  metadata.set(
    'build.bazel.remote.execution.v2.requestmetadata-bin',
    Buffer.from(
      RequestMetadata.encode(
        RequestMetadata.fromPartial({ toolInvocationId: INVOCATION }),
      ).finish(),
    ),
  );
  return executeAll(clients, actionDigest, { metadata });
}

describe('worker log lines about an action', () => {
  let t: TestServer;
  let dir: string;
  let worker: RunningWorker;
  const lines: Array<Record<string, unknown>> = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-worker-log-'));
    t = await startTestServer({ scheduler: {} });
    const log = pino(
      { level: 'debug' },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    worker = await startWorker({
      address: t.server.address,
      workDir: dir,
      cacheBytes: 16 * 2 ** 20,
      capacity: 1,
      platform: detectPlatform(),
      log,
      actionUsers: 'off',
      sandbox: 'off',
    });
  });
  after(async () => {
    await worker.stop();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('carry the invocation id and the action digest, over the Remote Worker API', async () => {
    const digest = await uploadAction(t.clients, {
      args: ['true'],
      salt: randomBytes(8).toString('hex'),
    });
    await execute(t.clients, digest);
    const key = `${digest.hash}/${digest.sizeBytes}`;
    for (const msg of ['lease started', 'lease finished']) {
      const line = lines.find((l) => l.msg === msg);
      assert.ok(line, `a "${msg}" line in ${JSON.stringify(lines.map((l) => l.msg))}`);
      assert.equal(line.invocation, INVOCATION, msg);
      assert.equal(line.actionDigest, key, msg);
    }
  });
});
