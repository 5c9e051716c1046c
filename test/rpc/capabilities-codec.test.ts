/**
 * GetCapabilities answers are encoded once per distinct answer and sent as
 * the same bytes the generated encoder produces, for every kind of caller.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import {
  GetCapabilitiesRequest,
  ServerCapabilities,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  encodeOnce,
  encodeServerCapabilities,
  serverCapabilitiesEncodings,
} from '../../src/rpc/capabilities-codec.ts';
import { serverCapabilities } from '../../src/services/capabilities-service.ts';
import { silentLogger } from '../../src/util/logger.ts';

import { startTestServer, type TestServer } from '../support/test-server.ts';

const PATH = '/build.bazel.remote.execution.v2.Capabilities/GetCapabilities';
const raw = (bytes: Buffer): Buffer => bytes;

/** The answer's bytes exactly as the server sent them. */
function getCapabilitiesBytes(
  client: Client,
  instanceName: string,
  token?: string,
): Promise<Buffer> {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  const request = Buffer.from(GetCapabilitiesRequest.encode({ instanceName }).finish());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(PATH, raw, raw, request, metadata, (err, bytes) =>
      err || bytes === undefined ? reject(err) : resolve(bytes),
    );
  });
}

/** What the generated encoder makes of the answer the service computes. */
function expectedBytes(executionEnabled: boolean, updateEnabled: boolean): Buffer {
  const caps = serverCapabilities({ log: silentLogger(), executionEnabled }, updateEnabled);
  return Buffer.from(ServerCapabilities.encode(caps).finish());
}

interface Caller {
  readonly name: string;
  readonly token?: string;
  readonly updateEnabled: boolean;
}

const PROTECTED_CALLERS: readonly Caller[] = [
  { name: 'a writer token', token: 'ci', updateEnabled: true },
  { name: 'a read-only token', token: 'dev', updateEnabled: false },
  { name: 'an anonymous caller', updateEnabled: false },
];

const protectedAuth = () =>
  createAuthenticator({
    anonymous: ['cas:read'],
    tokens: [
      { principal: 'ci', token: 'ci', permissions: ['cas:read', 'ac:write'], instances: [''] },
      { principal: 'dev', token: 'dev', permissions: ['cas:read', 'ac:read'], instances: [''] },
    ],
  });

describe('GetCapabilities on a protected server', () => {
  let t: TestServer;
  let client: Client;
  let encodingsAtStart: number;
  before(async () => {
    encodingsAtStart = serverCapabilitiesEncodings();
    t = await startTestServer({ authenticator: protectedAuth() });
    client = new Client(t.server.address, credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  for (const caller of PROTECTED_CALLERS) {
    it(`sends ${caller.name} the same bytes as the generated encoder, every time`, async () => {
      const expected = expectedBytes(false, caller.updateEnabled);
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(await getCapabilitiesBytes(client, 'ci', caller.token), expected);
      }
      const decoded = ServerCapabilities.decode(
        await getCapabilitiesBytes(client, '', caller.token),
      );
      assert.equal(
        decoded.cacheCapabilities?.actionCacheUpdateCapabilities?.updateEnabled,
        caller.updateEnabled,
      );
    });
  }

  it('encodes once per distinct answer however many calls', async () => {
    const calls = [];
    for (let i = 0; i < 20; i++) {
      for (const caller of PROTECTED_CALLERS) {
        calls.push(getCapabilitiesBytes(client, `ci/${i}`, caller.token));
      }
    }
    await Promise.all(calls);
    // Two answers: may update the action cache, and may not.
    assert.equal(serverCapabilitiesEncodings() - encodingsAtStart, 2);
  });
});

describe('GetCapabilities on an open server with execution', () => {
  it('sends an anonymous caller the writer answer, encoded once', async () => {
    const before = serverCapabilitiesEncodings();
    const t = await startTestServer({ scheduler: {} });
    const client = new Client(t.server.address, credentials.createInsecure());
    try {
      const expected = expectedBytes(true, true);
      for (let i = 0; i < 10; i++) {
        assert.deepEqual(await getCapabilitiesBytes(client, ''), expected);
      }
      assert.equal(serverCapabilitiesEncodings() - before, 1);
    } finally {
      client.close();
      await t.stop();
    }
  });
});

describe('encodeServerCapabilities', () => {
  it('encodes an unmarked message on every call, a marked one only the first time', () => {
    const options = { log: silentLogger(), executionEnabled: true };
    const plain = serverCapabilities(options, false);
    const marked = encodeOnce(serverCapabilities(options, false));
    const expected = Buffer.from(ServerCapabilities.encode(plain).finish());
    const start = serverCapabilitiesEncodings();
    for (let i = 0; i < 3; i++) assert.deepEqual(encodeServerCapabilities(plain), expected);
    assert.equal(serverCapabilitiesEncodings() - start, 3);
    const first = encodeServerCapabilities(marked);
    for (let i = 0; i < 3; i++) assert.equal(encodeServerCapabilities(marked), first);
    assert.equal(serverCapabilitiesEncodings() - start, 4);
  });

  it('freezes a marked answer, so its kept bytes cannot go stale', () => {
    const marked = encodeOnce(serverCapabilities({ log: silentLogger() }, true));
    const cache = marked.cacheCapabilities;
    assert.ok(cache?.actionCacheUpdateCapabilities !== undefined);
    assert.throws(() => {
      (cache.actionCacheUpdateCapabilities as { updateEnabled: boolean }).updateEnabled = false;
    }, TypeError);
  });
});
