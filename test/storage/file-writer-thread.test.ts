import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileWriterThread } from '../../src/storage/file-writer-thread.ts';

describe('FileWriterThread', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-writer-thread-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes whole files into new directories, many requests at once', async () => {
    const thread = FileWriterThread.acquire();
    const network = Buffer.alloc(1 << 20, 7);
    try {
      await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          thread.write({
            tmp: join(dir, `tmp-${i}`),
            dest: join(dir, `shard-${i % 7}`, `file-${i}`),
            dir: join(dir, `shard-${i % 7}`),
            // A view into a large buffer: only its own bytes are written.
            data: network.subarray(i, i + i * 3),
            fsync: i % 50 === 0,
          }),
        ),
      );
    } finally {
      await thread.release();
    }
    for (let i = 0; i < 300; i += 17) {
      const file = join(dir, `shard-${i % 7}`, `file-${i}`);
      assert.equal((await stat(file)).size, i * 3);
      assert.equal((await stat(file)).mode & 0o777, 0o644 & ~process.umask());
      if (i > 0) assert.deepEqual([...new Set(await readFile(file))], [7]);
    }
    assert.equal((await readdir(dir)).filter((n) => n.startsWith('tmp-')).length, 0);
  });

  it('rejects with the error code and leaves no temporary file', async () => {
    const thread = FileWriterThread.acquire();
    try {
      const tmp = join(dir, 'exists');
      await thread.write({
        tmp,
        dest: join(dir, 'first'),
        dir,
        data: Buffer.from('a'),
        fsync: false,
      });
      // The temporary path must be new: an existing file there is never overwritten.
      await thread
        .write({
          tmp: join(dir, 'first'),
          dest: join(dir, 'second'),
          dir,
          data: Buffer.from('b'),
          fsync: false,
        })
        .then(
          () => assert.fail('expected EEXIST'),
          (err: NodeJS.ErrnoException) => assert.equal(err.code, 'EEXIST'),
        );
      assert.equal(await readFile(join(dir, 'first'), 'utf8'), 'a');
      await assert.rejects(
        thread.write({
          tmp: join(dir, 'no', 'such', 'dir', 't'),
          dest: join(dir, 'x'),
          dir,
          data: Buffer.from('c'),
          fsync: false,
        }),
        { code: 'ENOENT' },
      );
    } finally {
      await thread.release();
    }
  });

  it('is one thread for all users, stopped when the last one leaves', async () => {
    const a = FileWriterThread.acquire();
    const b = FileWriterThread.acquire();
    assert.equal(a, b);
    const write = a.write({
      tmp: join(dir, 't-last'),
      dest: join(dir, 'last'),
      dir,
      data: Buffer.from('z'),
      fsync: false,
    });
    await a.release();
    await b.release();
    await write;
    assert.equal(
      await readFile(join(dir, 'last'), 'utf8'),
      'z',
      'pending writes finish before it stops',
    );
    const c = FileWriterThread.acquire();
    assert.notEqual(c, a, 'a new one after the last release');
    await c.write({
      tmp: join(dir, 't-new'),
      dest: join(dir, 'new'),
      dir,
      data: Buffer.from('n'),
      fsync: false,
    });
    await c.release();
  });
});
