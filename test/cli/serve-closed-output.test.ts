import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, connectClients } from '../support/grpc-clients.ts';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';

/** Rejects with `what` when `promise` takes longer than `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('kiln serve when the reader of its output goes away', { timeout: 60_000 }, () => {
  let dataDir: string;
  let kiln: KilnProcess | undefined;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'kiln-closed-output-'));
  });
  after(() => {
    if (kiln?.child.exitCode === null) kiln.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps answering and stops on SIGTERM after stdout and stderr are closed', async () => {
    kiln = await startKiln([
      '--listen',
      '127.0.0.1:0',
      '--http-listen',
      'off',
      '--data-dir',
      dataDir,
      '--log-level',
      'debug',
    ]);
    kiln.child.stdout?.destroy();
    kiln.child.stderr?.destroy();
    const clients = connectClients(kiln.address);
    try {
      // Each unknown operation logs an "rpc rejected" line at debug level.
      for (let i = 0; i < 20; i++) {
        await within(
          3000,
          `GetOperation #${i}`,
          assert.rejects(call(clients.operations, 'getOperation', { name: `missing-${i}` }), {
            code: 5,
          }),
        );
      }
      const caps = await within(
        3000,
        'GetCapabilities',
        call(clients.capabilities, 'getCapabilities', { instanceName: '' }),
      );
      assert.ok(caps.cacheCapabilities);
    } finally {
      clients.close();
    }
    const code = await within(5000, 'exit after SIGTERM', kiln.stop());
    assert.equal(code, 0);
  });
});
