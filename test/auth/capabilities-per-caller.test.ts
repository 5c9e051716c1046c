import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

describe('GetCapabilities per caller', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      authenticator: createAuthenticator({
        anonymous: ['cas:read'],
        tokens: [
          {
            principal: 'ci',
            token: 'ci',
            permissions: ['cas:read', 'ac:write'],
            instances: ['ci'],
          },
          { principal: 'dev', token: 'dev', permissions: ['cas:read', 'ac:read'], instances: [''] },
        ],
      }),
    });
  });
  after(() => t.stop());

  const updateEnabled = async (instanceName: string, metadata?: Metadata) => {
    const caps = await call(t.clients.capabilities, 'getCapabilities', { instanceName }, metadata);
    return caps.cacheCapabilities?.actionCacheUpdateCapabilities?.updateEnabled;
  };

  it('reports update_enabled only to callers with ac:write on the instance', async () => {
    assert.equal(await updateEnabled('ci', bearer('ci')), true);
    assert.equal(await updateEnabled('ci/linux', bearer('ci')), true);
    assert.equal(await updateEnabled('ci', bearer('dev')), false);
    assert.equal(await updateEnabled('ci'), false);
  });

  it('a token is refused outside its instance prefixes before anything is reported', async () => {
    await assert.rejects(updateEnabled('other', bearer('ci')), /PERMISSION_DENIED|permission/);
  });
});
