/**
 * Real child stores for the tests of the composite stores (sharding,
 * mirrored, size-partitioned): memory stores and disk stores in fresh
 * temporary directories, closed and removed together.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';

/** Opens child stores; `cleanup` removes the disk stores' directories (after the parent closed them). */
export function childStores() {
  const dirs: string[] = [];
  return {
    memory: (maxBytes = 64 * 1024 * 1024): BlobStore => new MemoryBlobStore({ maxBytes }),
    disk: async (maxBytes = 64 * 1024 * 1024): Promise<DiskBlobStore> => {
      const path = await mkdtemp(join(tmpdir(), 'kiln-composite-'));
      dirs.push(path);
      return DiskBlobStore.open({ path, maxBytes });
    },
    cleanup: async () => {
      for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  };
}
