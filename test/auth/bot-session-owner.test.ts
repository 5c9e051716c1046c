// A bot session belongs to the principal that created it: another holder of
// `worker` that learns its name cannot poll for its leases or report results
// in its name.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import type { Permission } from '../../src/auth/permissions.ts';
import { bearerTokenInterceptor } from '../../src/client/bearer-token.ts';
import {
  type BotSession,
  CreateBotSessionRequest,
  UpdateBotSessionRequest,
} from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import { connectClients, type KilnClients } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const FLEET_A = 'fleet-a-token-0123456789abcdef';
const FLEET_B = 'fleet-b-token-0123456789abcdef';
const WORKER: Permission[] = ['worker', 'cas:read', 'cas:write'];

function call<T>(
  invoke: (callback: (err: ServiceError | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) =>
    invoke((err, value) => (err ? reject(err) : resolve(value as T))),
  );
}

describe('bot session ownership', () => {
  let t: TestServer;
  let a: KilnClients;
  let b: KilnClients;

  before(async () => {
    t = await startTestServer({
      scheduler: {},
      authenticator: createAuthenticator({
        anonymous: [],
        tokens: [
          { principal: 'fleet-a', token: FLEET_A, permissions: WORKER, instances: [''] },
          { principal: 'fleet-b', token: FLEET_B, permissions: WORKER, instances: [''] },
        ],
      }),
    });
    a = connectClients(t.server.address, [bearerTokenInterceptor(FLEET_A)]);
    b = connectClients(t.server.address, [bearerTokenInterceptor(FLEET_B)]);
  });
  after(async () => {
    a.close();
    b.close();
    await t.stop();
  });

  it('only the principal that created a session may update it', async () => {
    const created = await call<BotSession>((cb) =>
      a.bots.createBotSession(
        CreateBotSessionRequest.fromPartial({ parent: '', botSession: { botId: 'bot-1' } }),
        cb,
      ),
    );
    const update = (clients: KilnClients) =>
      call<BotSession>((cb) =>
        clients.bots.updateBotSession(
          UpdateBotSessionRequest.fromPartial({
            name: created.name,
            botSession: { ...created, leases: [] },
          }),
          new Metadata(),
          { deadline: Date.now() + 5000 },
          cb,
        ),
      );

    const err = await update(b).then(
      () => assert.fail('fleet-b updated fleet-a’s session'),
      (e: ServiceError) => e,
    );
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.details, /created by principal "fleet-a"/);
    assert.match(err.details, /not "fleet-b"/);

    // The owner still can (its poll ends at the deadline with no leases).
    const own = await update(a);
    assert.equal(own.name, created.name);
  });
});
