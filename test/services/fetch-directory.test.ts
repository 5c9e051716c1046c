import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { pack } from 'tar-stream';
import { parseDigest } from '../../src/digest/digest.ts';
import type { Digest as DigestMessage } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, readAll } from '../../src/storage/blob-store.ts';
import {
  type AssetServer,
  fetchRequest,
  sriQualifier,
  startAssetServer,
} from '../asset/asset-server.ts';
import { type HttpOrigin, startHttpOrigin } from '../asset/http-origin.ts';
import { call } from '../support/grpc-clients.ts';

interface Entry {
  readonly name: string;
  readonly data?: string;
  readonly type?: 'file' | 'directory';
  readonly mode?: number;
}

async function tarOf(entries: readonly Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of p) chunks.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644) };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      p.entry(header, Buffer.from(e.data ?? ''), cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The tree under `root` as `path → content` (files) and `path/` (directories); `*` marks executables. */
async function listTree(cas: BlobStore, root: DigestMessage, prefix = ''): Promise<string[]> {
  const dir = Directory.decode(await readAll(cas, parseDigest(root, 0)));
  const out: string[] = [];
  for (const f of dir.files) {
    const data = await readAll(cas, parseDigest(f.digest, 0));
    out.push(`${prefix}${f.name}${f.isExecutable ? '*' : ''}=${data.toString()}`);
  }
  for (const d of dir.directories) {
    out.push(`${prefix}${d.name}/`);
    out.push(...(await listTree(cas, d.digest as DigestMessage, `${prefix}${d.name}/`)));
  }
  return out;
}

describe('Fetch.FetchDirectory', () => {
  let s: AssetServer;
  let origin: HttpOrigin;
  let sourceTarGz: Buffer;
  before(async () => {
    s = await startAssetServer({ maxArchiveFiles: 20 });
    sourceTarGz = gzipSync(
      await tarOf([
        { name: 'README', data: 'read me' },
        { name: 'lib/', type: 'directory' },
        { name: 'lib/run.sh', data: '#!/bin/sh\n', mode: 0o755 },
      ]),
    );
    origin = await startHttpOrigin({ '/src-1.0.tar.gz': sourceTarGz });
  });
  after(async () => {
    await origin.stop();
    await s.stop();
  });
  const fetchDirectory = (req: Parameters<typeof fetchRequest>[0]) =>
    call(s.fetch, 'fetchDirectory', fetchRequest(req));

  it('downloads an archive, unpacks it into the CAS and answers repeats without the origin', async () => {
    const req = {
      uris: [`${origin.base}/src-1.0.tar.gz`],
      qualifiers: [sriQualifier(sourceTarGz)],
    };
    const res = await fetchDirectory(req);
    assert.equal(res.status?.code, status.OK, res.status?.message);
    assert.equal(res.uri, `${origin.base}/src-1.0.tar.gz`);
    assert.ok(res.rootDirectoryDigest !== undefined);
    assert.deepEqual(await listTree(s.t.casBackend, res.rootDirectoryDigest), [
      'README=read me',
      'lib/',
      'lib/run.sh*=#!/bin/sh\n',
    ]);
    const again = await fetchDirectory(req);
    assert.deepEqual(again.rootDirectoryDigest, res.rootDirectoryDigest);
    assert.equal(origin.hits('/src-1.0.tar.gz'), 1);
  });

  it('unpacks an archive fetched earlier by FetchBlob without downloading it again', async () => {
    const tar = await tarOf([{ name: 'only.txt', data: 'once' }]);
    origin.route('/blob-first.tar', tar);
    const req = { uris: [`${origin.base}/blob-first.tar`], qualifiers: [sriQualifier(tar)] };
    const blob = await call(s.fetch, 'fetchBlob', fetchRequest(req));
    assert.equal(blob.status?.code, status.OK, blob.status?.message);
    const dir = await fetchDirectory(req);
    assert.equal(dir.status?.code, status.OK, dir.status?.message);
    assert.deepEqual(await listTree(s.t.casBackend, dir.rootDirectoryDigest as DigestMessage), [
      'only.txt=once',
    ]);
    assert.equal(origin.hits('/blob-first.tar'), 1);
  });

  it('answers with a subdirectory of the archive for the directory qualifier', async () => {
    const req = (directory: string) => ({
      uris: [`${origin.base}/src-1.0.tar.gz`],
      qualifiers: [sriQualifier(sourceTarGz), { name: 'directory', value: directory }],
    });
    const lib = await fetchDirectory(req('./lib/'));
    assert.equal(lib.status?.code, status.OK, lib.status?.message);
    assert.deepEqual(await listTree(s.t.casBackend, lib.rootDirectoryDigest as DigestMessage), [
      'run.sh*=#!/bin/sh\n',
    ]);
    const missing = await fetchDirectory(req('docs'));
    assert.equal(missing.status?.code, status.NOT_FOUND);
    assert.match(missing.status?.message ?? '', /no directory "docs"/);
    await assert.rejects(fetchDirectory(req('../up')), (err: { code?: number }) => {
      assert.equal(err.code, status.INVALID_ARGUMENT);
      return true;
    });
    // A blob has no subdirectories: the qualifier is unsupported there.
    await assert.rejects(
      call(s.fetch, 'fetchBlob', fetchRequest(req('lib'))),
      (err: { code?: number; details?: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details ?? '', /"directory"/);
        return true;
      },
    );
  });

  it('takes the archive format from resource_type when the URI has no suffix', async () => {
    const tar = await tarOf([{ name: 'a.txt', data: 'A' }]);
    origin.route('/download?id=7', tar);
    const asTar = await fetchDirectory({
      uris: [`${origin.base}/download?id=7`],
      qualifiers: [{ name: 'resource_type', value: 'application/x-tar' }],
    });
    assert.equal(asTar.status?.code, status.OK, asTar.status?.message);
    const asZip = await fetchDirectory({
      uris: [`${origin.base}/download?id=7`],
      qualifiers: [{ name: 'resource_type', value: 'application/zip' }],
    });
    assert.equal(asZip.status?.code, status.INVALID_ARGUMENT, asZip.status?.message);
  });

  it('reports an entry escaping the tree as INVALID_ARGUMENT in the status', async () => {
    const evil = gzipSync(await tarOf([{ name: '../../etc/escape', data: 'gotcha' }]));
    origin.route('/evil.tar.gz', evil);
    const res = await fetchDirectory({ uris: [`${origin.base}/evil.tar.gz`] });
    assert.equal(res.status?.code, status.INVALID_ARGUMENT);
    assert.match(res.status?.message ?? '', /evil\.tar\.gz: cannot unpack the archive/);
    assert.equal(res.rootDirectoryDigest, undefined);
  });

  it('reports an archive over remoteAsset.maxArchiveFiles as RESOURCE_EXHAUSTED', async () => {
    const entries = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}.txt`, data: `${i}` }));
    origin.route('/many.tar', await tarOf(entries));
    const res = await fetchDirectory({ uris: [`${origin.base}/many.tar`] });
    assert.equal(res.status?.code, status.RESOURCE_EXHAUSTED, res.status?.message);
  });
});
