/**
 * What used to be server-wide switches (the action cache's update_enabled,
 * `remoteAsset.pushEnabled`) are permissions decided per caller: writing the
 * action cache needs `ac:write`, pushing Remote Asset associations needs
 * `asset:push`. Without an `auth` section loopback callers hold both, so
 * the zero configuration keeps accepting both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import { parseConfigText } from '../../src/config/load-config.ts';
import { digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import type { PushBlobRequest } from '../../src/gen/build/bazel/remote/asset/v1/remote_asset.js';
import {
  ActionResult,
  type Digest as DigestMessage,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { type AssetServer, fetchRequest, startAssetServer } from '../asset/asset-server.ts';
import { call } from '../support/grpc-clients.ts';

/** Tokens: each principal's token is its name followed by `-token`. */
const AUTH = parseConfigText(
  [
    'auth:',
    '  tokens:',
    '    - principal: reader',
    '      token: reader-token',
    '      permissions: [cas:read, ac:read, asset:fetch]',
    '    - principal: writer',
    '      token: writer-token',
    '      permissions: [cas:read, ac:read, ac:write]',
    '    - principal: pusher',
    '      token: pusher-token',
    '      permissions: [cas:read, asset:push]',
  ].join('\n'),
  'test.yaml',
  { env: {} },
).auth;

function as(principal: string | undefined): Metadata {
  const metadata = new Metadata();
  if (principal !== undefined) metadata.set('authorization', `Bearer ${principal}-token`);
  return metadata;
}

function pushBlobRequest(uri: string, blobDigest: DigestMessage): PushBlobRequest {
  return {
    instanceName: '',
    uris: [uri],
    qualifiers: [],
    expireAt: undefined,
    blobDigest,
    referencesBlobs: [],
    referencesDirectories: [],
    digestFunction: 0,
  };
}

/** A test server (authenticated, or protected mode) and calls made as a principal. */
function callsOn(s: () => AssetServer) {
  return {
    update: (action: DigestMessage, who?: string) =>
      call(
        s().t.clients.actionCache,
        'updateActionResult',
        {
          instanceName: '',
          actionDigest: action,
          actionResult: ActionResult.fromPartial({ exitCode: 0 }),
          resultsCachePolicy: undefined,
          digestFunction: 0,
        },
        as(who),
      ),
    get: (action: DigestMessage, who?: string) =>
      call(
        s().t.clients.actionCache,
        'getActionResult',
        {
          instanceName: '',
          actionDigest: action,
          inlineStdout: false,
          inlineStderr: false,
          inlineOutputFiles: [],
          digestFunction: 0,
        },
        as(who),
      ),
    updateEnabled: async (who?: string) => {
      const caps = await call(
        s().t.clients.capabilities,
        'getCapabilities',
        { instanceName: '' },
        as(who),
      );
      return caps.cacheCapabilities?.actionCacheUpdateCapabilities?.updateEnabled;
    },
    push: (uri: string, digest: DigestMessage, who?: string) =>
      call(s().push, 'pushBlob', pushBlobRequest(uri, digest), as(who)),
    fetch: (uri: string, who?: string) =>
      call(s().fetch, 'fetchBlob', fetchRequest({ uris: [uri] }), as(who)),
    store: async (text: string): Promise<DigestMessage> => {
      const digest = await digestOf(SHA256, Buffer.from(text));
      await putBuffer(s().t.casBackend, digest, Buffer.from(text));
      return toDigestMessage(digest);
    },
  };
}

const deniedFor = (permission: string, principal: string) => (err: ServiceError) => {
  assert.equal(err.code, status.PERMISSION_DENIED, err.details);
  assert.match(err.details, new RegExp(`needs permission ${permission}`));
  assert.match(err.details, new RegExp(`principal "${principal}"`));
  return true;
};

describe('ac:write and asset:push, authentication on', () => {
  let s: AssetServer;
  before(async () => {
    s = await startAssetServer({}, { authenticator: createAuthenticator(AUTH) });
  });
  after(() => s.stop());
  const c = callsOn(() => s);

  it('UpdateActionResult is refused without ac:write and leaves the cache untouched', async () => {
    const action = await c.store('action refused');
    await assert.rejects(c.update(action, 'reader'), deniedFor('ac:write', 'reader'));
    await assert.rejects(c.update(action, 'pusher'), deniedFor('ac:write', 'pusher'));
    await assert.rejects(c.update(action), (err: ServiceError) => {
      assert.equal(err.code, status.UNAUTHENTICATED);
      return true;
    });
    await assert.rejects(c.get(action, 'reader'), (err: ServiceError) => {
      assert.equal(err.code, status.NOT_FOUND);
      return true;
    });
  });

  it('UpdateActionResult is accepted with ac:write', async () => {
    const action = await c.store('action written');
    await c.update(action, 'writer');
    assert.equal((await c.get(action, 'reader')).exitCode, 0);
  });

  it('GetCapabilities tells each caller whether it may update the action cache', async () => {
    assert.equal(await c.updateEnabled('writer'), true);
    assert.equal(await c.updateEnabled('reader'), false);
    assert.equal(await c.updateEnabled('pusher'), false);
  });

  it('PushBlob is refused without asset:push, and nothing is associated', async () => {
    const digest = await c.store('pushed by a stranger');
    const uri = 'https://downloads.invalid/refused.bin';
    await assert.rejects(c.push(uri, digest, 'reader'), deniedFor('asset:push', 'reader'));
    await assert.rejects(c.push(uri, digest, 'writer'), deniedFor('asset:push', 'writer'));
    const fetched = await c.fetch(uri, 'reader');
    assert.notEqual(fetched.status?.code, status.OK);
    assert.equal(fetched.blobDigest, undefined);
  });

  it('PushBlob is accepted with asset:push, and Fetch then answers from it', async () => {
    const digest = await c.store('pushed by the release job');
    const uri = 'https://downloads.invalid/accepted.bin';
    await c.push(uri, digest, 'pusher');
    const fetched = await c.fetch(uri, 'reader');
    assert.equal(fetched.status?.code, status.OK, fetched.status?.message);
    assert.equal(fetched.blobDigest?.hash, digest.hash);
  });
});

describe('ac:write and asset:push in protected mode (no auth section)', () => {
  let s: AssetServer;
  before(async () => {
    s = await startAssetServer();
  });
  after(() => s.stop());
  const c = callsOn(() => s);

  it('loopback callers may update the action cache and push, as before', async () => {
    assert.equal(await c.updateEnabled(), true);
    const action = await c.store('loopback action');
    await c.update(action);
    assert.equal((await c.get(action)).exitCode, 0);
    const digest = await c.store('loopback push');
    await c.push('https://downloads.invalid/loopback.bin', digest);
    const fetched = await c.fetch('https://downloads.invalid/loopback.bin');
    assert.equal(fetched.blobDigest?.hash, digest.hash);
  });
});

describe('the removed remoteAsset.pushEnabled switch', () => {
  it('is rejected by the configuration loader, naming the permission that replaced it', () => {
    assert.throws(
      () => parseConfigText('remoteAsset:\n  pushEnabled: true\n', 'old.yaml', { env: {} }),
      /remoteAsset\.pushEnabled: removed: who may push is now the asset:push permission/,
    );
  });
});
