/**
 * Reading files of an untrusted tree through checked descriptors: the fd-based
 * helpers the worker's output collection is built on, and the unconfined
 * behaviour the CLI keeps.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, readlinkSync, realpathSync } from 'node:fs';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { collectDirectory } from '../../src/client/collect-directory.ts';
import { ConcurrencyLimiter } from '../../src/client/concurrency-limiter.ts';
import {
  descriptorPath,
  hashConfined,
  openConfined,
  readLocalFile,
} from '../../src/client/confined-file.ts';
import { digestFile } from '../../src/client/digest-file.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { randomBlob } from '../support/blobs.ts';

const failedPrecondition = (message: RegExp) => ({ code: status.FAILED_PRECONDITION, message });

describe('confined file reads', () => {
  let base: string;
  let n = 0;
  const children: ChildProcess[] = [];
  const limiter = new ConcurrencyLimiter({ limit: 4 });

  before(async () => {
    base = realpathSync(await mkdtemp(join(tmpdir(), 'kiln-confined-')));
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill();
    await rm(base, { recursive: true, force: true });
  });

  /** An input root and, beside it, a directory outside it holding `secret.txt`. */
  async function layout() {
    const dir = join(base, `t${n++}`);
    const root = join(dir, 'root');
    const outside = join(dir, 'outside');
    await mkdir(root, { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, 'secret.txt'), 'not yours');
    return { root, outside };
  }

  it('refuses a file whose parent directory is a symlink leading outside the root', async () => {
    const { root, outside } = await layout();
    // What a leftover process swaps in after the output's parent was checked.
    await symlink(outside, join(root, 'out'));
    assert.throws(
      () => openConfined(join(root, 'out/secret.txt'), root, 'out/secret.txt'),
      failedPrecondition(/output "out\/secret.txt" resolves outside the input root/),
    );
    await assert.rejects(
      hashConfined(SHA256, join(root, 'out/secret.txt'), root, 'out/secret.txt'),
      failedPrecondition(/resolves outside the input root/),
    );
  });

  it('never follows a symlink in the last component, even to a file inside', async () => {
    const { root } = await layout();
    await writeFile(join(root, 'real'), 'inside');
    await symlink('real', join(root, 'link'));
    assert.throws(
      () => openConfined(join(root, 'link'), root, 'link'),
      failedPrecondition(/output "link" changed while it was collected \(ELOOP\)/),
    );
  });

  it('opens a FIFO without waiting for a writer, and refuses it', async () => {
    const { root } = await layout();
    const path = join(root, 'p');
    execFileSync('mkfifo', [path]);
    // Should the open block (the whole process, timers too), a writer in
    // another process lets it go after 5 s, and the test fails on time.
    const rescue = spawn('sh', ['-c', 'sleep 5; exec 3<>"$0"', path], { stdio: 'ignore' });
    rescue.unref();
    children.push(rescue);
    const started = Date.now();
    assert.throws(() => openConfined(path, root, 'p'), failedPrecondition(/"p" is a FIFO/));
    assert.ok(Date.now() - started < 4000, 'no wait for a writer');
  });

  it('refuses a file that is no longer the one hashed', async () => {
    const { root } = await layout();
    await writeFile(join(root, 'a'), 'a');
    await writeFile(join(root, 'b'), 'b');
    const a = openConfined(join(root, 'a'), root, 'a');
    closeSync(a.fd);
    const b = openConfined(join(root, 'b'), root, 'b', undefined);
    closeSync(b.fd);
    assert.throws(
      () => openConfined(join(root, 'b'), root, 'b', a.identity),
      failedPrecondition(/output "b" changed while it was being uploaded/),
    );
    await assert.rejects(
      readLocalFile({ path: join(root, 'b'), confined: { root, name: 'b', identity: a.identity } }),
      failedPrecondition(/changed while it was being uploaded/),
    );
    const same = { root, name: 'b', identity: b.identity };
    assert.equal((await readLocalFile({ path: join(root, 'b'), confined: same })).toString(), 'b');
  });

  it('reads a hard link to an outside file as the file inside the root it is', async () => {
    // A hard link has no outside path: /proc names it by its path in the root.
    // Making it needed access to the file, so the action could have copied it.
    const { root, outside } = await layout();
    await link(join(outside, 'secret.txt'), join(root, 'linked'));
    const file = openConfined(join(root, 'linked'), root, 'linked');
    try {
      assert.equal(readlinkSync(descriptorPath(file.fd)), join(root, 'linked'));
    } finally {
      closeSync(file.fd);
    }
  });

  it('hashes a small file from one read and a large one by streaming, both from the descriptor', async () => {
    const { root } = await layout();
    const small = Buffer.from('small');
    const large = randomBlob(300_000);
    await writeFile(join(root, 'small'), small);
    await writeFile(join(root, 'large'), large, { mode: 0o755 });
    const s = await hashConfined(SHA256, join(root, 'small'), root, 'small');
    assert.ok(s.data?.equals(small));
    assert.deepEqual(s.digest, await digestOf(SHA256, small));
    assert.equal(s.isExecutable, false);
    const l = await hashConfined(SHA256, join(root, 'large'), root, 'large');
    assert.equal(l.data, undefined, 'a large file is not held in memory');
    assert.deepEqual(l.digest, await digestOf(SHA256, large));
    assert.equal(l.isExecutable, true);
    assert.deepEqual(await digestFile(SHA256, join(root, 'large')), l.digest);
  });

  it('confined, collectDirectory lists no directory that resolves outside the root', async () => {
    const { root, outside } = await layout();
    await mkdir(join(outside, 'sub'));
    await symlink(outside, join(root, 'out'));
    const collect = (rel: string) =>
      collectDirectory({
        fn: SHA256,
        path: join(root, rel),
        limiter,
        confine: { root, name: rel },
      });
    // A parent swapped for a symlink: refused by where the opened directory is.
    await assert.rejects(
      collect('out/sub'),
      failedPrecondition(/output "out\/sub" resolves outside the input root/),
    );
    // The directory itself swapped for a symlink: never followed.
    await assert.rejects(collect('out'), failedPrecondition(/output "out" changed/));
  });

  it('confined, collectDirectory fails on a FIFO; unconfined (the CLI), it leaves it out', async () => {
    const { root } = await layout();
    await mkdir(join(root, 'gen'));
    await writeFile(join(root, 'gen/f'), 'f');
    execFileSync('mkfifo', [join(root, 'gen/p')]);
    await assert.rejects(
      collectDirectory({
        fn: SHA256,
        path: join(root, 'gen'),
        limiter,
        confine: { root, name: 'gen' },
      }),
      failedPrecondition(/output "gen\/p" is a FIFO/),
    );
    const cli = await collectDirectory({ fn: SHA256, path: join(root, 'gen'), limiter });
    assert.deepEqual(
      cli.files.map((f) => [f.path, f.confined]),
      [[join(root, 'gen/f'), undefined]],
    );
  });
});
