/**
 * The global options and error reporting of the client commands, against a
 * small REAPI server of the test's own that requires a bearer token (so it
 * answers PERMISSION_DENIED without one) and can serve TLS.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type handleUnaryCall,
  type Metadata,
  Server,
  ServerCredentials,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import {
  type CapabilitiesServer,
  CapabilitiesService,
  ContentAddressableStorageService,
  type FindMissingBlobsRequest,
  type FindMissingBlobsResponse,
  RequestMetadata,
  ServerCapabilities,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { jsonOf, kiln, oneErrorLine } from './kiln-cli.ts';

const TOKEN = 'Bearer s3cret';

/** A server that answers GetCapabilities and FindMissingBlobs for callers holding TOKEN. */
async function startGuardedServer(credentials: ServerCredentials) {
  const seen: Array<{ authorization: string | undefined; tool: string | undefined }> = [];
  const guard = (metadata: Metadata): ServiceError | null => {
    const authorization = metadata.get('authorization')[0]?.toString();
    const raw = metadata.get('build.bazel.remote.execution.v2.requestmetadata-bin')[0];
    const tool =
      raw instanceof Buffer ? RequestMetadata.decode(raw).toolDetails?.toolName : undefined;
    seen.push({ authorization, tool });
    if (authorization === TOKEN) return null;
    return Object.assign(new Error('denied'), {
      code: status.PERMISSION_DENIED,
      details: 'the token does not grant cas.read',
      metadata: undefined as unknown as Metadata,
    });
  };
  const server = new Server();
  const capabilities: CapabilitiesServer = {
    getCapabilities: (call, callback) =>
      callback(
        guard(call.metadata),
        ServerCapabilities.fromPartial({
          cacheCapabilities: { digestFunctions: [1], maxBatchTotalSizeBytes: 1024 * 1024 },
          lowApiVersion: { major: 2 },
          highApiVersion: { major: 2, minor: 3 },
        }),
      ),
  };
  // Uploads stop at FindMissingBlobs when it is denied; nothing else is called.
  const findMissingBlobs: handleUnaryCall<FindMissingBlobsRequest, FindMissingBlobsResponse> = (
    call,
    callback,
  ) => callback(guard(call.metadata), { missingBlobDigests: call.request.blobDigests });
  server.addService(CapabilitiesService, capabilities);
  server.addService(ContentAddressableStorageService, { findMissingBlobs });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, seen, stop: () => server.forceShutdown() };
}

describe('kiln client options and errors', () => {
  let dir: string;
  let plain: Awaited<ReturnType<typeof startGuardedServer>>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-cli-options-'));
    plain = await startGuardedServer(ServerCredentials.createInsecure());
  });
  after(async () => {
    plain?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports PERMISSION_DENIED in one line, and sends --header values as call metadata', async () => {
    const file = join(dir, 'blob.txt');
    await writeFile(file, 'some content\n');
    const [caps, upload, allowed] = await Promise.all([
      kiln(['capabilities', '--server', plain.address]),
      kiln(['cas', 'upload', file], { server: plain.address }),
      kiln(['capabilities', '--json', '--header', `Authorization=${TOKEN}`], {
        server: `grpc://${plain.address}`,
      }),
    ]);
    assert.equal(caps.code, 1);
    assert.equal(
      oneErrorLine(caps),
      `kiln: permission denied by the server at ${plain.address}: GetCapabilities: the token does not grant cas.read`,
    );
    assert.equal(upload.code, 1);
    assert.match(oneErrorLine(upload), /permission denied .*FindMissingBlobs/);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.deepEqual(jsonOf(allowed).highApiVersion, { major: 2, minor: 3 });
    assert.ok(plain.seen.some((s) => s.authorization === TOKEN && s.tool === 'kiln'));
  });

  it('uses TLS with --tls-ca, and says clearly when the CA file is missing or untrusted', async (t) => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const made = spawnSync('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
      ...['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    ]);
    const missingCa = await kiln(['capabilities', '--tls-ca', join(dir, 'nope.pem')]);
    assert.equal(missingCa.code, 2);
    assert.match(oneErrorLine(missingCa), /^kiln: cannot read --tls-ca .*nope\.pem: no such file/);
    if (made.status !== 0) {
      t.skip('openssl cannot make a test certificate here');
      return;
    }
    const secure = await startGuardedServer(
      ServerCredentials.createSsl(null, [
        { private_key: await readFile(key), cert_chain: await readFile(cert) },
      ]),
    );
    try {
      const [trusted, untrusted] = await Promise.all([
        kiln(['capabilities', '--tls-ca', cert, '--header', `authorization=${TOKEN}`], {
          server: secure.address,
        }),
        kiln(['capabilities', '--header', `authorization=${TOKEN}`], {
          server: `grpcs://${secure.address}`,
        }),
      ]);
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.match(trusted.stdout, /^API versions\s+2\.0 to 2\.3$/m);
      assert.equal(untrusted.code, 1);
      assert.match(oneErrorLine(untrusted), /kiln: cannot reach the server at .*certificate/i);
    } finally {
      secure.stop();
    }
  });

  it('rejects malformed global options and arguments with exit status 2 and one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['capabilities', '--server', 'http://x:1'],
        /server "http:\/\/x:1" must look like HOST:PORT/,
      ],
      [['capabilities', '--digest-function', 'crc32'], /--digest-function "crc32" is not one of/],
      [['capabilities', '--header', 'no-equals'], /--header "no-equals" must look like NAME=VALUE/],
      [['capabilities', '--tls-cert', 'c.pem'], /--tls-cert and --tls-key go together/],
      [['cas', 'upload'], /missing PATH/],
      [['cas', 'frobnicate'], /unknown command "cas frobnicate"/],
      [['cas', 'ls', 'x', '--bogus'], /unknown option "--bogus"/],
      [['run', 'echo', 'hi'], /unexpected argument "echo"; put the command to run after "--"/],
      [
        ['action', 'create', '--env', 'NOVALUE', '--', 'true'],
        /--env "NOVALUE" must look like NAME=VALUE/,
      ],
      [['run', '--timeout', 'soon', '--', 'true'], /--timeout "soon" is not a duration/],
    ];
    const results = await Promise.all(cases.map(([args]) => kiln(args)));
    results.forEach((res, i) => {
      const [args, expected] = cases[i] as [string[], RegExp];
      assert.equal(res.code, 2, args.join(' '));
      assert.match(oneErrorLine(res), expected);
    });
  });

  it('prints help with examples for every command', async () => {
    const commands = [
      ['cas', 'upload'],
      ['cas', 'download'],
      ['cas', 'cat'],
      ['cas', 'ls'],
      ['cas', 'tree'],
      ['action', 'create'],
      ['execute'],
      ['run'],
      ['ops', 'list'],
      ['ops', 'get'],
      ['ops', 'wait'],
      ['ops', 'cancel'],
      ['ac', 'get'],
      ['capabilities'],
    ];
    const results = await Promise.all(commands.map((c) => kiln([...c, '--help'])));
    results.forEach((res, i) => {
      const name = commands[i]?.join(' ');
      assert.equal(res.code, 0, name);
      assert.match(res.stdout, new RegExp(`^Usage: kiln ${name}`), name);
      assert.match(res.stdout, /\nExamples:\n/, name);
      assert.match(res.stdout, /--server ADDRESS/, name);
    });
    const top = await kiln(['--help']);
    for (const group of ['cas', 'action', 'execute', 'run', 'ops', 'ac', 'capabilities']) {
      assert.match(top.stdout, new RegExp(`^ {2}${group}\\s`, 'm'), group);
    }
  });
});
