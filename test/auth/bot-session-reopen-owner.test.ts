// After a restart of an in-memory server, only the principal that created a
// bot session can have it re-opened: another holder of `worker` that knows
// the name (and the bot id) gets NOT_FOUND, over gRPC with real tokens.
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
import { startTestServer } from '../support/test-server.ts';

const FLEET_A = 'fleet-a-token-0123456789abcdef';
const FLEET_B = 'fleet-b-token-0123456789abcdef';
const WORKER: Permission[] = ['worker', 'cas:read', 'cas:write'];

const authenticator = () =>
  createAuthenticator({
    anonymous: [],
    tokens: [
      { principal: 'fleet-a', token: FLEET_A, permissions: WORKER, instances: [''] },
      { principal: 'fleet-b', token: FLEET_B, permissions: WORKER, instances: [''] },
    ],
  });

function call<T>(
  invoke: (callback: (err: ServiceError | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) =>
    invoke((err, value) => (err ? reject(err) : resolve(value as T))),
  );
}

/** An update of `session` whose deadline leaves half a second to wait for work. */
const update = (clients: KilnClients, session: BotSession) =>
  call<BotSession>((cb) =>
    clients.bots.updateBotSession(
      UpdateBotSessionRequest.fromPartial({ name: session.name, botSession: session }),
      new Metadata(),
      { deadline: Date.now() + 2500 },
      cb,
    ),
  );

test('a restarted server re-opens a bot session for its owner only', async () => {
  const first = await startTestServer({ scheduler: {}, authenticator: authenticator() });
  const a = connectClients(first.server.address, [bearerTokenInterceptor(FLEET_A)]);
  const b = connectClients(first.server.address, [bearerTokenInterceptor(FLEET_B)]);
  let second: Awaited<ReturnType<typeof startTestServer>> | undefined;
  try {
    const created = await call<BotSession>((cb) =>
      a.bots.createBotSession(
        CreateBotSessionRequest.fromPartial({
          parent: '',
          botSession: {
            botId: 'bot-1',
            worker: { properties: [{ key: 'OSFamily', value: 'linux' }] },
          },
        }),
        cb,
      ),
    );
    await first.stop();
    second = await startTestServer({
      scheduler: {},
      authenticator: authenticator(),
      listen: first.server.address,
    });

    const err = await update(b, created).then(
      () => assert.fail('fleet-b re-opened fleet-a’s session'),
      (e: ServiceError) => e,
    );
    assert.equal(err.code, status.NOT_FOUND);
    assert.deepEqual(await second.scheduler?.listWorkers(), []);

    const reply = await update(a, created);
    assert.equal(reply.name, created.name);
    const worker = await second.scheduler?.findWorker(created.name);
    assert.equal(worker?.principal, 'fleet-a');
    assert.equal(worker?.name, 'bot-1');
  } finally {
    a.close();
    b.close();
    await second?.stop();
    await first.stop().catch(() => {});
  }
});
