// ActionCacheAdmin input validation: a purge's `since` outside the range of
// google.protobuf.Timestamp is INVALID_ARGUMENT, not an internal error (a
// fuzzer finding: seconds of 2^63-1 made Date.toISOString throw).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { PurgeRequest } from '../../src/gen/kiln/admin/v1/action_cache_admin.js';
import { rawClient } from '../auth/method-calls.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const PURGE = '/kiln.admin.v1.ActionCacheAdmin/Purge';

describe('ActionCacheAdmin.Purge validation', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  function purge(request: Uint8Array): Promise<{ code: status; details: string }> {
    const client = rawClient(t.server.address);
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        PURGE,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(request),
        new Metadata(),
        { deadline: Date.now() + 5000 },
        (err) => {
          client.close();
          resolve(
            err ? { code: err.code, details: err.details } : { code: status.OK, details: '' },
          );
        },
      );
    });
  }

  it('refuses a since beyond year 9999, or with nanos out of range, with INVALID_ARGUMENT', async () => {
    // The fuzzer's request: since.seconds = 2^53-1 (the largest the decoder takes).
    const fuzzed = Buffer.from('12026e771a0120220d08ffffffffffffff0f108080042800', 'hex');
    for (const request of [
      fuzzed,
      PurgeRequest.encode(
        PurgeRequest.fromPartial({ principal: 'a', since: { seconds: 253_402_300_800, nanos: 0 } }),
      ).finish(),
      PurgeRequest.encode(
        PurgeRequest.fromPartial({ principal: 'a', since: { seconds: 0, nanos: 1_000_000_000 } }),
      ).finish(),
    ]) {
      const outcome = await purge(request);
      assert.equal(outcome.code, status.INVALID_ARGUMENT, outcome.details);
      assert.match(outcome.details, /since .* is not a valid time/);
    }
  });

  it('accepts a since within range', async () => {
    const outcome = await purge(
      PurgeRequest.encode(
        PurgeRequest.fromPartial({ principal: 'a', since: { seconds: 1_700_000_000, nanos: 5 } }),
      ).finish(),
    );
    assert.equal(outcome.code, status.OK, outcome.details);
  });
});
