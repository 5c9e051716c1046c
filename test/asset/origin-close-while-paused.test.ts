import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { NODE24 } from '../support/kiln-process.ts';
import type { ChildReport, Framing } from './origin-close-child.ts';

const CHILD = join(import.meta.dirname, 'origin-close-child.ts');

interface ChildExit {
  /** Exit code, the signal's name, or 'hung'. */
  readonly exit: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one download in a child process: a crash ends that process, not the test runner. */
function runChild(framing: Framing, ms = 30_000): Promise<ChildExit> {
  return new Promise((resolve) => {
    const child = spawn(NODE24, [CHILD, framing], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ exit: 'hung', stdout, stderr });
    }, ms);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exit: code ?? signal ?? 'unknown', stdout, stderr });
    });
  });
}

/** The child's report, after asserting that it lived to print it and exit 0. */
async function download(framing: Framing): Promise<ChildReport> {
  const { exit, stdout, stderr } = await runChild(framing);
  assert.equal(exit, 0, `the process running the download died (${exit}):\n${stderr}`);
  const report = JSON.parse(stdout) as ChildReport;
  assert.equal(report.afterwards, status.OK, 'the server answers a Fetch after the download');
  return report;
}

describe('a download whose origin closes while Kiln holds the body paused', () => {
  it('stores a Content-Length body through Fetch and keeps serving', async () => {
    const { download: d } = await download('content-length');
    assert.deepEqual(d, { ok: true, intact: true });
  });

  it('fails a Content-Length body cut short with UNAVAILABLE and keeps serving', async () => {
    const { download: d } = await download('content-length-cut');
    assert.ok(!d.ok);
    assert.equal(d.code, status.UNAVAILABLE, d.message);
  });

  it('reads a body delimited by the close in full', async () => {
    const { download: d } = await download('until-close');
    assert.deepEqual(d, { ok: true, intact: true });
  });

  // The last chunk's terminator follows its data, so the parser is not paused at the
  // socket's end here: this one checks the framing, the cut one below the crash.
  it('reads a chunked body in full', async () => {
    const { download: d } = await download('chunked');
    assert.deepEqual(d, { ok: true, intact: true });
  });

  it('fails a chunked body cut inside a chunk with UNAVAILABLE', async () => {
    const { download: d } = await download('chunked-cut');
    assert.ok(!d.ok);
    assert.equal(d.code, status.UNAVAILABLE, d.message);
  });
});
