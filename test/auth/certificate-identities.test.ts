/**
 * Identities from mutual-TLS client certificates, through a real TLS gRPC
 * server: a certificate maps to a principal by subject or by subject
 * alternative name, with its permissions and instances; an unmapped
 * certificate is anonymous; a bearer token wins over the certificate.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Client, credentials, status } from '@grpc/grpc-js';
import { type Authenticator, openAuthenticator } from '../../src/auth/authenticator.ts';
import { authSchema } from '../../src/config/auth-schema.ts';
import { type RunningGrpcServer, startGrpcServer } from '../../src/server/grpc-server.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { ReloadingServerTls } from '../../src/tls/reloading-server-tls.ts';
import { silentLogger } from '../../src/util/logger.ts';
import {
  createTestCa,
  type IssuedCertificate,
  opensslMissing,
  type TestCa,
} from '../support/test-certificates.ts';
import { callMethod } from './method-calls.ts';

const run = promisify(execFile);
const missing = opensslMissing();
const REAPI = '/build.bazel.remote.execution.v2';
const CAPABILITIES = `${REAPI}.Capabilities/GetCapabilities`;
const FIND_MISSING = `${REAPI}.ContentAddressableStorage/FindMissingBlobs`;
const BATCH_UPDATE = `${REAPI}.ContentAddressableStorage/BatchUpdateBlobs`;

/** A client certificate for `cn` with subject alternative names, signed by the test CA. */
async function issueWithSans(
  ca: TestCa,
  dir: string,
  cn: string,
  sans: string,
): Promise<IssuedCertificate> {
  // createTestCa keeps the CA's key beside its certificate.
  const caKey = ca.cert.replace(/\.crt$/, '.key');
  const leaf = join(dir, `${cn}-sans`);
  await writeFile(`${leaf}.ext`, `subjectAltName=${sans}\nextendedKeyUsage=clientAuth\n`);
  await run('openssl', [
    ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
    ...['-keyout', `${leaf}.key`, '-out', `${leaf}.csr`, '-subj', `/CN=${cn}`],
  ]);
  await run('openssl', [
    ...['x509', '-req', '-in', `${leaf}.csr`, '-CA', ca.cert, '-CAkey', caKey],
    ...['-set_serial', '4242', '-days', '1', '-sha256'],
    ...['-extfile', `${leaf}.ext`, '-out', `${leaf}.crt`],
  ]);
  return { cert: `${leaf}.crt`, key: `${leaf}.key` };
}

const AUTH = authSchema.parse({
  anonymous: [],
  tokens: [{ principal: 'token-ci', token: 'ci-token-0123456789', permissions: ['cas:write'] }],
  certificates: [
    { principal: 'worker-7', subject: 'CN=worker-7', permissions: ['worker', 'cas:read'] },
    {
      principal: 'spiffe-ci',
      san: 'URI:spiffe://kiln.test/ci',
      permissions: ['cas:read', 'cas:write'],
      instances: ['team-a'],
    },
  ],
});

describe('identities from client certificates', { skip: !process.env.CI && missing }, () => {
  let dir: string;
  let ca: TestCa;
  let tls: ReloadingServerTls;
  let auth: Authenticator;
  let server: RunningGrpcServer;
  const clients: Client[] = [];

  async function clientWith(cert: IssuedCertificate): Promise<Client> {
    const [caPem, key, chain] = await Promise.all([
      readFile(ca.cert),
      readFile(cert.key),
      readFile(cert.cert),
    ]);
    const client = new Client(server.address, credentials.createSsl(caPem, key, chain));
    clients.push(client);
    return client;
  }

  before(async () => {
    assert.equal(missing, undefined, missing);
    dir = await mkdtemp(join(tmpdir(), 'kiln-cert-ids-'));
    ca = await createTestCa(dir);
    const serverCert = await ca.issue('kiln', 'server');
    tls = await ReloadingServerTls.open({
      files: { ...serverCert, clientCa: ca.cert },
      log: silentLogger(),
    });
    auth = await openAuthenticator(AUTH, { log: silentLogger(), mutualTls: tls.mutual });
    server = await startGrpcServer({
      listen: '127.0.0.1:0',
      tls,
      cas: new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 1 << 20 }) }),
      actionCacheStore: new MemoryBlobStore({ maxBytes: 1 << 20 }),
      log: silentLogger(),
      authenticator: auth,
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
    auth?.close?.();
    tls?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('maps a certificate by subject to its principal and permissions', async () => {
    const client = await clientWith(await ca.issue('worker-7', 'client'));
    assert.equal((await callMethod(client, CAPABILITIES, 'any/instance')).code, status.OK);
    const denied = await callMethod(client, BATCH_UPDATE, 'any/instance');
    assert.equal(denied.code, status.PERMISSION_DENIED, denied.details);
    assert.match(
      denied.details,
      /needs permission cas:write .* principal "worker-7" does not have/,
    );
  });

  it('maps a certificate by subject alternative name, limited to its instances', async () => {
    const client = await clientWith(
      await issueWithSans(ca, dir, 'ci-runner', 'email:ci@kiln.test,URI:spiffe://kiln.test/ci'),
    );
    assert.equal((await callMethod(client, BATCH_UPDATE, 'team-a/linux')).code, status.OK);
    const other = await callMethod(client, FIND_MISSING, 'team-b');
    assert.equal(other.code, status.PERMISSION_DENIED, other.details);
    assert.match(other.details, /principal "spiffe-ci"/);
  });

  it('treats a valid certificate that no entry names as anonymous', async () => {
    for (const cn of ['stranger', 'worker-7x']) {
      const client = await clientWith(await ca.issue(cn, 'client'));
      const out = await callMethod(client, CAPABILITIES, '');
      assert.equal(out.code, status.UNAUTHENTICATED, `${cn}: ${out.details}`);
    }
  });

  it('lets a bearer token win over the certificate, and a wrong token is not excused by one', async () => {
    const client = await clientWith(await ca.issue('worker-7', 'client'));
    const token = 'Bearer ci-token-0123456789';
    assert.equal((await callMethod(client, BATCH_UPDATE, 'x', token)).code, status.OK);
    const asToken = await callMethod(client, CAPABILITIES, 'x', token);
    assert.equal(asToken.code, status.PERMISSION_DENIED, 'the certificate added to the token');
    assert.match(asToken.details, /principal "token-ci"/);
    const wrong = await callMethod(client, CAPABILITIES, 'x', 'Bearer wrong-token');
    assert.equal(wrong.code, status.UNAUTHENTICATED);
  });

  it('refuses auth.certificates without mutual TLS', async () => {
    await assert.rejects(
      openAuthenticator(AUTH, { log: silentLogger(), mutualTls: false }),
      /auth\.certificates: client certificates need mutual TLS; set server\.tls\.clientCa/,
    );
  });
});
