/**
 * A disk store with many small blobs, made cheaply for readiness tests: its
 * packs are written directly (the store checks no hash when it opens), so
 * that opening it spends seconds building the index while writing it
 * costs one buffer per pack.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordHeader } from '../../src/storage/pack-format.ts';

const RECORDS_PER_PACK = 100_000;
const BLOB_BYTES = 16;

/** Writes `count` random 16-byte SHA-256 records into the packs of a disk store at `path`. */
export async function writeLargeDiskStore(path: string, count: number): Promise<void> {
  await mkdir(join(path, 'packs'), { recursive: true });
  const hashes = randomBytes(32 * count);
  for (let first = 0, pack = 1; first < count; first += RECORDS_PER_PACK, pack++) {
    const parts: Buffer[] = [];
    for (let i = first; i < Math.min(count, first + RECORDS_PER_PACK); i++) {
      const key = Buffer.from(
        `sha256/${hashes.toString('hex', i * 32, i * 32 + 32)}_${BLOB_BYTES}`,
      );
      const data = Buffer.alloc(BLOB_BYTES, i & 255);
      parts.push(recordHeader(key, data), key, data);
    }
    await writeFile(
      join(path, 'packs', `${String(pack).padStart(10, '0')}.pack`),
      Buffer.concat(parts),
    );
  }
}
