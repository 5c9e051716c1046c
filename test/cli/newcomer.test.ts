/**
 * The CLI as a newcomer meets it: global options before the command,
 * `--version`, one-line errors that say what is wrong (an unknown command, a
 * command line to run without `--`, a digest that is not an Action or not a
 * Directory, a finished operation to cancel, the HTTP port given as the
 * gRPC server, `grpcs://` against a plaintext server), the digest forms the
 * web UI accepts, operations newest first and the upload summary counting
 * directories as `cas tree` does.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KilnProcess, ROOT, startKiln } from '../support/kiln-process.ts';
import { jsonOf, kiln, oneErrorLine } from './kiln-cli.ts';

describe('kiln for a newcomer', () => {
  let server: KilnProcess;
  let dir: string;
  let httpAddress: string;
  const run = (...args: string[]) => kiln(args, { server: server.address });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-cli-newcomer-'));
    server = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')]);
    const http = /Web UI and metrics on http:\/\/(\S+?)\/?\s/.exec(server.stdout());
    assert.ok(http?.[1], `no HTTP address in:\n${server.stdout()}`);
    httpAddress = http[1];
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints its version from package.json', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const result = await kiln(['--version']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `kiln ${version}\n`);
  });

  it('accepts global options before the command and its subcommand', async () => {
    // No KILN_SERVER: the only server is the one given before the command.
    const before = await kiln(['--server', server.address, '--json', 'ops', 'list']);
    assert.equal(before.code, 0, before.stderr);
    assert.deepEqual(jsonOf(before), { operations: [] });
    const between = await kiln(['ops', `--server=${server.address}`, 'list', '--json']);
    assert.equal(between.code, 0, between.stderr);
    const withArgv = await kiln(['--server', server.address, 'run', '--', 'echo', '--server']);
    assert.equal(withArgv.code, 0, withArgv.stderr);
    assert.equal(withArgv.stdout, '--server\n');
  });

  it('reports an unknown command in one line that points to --help', async () => {
    const unknown = await kiln(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, '');
    assert.equal(oneErrorLine(unknown), 'kiln: unknown command "frobnicate" (see "kiln --help")');
    const typo = await kiln(['opps', 'list']);
    assert.equal(
      oneErrorLine(typo),
      'kiln: unknown command "opps"; did you mean "ops"? (see "kiln --help")',
    );
    const sub = await kiln(['ops', 'lsit']);
    assert.match(oneErrorLine(sub), /unknown command "ops lsit"; did you mean "ops list"\?/);
  });

  it('says to put the command after "--" when it is missing', async () => {
    const result = await kiln(['run', 'sh', '-c', 'echo hi']);
    assert.equal(result.code, 2);
    const line = oneErrorLine(result);
    assert.match(line, /unknown option "-c"; put the command to run after "--"/);
    assert.doesNotMatch(line, /'-- "-c"/, "not parseArgs's own advice");
  });

  it('accepts every digest form the web UI does', async () => {
    const file = join(dir, 'hello.txt');
    await writeFile(file, 'hello\n');
    const up = await run('cas', 'upload', file);
    assert.equal(up.code, 0, up.stderr);
    const [hash, size] = up.stdout.trim().split('/') as [string, string];
    for (const form of [
      `${hash}/${size}`,
      `${hash}-${size}`,
      `sha256/${hash}/${size}`,
      `${hash.toUpperCase()}/${size}`,
      `blobs/${hash}/${size}`,
      `bytestream://127.0.0.1/blobs/sha256/${hash}/${size}`,
    ]) {
      const cat = await run('cas', 'cat', form);
      assert.equal(cat.code, 0, `${form}: ${cat.stderr}`);
      assert.equal(cat.stdout, 'hello\n', form);
    }
    const other = await run('cas', 'cat', `sha1/${hash.slice(0, 40)}/${size}`);
    assert.equal(other.code, 2);
    assert.match(oneErrorLine(other), /is a sha1 digest; add --digest-function sha1/);
  });

  it('says a directory or a file is not an Action, and a file is not a Directory', async () => {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    await writeFile(join(tree, 'sub/a.c'), 'int a;\n');
    const root = (await run('cas', 'upload', tree)).stdout.trim();
    const file = (await run('cas', 'upload', join(tree, 'sub/a.c'))).stdout.trim();

    const dirAsAction = await run('execute', root);
    assert.equal(dirAsAction.code, 1);
    assert.equal(
      oneErrorLine(dirAsAction),
      `kiln: blob ${root} is not an Action; it looks like a Directory (an input root?): ` +
        'make an action with "kiln action create" or use "kiln run"',
    );
    const fileAsAction = await run('execute', file);
    assert.match(oneErrorLine(fileAsAction), /is not an Action; it looks like a plain file/);

    const fileAsTree = await run('cas', 'tree', file);
    assert.equal(fileAsTree.code, 1);
    assert.equal(
      oneErrorLine(fileAsTree),
      `kiln: blob ${file} is not a Directory (a file? see "kiln cas cat")`,
    );
  });

  it('lists operations newest first, finds one by its bare id, and refuses to cancel a finished one', async () => {
    const names: string[] = [];
    for (const word of ['first', 'second']) {
      const result = await run('run', '--json', '--', 'echo', word);
      assert.equal(result.code, 0, result.stderr);
      names.push(jsonOf<{ operation: string }>(result).operation);
    }
    const [first, second] = names as [string, string];
    const list = jsonOf<{ operations: { name: string }[] }>(await run('ops', 'list', '--json'));
    const order = list.operations.map((o) => o.name);
    assert.ok(
      order.indexOf(second) >= 0 && order.indexOf(second) < order.indexOf(first),
      order.join(),
    );
    const limited = jsonOf<{ operations: { name: string }[] }>(
      await run('ops', 'list', '--limit', '1', '--json'),
    );
    assert.deepEqual(
      limited.operations.map((o) => o.name),
      [order[0]],
    );

    const id = second.slice('operations/'.length);
    const got = await run('ops', 'get', id, '--json');
    assert.equal(got.code, 0, got.stderr);
    assert.equal(jsonOf<{ name: string }>(got).name, second);
    const byUrl = await run('ops', 'get', `http://${httpAddress}/operations/${id}`, '--json');
    assert.equal(jsonOf<{ name: string }>(byUrl).name, second);

    const cancel = await run('ops', 'cancel', id);
    assert.equal(cancel.code, 1);
    assert.equal(cancel.stdout, '');
    assert.match(oneErrorLine(cancel), new RegExp(`operation ${second} had already finished`));
  });

  it('counts the directories of an upload as cas tree does', async () => {
    const tree = join(dir, 'counted');
    for (const d of ['a/b', 'empty-1', 'empty-2', 'c/empty-1']) {
      await mkdir(join(tree, d), { recursive: true });
    }
    await writeFile(join(tree, 'a/b/x.c'), 'x\n');
    const up = await run('cas', 'upload', tree, '--json');
    const summary = jsonOf<{ digest: string; directories: number }>(up);
    const shown = await run('cas', 'tree', summary.digest);
    const counted = /\((\d+) files?, (\d+) director/.exec(shown.stdout);
    assert.ok(counted, shown.stdout);
    // a, a/b, empty-1, empty-2, c, c/empty-1: identical empty directories are one blob.
    assert.equal(summary.directories, 6);
    assert.equal(Number(counted[2]), 6);
    const text = await run('cas', 'upload', tree);
    assert.match(text.stderr, /uploaded 1 file \(2 B\) and 6 directories/);
  });

  it('says what is wrong with a server address that is not plaintext gRPC', async () => {
    const http = await run('ops', 'list', '--server', httpAddress);
    assert.equal(http.code, 1);
    assert.match(oneErrorLine(http), /does not speak gRPC .*HTTP port/);
    const tls = await run('ops', 'list', '--server', `grpcs://${server.address}`);
    assert.equal(tls.code, 1);
    const line = oneErrorLine(tls);
    assert.match(line, /answered in plaintext, not TLS: drop grpcs:\/\//);
    assert.doesNotMatch(line, /SSL routines|openssl/);
  });
});
