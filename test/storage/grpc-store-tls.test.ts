/**
 * A `grpc` store reaching a backend Kiln over mutual TLS, configured as the
 * kiln client commands are (a CA to trust, a client certificate and key).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { parseConfigText } from '../../src/config/load-config.ts';
import { hasCode } from '../../src/errors.ts';
import { type RunningGrpcServer, startGrpcServer } from '../../src/server/grpc-server.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { createStores } from '../../src/storage/create-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { ReloadingServerTls } from '../../src/tls/reloading-server-tls.ts';
import { silentLogger } from '../../src/util/logger.ts';
import {
  createTestCa,
  type IssuedCertificate,
  opensslMissing,
  type TestCa,
} from '../support/test-certificates.ts';
import { randomBlob } from './blob-store-contract.ts';

const missing = opensslMissing();

describe('grpc store over mutual TLS', { skip: !process.env.CI && missing }, () => {
  let dir: string;
  let ca: TestCa;
  let client: IssuedCertificate;
  let tls: ReloadingServerTls;
  let server: RunningGrpcServer;
  const backend = new MemoryBlobStore({ maxBytes: 16 * 1024 * 1024 });

  before(async () => {
    assert.equal(missing, undefined, missing);
    dir = await mkdtemp(join(tmpdir(), 'kiln-grpc-tls-'));
    ca = await createTestCa(dir);
    client = await ca.issue('frontend', 'client');
    tls = await ReloadingServerTls.open({
      files: { ...(await ca.issue('storage', 'server')), clientCa: ca.cert },
      log: silentLogger(),
    });
    server = await startGrpcServer({
      listen: '127.0.0.1:0',
      tls,
      cas: new VerifyingBlobStore({ backend }),
      actionCacheStore: new MemoryBlobStore({ maxBytes: 1 << 20 }),
      log: silentLogger(),
    });
  });
  after(async () => {
    await server?.close();
    tls?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  function configWith(tlsLines: string[]) {
    return parseConfigText(
      [
        'storage:',
        '  cas:',
        '    grpc:',
        `      endpoint: grpcs://${server.address}`,
        ...tlsLines.map((l) => `      ${l}`),
      ].join('\n'),
      'test.yaml',
      { env: {} },
    );
  }

  it('stores and reads blobs with the CA, client certificate and key', async () => {
    const stores = await createStores(
      configWith(['tls:', `  ca: ${ca.cert}`, `  cert: ${client.cert}`, `  key: ${client.key}`]),
    );
    try {
      const { data, digest } = await randomBlob(5000);
      await putBuffer(stores.cas, digest, data);
      assert.deepEqual(await readAll(stores.cas, digest), data);
      assert.deepEqual(await readAll(backend, digest), data);
    } finally {
      await stores.close();
    }
  });

  it('without a client certificate the backend refuses the connection: UNAVAILABLE', async () => {
    const stores = await createStores(configWith(['tls:', `  ca: ${ca.cert}`]));
    try {
      const { digest } = await randomBlob(10);
      await assert.rejects(stores.cas.findMissing([digest]), (err: unknown) => {
        assert.ok(hasCode(err, status.UNAVAILABLE), String(err));
        assert.match(
          (err as Error).message,
          /storage backend grpcs:\/\/127\.0\.0\.1:\d+ is unavailable/,
        );
        return true;
      });
    } finally {
      await stores.close();
    }
  });

  it('a missing CA file fails the build, naming the option', async () => {
    await assert.rejects(
      createStores(configWith(['tls:', `  ca: ${join(dir, 'nope.crt')}`])),
      /storage\.cas\.grpc: cannot read tls\.ca .*nope\.crt: no such file/,
    );
  });
});
