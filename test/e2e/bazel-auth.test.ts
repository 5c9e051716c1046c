// Bazel 4.2.3 against a Kiln with tokens: with --remote_header carrying the
// token it builds remotely; without it the build fails with UNAUTHENTICATED;
// with a read-only token a --remote_cache build succeeds and writes nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRemoteCacheHits, runBazel } from './bazel-harness.ts';
import { startKilnSession } from './kiln-session.ts';

const TOKEN = 'bazel-e2e-token-7c41';
const READ_ONLY_TOKEN = 'bazel-e2e-reader-93d2';

/** `kiln_store_blobs{store=…}` from Kiln's /metrics. */
async function storedBlobs(httpAddress: string, store: string): Promise<number> {
  const text = await (await fetch(`http://${httpAddress}/metrics`)).text();
  const match = new RegExp(`^kiln_store_blobs\\{store="${store}"\\} (\\d+)$`, 'm').exec(text);
  assert.ok(match, `kiln_store_blobs for ${store} not in /metrics`);
  return Number(match[1]);
}

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
      '    - principal: reader',
      `      sha256: ${createHash('sha256').update(READ_ONLY_TOKEN).digest('hex')}`,
      '      permissions: [cas:read, ac:read]',
      '',
    ].join('\n'),
  );
  const session = await startKilnSession(t, ['--config', config]);
  if (session === undefined) return;
  const remote = () => [`--remote_executor=grpc://${session.kiln.address}`, '--remote_timeout=120'];

  // First, while the cache is empty: the build runs every action locally and
  // a cache that would take uploads would hold them afterwards.
  await t.test(
    'with a read-only token a --remote_cache build succeeds and writes nothing',
    async () => {
      const http = /Web UI and metrics on http:\/\/(\S+?)\//.exec(session.kiln.stdout())?.[1];
      assert.ok(http, session.kiln.stdout());
      const ws = await session.newWorkspace();
      const cacheArgs = [
        'build',
        '//...',
        `--remote_cache=grpc://${session.kiln.address}`,
        '--remote_timeout=120',
        `--remote_header=Authorization=Bearer ${READ_ONLY_TOKEN}`,
      ];
      // Capabilities tell Bazel this caller may not update the action cache, so
      // it refuses to start a build that would upload local results...
      const refused = await runBazel(ws, cacheArgs);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /not authorized to write local results to the remote cache/);
      // ...and builds with the flag read-only users are meant to pass.
      const result = await runBazel(ws, [...cacheArgs, '--noremote_upload_local_results']);
      assert.equal(result.code, 0, result.stderr);
      const summary = parseRemoteCacheHits(result.stderr);
      assert.equal(summary.byRunner['remote cache hit'] ?? 0, 0, JSON.stringify(summary));
      // Bazel did not try to upload: no refused write in its output.
      assert.doesNotMatch(result.stderr, /PERMISSION_DENIED/);
      assert.equal(await storedBlobs(http, 'action_cache'), 0);
      assert.equal(await storedBlobs(http, 'cas'), 0);
      await ws.cleanup();
    },
  );

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
