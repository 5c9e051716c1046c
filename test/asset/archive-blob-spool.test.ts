import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ArchiveBlobSpool } from '../../src/asset/archive-blob-spool.ts';
import { ArchiveBudget } from '../../src/asset/archive-budget.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { readAll } from '../../src/storage/blob-store.ts';
import { newCas } from './archive-builders.ts';

async function* chunks(...parts: (string | Error)[]): AsyncIterable<Uint8Array> {
  for (const part of parts) {
    if (part instanceof Error) throw part;
    yield Buffer.from(part);
  }
}

describe('ArchiveBlobSpool', () => {
  it('stores small and spooled entries under their digests, and close removes the directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-spool-test-'));
    try {
      const cas = newCas();
      const spool = new ArchiveBlobSpool({ cas, fn: SHA256, tmpDir: dir, memoryLimit: 4 });
      const small = await spool.store(chunks('abc'));
      const large = await spool.store(chunks('abc', 'defg', 'hij'));
      assert.equal(small.key, (await digestOf(SHA256, Buffer.from('abc'))).key);
      assert.equal(large.key, (await digestOf(SHA256, Buffer.from('abcdefghij'))).key);
      assert.equal((await readAll(cas, large)).toString(), 'abcdefghij');
      assert.equal((await readdir(dir)).length, 1, 'the spool directory exists until close');
      await spool.close();
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('deletes the spool file and stores nothing when the content fails midway', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-spool-test-'));
    try {
      const cas = newCas();
      const spool = new ArchiveBlobSpool({ cas, fn: SHA256, tmpDir: dir, memoryLimit: 4 });
      await assert.rejects(
        spool.store(chunks('abcdef', 'gh', new Error('truncated'))),
        /truncated/,
      );
      const [sub] = await readdir(dir);
      assert.deepEqual(await readdir(join(dir, sub as string)), []);
      const partial = await digestOf(SHA256, Buffer.from('abcdefgh'));
      assert.deepEqual(await cas.findMissing([partial]), [partial]);
      await spool.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ArchiveBudget', () => {
  it('stops a stream at the chunk that crosses maxTotalBytes, whatever was declared', async () => {
    const budget = new ArchiveBudget({ maxFiles: 1, maxTotalBytes: 5 });
    budget.checkDeclared('f', 3);
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of budget.meter('f', chunks('abc', 'de', 'f', 'never'))) {
          seen.push(Buffer.from(c).toString());
        }
      })(),
      { code: 8, message: /more than 5 bytes/ },
    );
    assert.deepEqual(seen, ['abc', 'de']);
  });
});
