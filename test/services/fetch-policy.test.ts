import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ServiceError, status } from '@grpc/grpc-js';
import {
  type AssetServer,
  fetchRequest,
  sriQualifier,
  startAssetServer,
} from '../asset/asset-server.ts';
import { type HttpOrigin, startHttpOrigin } from '../asset/http-origin.ts';
import { call } from '../support/grpc-clients.ts';

describe('Fetch with an outbound policy', () => {
  let s: AssetServer;
  let origin: HttpOrigin;
  before(async () => {
    s = await startAssetServer({ deniedHosts: ['localhost'], allowedHosts: ['127.0.0.1'] });
    origin = await startHttpOrigin({ '/file': 'content' });
  });
  after(async () => {
    await origin.stop();
    await s.stop();
  });

  it('refuses denied and unlisted hosts with PERMISSION_DENIED and contacts no one', async () => {
    const denied = await call(
      s.fetch,
      'fetchBlob',
      fetchRequest({ uris: [`http://localhost:${origin.port}/file`] }),
    );
    assert.equal(denied.status?.code, status.PERMISSION_DENIED);
    assert.match(denied.status?.message ?? '', /denied by remoteAsset\.deniedHosts/);
    const unlisted = await call(
      s.fetch,
      'fetchBlob',
      fetchRequest({ uris: ['http://example.com/file'] }),
    );
    assert.equal(unlisted.status?.code, status.PERMISSION_DENIED);
    assert.match(unlisted.status?.message ?? '', /not in remoteAsset\.allowedHosts/);
    assert.equal(origin.requests.length, 0);
    const allowed = await call(
      s.fetch,
      'fetchBlob',
      fetchRequest({ uris: [`${origin.base}/file`] }),
    );
    assert.equal(allowed.status?.code, status.OK, allowed.status?.message);
  });
});

describe('Fetch with a denied network', () => {
  let s: AssetServer;
  let origin: HttpOrigin;
  before(async () => {
    s = await startAssetServer({ deniedNetworks: ['127.0.0.0/8', '::1/128'] });
    origin = await startHttpOrigin({ '/file': 'content' });
  });
  after(async () => {
    await origin.stop();
    await s.stop();
  });

  it('checks the address a host name resolves to when connecting', async () => {
    const res = await call(
      s.fetch,
      'fetchBlob',
      fetchRequest({ uris: [`http://localhost:${origin.port}/file`] }),
    );
    assert.equal(res.status?.code, status.PERMISSION_DENIED);
    assert.match(res.status?.message ?? '', /localhost resolves to .*deniedNetworks/);
    assert.equal(origin.requests.length, 0);
  });
});

describe('Fetch with remoteAsset.originFailuresAsRpcErrors', () => {
  let s: AssetServer;
  let origin: HttpOrigin;
  before(async () => {
    s = await startAssetServer({ originFailuresAsRpcErrors: true });
    origin = await startHttpOrigin({ '/file': 'content' });
  });
  after(async () => {
    await origin.stop();
    await s.stop();
  });

  it('fails the call with the origin failure instead of returning it in the status', async () => {
    await assert.rejects(
      call(s.fetch, 'fetchBlob', fetchRequest({ uris: [`${origin.base}/missing`] })),
      (err: ServiceError) => {
        assert.equal(err.code, status.NOT_FOUND);
        assert.match(err.details, /\/missing: HTTP 404/);
        return true;
      },
    );
    await assert.rejects(
      call(
        s.fetch,
        'fetchBlob',
        fetchRequest({ uris: [`${origin.base}/file`], qualifiers: [sriQualifier('other')] }),
      ),
      (err: ServiceError) => err.code === status.ABORTED && /checksum mismatch/.test(err.details),
    );
    const ok = await call(s.fetch, 'fetchBlob', fetchRequest({ uris: [`${origin.base}/file`] }));
    assert.equal(ok.status?.code, status.OK);
  });
});
