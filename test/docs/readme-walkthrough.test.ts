/**
 * The README's command-line walkthrough, pasted into a shell as a reader
 * would (in an empty directory, with `kiln` on PATH), against a real
 * `kiln serve`: every command must succeed, and the outputs land where
 * the comments say.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { KILN_BIN, type KilnProcess, ROOT, startKiln } from '../support/kiln-process.ts';

const run = promisify(execFile);
const README = join(ROOT, 'README.md');

/** The first `sh` block after the line that introduces the walkthrough. */
async function walkthrough(): Promise<string> {
  const text = await readFile(README, 'utf8');
  const at = text.indexOf('A short walkthrough');
  assert.ok(at >= 0, 'the README introduces its walkthrough with "A short walkthrough"');
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(block?.[1], 'a ```sh block follows');
  return block[1];
}

describe('the README walkthrough', () => {
  let server: KilnProcess;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-readme-'));
    server = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')]);
    await mkdir(join(dir, 'bin'));
    await symlink(KILN_BIN, join(dir, 'bin', 'kiln'));
    await mkdir(join(dir, 'work'));
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs as pasted', async () => {
    const script = (await walkthrough()).replace(
      /^export KILN_SERVER=\S+/m,
      `export KILN_SERVER=${server.address}`,
    );
    assert.match(script, new RegExp(`KILN_SERVER=${server.address}`));
    const env = {
      ...process.env,
      PATH: [join(dir, 'bin'), join(ROOT, 'node_modules', '.bin'), process.env.PATH].join(
        delimiter,
      ),
    };
    const cwd = join(dir, 'work');
    const result = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd, env }).catch(
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    assert.equal('code' in result ? result.code : 0, 0, result.stderr);
    assert.match(result.stdout, /\s4 total\n/, 'wc counted the two files of the example');
    const lines = await readFile(join(cwd, 'demo', 'out', 'lines.txt'), 'utf8');
    assert.match(lines, /main\.c/);
  });
});
