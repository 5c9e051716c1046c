/**
 * Shared by the disk store tests: the documented file layout, and a fixture
 * of stores in a fresh directory per test.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'node:test';
import type { Digest } from '../../src/digest/digest.ts';
import {
  DiskBlobStore,
  type DiskBlobStoreOptions,
  SMALL_BLOB_BYTES,
} from '../../src/storage/disk-blob-store.ts';

/** A blob too large for the packs: stored as a file of its own. */
export const LARGE = SMALL_BLOB_BYTES + 1000;

/** Where the store keeps a blob, per the documented layout. */
export function fileOf(path: string, digest: Digest): string {
  return join(
    path,
    'blobs',
    digest.fn.name,
    digest.hash.slice(0, 2),
    `${digest.hash}_${digest.size}`,
  );
}

export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/**
 * A fresh directory per test, and `open` for stores there (1 MiB budget
 * unless told) that are closed after the test. Call inside a describe.
 */
export function storeFixture() {
  const fixture = {
    path: '',
    stores: [] as DiskBlobStore[],
    open: async (options: Partial<DiskBlobStoreOptions> = {}) => {
      const store = await DiskBlobStore.open({
        path: fixture.path,
        maxBytes: 1024 * 1024,
        ...options,
      });
      fixture.stores.push(store);
      return store;
    },
  };
  beforeEach(async () => {
    fixture.path = await mkdtemp(join(tmpdir(), 'kiln-disk-'));
  });
  afterEach(async () => {
    for (const store of fixture.stores.splice(0)) await store.close();
    await rm(fixture.path, { recursive: true, force: true });
  });
  return fixture;
}
