import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Compressor_Value } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { randomBlob, sha256Digest } from '../support/blobs.ts';
import { call, connectClients } from '../support/grpc-clients.ts';
import { KILN_BIN, NODE24, ROOT, startKiln } from '../support/kiln-process.ts';

describe('kiln serve', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-serve-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('serves the CAS and keeps its blobs across a restart', async () => {
    const blob = randomBlob(5000);
    const first = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    // Without an auth section it says it is in protected mode.
    assert.match(
      first.stdout(),
      /^Protected mode \(no auth section\): loopback callers may do everything$/m,
    );
    // The launcher replaced itself (same pid) with a Node that has the server's V8 heap flags.
    const cmdline = (await readFile(`/proc/${first.child.pid}/cmdline`, 'utf8')).split('\0');
    assert.ok(cmdline.includes('--max-semi-space-size=4'), cmdline.join(' '));
    // …and glibc malloc settings that give freed memory back (see bin/kiln.mjs).
    const environ = (await readFile(`/proc/${first.child.pid}/environ`, 'utf8')).split('\0');
    assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX');
    assert.ok(
      environ.includes(`MALLOC_TRIM_THRESHOLD_=${8 * 1024 * 1024}`),
      'MALLOC_TRIM_THRESHOLD_',
    );
    assert.ok(cmdline.includes('--heap-growing-percent=50'), cmdline.join(' '));
    assert.ok(cmdline.includes('--external-memory-accounted-in-global-limit'), cmdline.join(' '));
    let clients = connectClients(first.address);
    const up = await call(clients.cas, 'batchUpdateBlobs', {
      instanceName: '',
      digestFunction: 0,
      requests: [{ digest: sha256Digest(blob), data: blob, compressor: Compressor_Value.IDENTITY }],
    });
    assert.equal(up.responses[0]?.status?.code, 0);
    clients.close();
    assert.equal(await first.stop(), 0, 'SIGTERM shuts down cleanly');

    const second = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    clients = connectClients(second.address);
    try {
      const read = await call(clients.cas, 'batchReadBlobs', {
        instanceName: '',
        digestFunction: 0,
        digests: [sha256Digest(blob)],
        acceptableCompressors: [],
      });
      assert.deepEqual(read.responses[0]?.data, blob);
    } finally {
      clients.close();
      await second.stop();
    }
  });

  it('reports a bad configuration file with the path of the bad field and exits 1', async () => {
    const file = join(dataDir, 'bad.yaml');
    await writeFile(file, 'server:\n  lissten: 1\n');
    const res = spawnSync(NODE24, [KILN_BIN, 'serve', '--config', file], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /server.*lissten/);
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
  });

  it('prints help and rejects unknown commands', () => {
    const help = spawnSync(NODE24, [KILN_BIN, 'serve', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--listen HOST:PORT/);
    const bad = spawnSync(NODE24, [KILN_BIN, 'nonsense'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown command "nonsense"/);
  });

  it('re-runs itself under Node 24 when started by an older system Node', async (t) => {
    const system = spawnSync('bash', ['-lc', 'command -v node'], {
      encoding: 'utf8',
    }).stdout.trim();
    const version = system ? spawnSync(system, ['--version'], { encoding: 'utf8' }).stdout : '';
    if (!system || Number(/^v(\d+)/.exec(version)?.[1] ?? 99) >= 22) {
      t.skip('no older system Node on this machine');
      return;
    }
    const kiln = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      node: system,
    });
    const clients = connectClients(kiln.address);
    try {
      const caps = await call(clients.capabilities, 'getCapabilities', { instanceName: '' });
      assert.ok(caps.cacheCapabilities);
    } finally {
      clients.close();
      assert.equal(await kiln.stop(), 0);
    }
  });
});
