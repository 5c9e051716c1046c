/**
 * The server's TLS files reloaded on change: a rotated certificate reaches
 * the listeners, a rotation written file by file is read as one change, and
 * an unusable change keeps the last good certificate and logs an error.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { ReloadingServerTls, type ServerTlsMaterial } from '../../src/tls/reloading-server-tls.ts';
import {
  commonName,
  createTestCa,
  opensslMissing,
  type TestCa,
} from '../support/test-certificates.ts';

const missing = opensslMissing();
const POLL_MS = 50;

describe('ReloadingServerTls', { skip: !process.env.CI && missing }, () => {
  let dir: string;
  let ca: TestCa;
  const files = { cert: '', key: '' };
  let tls: ReloadingServerTls;
  const lines: Array<{ level: number; msg: string; err?: string; subject?: string }> = [];
  const seen: ServerTlsMaterial[] = [];

  /** Puts a new certificate for `cn` in place, certificate first, key a few polls later. */
  async function rotateTo(cn: string, gapMs = 0): Promise<void> {
    const next = await ca.issue(cn, 'server');
    await copyFile(next.cert, files.cert);
    if (gapMs > 0) await sleep(gapMs);
    await copyFile(next.key, files.key);
  }

  async function currentName(): Promise<string> {
    const file = join(dir, 'current.crt');
    await writeFile(file, tls.current.cert);
    return commonName(file);
  }

  async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
      await sleep(POLL_MS);
    }
  }

  before(async () => {
    assert.equal(missing, undefined, missing);
    dir = await mkdtemp(join(tmpdir(), 'kiln-tls-reload-'));
    ca = await createTestCa(dir);
    const first = await ca.issue('first', 'server');
    files.cert = join(dir, 'server.crt');
    files.key = join(dir, 'server.key');
    await copyFile(first.cert, files.cert);
    await copyFile(first.key, files.key);
    const log = pino(
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()));
          done();
        },
      }),
    );
    tls = await ReloadingServerTls.open({ files, log, pollIntervalMs: POLL_MS });
    tls.onChange((material) => seen.push(material));
  });
  after(async () => {
    tls?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('loads the files at open and logs the certificate', async () => {
    assert.equal(await currentName(), 'first');
    assert.equal(tls.mutual, false);
    assert.ok(lines.some((l) => l.msg === 'TLS certificate loaded' && l.subject === 'CN=first'));
  });

  it('tells listeners about a replaced certificate and key', async () => {
    await rotateTo('second');
    await until(
      'the second certificate is current',
      async () => (await currentName()) === 'second',
    );
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0], tls.current);
  });

  it('reads a certificate and key written one after the other as one change, without an error', async () => {
    const errors = lines.filter((l) => l.level >= 50).length;
    await rotateTo('third', POLL_MS / 5);
    await until('the third certificate is current', async () => (await currentName()) === 'third');
    assert.equal(lines.filter((l) => l.level >= 50).length, errors);
  });

  it('keeps the last good certificate and logs an error for an unusable change, then recovers', async () => {
    const count = seen.length;
    const stranger = await ca.issue('stranger', 'server');
    await copyFile(stranger.key, files.key);
    await until('the error is logged', () => lines.some((l) => l.level === 50));
    const error = lines.find((l) => l.level === 50);
    assert.match(error?.err ?? '', /server\.key is not a usable private key .*key values mismatch/);
    assert.match(error?.msg ?? '', /still serving the previous certificate/);
    assert.equal(await currentName(), 'third');
    assert.equal(seen.length, count);

    await rotateTo('fourth');
    await until(
      'the fourth certificate is current',
      async () => (await currentName()) === 'fourth',
    );
  });
});
