/**
 * FetchBlob through a real Kiln with authentication on: origins on
 * loopback, private and link-local addresses are refused by default (the
 * origin never sees a request), whether named literally, in an IPv6 form,
 * by a host name, or by a redirect from an allowed origin; and reached once
 * `remoteAsset.allowedPrivateNetworks` lets them in. In protected mode (no
 * `auth` section) loopback origins are allowed, other private ones are not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import type { RemoteAssetConfig } from '../../src/config/asset-schema.ts';
import { parseConfigText } from '../../src/config/load-config.ts';
import type { FetchBlobResponse } from '../../src/gen/build/bazel/remote/asset/v1/remote_asset.js';
import { call } from '../support/grpc-clients.ts';
import { type AssetServer, fetchRequest, sha256Hex, startAssetServer } from './asset-server.ts';
import { type HttpOrigin, startHttpOrigin } from './http-origin.ts';

const CONTENT = 'internal secret';
const TOKEN = 'fetch-token-0123456789';

function withToken(): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${TOKEN}`);
  return metadata;
}

/** A server with authentication on (a token holding asset:fetch) and `config`. */
function startAuthenticated(config: Partial<RemoteAssetConfig> = {}): Promise<AssetServer> {
  const { auth } = parseConfigText(
    [
      'auth:',
      '  tokens:',
      '    - principal: ci',
      `      token: ${TOKEN}`,
      '      permissions: [cas:read, cas:write, asset:fetch]',
    ].join('\n'),
    'test.yaml',
    { env: {} },
  );
  return startAssetServer(
    { connectTimeoutMs: 1000, ...config },
    { authenticator: createAuthenticator(auth) },
  );
}

async function fetchBlob(s: AssetServer, uri: string, token = true): Promise<FetchBlobResponse> {
  const metadata = token ? withToken() : new Metadata();
  return call(s.fetch, 'fetchBlob', fetchRequest({ uris: [uri] }), metadata);
}

function assertRefused(response: FetchBlobResponse, ...patterns: RegExp[]): void {
  assert.equal(response.status?.code, status.PERMISSION_DENIED, response.status?.message);
  for (const pattern of patterns) assert.match(response.status?.message ?? '', pattern);
}

function assertFetched(response: FetchBlobResponse): void {
  assert.equal(response.status?.code, status.OK, response.status?.message);
  assert.equal(response.blobDigest?.hash, sha256Hex(CONTENT));
}

describe('Fetch from private origins, authentication on', () => {
  let v4: HttpOrigin;
  let v6: HttpOrigin;
  let front: HttpOrigin;
  let strict: AssetServer;
  let mirrors: AssetServer;
  let frontOnly: AssetServer;
  before(async () => {
    v4 = await startHttpOrigin({ '/file': CONTENT });
    v6 = await startHttpOrigin({ '/file': CONTENT }, '::1');
    // A second loopback address stands in for an allowed (say, public) origin.
    front = await startHttpOrigin(
      {
        '/to-literal': (_req, res) => res.writeHead(302, { location: `${v4.base}/file` }).end(),
        '/to-name': (_req, res) =>
          res.writeHead(302, { location: `http://localhost:${v4.port}/file` }).end(),
      },
      '127.0.0.2',
    );
    strict = await startAuthenticated();
    mirrors = await startAuthenticated({ allowedPrivateNetworks: ['127.0.0.0/8', '::1/128'] });
    frontOnly = await startAuthenticated({ allowedPrivateNetworks: ['127.0.0.2/32'] });
  });
  after(async () => {
    for (const s of [strict, mirrors, frontOnly]) await s.stop();
    for (const o of [v4, v6, front]) await o.stop();
  });

  it('refuses loopback, private, metadata and mapped addresses and contacts no one', async () => {
    const hint = /remoteAsset\.allowedPrivateNetworks .*remoteAsset\.allowPrivateNetworks: true/;
    assertRefused(
      await fetchBlob(strict, `${v4.base}/file`),
      new RegExp(`^http://127\\.0\\.0\\.1:${v4.port}/file: 127\\.0\\.0\\.1 is a loopback address`),
      hint,
    );
    assertRefused(await fetchBlob(strict, `${v6.base}/file`), /::1 is a loopback address/, hint);
    assertRefused(
      await fetchBlob(strict, `http://[::ffff:127.0.0.1]:${v4.port}/file`),
      /::ffff:7f00:1 is a loopback address/,
      hint,
    );
    assertRefused(
      await fetchBlob(strict, `http://localhost:${v4.port}/file`),
      /localhost resolves to 127\.0\.0\.1, which is a loopback address/,
      hint,
    );
    assertRefused(
      await fetchBlob(strict, 'http://10.20.30.40/file'),
      /10\.20\.30\.40 is a private \(RFC 1918\) address/,
      hint,
    );
    assertRefused(
      await fetchBlob(strict, 'http://169.254.169.254/latest/meta-data/'),
      /cloud metadata/,
    );
    assertRefused(await fetchBlob(strict, 'http://[fd00::1]/file'), /unique local/, hint);
    assert.equal(v4.requests.length + v6.requests.length, 0);
  });

  it('refuses a redirect from an allowed origin to a loopback one', async () => {
    assertRefused(
      await fetchBlob(frontOnly, `${front.base}/to-literal`),
      new RegExp(`^http://127\\.0\\.0\\.1:${v4.port}/file: 127\\.0\\.0\\.1 is a loopback address`),
      new RegExp(`reached by a redirect from http://127\\.0\\.0\\.2:${front.port}/to-literal`),
    );
    assertRefused(
      await fetchBlob(frontOnly, `${front.base}/to-name`),
      /localhost resolves to 127\.0\.0\.1, which is a loopback address/,
      /reached by a redirect from/,
    );
    assert.equal(front.hits('/to-literal'), 1);
    assert.equal(front.hits('/to-name'), 1);
    assert.equal(v4.requests.length, 0);
  });

  it('fetches from the networks remoteAsset.allowedPrivateNetworks lists', async () => {
    assertFetched(await fetchBlob(mirrors, `${v4.base}/file`));
    assertFetched(await fetchBlob(mirrors, `${v6.base}/file`));
    assertFetched(await fetchBlob(mirrors, `http://[::ffff:127.0.0.1]:${v4.port}/file`));
    assertFetched(await fetchBlob(mirrors, `http://localhost:${v4.port}/file`));
    assertFetched(await fetchBlob(mirrors, `${front.base}/to-literal`));
    // Networks not listed stay refused.
    assertRefused(await fetchBlob(mirrors, 'http://10.20.30.40/file'), /private \(RFC 1918\)/);
    assert.ok(v4.requests.length >= 4 && v6.requests.length >= 1);
  });

  it('fetches from any private address with remoteAsset.allowPrivateNetworks', async () => {
    const open = await startAuthenticated({ allowPrivateNetworks: true });
    try {
      assertFetched(await fetchBlob(open, `${front.base}/to-literal`));
      assertRefused(await fetchBlob(open, 'http://169.254.169.254/'), /cloud metadata/);
    } finally {
      await open.stop();
    }
  });

  it('still needs asset:fetch before any of this', async () => {
    await assert.rejects(fetchBlob(strict, `${v4.base}/file`, false), (err: Error) => {
      assert.match(err.message, /UNAUTHENTICATED|asset:fetch/);
      return true;
    });
  });
});

describe('Fetch from private origins in protected mode (no auth section)', () => {
  let v4: HttpOrigin;
  let s: AssetServer;
  before(async () => {
    v4 = await startHttpOrigin({ '/file': CONTENT });
    s = await startAssetServer({ connectTimeoutMs: 1000 });
  });
  after(async () => {
    await s.stop();
    await v4.stop();
  });

  it('allows loopback origins, since every caller is on this machine', async () => {
    assertFetched(await fetchBlob(s, `${v4.base}/file`, false));
    assertFetched(await fetchBlob(s, `http://localhost:${v4.port}/file`, false));
  });

  it('refuses other private, link-local and unique local origins', async () => {
    assertRefused(
      await fetchBlob(s, 'http://10.20.30.40/file', false),
      /private \(RFC 1918\).*remoteAsset\.allowedPrivateNetworks/,
    );
    assertRefused(await fetchBlob(s, 'http://169.254.169.254/', false), /cloud metadata/);
    assertRefused(await fetchBlob(s, 'http://[fd00::1]/file', false), /unique local/);
    assertRefused(await fetchBlob(s, 'http://100.64.0.1/file', false), /carrier-grade NAT/);
  });
});
