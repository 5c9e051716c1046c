// A Bazel build in flight through a kill -9 and restart of the default
// `kiln serve` (its own workers, disk CAS): with the retries the docs
// recommend (--remote_retries=10, docs/operations.md "Bazel through a
// restart") the build completes, its actions executed remotely.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../support/free-port.ts';
import { call, connectClients } from '../support/grpc-clients.ts';
import { startKiln } from '../support/kiln-process.ts';
import {
  createBazelWorkspace,
  parseRemoteCacheHits,
  requireBazel,
  runBazel,
} from './bazel-harness.ts';

test('a Bazel build survives a kill -9 and restart of kiln serve with --remote_retries=10', {
  timeout: 10 * 60_000,
}, async (t) => {
  if (requireBazel(t) === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bazel-restart-'));
  // The same port after the restart: Bazel reconnects to the address it has.
  const port = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'data')];
  let kiln = await startKiln(args);
  const ws = await createBazelWorkspace();
  t.after(async () => {
    await ws.cleanup();
    await kiln.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const build = runBazel(ws, [
    'build',
    '//remote:all_slow',
    `--remote_executor=grpc://127.0.0.1:${port}`,
    '--remote_timeout=120',
    '--remote_retries=10',
  ]);
  // Kill the server while actions execute on it.
  const clients = connectClients(`127.0.0.1:${port}`);
  let executing = 0;
  for (let i = 0; i < 1200 && executing < 2; i++) {
    const page = await call(clients.operations, 'listOperations', {
      name: '',
      filter: 'stage=EXECUTING',
      pageSize: 100,
      pageToken: '',
      returnPartialSuccess: false,
    });
    executing = page.operations.length;
    if (executing < 2) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  clients.close();
  assert.ok(executing >= 2, 'no action was executing on Kiln to interrupt');
  kiln.child.kill('SIGKILL');
  await once(kiln.child, 'exit');
  kiln = await startKiln(args);

  const result = await build;
  assert.equal(result.code, 0, result.stderr);
  const summary = parseRemoteCacheHits(result.stderr);
  // Every action ran on Kiln (or was found in its action cache on the retry).
  const runners = Object.keys(summary.byRunner).filter((r) => r !== 'internal');
  assert.deepEqual(
    runners.filter((r) => r !== 'remote' && r !== 'remote cache hit'),
    [],
    JSON.stringify(summary),
  );
  const remote = (summary.byRunner.remote ?? 0) + (summary.byRunner['remote cache hit'] ?? 0);
  assert.ok(remote >= 12, JSON.stringify(summary));
});
