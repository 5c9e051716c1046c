import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { AssetAssociations, associationKey } from '../../src/asset/asset-associations.ts';
import { AssetFetcher, type FetchRequest } from '../../src/asset/asset-fetcher.ts';
import { HttpFetcher } from '../../src/asset/http-fetcher.ts';
import { OutboundPolicy } from '../../src/asset/outbound-policy.ts';
import { parseQualifiers } from '../../src/asset/qualifiers.ts';
import { createRemoteAsset } from '../../src/asset/remote-asset.ts';
import { defaultRemoteAssetConfig } from '../../src/config/asset-schema.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { sha256Hex, sriQualifier } from './asset-server.ts';
import { type HttpOrigin, startHttpOrigin } from './http-origin.ts';

const request = (partial: Partial<FetchRequest>): FetchRequest => ({
  instanceName: '',
  timeout: undefined,
  oldestContentAccepted: undefined,
  uris: [],
  qualifiers: [],
  digestFunction: 0,
  ...partial,
});

describe('AssetFetcher', () => {
  let dir: string;
  let origin: HttpOrigin;
  let http: HttpFetcher;
  let fetcher: AssetFetcher;
  let associations: AssetAssociations;
  before(async () => {
    associations = new AssetAssociations({ store: new MemoryBlobStore({ maxBytes: 1 << 20 }) });
    dir = await mkdtemp(join(tmpdir(), 'kiln-asset-fetcher-'));
    origin = await startHttpOrigin();
    http = new HttpFetcher({
      // The origin is on loopback, which only configuration lets in.
      policy: new OutboundPolicy({
        ...defaultRemoteAssetConfig(),
        allowedPrivateNetworks: ['127.0.0.1/32'],
      }),
      connectTimeoutMs: 5000,
      maxRedirects: 5,
    });
    fetcher = new AssetFetcher({
      cas: new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 1 << 24 }) }),
      associations,
      http,
      config: defaultRemoteAssetConfig(),
      tempDir: join(dir, 'tmp'),
      log: silentLogger(),
    });
  });
  after(async () => {
    fetcher.close();
    await http.close();
    await origin.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('shares one download between identical concurrent requests', async () => {
    origin.route('/slow-shared', (_req, res) => {
      setTimeout(() => res.writeHead(200).end('shared'), 150);
    });
    const req = request({
      uris: [`${origin.base}/slow-shared`],
      qualifiers: [sriQualifier('shared')],
    });
    const results = await Promise.all([fetcher.fetch('blob', req), fetcher.fetch('blob', req)]);
    for (const r of results) assert.equal(r.digest?.hash, sha256Hex('shared'));
    assert.equal(origin.hits('/slow-shared'), 1);
  });

  it('turns user info in a URL into Basic authorization', async () => {
    origin.route('/basic', (req, res) => {
      const expected = `Basic ${Buffer.from('me:p@ss').toString('base64')}`;
      res.writeHead(req.headers.authorization === expected ? 200 : 401).end('ok');
    });
    const url = `http://me:p%40ss@127.0.0.1:${origin.port}/basic`;
    const r = await fetcher.fetch('blob', request({ uris: [url] }));
    assert.equal(r.status.code, status.OK, r.status.message);
    assert.equal(r.uri, url);
    const record = await associations.get(
      associationKey('blob', '', SHA256, parseQualifiers([], 1), url, 0),
    );
    assert.equal(record?.uri, `http://127.0.0.1:${origin.port}/basic`, 'no credentials stored');
  });

  it('drops caller headers when a redirect leaves the origin', async () => {
    const other = await startHttpOrigin({ '/landing': 'landed' });
    try {
      origin.route('/cross', (_req, res) =>
        res.writeHead(302, { location: `http://localhost:${other.port}/landing` }).end(),
      );
      const r = await fetcher.fetch(
        'blob',
        request({
          uris: [`${origin.base}/cross`],
          qualifiers: [{ name: 'http_header:Authorization', value: 'Bearer only-for-origin' }],
        }),
      );
      assert.equal(r.status.code, status.OK, r.status.message);
      assert.equal(origin.requests.at(-1)?.headers.authorization, 'Bearer only-for-origin');
      assert.equal(other.requests.at(-1)?.headers.authorization, undefined);
    } finally {
      await other.stop();
    }
  });
});

describe('HttpFetcher with a proxy', () => {
  it('tunnels downloads through remoteAsset.proxy, still applying host rules', async () => {
    const origin = await startHttpOrigin({ '/via-proxy': 'proxied' });
    const tunnels: string[] = [];
    const proxy = createServer();
    proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    const http = new HttpFetcher({
      policy: new OutboundPolicy({
        ...defaultRemoteAssetConfig(),
        allowedPrivateNetworks: ['127.0.0.1/32'],
        deniedHosts: ['blocked.invalid'],
      }),
      proxy: `http://127.0.0.1:${port}`,
      connectTimeoutMs: 5000,
      maxRedirects: 0,
    });
    try {
      const response = await http.get(
        new URL(`${origin.base}/via-proxy`),
        {},
        new AbortController().signal,
      );
      const chunks: Uint8Array[] = [];
      for await (const chunk of response.body) chunks.push(chunk);
      response.release();
      assert.equal(Buffer.concat(chunks).toString(), 'proxied');
      assert.deepEqual(tunnels, [`127.0.0.1:${origin.port}`]);
      await assert.rejects(
        http.get(new URL('http://blocked.invalid/x'), {}, new AbortController().signal),
        /denied by remoteAsset\.deniedHosts/,
      );
      assert.equal(tunnels.length, 1);
    } finally {
      await http.close();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      await origin.stop();
    }
  });
});

describe('createRemoteAsset', () => {
  it('removes downloads a previous process left behind, and nothing else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-asset-stale-'));
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'abc.part'), 'partial');
      await writeFile(join(dir, 'keep.txt'), 'not ours');
      const assets = await createRemoteAsset({
        config: defaultRemoteAssetConfig(),
        cas: new MemoryBlobStore({ maxBytes: 1 << 20 }),
        associations: new MemoryBlobStore({ maxBytes: 1 << 20 }),
        tempDir: dir,
        log: silentLogger(),
      });
      await assets.close();
      assert.deepEqual(await readdir(dir), ['keep.txt']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
