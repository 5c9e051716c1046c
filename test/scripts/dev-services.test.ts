/**
 * `npm run dev:services`: starts PostgreSQL and the S3 emulator, prints where
 * they are once both accept connections, and stops both on SIGTERM.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NODE24, ROOT } from '../support/kiln-process.ts';

const run = promisify(execFile);

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

it('dev:services serves PostgreSQL and S3 until SIGTERM stops both', {
  timeout: 120_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-dev-services-'));
  const child = spawn(NODE24, [join(ROOT, 'scripts', 'dev-services.ts'), '--dir', dir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const vars = await new Promise<Record<string, string>>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('KILN_S3_SECRET_ACCESS_KEY=')) {
          resolve(
            Object.fromEntries(
              stdout
                .trim()
                .split('\n')
                .map((l) => l.split(/=(.*)/s).slice(0, 2)),
            ),
          );
        }
      });
      child.once('exit', (code) =>
        reject(new Error(`dev:services exited with ${code}:\n${stderr}`)),
      );
    });
    const { KILN_PG_URL, KILN_S3_ENDPOINT, KILN_S3_BUCKET } = vars;
    assert.ok(KILN_PG_URL && KILN_S3_ENDPOINT && KILN_S3_BUCKET, stdout);
    assert.ok(vars.KILN_S3_ACCESS_KEY_ID && vars.KILN_S3_SECRET_ACCESS_KEY, stdout);

    const { stdout: answer } = await run('psql', [KILN_PG_URL, '-Atc', 'select 40 + 2']);
    assert.equal(answer.trim(), '42');

    const s3 = new S3Client({
      endpoint: KILN_S3_ENDPOINT,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: {
        accessKeyId: vars.KILN_S3_ACCESS_KEY_ID,
        secretAccessKey: vars.KILN_S3_SECRET_ACCESS_KEY,
      },
    });
    await s3.send(new PutObjectCommand({ Bucket: KILN_S3_BUCKET, Key: 'hello', Body: 'world' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: KILN_S3_BUCKET, Key: 'hello' }));
    assert.equal(await got.Body?.transformToString(), 'world');
    s3.destroy();

    const pgPort = Number(new URL(KILN_PG_URL).port);
    const s3Port = Number(new URL(KILN_S3_ENDPOINT).port);
    assert.ok(await accepts(pgPort));
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, stderr);
    assert.equal(await accepts(pgPort), false, 'PostgreSQL still accepts connections');
    assert.equal(await accepts(s3Port), false, 'the S3 server still accepts connections');
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  }
});
