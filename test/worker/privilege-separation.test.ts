/**
 * Privilege separation, tried the way a hostile action would: every route by
 * which an action could change what a later action reads for a digest, or
 * reach the file cache, the worker's data or another action, is attempted,
 * and a second action (and the cache and the CAS) must still see the
 * original bytes. Needs root, as privilege separation does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import { findResourceUsage } from '../../src/execution/resource-usage.ts';
import { probeActionCgroups } from '../../src/worker/action-cgroups.mjs';
import { ActionExecutor } from '../../src/worker/action-executor.ts';
import { type ActionUserPool, resolveActionUsers } from '../../src/worker/action-users.ts';
import { BuildDirectoryPool } from '../../src/worker/build-directory-pool.ts';
import { composeRunner } from '../../src/worker/compose-runner.ts';
import { FileCache } from '../../src/worker/file-cache.ts';
import { HelperProcessLauncher } from '../../src/worker/helper-process-launcher.ts';
import { GNU_TIME } from '../../src/worker/resource-accounting-runner.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { file, makeCommand, symlink, uploadAction, uploadTree } from './input-tree-builder.ts';

const ENV = [{ name: 'PATH', value: '/usr/bin:/bin' }];
const isRoot = process.getuid?.() === 0;
const ORIGINAL = 'original\n';
const LIMIT = 64 * 1024 * 1024;

describe('privilege separation', { skip: !isRoot && !process.env.CI && 'needs root' }, () => {
  let t: TestServer;
  let cas: CasClient;
  let dir: string;
  let cacheDir: string;
  let fileCache: FileCache;
  let executor: ActionExecutor;
  /** Runs each action in its user's cgroup; undefined where cgroups cannot be made. */
  let cgroupExecutor: ActionExecutor | undefined;
  /** The same under a 64 MiB memory limit; undefined without a memory controller. */
  let limitedExecutor: ActionExecutor | undefined;
  let launcher: HelperProcessLauncher;
  let pool: ActionUserPool;
  let buildDirectories: BuildDirectoryPool;

  before(async () => {
    assert.ok(isRoot, 'privilege separation tests must run as root under CI');
    t = await startTestServer();
    cas = new CasClient({ address: t.server.address });
    dir = await mkdtemp(join(tmpdir(), 'kiln-privsep-'));
    await chmod(dir, 0o711); // as start-worker makes the work directory: passable by action users
    cacheDir = join(dir, 'cache');
    fileCache = await FileCache.open({
      directory: cacheDir,
      maxBytes: 1 << 30,
      cas,
      privateToWorker: true,
    });
    const plan = resolveActionUsers({ kind: 'range', first: 59100, last: 59103, gid: 65534 }, 4);
    assert.ok(plan.enabled);
    pool = plan.pool;
    launcher = new HelperProcessLauncher();
    buildDirectories = new BuildDirectoryPool({
      buildRoot: join(dir, 'build'),
      directoryMode: 0o777,
      emptyKeepingDirectories: (path, keep) => launcher.emptyDirectory(path, keep),
    });
    const executorWith = (actionCgroup?: { memoryLimitBytes: number }) =>
      new ActionExecutor({
        cas,
        fileCache,
        buildRoot: join(dir, 'build'),
        buildDirectories,
        directoryMode: 0o777,
        workerName: 'privsep-test',
        runner: composeRunner({
          launcher,
          actionUsers: pool,
          actionCgroup,
          killGraceMs: 200,
          // Resource accounting reports the limit the action ran under.
          time: actionCgroup?.memoryLimitBytes ? GNU_TIME : undefined,
        }),
      });
    executor = executorWith();
    const probe = probeActionCgroups();
    if (probe.usable) cgroupExecutor = executorWith({ memoryLimitBytes: 0 });
    if (probe.usable && probe.memory !== undefined)
      limitedExecutor = executorWith({ memoryLimitBytes: LIMIT });
  });
  after(async () => {
    await buildDirectories?.close();
    await launcher?.close();
    pool?.close();
    cas?.close();
    await t?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** Runs `script` with `sh -c` in an input root holding data.txt (and `extra`), outputs `outputs`. */
  async function run(
    script: string,
    extra: Record<string, ReturnType<typeof file | typeof symlink>> = {},
    outputs: string[] = [],
    by: ActionExecutor = executor,
  ) {
    const { root } = await uploadTree(cas, {
      'data.txt': file(ORIGINAL),
      sub: { 'more.txt': file('more\n') },
      ...extra,
    });
    const { digest } = await uploadAction(
      cas,
      makeCommand({
        arguments: ['sh', '-c', script],
        environmentVariables: ENV,
        outputPaths: outputs,
      }),
      root,
    );
    return by.execute({ actionDigest: digest, timeoutMs: 30_000 });
  }

  async function stdout(outcome: Awaited<ReturnType<typeof run>>): Promise<string> {
    const d = outcome.result.stdoutDigest;
    if (d === undefined || d.sizeBytes === 0) return '';
    return (await cas.readBlob(cas.digest(d.hash, d.sizeBytes))).toString();
  }

  /** The action printed the pid of a process it left behind: that process is gone (or a zombie). */
  async function assertLeftoverGone(outcome: Awaited<ReturnType<typeof run>>, what: string) {
    assert.equal(outcome.status.code, status.OK);
    const pid = Number((await stdout(outcome)).trim());
    assert.ok(pid > 0);
    let state = '';
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? '';
    } catch {
      state = 'gone';
    }
    assert.ok(state === 'gone' || state === 'Z', `${what} is ${state}`);
  }

  /** Every cached copy of data.txt's blob, and the CAS's, still hold the original bytes. */
  async function assertUntouched(): Promise<void> {
    const later = await run('cat data.txt sub/more.txt');
    assert.equal(later.status.code, status.OK);
    assert.equal(
      await stdout(later),
      `${ORIGINAL}more\n`,
      'a later action reads the original input',
    );
    const digest = cas.digest(
      (await import('node:crypto')).createHash('sha256').update(ORIGINAL).digest('hex'),
      ORIGINAL.length,
    );
    const cached = readdirSync(join(cacheDir, digest.hash.slice(0, 2))).filter((n) =>
      n.startsWith(digest.hash),
    );
    assert.ok(cached.length > 0, 'the blob is cached');
    for (const name of cached) {
      assert.equal(readFileSync(join(cacheDir, digest.hash.slice(0, 2), name), 'utf8'), ORIGINAL);
    }
    assert.equal((await cas.readBlob(digest)).toString(), ORIGINAL, 'the CAS holds the original');
  }

  it('runs the action as a user that is not root and can write its outputs', async () => {
    const outcome = await run('id -u; id -g; mkdir -p out && echo made > out/file.txt', {}, [
      'out/file.txt',
    ]);
    assert.equal(outcome.status.code, status.OK, outcome.status.message);
    assert.equal(outcome.result.exitCode, 0);
    const [uid, gid] = (await stdout(outcome)).trim().split('\n').map(Number);
    assert.ok(uid !== undefined && uid >= 59100 && uid <= 59103, `ran as ${uid}`);
    assert.equal(gid, 65534);
    assert.equal(outcome.result.outputFiles[0]?.path, 'out/file.txt');
  });

  const routes: Array<[string, string, Record<string, ReturnType<typeof symlink>>?]> = [
    ['append', 'echo TAMPERED >> data.txt'],
    ['truncate', ': > data.txt; truncate -s 0 sub/more.txt'],
    ['overwrite in place', 'printf XXXXXXXX | dd of=data.txt conv=notrunc'],
    ['chmod then write', 'chmod u+w,a+w data.txt; echo TAMPERED >> data.txt'],
    ['rename over', 'echo TAMPERED > new.txt && mv -f new.txt data.txt && cat data.txt'],
    ['unlink and recreate', 'rm -f data.txt && echo TAMPERED > data.txt && cat data.txt'],
    [
      'hardlink the input elsewhere and write',
      'ln data.txt /tmp/kiln-link-$$ ; ln data.txt hard.txt; echo TAMPERED >> hard.txt; echo TAMPERED >> /tmp/kiln-link-$$',
    ],
    [
      'write through a symlink planted in the input tree',
      'echo TAMPERED > cache-link/x; for f in cache-link/*/*; do echo TAMPERED >> "$f"; done; echo TAMPERED >> up/stdout',
      {},
    ],
    [
      "write the build directory's parents",
      'echo TAMPERED > ../stdout; echo TAMPERED > ../usage-x; touch ../../x; for d in ../../*/root; do echo TAMPERED > "$d/pwned"; done; touch ../../../cache/x',
    ],
  ];
  for (const [name, script, links] of routes) {
    it(`keeps inputs intact when the action tries to ${name}`, async () => {
      const extra: Record<string, ReturnType<typeof symlink>> = links === undefined
        ? {}
        : { 'cache-link': symlink(cacheDir), up: symlink('..') };
      const tamper = await run(`${script}; exit 0`, extra);
      assert.equal(tamper.status.code, status.OK, tamper.status.message);
      await assertUntouched();
      assert.equal(existsSync(join(dir, 'x')), false);
      assert.equal(existsSync(join(cacheDir, 'x')), false);
    });
  }

  it("keeps a running action out of another action's build directory", async () => {
    const victim = run('sleep 1.5; ls', {}, []);
    await new Promise((r) => setTimeout(r, 300));
    // The intruder looks for its victim through /proc and its parents.
    const intruder = await run(
      'for p in /proc/[0-9]*; do echo pwned > "$p/cwd/pwned" 2>/dev/null; done; for d in ../../*/root; do echo pwned > "$d/pwned" 2>/dev/null; done; exit 0',
    );
    assert.equal(intruder.status.code, status.OK);
    const listing = await stdout(await victim);
    assert.doesNotMatch(listing, /pwned/);
  });

  it("keeps an action out of another's build directory through a set-user-id program a user left", async () => {
    // Every action user leaves a set-user-id copy of touch in a directory
    // all may write (as /tmp is): one action per user, the pool hands them
    // out in turn.
    const drop = join(dir, 'drop');
    await mkdir(drop, { mode: 0o1777 });
    await chmod(drop, 0o1777);
    for (let i = 0; i < pool.users.length; i++) {
      const planted = await run(
        `cp /usr/bin/touch ${drop}/t-$(id -u) && chmod 4755 ${drop}/t-$(id -u)`,
      );
      assert.equal(planted.status.code, status.OK);
    }
    assert.equal(readdirSync(drop).length, pool.users.length);
    const victim = run('sleep 1.5; ls', {}, []);
    await new Promise((r) => setTimeout(r, 300));
    // Another user runs each on every process's working directory: the one of
    // the victim's user would take its ids, and with them the victim's input root.
    const intruder = await run(
      `for t in ${drop}/t-*; do for p in /proc/[0-9]*; do "$t" "$p/cwd/pwned" 2>/dev/null; done; done; exit 0`,
    );
    assert.equal(intruder.status.code, status.OK);
    const listing = await stdout(await victim);
    assert.doesNotMatch(listing, /pwned/);
  });

  it('kills a leftover process that made itself non-dumpable', async () => {
    // prctl(PR_SET_DUMPABLE, 0) through perl's syscall: number 157 on x86-64, 167 on arm64.
    const prctl = process.arch === 'arm64' ? 167 : 157;
    const outcome = await run(
      `setsid perl -e '$| = 1; syscall(${prctl}, 4, 0, 0, 0, 0); print "$$\\n"; sleep 60' & sleep 0.5`,
    );
    await assertLeftoverGone(outcome, 'the non-dumpable leftover');
  });

  /** The executor that needs a cgroup feature, or a skip (a failure under CI) without it. */
  function needs(
    t: { skip(message: string): void },
    by: ActionExecutor | undefined,
    what: string,
  ): ActionExecutor | undefined {
    if (by !== undefined) return by;
    assert.ok(!process.env.CI, `${what} must be available under CI`);
    t.skip(`${what} is not available here`);
    return undefined;
  }

  it("keeps every process of an action in its user's cgroup when asked to", async (t) => {
    const by = needs(t, cgroupExecutor, 'a writable cgroup v2 hierarchy');
    if (by === undefined) return;
    const outcome = await run(
      'cat /proc/self/cgroup; (setsid sh -c "cat /proc/self/cgroup")',
      {},
      [],
      by,
    );
    assert.equal(outcome.status.code, status.OK);
    const lines = (await stdout(outcome)).split('\n').filter((l) => l.startsWith('0::'));
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /\/kiln-actions-\d+\/591\d\d$/);
    const leftover = await run('setsid sleep 60 & echo $!; sleep 0.3', {}, [], by);
    await assertLeftoverGone(leftover, 'the leftover process in the cgroup');
  });

  it('kills an action that goes over its memory limit and says why', async (t) => {
    const by = needs(t, limitedExecutor, 'a cgroup memory controller');
    if (by === undefined) return;
    const outcome = await run(
      `perl -e '$x = "a" x (200 * 1024 * 1024); print "survived\n"'`,
      {},
      [],
      by,
    );
    assert.equal(outcome.status.code, status.RESOURCE_EXHAUSTED, outcome.status.message);
    assert.match(outcome.status.message, /memory limit of 64 MiB/);
    assert.notEqual(outcome.result.exitCode, 0);
    assert.doesNotMatch(await stdout(outcome), /survived/);
    const d = outcome.result.stderrDigest;
    assert.ok(d !== undefined);
    const stderr = (await cas.readBlob(cas.digest(d.hash, d.sizeBytes))).toString();
    assert.match(stderr, /kiln worker: the command went over its memory limit of 64 MiB/);
    const usage = findResourceUsage(outcome.result.executionMetadata);
    assert.equal(usage?.memoryLimitBytes, LIMIT);
    // Under the limit, the same user's next action runs normally.
    const small = await run(`perl -e '$x = "a" x (8 * 1024 * 1024); print "fine\n"'`, {}, [], by);
    assert.equal(small.status.code, status.OK, small.status.message);
    assert.equal(await stdout(small), 'fine\n');
  });

  it('gives two workers on one machine different action users', () => {
    const a = resolveActionUsers({ kind: 'auto' }, 3);
    const b = resolveActionUsers({ kind: 'auto' }, 3);
    assert.ok(a.enabled && b.enabled);
    try {
      const ids = new Set([...a.pool.users, ...b.pool.users].map((u) => u.uid));
      assert.equal(ids.size, 6, 'no user is shared');
      for (const u of pool.users) assert.ok(!ids.has(u.uid), 'nor taken from a range in use');
    } finally {
      a.pool.close();
      b.pool.close();
    }
  });

  it('kills what the action left running in a session of its own before it returns', async () => {
    const outcome = await run("setsid sh -c 'echo $$; exec sleep 60' & sleep 0.3");
    await assertLeftoverGone(outcome, 'the leftover process');
  });

  // Last: its user is retired, and the pool is one user short after it.
  it('collects nothing of an action whose input root could not be taken back from its user', async () => {
    const drop = await mkdtemp(join(dir, 'cwd-'));
    await chmod(drop, 0o1777);
    const pending = run(`pwd > ${drop}/cwd; sleep 1; echo made > out.txt`, {}, ['out.txt']);
    let root = '';
    for (let i = 0; i < 200 && root === ''; i++) {
      await new Promise((r) => setTimeout(r, 10));
      root = existsSync(join(drop, 'cwd')) ? readFileSync(join(drop, 'cwd'), 'utf8').trim() : '';
    }
    assert.notEqual(root, '', 'the action did not start');
    // Root alone can make a directory immutable: handing it back (chown) then fails.
    execFileSync('chattr', ['+i', root]);
    try {
      const outcome = await pending;
      assert.equal(outcome.status.code, status.UNAVAILABLE);
      assert.match(outcome.status.message, /outputs are not collected/);
      assert.deepEqual(outcome.result.outputFiles, []);
    } finally {
      execFileSync('chattr', ['-i', root]);
    }
  });
});
