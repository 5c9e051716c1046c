/**
 * `kiln serve` logs: readable coloured lines on a terminal, JSON lines
 * otherwise, and `--log-format` overriding either way. The terminal is a real
 * pseudo-terminal from util-linux `script`, which runs the command with its
 * stdin, stdout and stderr on a pty and copies what it writes to our pipe.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../support/free-port.ts';
import { KILN_BIN, NODE24, ROOT, startKiln } from '../support/kiln-process.ts';
import { kiln, oneErrorLine } from './kiln-cli.ts';

const ESC = '\x1b[';

/** `text` as a regular expression matching it literally. */
function esc(text: string): string {
  return text.replace(/[[\]\\.*+?^${}()|]/g, '\\$&');
}

/** Quotes one argument for the shell `script -c` runs. */
function sh(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `kiln serve ARGS` on a pseudo-terminal until its "kiln started" log
 * line, then stops it; returns everything it wrote (stdout and stderr mixed,
 * as on a terminal).
 */
async function serveOnPty(args: readonly string[]): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kiln-logfmt-'));
  const port = await freePort();
  const command = [NODE24, KILN_BIN, 'serve', '--listen', `127.0.0.1:${port}`]
    .concat(['--http-listen', 'off', '--data-dir', dataDir, ...args])
    .map(sh)
    .join(' ');
  // -e: script's exit status is the command's; exec: no shell between script and kiln.
  const child = spawn('script', ['-qfec', `exec ${command}`, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '', TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "kiln started" line:\n${out}`)), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('kiln started') && out.includes('Kiln is serving')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`script exited with ${code}:\n${out}`));
      });
    });
  } finally {
    // script hangs up the terminal, which stops kiln, then exits itself.
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}

describe('kiln serve log format', { timeout: 90_000 }, () => {
  it('is coloured readable lines on a terminal', async () => {
    const out = await serveOnPty([]);
    // Dim time, green level, then the message.
    const coloured = new RegExp(
      `\\d\\d:\\d\\d:\\d\\d\\.\\d{3}${esc('\x1b[0m \x1b[32mINFO \x1b[0m')} kiln started `,
    );
    assert.match(out, coloured);
    assert.doesNotMatch(out, /\{"level":/);
  });

  it('is JSON on a terminal with --log-format json', async () => {
    const out = await serveOnPty(['--log-format', 'json']);
    const started = out.split(/\r?\n/).find((l) => l.includes('kiln started'));
    assert.ok(started, out);
    const record = JSON.parse(started) as Record<string, unknown>;
    assert.equal(record.msg, 'kiln started');
    assert.equal(record.level, 30);
    assert.ok(!out.includes(ESC), 'no colour codes in JSON logs');
  });

  it('is JSON when stderr is a pipe, and pretty without colour with --log-format pretty', async () => {
    const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'kiln-logfmt-')));
    try {
      const plain = await startKiln(
        ['--listen', `127.0.0.1:${await freePort()}`].concat([
          '--http-listen',
          'off',
          '--data-dir',
          dirs[0] as string,
        ]),
      );
      // Stopped as soon as it says it serves: it must drain and exit cleanly, logs written.
      assert.equal(await plain.stop(), 0, plain.stderr());
      const started = plain
        .stderr()
        .split('\n')
        .find((l) => l.includes('kiln started'));
      assert.equal((JSON.parse(started ?? '') as { msg: string }).msg, 'kiln started');

      const pretty = await startKiln(
        ['--listen', `127.0.0.1:${await freePort()}`]
          .concat(['--http-listen', 'off', '--data-dir', dirs[1] as string])
          .concat(['--log-format', 'pretty']),
      );
      await pretty.stop();
      assert.match(pretty.stderr(), /^\d\d:\d\d:\d\d\.\d{3} INFO {2}kiln started grpc=grpc:/m);
      assert.doesNotMatch(pretty.stderr(), /\{"level":/);
      assert.ok(!pretty.stderr().includes(ESC), 'no colour codes when stderr is not a terminal');
    } finally {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown --log-format with a message naming the choices', async () => {
    const result = await kiln(['serve', '--log-format', 'xml']);
    assert.notEqual(result.code, 0);
    assert.match(oneErrorLine(result), /--log-format "xml" must be json or pretty/);
  });

  it('kiln worker refuses an unknown --log-format too', async () => {
    const result = await kiln([
      'worker',
      '--scheduler',
      'grpc://127.0.0.1:1',
      '--log-format',
      'text',
    ]);
    assert.notEqual(result.code, 0);
    assert.match(oneErrorLine(result), /--log-format "text" must be json or pretty/);
  });
});
