import assert from 'node:assert/strict';
import type { Http2Server, Http2Session } from 'node:http2';
import { describe, it } from 'node:test';
import { credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import {
  CapabilitiesClient,
  CapabilitiesService,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { setConnectionWindow, setInitialStreamWindow } from '../../src/server/http2-tuning.ts';
import { createCapabilitiesService } from '../../src/services/capabilities-service.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { call } from '../support/grpc-clients.ts';

const WINDOW = 8 * 1024 * 1024;

describe('HTTP/2 flow-control tuning', () => {
  it('raises the stream and connection windows a client sees', async () => {
    const server = new Server();
    server.addService(CapabilitiesService, createCapabilitiesService({ log: silentLogger() }));
    assert.equal(setInitialStreamWindow(server, WINDOW), true);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    assert.equal(setConnectionWindow(server, WINDOW), true);
    const sessions: Http2Session[] = [];
    const internals = server as unknown as { http2Servers: Map<Http2Server, unknown> };
    for (const h2 of internals.http2Servers.keys()) h2.on('session', (s) => sessions.push(s));

    const client = new CapabilitiesClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      await call(client, 'getCapabilities', { instanceName: '' });
      const session = sessions[0];
      assert.ok(session, 'the server saw a session');
      assert.equal(session.localSettings.initialWindowSize, WINDOW);
      assert.ok(
        (session.state.localWindowSize ?? 0) >= WINDOW - 1024 * 1024,
        `connection window ${session.state.localWindowSize}`,
      );
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
