/**
 * Worker isolation end to end: `kiln serve` started as root (its default
 * in-process worker, privilege separation on) and the `kiln run` client,
 * as the reproduction did it: an action that writes its input must
 * not change what the next action reads.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import { kiln } from './kiln-cli.ts';

const isRoot = process.getuid?.() === 0;

describe('worker isolation under kiln serve', {
  skip: !isRoot && !process.env.CI && 'needs root',
}, () => {
  let server: KilnProcess;
  let dir: string;
  let inputs: string;
  let n = 0;
  const run = (...args: string[]) => kiln(args, { server: server.address });

  before(async () => {
    assert.ok(isRoot, 'kiln serve must run as root for privilege separation');
    dir = await mkdtemp(join(tmpdir(), 'kiln-isolation-'));
    await chmod(dir, 0o711); // action users pass through to the work directory
    server = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')]);
    inputs = join(dir, 'in');
    await mkdir(inputs);
    await writeFile(join(inputs, 'data.txt'), 'original\n');
  });
  after(async () => {
    await server?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** The server's /metrics text. */
  async function scrape(kilnServer: KilnProcess): Promise<string> {
    const url = /Web UI and metrics on (http:\/\/\S+?)\/?\n/.exec(kilnServer.stdout())?.[1];
    assert.ok(url, `no HTTP address in: ${kilnServer.stdout()}`);
    return (await fetch(`${url}/metrics`)).text();
  }

  /** Runs `script` over the inputs; a unique echo keeps each run out of the action cache. */
  const sh = (script: string, ...extra: string[]) =>
    run('run', '--input-root', inputs, ...extra, '--', 'sh', '-c', `: ${n++}; ${script}`);

  it('runs the action as a non-root user that writes its outputs but not its inputs', async () => {
    const first = await sh(
      'id -u; cat data.txt; echo TAMPERED >> data.txt; mkdir -p out && echo made > out/o.txt',
      '--output',
      'out/o.txt',
    );
    assert.equal(first.code, 0, first.stderr);
    const [uid, content] = first.stdout.split('\n');
    assert.notEqual(Number(uid), 0);
    assert.ok(Number(uid) > 0);
    assert.equal(content, 'original');
    assert.equal(await readFile(join(inputs, 'out/o.txt'), 'utf8'), 'made\n');
    assert.match(first.stderr, /data\.txt: Permission denied/);
    const second = await sh('cat data.txt');
    assert.equal(second.stdout, 'original\n', 'the next action reads the original input');
    assert.match(second.stderr, /kiln: resources: CPU/);
  });

  const routes: Array<[string, string]> = [
    ['append', 'echo TAMPERED >> data.txt'],
    ['truncate', 'truncate -s 0 data.txt'],
    ['overwrite in place', 'printf XXXXXXXX | dd of=data.txt conv=notrunc'],
    ['chmod then write', 'chmod a+w data.txt; echo TAMPERED >> data.txt'],
    ['rename over', 'echo TAMPERED > n.txt && mv -f n.txt data.txt'],
    ['unlink and recreate', 'rm -f data.txt && echo TAMPERED > data.txt'],
    ['hardlink elsewhere and write', 'ln data.txt h.txt; echo TAMPERED >> h.txt'],
    [
      "write the build directory's parents",
      'for d in .. ../.. ../../.. ../../../..; do echo TAMPERED > $d/x; done',
    ],
    ['write through /proc to other processes', 'for p in /proc/[0-9]*; do echo T > $p/cwd/x; done'],
  ];
  for (const [name, script] of routes) {
    it(`an action that tries to ${name} changes nothing a later action reads`, async () => {
      const tamper = await sh(`${script} 2>/dev/null; exit 0`);
      assert.equal(tamper.code, 0, tamper.stderr);
      const later = await sh('cat data.txt');
      assert.equal(later.code, 0, later.stderr);
      assert.equal(later.stdout, 'original\n');
    });
  }

  it('an action that writes through a symlink planted in its input tree changes nothing', async () => {
    // The input root carries a symlink to the worker's file cache and one up out of the build directory.
    const link = join(inputs, 'cache-link');
    const up = join(inputs, 'up-link');
    await symlink(join(dir, 'data', 'worker', 'cache'), link);
    await symlink('../../..', up);
    try {
      const tamper = await sh(
        'for f in cache-link/*/*; do echo TAMPERED >> "$f"; done; echo TAMPERED > cache-link/x; echo TAMPERED > up-link/x; exit 0',
      );
      assert.equal(tamper.code, 0, tamper.stderr);
    } finally {
      await rm(link);
      await rm(up);
    }
    const later = await sh('cat data.txt');
    assert.equal(later.stdout, 'original\n');
  });

  it('counts the processes it killed after actions in /metrics', async () => {
    const left = await sh('setsid sleep 60 > /dev/null 2>&1 & sleep 0.2');
    assert.equal(left.code, 0, left.stderr);
    const metrics = await scrape(server);
    const killed = /^kiln_worker_leftover_processes_killed_total (\d+)/m.exec(metrics);
    assert.ok(killed !== null && Number(killed[1]) >= 1, metrics.slice(0, 200));
  });

  it('runs an action that asks for the sandbox without network and with its own /tmp', async () => {
    const marker = join(tmpdir(), `kiln-host-marker-${process.pid}`);
    await writeFile(marker, 'host');
    try {
      const probe = await sh(
        `grep -c : /proc/net/dev; ls /tmp; test -e ${marker} && echo host-tmp-visible; true`,
        '--platform',
        'sandbox=namespaces',
      );
      assert.equal(probe.code, 0, probe.stderr);
      const lines = probe.stdout.trim().split('\n');
      assert.equal(Number(lines[0]), 1, 'only a loopback interface');
      assert.ok(!lines.includes('host-tmp-visible'), 'the host /tmp is not visible');
    } finally {
      await rm(marker, { force: true });
    }
  });

  it('without privilege separation, detects an input changed in place, drops it and counts it', async () => {
    const config = join(dir, 'same-user.yaml');
    await writeFile(config, 'execution:\n  actionUsers: off\n');
    const sameUser = await startKiln([
      ...['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'same-user-data'), '--config', config],
    ]);
    try {
      const runThere = (script: string) =>
        kiln(['run', '--input-root', inputs, '--', 'sh', '-c', `: ${n++}; ${script}`], {
          server: sameUser.address,
        });
      const tamper = await runThere('chmod u+w data.txt; echo TAMPERED >> data.txt');
      assert.notEqual(tamper.code, 0);
      assert.match(tamper.stderr, /changed its input file "data\.txt"/);
      const later = await runThere('cat data.txt');
      assert.equal(later.stdout, 'original\n');
      const metrics = await scrape(sameUser);
      assert.match(metrics, /^kiln_worker_cache_files_discarded_total 1$/m);
    } finally {
      await sameUser.stop();
    }
  });
  it('with execution.actionMemoryLimit, kills an action over it and reports why', async () => {
    const config = join(dir, 'limited.yaml');
    await writeFile(config, 'execution:\n  actionMemoryLimit: 64MiB\n');
    const limited = await startKiln([
      ...['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'limited-data'), '--config', config],
    ]);
    try {
      const runThere = (mib: number) =>
        kiln(
          [
            ...['run', '--', 'perl', '-e'],
            `$x = "a" x (${mib} * 1024 * 1024); print "survived ${n++}\n"`,
          ],
          { server: limited.address },
        );
      const big = await runThere(200);
      assert.notEqual(big.code, 0);
      assert.doesNotMatch(big.stdout, /survived/);
      assert.match(big.stderr, /RESOURCE_EXHAUSTED|went over its memory limit of 64 MiB/);
      assert.match(big.stderr, /memory limit of 64 MiB/);
      const small = await runThere(8);
      assert.equal(small.code, 0, small.stderr);
      assert.match(small.stdout, /survived/);
      assert.match(small.stderr, /\(limit 64 MiB\)/);
    } finally {
      await limited.stop();
    }
  });
});
