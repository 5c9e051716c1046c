/**
 * A JWT key set served over HTTPS by a test identity provider with a
 * certificate made here: trusted only through auth.jwt.jwksCa, fetched
 * again for an unknown key id at a bounded rate, refused when too large;
 * and, through a real gRPC server, calls whose JWT is being verified keep
 * every message they send, and a refused call's messages never reach a handler.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Client,
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptor,
  status,
} from '@grpc/grpc-js';
import { pino } from 'pino';
import { type Authenticator, isFailure, openAuthenticator } from '../../src/auth/authenticator.ts';
import { MAX_JWKS_BYTES } from '../../src/auth/jwks-source.ts';
import { type AuthConfig, authSchema } from '../../src/config/auth-schema.ts';
import { makeDigest } from '../../src/digest/digest.ts';
import { digestFunctionByName } from '../../src/digest/digest-function.ts';
import {
  type CapabilitiesServer,
  CapabilitiesService,
  GetCapabilitiesRequest,
  ServerCapabilities,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { WriteRequest, WriteResponse } from '../../src/gen/google/bytestream/bytestream.js';
import { edgeInterceptor } from '../../src/rpc/edge-interceptor.ts';
import { hasBlob } from '../../src/storage/blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { createTestCa, opensslMissing } from '../support/test-certificates.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { AUDIENCE, ISSUER, jwksText, type SigningKey, signingKey, signJwt } from './jwt-support.ts';
import { rawClient } from './method-calls.ts';

const missing = opensslMissing();

/** The identity provider: serves `body` at every path, after `delayMs`, counting requests. */
interface Provider {
  body: string;
  delayMs: number;
  requests: number;
  readonly url: string;
  readonly server: HttpsServer;
}

async function startProvider(cert: string, key: string): Promise<Provider> {
  const server = createHttpsServer({ cert: await readFile(cert), key: await readFile(key) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const provider: Provider = {
    body: '',
    delayMs: 0,
    requests: 0,
    url: `https://127.0.0.1:${port}/jwks`,
    server,
  };
  server.on('request', (_req, res) => {
    provider.requests += 1;
    const body = provider.body;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    }, provider.delayMs);
  });
  return provider;
}

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** A logger that keeps its lines. */
function recordingLogger() {
  const lines: Array<{ level: number; msg: string; err?: string }> = [];
  const log = pino(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    }),
  );
  return { log, lines };
}

describe('JWT key set from an HTTPS URL', { skip: !process.env.CI && missing }, () => {
  let dir: string;
  let caFile: string;
  let provider: Provider;
  let first: SigningKey;
  const open: Authenticator[] = [];

  const config = (jwt: Record<string, unknown> = {}): AuthConfig =>
    authSchema.parse({
      jwt: {
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksUrl: provider.url,
        jwksCa: caFile,
        permissions: ['cas:read', 'cas:write'],
        ...jwt,
      },
    });

  async function authenticator(
    jwt: Record<string, unknown> = {},
    log = silentLogger(),
  ): Promise<Authenticator> {
    const auth = await openAuthenticator(config(jwt), {
      log,
      mutualTls: false,
      jwksMinRefreshMs: 500,
    });
    open.push(auth);
    return auth;
  }

  before(async () => {
    assert.equal(missing, undefined, missing);
    dir = await mkdtemp(join(tmpdir(), 'kiln-jwks-url-'));
    const ca = await createTestCa(dir, 'Test IdP CA');
    caFile = ca.cert;
    const leaf = await ca.issue('idp', 'server');
    provider = await startProvider(leaf.cert, leaf.key);
    first = await signingKey('RS256', 'first');
    provider.body = jwksText(first);
  });
  after(async () => {
    for (const auth of open) auth.close?.();
    provider?.server.close();
    provider?.server.closeAllConnections();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('verifies tokens with keys fetched from the URL, trusting jwksCa', async () => {
    const before = provider.requests;
    const auth = await authenticator();
    assert.equal(provider.requests, before + 1);
    const who = await auth.authenticate(bearer(await signJwt(first, { sub: 'ci' })), '192.0.2.1:1');
    assert.ok(!isFailure(who), isFailure(who) ? who.failure : '');
    assert.equal(who.principal, 'ci');
  });

  it('fetches again for an unknown key id, at most once per interval however many tokens ask', async () => {
    const auth = await authenticator();
    const rotated = await signingKey('ES256', 'rotated');
    provider.body = jwksText(first, rotated);
    await sleep(600);
    const before = provider.requests;
    const who = await auth.authenticate(bearer(await signJwt(rotated, { sub: 'new' })), 'x:1');
    assert.ok(!isFailure(who), isFailure(who) ? who.failure : '');
    assert.equal(provider.requests, before + 1);

    // A flood of tokens naming keys nobody has: one fetch once the interval
    // has passed, shared by all of them, and none within it.
    await sleep(600);
    const strangers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signingKey('ES256', `unknown-${i}`)),
    );
    const tokens = await Promise.all(strangers.map((k) => signJwt(k)));
    const flood = async () =>
      Promise.all(tokens.map(async (t) => auth.authenticate(bearer(t), 'x:1')));
    for (const result of await flood()) assert.ok(isFailure(result));
    assert.equal(provider.requests, before + 2);
    for (const result of await flood()) assert.ok(isFailure(result));
    assert.equal(provider.requests, before + 2);
  });

  it('does not trust the provider without jwksCa, and says why tokens are refused', async () => {
    const { log, lines } = recordingLogger();
    const auth = await authenticator({ jwksCa: undefined }, log);
    const result = await auth.authenticate(bearer(await signJwt(first)), 'x:1');
    assert.ok(isFailure(result));
    assert.match(result.failure, /no key set is loaded from auth\.jwt\.jwksUrl .*certificate/);
    assert.ok(lines.some((l) => l.level === 50 && /refused until it does/.test(l.msg)));
  });

  it('refuses a key set larger than the bound', async () => {
    const { log, lines } = recordingLogger();
    const saved = provider.body;
    provider.body = JSON.stringify({ keys: [], padding: 'x'.repeat(MAX_JWKS_BYTES) });
    try {
      const auth = await authenticator({}, log);
      assert.ok(isFailure(await auth.authenticate(bearer(await signJwt(first)), 'x:1')));
      assert.ok(lines.some((l) => /larger than 1048576 bytes/.test(l.err ?? '')));
    } finally {
      provider.body = saved;
    }
  });

  describe('through the gRPC server, while a token is being verified', () => {
    let server: TestServer;
    let client: Client;
    let late: SigningKey;

    before(async () => {
      late = await signingKey('EdDSA', 'late');
      provider.body = jwksText(first);
      provider.delayMs = 400;
      server = await startTestServer({ authenticator: await authenticator() });
      // The token's key is published after start: verifying it waits for a slow fetch.
      provider.body = jwksText(first, late);
      client = rawClient(server.server.address);
      await sleep(600);
    });
    after(async () => {
      provider.delayMs = 0;
      client?.close();
      await server?.stop();
    });

    const stored = (data: Buffer): Promise<boolean> => {
      const sha256 = digestFunctionByName('sha256');
      assert.ok(sha256 !== undefined);
      const hash = createHash('sha256').update(data).digest('hex');
      return hasBlob(server.casBackend, makeDigest(sha256, hash, data.length));
    };

    /** A ByteStream.Write of `data` in 3 messages sent at once, with `token`. */
    function write(data: Buffer, token: string): Promise<{ code: status; committed: number }> {
      const hash = createHash('sha256').update(data).digest('hex');
      const resourceName = `uploads/${randomUUID()}/blobs/${hash}/${data.length}`;
      const third = Math.ceil(data.length / 3);
      return new Promise((resolve) => {
        const stream = client.makeClientStreamRequest(
          '/google.bytestream.ByteStream/Write',
          (b: Buffer) => b,
          (b: Buffer) => WriteResponse.decode(b),
          bearer(token),
          { deadline: Date.now() + 10_000 },
          (err, response) =>
            resolve({
              code: err ? err.code : status.OK,
              committed: Number(response?.committedSize ?? -1),
            }),
        );
        for (let i = 0; i < 3; i++) {
          const request = WriteRequest.fromPartial({
            resourceName: i === 0 ? resourceName : '',
            writeOffset: i * third,
            data: data.subarray(i * third, (i + 1) * third),
            finishWrite: i === 2,
          });
          stream.write(Buffer.from(WriteRequest.encode(request).finish()));
        }
        stream.end();
      });
    }

    it('holds every message until the verdict, then passes them all on in order', async () => {
      const data = Buffer.from('held until the token is verified, '.repeat(3000));
      const started = Date.now();
      const out = await write(data, await signJwt(late, { sub: 'slow' }));
      assert.ok(Date.now() - started >= 350, 'the key set fetch was not waited for');
      assert.equal(out.code, status.OK);
      assert.equal(out.committed, data.length);
      assert.ok(await stored(data), 'the blob was not stored');
    });

    it('passes none of a refused call’s messages to the handler', async () => {
      const data = Buffer.from('never stored: the token does not verify, '.repeat(100));
      const forger = await signingKey('EdDSA', 'forger');
      const token = await signJwt(forger, { sub: 'mallory' });
      await sleep(600);
      const started = Date.now();
      const out = await write(data, token);
      assert.ok(Date.now() - started >= 350, 'the key set fetch was not waited for');
      assert.equal(out.code, status.UNAUTHENTICATED);
      assert.ok(!(await stored(data)), 'a refused upload reached the store');
    });
  });
  describe('behind an interceptor that reads ahead', () => {
    // grpc-js reads a request only once the handler asks, after the metadata
    // passed; an interceptor that asks earlier (this one) delivers the first
    // message while the token is still being verified. It must be held and
    // checked, not slip through to the handler unchecked.
    const readAhead: ServerInterceptor = (_descriptor, call) => {
      const intercepting = new ServerInterceptingCall(call, {
        start: (next) => {
          next({});
          intercepting.startRead();
        },
      });
      return intercepting;
    };
    let grpc: Server;
    let address: string;
    const handled: string[] = [];

    before(async () => {
      provider.body = jwksText(first);
      provider.delayMs = 300;
      const auth = await authenticator({ instances: ['team-a'] });
      grpc = new Server({ interceptors: [edgeInterceptor({ authenticator: auth }), readAhead] });
      const service: CapabilitiesServer = {
        getCapabilities: (call, callback) => {
          handled.push(call.request.instanceName);
          callback(null, ServerCapabilities.fromPartial({}));
        },
      };
      grpc.addService(CapabilitiesService, service);
      const port = await new Promise<number>((resolve, reject) =>
        grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
      address = `127.0.0.1:${port}`;
    });
    after(() => {
      provider.delayMs = 0;
      grpc?.forceShutdown();
    });

    /** GetCapabilities on `instance` with a token whose key is published just now (a slow fetch). */
    async function slowCall(instance: string): Promise<status> {
      const key = await signingKey('ES256', `published-${instance}`);
      provider.body = jwksText(first, key);
      const token = await signJwt(key, { sub: 'team-a-ci' });
      await sleep(600);
      const client = rawClient(address);
      try {
        return await new Promise((resolve) => {
          client.makeUnaryRequest(
            CapabilitiesService.getCapabilities.path,
            (r: GetCapabilitiesRequest) => Buffer.from(GetCapabilitiesRequest.encode(r).finish()),
            (b: Buffer) => b,
            GetCapabilitiesRequest.fromPartial({ instanceName: instance }),
            bearer(token),
            { deadline: Date.now() + 10_000 },
            (err) => resolve(err ? err.code : status.OK),
          );
        });
      } finally {
        client.close();
      }
    }

    it('checks a message that arrived before the verdict against the instance', async () => {
      assert.equal(await slowCall('team-b'), status.PERMISSION_DENIED);
      assert.deepEqual(handled, [], 'the handler saw a request the caller may not make');
      assert.equal(await slowCall('team-a/linux'), status.OK);
      assert.deepEqual(handled, ['team-a/linux']);
    });
  });
});
