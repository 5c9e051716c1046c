/**
 * Temporary files under privilege separation, tried the way a hostile action
 * would: what an action leaves in the machine's shared temporary directories
 * is gone before any later action (of another user or its own) runs, and
 * never anything of root's or another user's; each action gets a private,
 * empty TMPDIR beside its input root, in the sandbox too. Needs root, as
 * privilege separation does.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import type { Command } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { ActionExecutor } from '../../src/worker/action-executor.ts';
import { type ActionUserPool, resolveActionUsers } from '../../src/worker/action-users.ts';
import { BuildDirectoryPool } from '../../src/worker/build-directory-pool.ts';
import { composeRunner } from '../../src/worker/compose-runner.ts';
import { FileCache } from '../../src/worker/file-cache.ts';
import { HelperProcessLauncher } from '../../src/worker/helper-process-launcher.ts';
import { findBubblewrap, probeSandbox } from '../../src/worker/sandboxing-runner.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { file, makeCommand, uploadAction, uploadTree } from './input-tree-builder.ts';

const ENV = [{ name: 'PATH', value: '/usr/bin:/bin' }];
const SANDBOX = { properties: [{ name: 'sandbox', value: 'namespaces' }] };
const isRoot = process.getuid?.() === 0;
/** A user that is not one of the action users. */
const OTHER_UID = 59129;
const SHARED = ['/tmp', '/var/tmp', '/dev/shm'];

describe('private temporary files', { skip: !isRoot && !process.env.CI && 'needs root' }, () => {
  let t: TestServer;
  let cas: CasClient;
  let dir: string;
  let launcher: HelperProcessLauncher;
  let pool: ActionUserPool;
  let solo: ActionUserPool;
  /** One user, retired by the test that leaves something it cannot remove. */
  let doomed: ActionUserPool;
  let doomedExecutor: ActionExecutor;
  let buildDirectories: BuildDirectoryPool;
  /** Four action users, build directories reused. */
  let executor: ActionExecutor;
  /** One action user, so that each action runs as the same one. */
  let soloExecutor: ActionExecutor;
  /** Actions as the worker's own user (no privilege separation), build directories reused. */
  let sameUser: ActionExecutor;
  let sameUserDirectories: BuildDirectoryPool;
  /** Privilege separation and the sandbox; undefined where bubblewrap is missing. */
  let sandboxed: ActionExecutor | undefined;
  /** Names this test made in the shared directories, removed after it. */
  const made: string[] = [];
  const tag = `kiln-tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

  before(async () => {
    assert.ok(isRoot, 'private temporary file tests must run as root under CI');
    t = await startTestServer();
    cas = new CasClient({ address: t.server.address });
    dir = await mkdtemp(join(tmpdir(), 'kiln-private-tmp-'));
    await chmod(dir, 0o711); // as start-worker makes the work directory: passable by action users
    const fileCache = await FileCache.open({
      directory: join(dir, 'cache'),
      maxBytes: 1 << 30,
      cas,
      privateToWorker: true,
    });
    const plan = resolveActionUsers({ kind: 'range', first: 59120, last: 59123, gid: 65534 }, 4);
    const soloPlan = resolveActionUsers(
      { kind: 'range', first: 59124, last: 59125, gid: 65534 },
      1,
    );
    const doomedPlan = resolveActionUsers(
      { kind: 'range', first: 59126, last: 59127, gid: 65534 },
      1,
    );
    assert.ok(plan.enabled && soloPlan.enabled && doomedPlan.enabled);
    doomed = doomedPlan.pool;
    pool = plan.pool;
    solo = soloPlan.pool;
    launcher = new HelperProcessLauncher();
    buildDirectories = new BuildDirectoryPool({
      buildRoot: join(dir, 'build'),
      directoryMode: 0o777,
      emptyKeepingDirectories: (path, keep) => launcher.emptyDirectory(path, keep),
    });
    const common = {
      cas,
      fileCache,
      directoryMode: 0o777,
      workerName: 'private-tmp-test',
    };
    executor = new ActionExecutor({
      ...common,
      buildRoot: join(dir, 'build'),
      buildDirectories,
      runner: composeRunner({ launcher, actionUsers: pool, killGraceMs: 200 }),
    });
    soloExecutor = new ActionExecutor({
      ...common,
      buildRoot: join(dir, 'solo'),
      runner: composeRunner({ launcher, actionUsers: solo, killGraceMs: 200 }),
    });
    doomedExecutor = new ActionExecutor({
      ...common,
      buildRoot: join(dir, 'doomed'),
      runner: composeRunner({ launcher, actionUsers: doomed, killGraceMs: 200 }),
    });
    sameUserDirectories = new BuildDirectoryPool({ buildRoot: join(dir, 'same-user') });
    sameUser = new ActionExecutor({
      ...common,
      buildRoot: join(dir, 'same-user'),
      buildDirectories: sameUserDirectories,
      runner: composeRunner({ launcher, killGraceMs: 200 }),
    });
    const bwrap = findBubblewrap();
    if (bwrap !== undefined || process.env.CI) {
      const probe = await probeSandbox(pool.users[0]);
      assert.ok('bwrap' in probe, `the sandbox works here: ${'why' in probe ? probe.why : ''}`);
      sandboxed = new ActionExecutor({
        ...common,
        buildRoot: join(dir, 'sandboxed'),
        runner: composeRunner({
          launcher,
          actionUsers: pool,
          bwrap: probe.bwrap,
          killGraceMs: 200,
        }),
      });
    }
  });
  after(async () => {
    await buildDirectories?.close();
    await sameUserDirectories?.close();
    await launcher?.close();
    pool?.close();
    solo?.close();
    doomed?.close();
    cas?.close();
    await t?.stop();
    for (const path of made) await rm(path, { recursive: true, force: true });
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function run(
    by: ActionExecutor,
    script: string,
    fields?: Partial<Command>,
  ): Promise<string>;
  async function run(
    by: ActionExecutor,
    script: string,
    fields: Partial<Command>,
    expect: status,
  ): Promise<{ message: string; outputs: number }>;
  async function run(
    by: ActionExecutor,
    script: string,
    fields: Partial<Command> = {},
    expect: status = status.OK,
  ): Promise<string | { message: string; outputs: number }> {
    const { root } = await uploadTree(cas, { 'in.txt': file('input\n') });
    const command = makeCommand({
      arguments: ['sh', '-c', script],
      environmentVariables: ENV,
      ...fields,
    });
    const { digest } = await uploadAction(cas, command, root);
    const outcome = await by.execute({ actionDigest: digest, timeoutMs: 30_000 });
    if (expect !== status.OK) {
      assert.equal(outcome.status.code, expect, outcome.status.message);
      return { message: outcome.status.message, outputs: outcome.result.outputFiles.length };
    }
    const d = outcome.result.stdoutDigest;
    const out =
      d === undefined || d.sizeBytes === 0
        ? ''
        : (await cas.readBlob(cas.digest(d.hash, d.sizeBytes))).toString();
    assert.equal(outcome.status.code, status.OK, outcome.status.message);
    assert.equal(outcome.result.exitCode, 0, 'the script ran to its end');
    return out;
  }

  /** A script that plants `name` in every shared directory: a file, a closed directory, a symlink out. */
  function plant(name: string): string {
    made.push(
      ...SHARED.flatMap((d) => [join(d, name), join(d, `${name}.d`), join(d, `${name}.l`)]),
    );
    return SHARED.map(
      (d) =>
        `echo poisoned > ${d}/${name} && chmod 666 ${d}/${name} && mkdir ${d}/${name}.d && echo x > ${d}/${name}.d/f && chmod 0 ${d}/${name}.d && ln -s /etc/passwd ${d}/${name}.l`,
    ).join(' && ');
  }

  /** A script that reports which of the names planted by {@link plant} it can see. */
  function look(name: string): string {
    return `for p in ${SHARED.map((d) => `${d}/${name} ${d}/${name}.d ${d}/${name}.l`).join(' ')}; do [ -e "$p" ] || [ -L "$p" ] && echo "seen $p"; done; id -u`;
  }

  it("removes what an action left in /tmp, /var/tmp and /dev/shm before another user's action", async () => {
    const name = `${tag}-a`;
    const first = await run(executor, `${plant(name)} && id -u`);
    const planter = Number(first.trim());
    assert.ok(planter > 0);
    for (const d of SHARED) {
      for (const p of [name, `${name}.d`, `${name}.l`]) {
        assert.equal(
          lstatSync(join(d, p), { throwIfNoEntry: false }),
          undefined,
          `${d}/${p} is gone`,
        );
      }
    }
    assert.ok(existsSync('/etc/passwd'), 'the symlink was not followed');
    const second = (await run(executor, look(name))).trim().split('\n');
    assert.deepEqual(second.slice(0, -1), [], 'a later action sees nothing of the first');
    assert.notEqual(Number(second.at(-1)), planter, 'the later action ran as another user');
  });

  it('removes them before the same user runs its next action', async () => {
    const name = `${tag}-b`;
    const first = Number((await run(soloExecutor, `${plant(name)} && id -u`)).trim());
    const second = (await run(soloExecutor, look(name))).trim().split('\n');
    assert.deepEqual(second.slice(0, -1), []);
    assert.equal(Number(second.at(-1)), first, 'both actions ran as the same user');
  });

  it("removes only the action user's entries, never root's or another user's", async () => {
    const name = `${tag}-c`;
    const rootFile = join('/tmp', `${name}.root`);
    const otherFile = join('/tmp', `${name}.other`);
    made.push(rootFile, otherFile);
    writeFileSync(rootFile, 'root\n', { mode: 0o644 });
    writeFileSync(otherFile, 'other\n', { mode: 0o666 });
    chownSync(otherFile, OTHER_UID, 65534);
    chmodSync(otherFile, 0o666);
    // The action tries too (the sticky bit stops it), and leaves entries of its own beside them.
    await run(
      soloExecutor,
      `rm -f ${rootFile} ${otherFile} 2>/dev/null; echo mine >> ${otherFile}; ${plant(name)}`,
    );
    assert.equal(lstatSync(rootFile).uid, 0);
    assert.equal(lstatSync(otherFile).uid, OTHER_UID);
    assert.equal(lstatSync(join('/tmp', name), { throwIfNoEntry: false }), undefined);
  });

  it('collects nothing of an action whose shared temporary files could not all be removed', async () => {
    // The action opens a directory to everyone; another action, running
    // meanwhile as another user, fills it with a directory of its own that
    // the first user cannot empty.
    const name = `${tag}-f`;
    const shared = join('/tmp', name);
    made.push(shared);
    const opener = run(
      doomedExecutor,
      `mkdir ${shared} && chmod 777 ${shared}; i=0; while [ ! -e ${shared}/sub/done ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; echo out > out.txt`,
      { outputPaths: ['out.txt'] },
      status.UNAVAILABLE,
    );
    const filler = run(
      executor,
      `i=0; while [ ! -d ${shared} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; mkdir ${shared}/sub && echo x > ${shared}/sub/f && touch ${shared}/sub/done`,
    );
    const [, opened] = await Promise.all([filler, opener]);
    assert.match(opened.message, /shared temporary directories/);
    assert.equal(opened.outputs, 0, 'nothing of the action was collected');
  });

  it('gives each action a private, empty TMPDIR beside its input root', async () => {
    const script = [
      'echo "$TMPDIR"',
      'echo "$PWD"',
      'stat -c "%u %a" "$TMPDIR"',
      'ls -A "$TMPDIR" | wc -l',
      'echo left > "$TMPDIR/leftover" && mkdir "$TMPDIR/d" && chmod 777 "$TMPDIR"',
      'id -u',
    ].join('; ');
    for (let i = 0; i < 3; i++) {
      const [tmp = '', pwd = '', owner, count, uid] = (await run(executor, script))
        .trim()
        .split('\n');
      assert.ok(tmp.startsWith('/'), `TMPDIR is set: ${tmp}`);
      assert.ok(
        pwd !== '' && !tmp.startsWith(`${pwd}/`) && tmp !== pwd,
        'TMPDIR is outside the input root',
      );
      assert.equal(owner, `${uid} 700`, 'owned by the action user, closed to others');
      assert.equal(count?.trim(), '0', 'empty at the start of the action');
    }
  });

  it("keeps another running action out of an action's TMPDIR", async () => {
    const name = `${tag}-e`;
    made.push(join('/tmp', `${name}.path`), join('/tmp', `${name}.done`));
    const holder = run(
      executor,
      `echo secret > "$TMPDIR/secret"; echo "$TMPDIR" > /tmp/${name}.path; i=0; while [ ! -e /tmp/${name}.done ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; rm /tmp/${name}.path; cat "$TMPDIR/secret"; ls -A "$TMPDIR"`,
    );
    const prober = run(
      executor,
      `i=0; while [ ! -s /tmp/${name}.path ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; p=$(cat /tmp/${name}.path); echo "probing $p"; ls "$p" >/dev/null 2>&1 && echo listed; cat "$p/secret" 2>/dev/null && echo read; touch "$p/planted" 2>/dev/null && echo wrote; touch /tmp/${name}.done; i=0; while [ -e /tmp/${name}.path ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`,
    );
    const [held, probed] = await Promise.all([holder, prober]);
    assert.match(
      probed,
      /^probing \/.+\n$/,
      'the prober found the path and could do nothing with it',
    );
    assert.equal(held, 'secret\nsecret\n', 'nothing was planted in it');
  });

  it('gives an action an empty TMPDIR without privilege separation too', async () => {
    const script = 'ls -A "$TMPDIR" | wc -l; echo left > "$TMPDIR/leftover"; echo "$TMPDIR"';
    for (let i = 0; i < 3; i++) {
      const [count, tmp = ''] = (await run(sameUser, script)).trim().split('\n');
      assert.equal(count?.trim(), '0');
      assert.ok(tmp.startsWith(join(dir, 'same-user')), tmp);
      // The directory goes back to the pool in the background; the next action waits for none.
      await sameUserDirectories.settled();
    }
  });

  it('sets TMPDIR unless the Command sets it', async () => {
    assert.match(await run(executor, 'echo "$TMPDIR"'), /^\/.+\/tmp\n$/);
    const out = await run(executor, 'echo "$TMPDIR"', {
      environmentVariables: [...ENV, { name: 'TMPDIR', value: '/custom/tmp' }],
    });
    assert.equal(out, '/custom/tmp\n');
  });

  it('gives a sandboxed action a writable, private TMPDIR', async (t) => {
    if (sandboxed === undefined) {
      t.skip('needs bubblewrap');
      return;
    }
    const script = 'echo hello > "$TMPDIR/f" && cat "$TMPDIR/f" && ls -A "$TMPDIR" | wc -l';
    assert.equal(
      (await run(sandboxed, script, { platform: SANDBOX })).replace(/ /g, ''),
      'hello\n1\n',
    );
    assert.equal(
      (await run(sandboxed, 'ls -A "$TMPDIR" | wc -l', { platform: SANDBOX })).trim(),
      '0',
    );
  });
});
