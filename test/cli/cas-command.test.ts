import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import { jsonOf, kiln, oneErrorLine, snapshot } from './kiln-cli.ts';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('kiln cas', () => {
  let server: KilnProcess;
  let dir: string;
  let tree: string;
  let rootDigest: string;
  const big = randomBytes(1536 * 1024);
  const run = (...args: string[]) => kiln(args, { server: server.address });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-cli-cas-'));
    server = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')]);
    // A tree with every kind of entry the CAS can represent.
    tree = join(dir, 'tree');
    await mkdir(join(tree, 'bin'), { recursive: true });
    await mkdir(join(tree, 'empty'));
    await mkdir(join(tree, 'deep/er/still/empty'), { recursive: true });
    await writeFile(join(tree, 'README.md'), '# hello\n');
    await writeFile(join(tree, 'bin/tool'), '#!/bin/sh\necho tool\n');
    await chmod(join(tree, 'bin/tool'), 0o755);
    await writeFile(join(tree, 'deep/er/big.bin'), big);
    await writeFile(join(tree, 'deep/er/copy.md'), '# hello\n');
    await symlink('README.md', join(tree, 'link'));
    await symlink('../bin/tool', join(tree, 'deep/tool-link'));
    await symlink('/absolute/target', join(tree, 'absolute'));
    await symlink('missing', join(tree, 'dangling'));
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads a tree and downloads it back byte for byte, modes, symlinks and empty directories included', async () => {
    const up = await run('cas', 'upload', tree);
    assert.equal(up.code, 0, up.stderr);
    rootDigest = up.stdout.trim();
    assert.match(rootDigest, /^[0-9a-f]{64}\/\d+$/);

    const copy = join(dir, 'copy');
    const down = await run('cas', 'download', rootDigest, copy);
    assert.equal(down.code, 0, down.stderr);
    const [original, downloaded] = await Promise.all([snapshot(tree), snapshot(copy)]);
    assert.deepEqual(downloaded, original);
    assert.ok(original.some((e) => e.path === 'deep/er/still/empty' && e.type === 'directory'));
    assert.ok(original.some((e) => e.path === 'bin/tool' && e.mode === 0o755));
  });

  it('uploads only the blobs FindMissingBlobs reports missing', async () => {
    const again = await run('cas', 'upload', tree, '--json');
    assert.equal(again.code, 0, again.stderr);
    const summary = jsonOf<{ digest: string; uploadedBlobs: number; files: number }>(again);
    assert.equal(summary.digest, rootDigest);
    assert.equal(summary.uploadedBlobs, 0, 'everything is already there');
    assert.equal(summary.files, 4);

    await writeFile(join(tree, 'new.txt'), 'one more file\n');
    try {
      const changed = jsonOf<{ uploadedBlobs: number; uploadedBytes: number }>(
        await run('cas', 'upload', tree, '--json'),
      );
      // The new file and the root Directory that now names it.
      assert.equal(changed.uploadedBlobs, 2);
    } finally {
      await rm(join(tree, 'new.txt'));
    }
  });

  it('uploads a single file, prints HASH/SIZE, and cat and download return its bytes', async () => {
    const file = join(dir, 'single.bin');
    await writeFile(file, big);
    const up = await run('cas', 'upload', file);
    assert.equal(up.code, 0, up.stderr);
    const digest = `${sha256(big)}/${big.byteLength}`;
    assert.equal(up.stdout.trim(), digest);

    const cat = await run('cas', 'cat', digest);
    assert.equal(cat.code, 0, cat.stderr);
    assert.ok(cat.stdoutBytes.equals(big));

    const target = join(dir, 'downloaded.bin');
    const down = await run('cas', 'download', digest, target, '--json');
    assert.equal(down.code, 0, down.stderr);
    assert.equal(jsonOf(down).kind, 'file');
    assert.ok((await readFile(target)).equals(big));

    const small = await run('cas', 'cat', `${sha256('# hello\n')}/8`, '--json');
    assert.deepEqual(jsonOf(small), {
      digest: `${sha256('# hello\n')}/8`,
      size: 8,
      text: '# hello\n',
    });
  });

  it('round-trips a tree under another digest function (BLAKE3)', async () => {
    const up = await run('cas', 'upload', tree, '--digest-function', 'blake3');
    assert.equal(up.code, 0, up.stderr);
    const digest = up.stdout.trim();
    assert.notEqual(digest, rootDigest);
    const copy = join(dir, 'copy-blake3');
    const down = await run(
      'cas',
      'download',
      digest,
      copy,
      '--digest-function',
      'blake3',
      '--json',
    );
    assert.equal(down.code, 0, down.stderr);
    const summary = jsonOf<Record<string, unknown>>(down);
    assert.equal(summary.path, copy);
    assert.deepEqual(
      [summary.kind, summary.root, summary.files, summary.directories, summary.symlinks],
      ['directory', digest, 4, 6, 4],
    );
    assert.equal(summary.bytes, big.byteLength + 36);
    assert.deepEqual(await snapshot(copy), await snapshot(tree));
  });

  it('lists a directory, recursively with -r, and as JSON', async () => {
    const ls = await run('cas', 'ls', rootDigest);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(/\s+/).at(-1)),
      ['README.md', '/absolute/target', 'bin/', 'missing', 'deep/', 'empty/', 'README.md'],
      'names in byte order; symlinks show their targets last',
    );
    assert.match(ls.stdout, /^-rw-r--r--\s+8 B\s+[0-9a-f]{64}\/8\s+README\.md$/m);
    assert.match(ls.stdout, /^lrwxrwxrwx\s+-\s+-\s+link -> README\.md$/m);
    assert.match(ls.stdout, /^drwxr-xr-x\s+-\s+[0-9a-f]{64}\/\d+\s+bin\/$/m);
    const notDirectory = await run('cas', 'ls', `${sha256('# hello\n')}/8`);
    assert.equal(notDirectory.code, 1);
    assert.match(oneErrorLine(notDirectory), /is not a Directory message/);

    const recursive = jsonOf<{ root: string; entries: Array<Record<string, unknown>> }>(
      await run('cas', 'ls', rootDigest, '-r', '--json'),
    );
    assert.equal(recursive.root, rootDigest);
    const byPath = new Map(recursive.entries.map((e) => [e.path, e]));
    assert.deepEqual(byPath.get('bin/tool'), {
      path: 'bin/tool',
      type: 'file',
      digest: `${sha256('#!/bin/sh\necho tool\n')}/20`,
      size: 20,
      executable: true,
    });
    assert.deepEqual(byPath.get('deep/tool-link'), {
      path: 'deep/tool-link',
      type: 'symlink',
      target: '../bin/tool',
    });
    assert.equal(byPath.get('deep/er/still/empty')?.type, 'directory');
    assert.equal(byPath.get('deep')?.size, big.byteLength + 8);
  });

  it('draws the tree with sizes', async () => {
    const drawn = await run('cas', 'tree', rootDigest);
    assert.equal(drawn.code, 0, drawn.stderr);
    const lines = drawn.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `${rootDigest}  (4 files, 6 directories, 4 symlinks, ${'1.5 MiB'})`);
    assert.ok(lines.includes('├── bin/  20 B'));
    assert.ok(lines.includes('│   └── tool*  20 B'));
    assert.ok(lines.includes('├── deep/  1.5 MiB'));
    assert.ok(lines.includes('│   │   └── still/  0 B'));
    assert.ok(lines.includes('└── link -> README.md'));
    const json = jsonOf<{ files: number; size: number; children: Array<{ name: string }> }>(
      await run('cas', 'tree', rootDigest, '--json'),
    );
    assert.equal(json.files, 4);
    assert.equal(json.size, big.byteLength + 36);
    assert.deepEqual(
      json.children.map((c) => c.name),
      ['README.md', 'absolute', 'bin', 'dangling', 'deep', 'empty', 'link'],
    );
  });

  it('decodes a Directory message with cat --as', async () => {
    const cat = await run('cas', 'cat', rootDigest, '--as', 'directory');
    assert.equal(cat.code, 0, cat.stderr);
    const directory = JSON.parse(cat.stdout) as { files: Array<{ name: string }> };
    assert.deepEqual(
      directory.files.map((f) => f.name),
      ['README.md'],
    );
  });

  it('reports an unknown digest in one line and exits 1', async () => {
    const missing = `${sha256('never uploaded')}/14`;
    const commands = [
      ['cas', 'cat', missing],
      ['cas', 'ls', missing],
      ['cas', 'download', missing, join(dir, 'nowhere')],
    ];
    const results = await Promise.all(commands.map((args) => run(...args)));
    results.forEach((res, i) => {
      assert.equal(res.code, 1, commands[i]?.join(' '));
      assert.match(oneErrorLine(res), new RegExp(`not in the CAS: ${missing}`));
    });
  });

  it('rejects malformed digests in one line with exit status 2', async () => {
    const digests = ['not-a-digest', 'abc/12', `${sha256('x')}/-1`, `${sha256('x')}`];
    const [sha1, ...results] = await Promise.all([
      run('cas', 'cat', `${sha256('x')}/1`, '--digest-function', 'sha1'),
      ...digests.map((digest) => run('cas', 'cat', digest)),
    ]);
    results.forEach((res, i) => {
      assert.equal(res.code, 2, digests[i]);
      assert.match(oneErrorLine(res), /kiln: invalid digest ".*": /);
    });
    assert.ok(sha1);
    assert.match(oneErrorLine(sha1), /a sha1 hash has 40 hexadecimal digits, not 64/);
  });

  it('says in one line that an unreachable server cannot be reached, with a stack only when --verbose', async () => {
    const res = await kiln(['cas', 'cat', `${sha256('x')}/1`, '--server', '127.0.0.1:1']);
    assert.equal(res.code, 1);
    assert.match(
      oneErrorLine(res),
      /kiln: cannot reach the server at 127\.0\.0\.1:1 .*ECONNREFUSED/,
    );
    const verbose = await kiln([
      'cas',
      'upload',
      tree,
      '--server',
      'grpc://127.0.0.1:1',
      '--verbose',
    ]);
    assert.equal(verbose.code, 1);
    assert.match(verbose.stderr, /^kiln: cannot reach the server/);
    assert.match(verbose.stderr, /\n\s+at /, 'a stack trace with --verbose');
  });

  it('refuses to download a tree over a non-empty directory', async () => {
    const res = await run('cas', 'download', rootDigest, tree, '--dir');
    assert.equal(res.code, 1);
    assert.match(oneErrorLine(res), /already exists and is not an empty directory/);
  });
});
