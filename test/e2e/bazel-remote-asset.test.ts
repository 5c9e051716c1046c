// Bazel 4.2.3 downloads its external repositories (an http_file and an
// http_archive, both pinned by sha256) through Kiln's Remote Asset API with
// --experimental_remote_downloader. Once Kiln has them, a build from a fresh
// output base (so a fresh repository cache) succeeds with the origin gone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { type HttpOrigin, startHttpOrigin } from '../asset/http-origin.ts';
import {
  type BazelWorkspace,
  createBazelWorkspace,
  FIXTURES_DIR,
  runBazel,
} from './bazel-harness.ts';
import { startKilnSession } from './kiln-session.ts';

const ORIGIN_DIR = join(FIXTURES_DIR, 'remote_asset_origin');
const ARCHIVE_FILES = ['hello.txt', 'data/numbers.txt'];

/** A deterministic tar.gz of `lib-1.0/` from the origin fixture. */
async function buildArchive(): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of p) chunks.push(chunk as Buffer);
  })();
  const mtime = new Date(0);
  const add = (name: string, data?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data === undefined)
        p.entry({ name, type: 'directory', mode: 0o755, mtime }, Buffer.alloc(0), cb);
      else p.entry({ name, mode: 0o644, mtime }, data, cb);
    });
  await add('lib-1.0/');
  await add('lib-1.0/data/');
  for (const file of ARCHIVE_FILES) {
    await add(`lib-1.0/${file}`, await readFile(join(ORIGIN_DIR, 'lib-1.0', file)));
  }
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test('Bazel downloads external repositories through Kiln', { timeout: 15 * 60_000 }, async (t) => {
  const session = await startKilnSession(t);
  if (session === undefined) return;
  const tool = await readFile(join(ORIGIN_DIR, 'tool.txt'));
  const archive = await buildArchive();
  const origin: HttpOrigin = await startHttpOrigin({
    '/tool.txt': tool,
    '/lib-1.0.tar.gz': archive,
  });
  const workspaces: BazelWorkspace[] = [];
  t.after(async () => {
    for (const ws of workspaces) await ws.cleanup();
    await origin.stop();
  });
  const expected = Buffer.concat([
    tool,
    ...(await Promise.all(ARCHIVE_FILES.map((f) => readFile(join(ORIGIN_DIR, 'lib-1.0', f))))),
  ]).toString();

  /** A fresh copy of the fixture (own output root, so own repository cache) pointing at the origin. */
  const newWorkspace = async () => {
    const ws = await createBazelWorkspace({ fixture: join(FIXTURES_DIR, 'remote_asset') });
    workspaces.push(ws);
    const file = join(ws.dir, 'WORKSPACE');
    const text = (await readFile(file, 'utf8'))
      .replaceAll('@ORIGIN@', origin.base)
      .replaceAll('@TOOL_SHA256@', sha256(tool))
      .replaceAll('@ARCHIVE_SHA256@', sha256(archive));
    await writeFile(file, text);
    return ws;
  };
  const address = () => session.kiln.address;
  const build = (ws: BazelWorkspace, flags: string[]) =>
    runBazel(ws, ['build', '//:combined', '--remote_timeout=60', ...flags], {
      allowDownloads: true,
    });
  const fetchedLines = () => session.kiln.stderr().match(/"msg":"asset fetched"/g)?.length ?? 0;

  await t.test('Bazel 4.2.3 needs --remote_cache alongside the remote downloader', async () => {
    const ws = await newWorkspace();
    const result = await build(ws, [`--experimental_remote_downloader=grpc://${address()}`]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /remote downloader can only be used in combination with gRPC caching/,
    );
    assert.equal(origin.requests.length, 0);
    await ws.cleanup();
  });

  await t.test('a first build downloads both repositories through Kiln', async () => {
    const ws = await newWorkspace();
    const result = await build(ws, [
      `--remote_cache=grpc://${address()}`,
      `--experimental_remote_downloader=grpc://${address()}`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const output = await readFile(join(ws.dir, 'bazel-bin', 'combined.txt'), 'utf8');
    assert.equal(output, expected);
    // Kiln, not Bazel, fetched them: one request each, and Kiln logged both.
    assert.equal(origin.hits('/tool.txt'), 1);
    assert.equal(origin.hits('/lib-1.0.tar.gz'), 1);
    assert.equal(fetchedLines(), 2, session.kiln.stderr());
    for (const request of origin.requests) {
      assert.match(String(request.headers['user-agent']), /^Kiln-RemoteAsset\//);
    }
    await ws.cleanup();
  });

  await t.test('with the origin gone, a fresh output base still builds, from Kiln', async () => {
    await origin.stop();
    const before = origin.requests.length;
    const ws = await newWorkspace();
    const result = await build(ws, [
      `--remote_cache=grpc://${address()}`,
      `--experimental_remote_downloader=grpc://${address()}`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(join(ws.dir, 'bazel-bin', 'combined.txt'), 'utf8'), expected);
    assert.equal(origin.requests.length, before);
    assert.equal(fetchedLines(), 2, 'answered from associations, nothing downloaded again');
    assert.doesNotMatch(session.kiln.stderr(), /"level":50/, 'Kiln logged no errors');
    await ws.cleanup();
  });
});
