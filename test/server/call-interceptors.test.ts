/**
 * What every call pays at the edge: one interceptor per configuration
 * without tracing, and no intercepting call of grpc-js's own per call, so
 * that a pending long poll holds one small object instead of a chain.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ServerInterceptingCall } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import { startTracing } from '../../src/observe/tracing.ts';
import type { RpcOutcome } from '../../src/rpc/rpc.ts';
import { callInterceptors } from '../../src/server/call-interceptors.ts';
import { sha256Digest } from '../support/blobs.ts';
import { freePort } from '../support/free-port.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const PROTECTED = createAuthenticator(undefined);
const TOKENS = createAuthenticator({
  anonymous: [],
  tokens: [
    {
      principal: 'ci',
      token: 'a-token-of-enough-length',
      permissions: ['cas:read'],
      instances: [''],
    },
  ],
});

describe('the interceptors installed per configuration', () => {
  it('are one edge interceptor without tracing, whatever the authentication and metrics', () => {
    const observer = { rpcFinished: (_outcome: RpcOutcome) => {} };
    assert.equal(callInterceptors({ authenticator: PROTECTED }).length, 1);
    assert.equal(callInterceptors({ authenticator: PROTECTED, rpcObserver: observer }).length, 1);
    assert.equal(callInterceptors({ authenticator: TOKENS, rpcObserver: observer }).length, 1);
  });

  it('add the tracing interceptor, inside the edge, only when tracing is on', async () => {
    const tracing = await startTracing({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      serviceName: 'kiln-test',
      sampleRatio: 0,
      shutdownTimeoutMs: 100,
    });
    try {
      assert.equal(callInterceptors({ authenticator: PROTECTED, tracing }).length, 2);
    } finally {
      await tracing.shutdown();
    }
  });
});

describe('a call through an observed server in protected mode', () => {
  let t: TestServer;
  let started = 0;
  const original = ServerInterceptingCall.prototype.start;
  before(async () => {
    t = await startTestServer({ observe: true, scheduler: {} });
    // Counts grpc-js's own intercepting calls as the calls below start them.
    ServerInterceptingCall.prototype.start = function (this: ServerInterceptingCall, listener) {
      started++;
      return original.call(this, listener);
    };
  });
  after(async () => {
    ServerInterceptingCall.prototype.start = original;
    await t.stop();
  });

  it('starts no intercepting call of grpc-js, and is still observed', async () => {
    const digest = sha256Digest(Buffer.from('edge'));
    const calls = 20;
    for (let i = 0; i < calls; i++) {
      const res = await call(t.clients.cas, 'findMissingBlobs', {
        instanceName: '',
        blobDigests: [digest],
        digestFunction: 0,
      });
      assert.equal(res.missingBlobDigests.length, 1);
    }
    // Before the edge was one interceptor, each call started three.
    assert.equal(started, 0);
    // The observer still saw every one of them.
    const text = await (await fetch(`${t.httpUrl}metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('kiln_rpc_requests_total') && l.includes('FindMissingBlobs'));
    assert.ok(line !== undefined, 'no FindMissingBlobs count in /metrics');
    assert.match(line, /code="OK"/);
    assert.equal(Number(line.split(' ').pop()), calls);
  });
});
