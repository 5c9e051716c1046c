// Bazel 4.2.3 against a Kiln with tokens: with --remote_header carrying the
// token it builds remotely; without it the build fails with UNAUTHENTICATED.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRemoteCacheHits, runBazel } from './bazel-harness.ts';
import { startKilnSession } from './kiln-session.ts';

const TOKEN = 'bazel-e2e-token-7c41';

test('Bazel builds on a Kiln with tokens only when it sends one', {
  timeout: 15 * 60_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bazel-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'kiln.yaml');
  await writeFile(
    config,
    [
      'auth:',
      '  tokens:',
      '    - principal: bazel',
      `      sha256: ${createHash('sha256').update(TOKEN).digest('hex')}`,
      '      permissions: [cas:read, cas:write, ac:read, execute]',
      '',
    ].join('\n'),
  );
  const session = await startKilnSession(t, ['--config', config]);
  if (session === undefined) return;
  const remote = () => [`--remote_executor=grpc://${session.kiln.address}`, '--remote_timeout=120'];

  await t.test('without a token the build fails with UNAUTHENTICATED', async () => {
    const ws = await session.newWorkspace();
    const result = await runBazel(ws, ['build', '//...', ...remote()]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /UNAUTHENTICATED/);
    assert.match(result.stderr, /needs permission cas:read/);
    await ws.cleanup();
  });

  await t.test('with --remote_header carrying the token it builds remotely', async () => {
    const ws = await session.newWorkspace();
    const result = await runBazel(ws, [
      'build',
      '//...',
      ...remote(),
      `--remote_header=Authorization=Bearer ${TOKEN}`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const summary = parseRemoteCacheHits(result.stderr);
    assert.ok((summary.byRunner.remote ?? 0) >= 5, JSON.stringify(summary));
    await ws.cleanup();
  });
});
