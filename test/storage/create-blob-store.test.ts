import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { status } from '@grpc/grpc-js';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';
import type { KilnConfig } from '../../src/config/schema.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { hasCode } from '../../src/errors.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { createStores } from '../../src/storage/create-blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { randomBlob } from './blob-store-contract.ts';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('createStores', () => {
  let dataDir: string;
  const config = (text: string): KilnConfig =>
    parseConfigText(text, 'test.yaml', { overrides: { dataDir } });

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-stores-'));
  });
  afterEach(async () => {
    mock.restoreAll();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('builds the configured tree, and a blob written through the CAS reads back', async () => {
    const stores = await createStores(
      config(`
storage:
  stores:
    cas-disk: { disk: { path: cas, maxSize: 64MiB } }
    cas-memory: { memory: { maxSize: 16MiB } }
    cas: { readCaching: { fast: cas-memory, slow: cas-disk } }
    ac: { disk: { path: ac, maxSize: 8MiB } }
  cas: cas
  actionCache: ac
`),
    );
    try {
      const { data, digest } = await randomBlob(3000);
      await putBuffer(stores.cas, digest, data);
      assert.deepEqual(await readAll(stores.cas, digest), data);
      assert.deepEqual(await stores.cas.findMissing([digest]), []);
      // It reached the disk store under dataDir (a pack, being small), not just the memory tier.
      const packs = join(dataDir, 'cas', 'packs');
      const written = await Promise.all(
        (await readdir(packs)).map((f) => readFile(join(packs, f))),
      );
      assert.ok(
        written.some((bytes) => bytes.includes(data)),
        `a pack in ${packs} holds the blob`,
      );
    } finally {
      await stores.close();
    }
  });

  it('the CAS rejects a blob whose bytes do not match its digest', async () => {
    const stores = await createStores(config(''));
    try {
      const { data, digest } = await randomBlob(100);
      const wrong = Buffer.from(data);
      wrong[0] = (wrong[0] ?? 0) ^ 0xff;
      await assert.rejects(putBuffer(stores.cas, digest, wrong), (err: unknown) => {
        assert.ok(hasCode(err, status.INVALID_ARGUMENT), String(err));
        assert.match((err as Error).message, /does not match its digest/);
        return true;
      });
      assert.equal((await stores.cas.findMissing([digest])).length, 1);
    } finally {
      await stores.close();
    }
  });

  it('zero configuration keeps the CAS and action cache under dataDir', async () => {
    const stores = await createStores(config(''));
    try {
      const { data, digest } = await randomBlob(10);
      await putBuffer(stores.cas, digest, data);
      assert.ok(await exists(join(dataDir, 'cas', 'blobs')));

      // The action cache holds ActionResults under action digests: neither
      // verified nor required to match the digest's size.
      const actionDigest = await digestOf(SHA256, Buffer.from('an Action message'));
      const result = Buffer.from('an ActionResult of another length');
      await putBuffer(stores.actionCache, actionDigest, result);
      assert.deepEqual(await readAll(stores.actionCache, actionDigest), result);
      assert.ok(await exists(join(dataDir, 'ac', 'blobs')));
    } finally {
      await stores.close();
    }
  });

  it('builds a store referenced twice once, and closes it once', async () => {
    const open = mock.method(DiskBlobStore, 'open');
    const close = mock.method(DiskBlobStore.prototype, 'close');
    const stores = await createStores(
      config(`
storage:
  stores:
    shared: { disk: { path: shared } }
  cas: { readCaching: { fast: { existenceCache: { backend: shared } }, slow: shared } }
`),
    );
    const { data, digest } = await randomBlob(10);
    await putBuffer(stores.cas, digest, data);
    assert.deepEqual(await readAll(stores.cas, digest), data);
    // One open for "shared", one each for the default action cache and asset store.
    assert.equal(open.mock.callCount(), 3);

    await stores.close();
    await stores.close();
    assert.equal(close.mock.callCount(), 3);
  });

  it('a construction error names the config path and closes what was already built', async () => {
    await writeFile(join(dataDir, 'blocked'), 'a file where a directory should be');
    const close = mock.method(DiskBlobStore.prototype, 'close');
    await assert.rejects(
      createStores(
        config(`
storage:
  cas: { readCaching: { fast: { disk: { path: fine } }, slow: { disk: { path: blocked/cas } } } }
`),
      ),
      (err: unknown) => {
        assert.match(String(err), /storage\.cas\.readCaching\.slow\.disk: disk store: opening/);
        return true;
      },
    );
    assert.equal(close.mock.callCount(), 1, 'the fast disk store was closed again');
  });

  it('refuses a store graph that was not validated', async () => {
    const base = config('');
    const invalid: KilnConfig = { ...base, storage: { ...base.storage, cas: 'nowhere' } };
    await assert.rejects(createStores(invalid), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /storage\.cas: unknown store "nowhere"/);
      return true;
    });
  });
});
