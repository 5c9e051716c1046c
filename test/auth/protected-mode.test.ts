/**
 * Protected mode over real sockets: a server on 0.0.0.0 with no `auth`
 * section serves loopback callers and refuses callers that reach it over
 * another address of this machine.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { callMethod, rawClient } from './method-calls.ts';

/** A non-loopback IPv4 address of this machine, if it has one. */
function localNonLoopbackAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  return undefined;
}

const FIND_MISSING = '/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs';

describe('protected mode', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ listen: '0.0.0.0:0', scheduler: {} });
  });
  after(() => t.stop());

  it('serves loopback callers everything, worker and admin calls included', async () => {
    const client = rawClient(`127.0.0.1:${t.server.port}`);
    try {
      for (const path of [FIND_MISSING, '/google.longrunning.Operations/CancelOperation']) {
        const out = await callMethod(client, path, '');
        assert.ok(
          ![status.UNAUTHENTICATED, status.PERMISSION_DENIED].includes(out.code),
          out.details,
        );
      }
    } finally {
      client.close();
    }
  });

  it('refuses callers from another address with UNAUTHENTICATED and how to configure auth', async (t2) => {
    const address = localNonLoopbackAddress();
    if (address === undefined) {
      // The peer classification is unit-tested in authenticator.test.ts; in CI a
      // machine without a second address must not pass this test unnoticed.
      if (process.env.CI === 'true') assert.fail('no non-loopback address to test protected mode');
      t2.skip('this machine has no non-loopback IPv4 address');
      return;
    }
    const client = rawClient(`${address}:${t.server.port}`);
    try {
      const out = await callMethod(client, FIND_MISSING, '', 'Bearer some-token');
      assert.equal(out.code, status.UNAUTHENTICATED, out.details);
      assert.match(out.details, /protected mode/);
      assert.match(out.details, /auth\.tokens/);
      assert.match(out.details, /docs\/security\.md/);
    } finally {
      client.close();
    }
  });
});
