/**
 * Action cache provenance and purge end to end, against `kiln serve` with
 * tokens: an executed action and an uploaded result record who wrote them,
 * `kiln ac get` shows it, `kiln ac purge` (admin only) removes one
 * principal's entries and keeps the others', also after a restart, and
 * every refusal and purge lands in the audit log and its metrics.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { type Digest, digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  ActionCacheClient,
  ActionResult,
  RequestMetadata,
  UpdateActionResultRequest,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { CLIENT_OPTIONS, call } from '../support/grpc-clients.ts';
import {
  type KilnProcess,
  type KilnWorkerProcess,
  startKiln,
  startKilnWorker,
} from '../support/kiln-process.ts';
import { jsonOf, kiln } from './kiln-cli.ts';

const TOKENS = { alice: 'alice-token-1d2c', bob: 'bob-token-77e1', root: 'root-token-0f9a' };
const WORKER_TOKEN = 'fleet-token-a41b';
const CLIENT = '[cas:read, cas:write, ac:read, ac:write, execute]';
const CONFIG = [
  'auth:',
  '  tokens:',
  `    - { principal: alice, token: ${TOKENS.alice}, permissions: ${CLIENT} }`,
  `    - { principal: bob, token: ${TOKENS.bob}, permissions: ${CLIENT} }`,
  `    - { principal: root, token: ${TOKENS.root}, permissions: [admin, ac:read, cas:read] }`,
  'execution:',
  '  localWorkers: 1',
  '',
].join('\n');

/** What `kiln ac get --json` prints about the writer. */
interface ProvenanceJson {
  readonly source: string;
  readonly principal: string;
  readonly worker: string;
  readonly workerSession: string;
  readonly toolInvocationId: string;
  readonly clientAddress: string;
  readonly writtenAt: string;
}

/** The instance the purge tests write to, apart from the executed action's. */
const INSTANCE = 'purge-test';

function metadata(token: string, invocation: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  md.set(
    'build.bazel.remote.execution.v2.requestmetadata-bin',
    Buffer.from(
      RequestMetadata.encode(
        RequestMetadata.fromPartial({ toolInvocationId: invocation }),
      ).finish(),
    ),
  );
  return md;
}

describe('action cache provenance and purge', () => {
  let dir: string;
  let server: KilnProcess;
  let ac: ActionCacheClient;
  const serve = async () => {
    server = await startKiln(
      [
        '--config',
        join(dir, 'kiln.yaml'),
        '--listen',
        '127.0.0.1:0',
        '--http-listen',
        '127.0.0.1:0',
        '--data-dir',
        join(dir, 'data'),
      ],
      {},
    );
    ac?.close();
    ac = new ActionCacheClient(server.address, credentials.createInsecure(), CLIENT_OPTIONS);
  };
  const upload = async (who: keyof typeof TOKENS, n: number): Promise<Digest> => {
    const action = await digestOf(SHA256, Buffer.from(`${who} action ${n}`));
    await call(
      ac,
      'updateActionResult',
      UpdateActionResultRequest.fromPartial({
        instanceName: INSTANCE,
        actionDigest: toDigestMessage(action),
        actionResult: ActionResult.fromPartial({
          exitCode: 0,
          stdoutRaw: Buffer.from(`${who} ${n}`),
        }),
      }),
      metadata(TOKENS[who], `${who}-build`),
    );
    return action;
  };
  const cached = async (action: Digest): Promise<boolean> => {
    try {
      await call(
        ac,
        'getActionResult',
        {
          instanceName: INSTANCE,
          actionDigest: toDigestMessage(action),
          inlineStdout: false,
          inlineStderr: false,
          inlineOutputFiles: [],
          digestFunction: 0,
        },
        metadata(TOKENS.root, 'check'),
      );
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === status.NOT_FOUND) return false;
      throw err;
    }
  };
  const cli = (args: string[], token: string) =>
    kiln(args, { server: server.address, env: { KILN_TOKEN: token } });
  const metrics = async (): Promise<string> => {
    const http = /metrics on http:\/\/(\S+?)\//.exec(server.stdout())?.[1];
    assert.ok(http, server.stdout());
    const res = await fetch(`http://${http}/metrics`, {
      headers: { authorization: `Bearer ${TOKENS.root}` },
    });
    assert.equal(res.status, 200);
    return res.text();
  };
  const auditLines = (): Record<string, unknown>[] =>
    server
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"audit":true'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-ac-provenance-'));
    await writeFile(join(dir, 'kiln.yaml'), CONFIG);
    await mkdir(join(dir, 'inputs'));
    await writeFile(join(dir, 'inputs', 'in.txt'), 'provenance\n');
    await serve();
  });
  after(async () => {
    ac?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('an executed action records the Execute caller and the worker; kiln ac get shows them', async () => {
    const run = await cli(
      ['run', '--json', '--input-root', join(dir, 'inputs'), '--', 'cat', 'in.txt'],
      TOKENS.alice,
    );
    assert.equal(run.code, 0, run.stderr);
    const action = String(jsonOf(run).action);
    const got = await cli(['ac', 'get', action, '--json'], TOKENS.bob);
    assert.equal(got.code, 0, got.stderr);
    const provenance = jsonOf<{ provenance: ProvenanceJson }>(got).provenance;
    assert.equal(provenance.source, 'execution');
    assert.equal(provenance.principal, 'alice');
    assert.notEqual(provenance.worker, '');
    assert.match(provenance.workerSession, /botSessions\//);
    assert.notEqual(provenance.toolInvocationId, '');
    assert.match(provenance.clientAddress, /^127\.0\.0\.1:\d+$/);
    assert.ok(Math.abs(Date.parse(provenance.writtenAt) - Date.now()) < 60_000);
    const text = await cli(['ac', 'get', action], TOKENS.bob);
    assert.match(text.stdout, /written by\s+alice/);
    assert.match(text.stdout, /source\s+execution/);
    assert.match(text.stdout, new RegExp(`worker\\s+${provenance.worker}`));
  });

  it('an uploaded result records the uploader, its invocation and address', async () => {
    const action = await upload('bob', 0);
    const got = await cli(
      ['ac', 'get', `${action.hash}/${action.size}`, '--instance', INSTANCE, '--json'],
      TOKENS.alice,
    );
    assert.equal(got.code, 0, got.stderr);
    const provenance = jsonOf<{ provenance: ProvenanceJson }>(got).provenance;
    assert.equal(provenance.source, 'upload');
    assert.equal(provenance.principal, 'bob');
    assert.equal(provenance.toolInvocationId, 'bob-build');
    assert.equal(provenance.worker, '');
    assert.match(provenance.clientAddress, /^127\.0\.0\.1:\d+$/);
  });

  it("kiln ac purge removes principal A's entries, keeps B's, and says how many", async () => {
    const fromAlice = [
      await upload('alice', 1),
      await upload('alice', 2),
      await upload('alice', 3),
    ];
    const fromBob = [await upload('bob', 1), await upload('bob', 2)];

    // Without admin: refused, nothing removed.
    const denied = await cli(
      ['ac', 'purge', '--principal', 'alice', '--instance', INSTANCE],
      TOKENS.alice,
    );
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /permission denied/i);
    assert.match(denied.stderr, /Purge needs permission admin on instance "purge-test"/);
    for (const a of fromAlice) assert.equal(await cached(a), true);

    // Without a token at all: unauthenticated.
    const anonymous = await cli(
      ['ac', 'purge', '--principal', 'alice', '--instance', INSTANCE],
      '',
    );
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /not authenticated/i);

    const dry = await cli(
      ['ac', 'purge', '--principal', 'alice', '--instance', INSTANCE, '--dry-run', '--json'],
      TOKENS.root,
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(jsonOf(dry).removed, 3);
    for (const a of fromAlice) assert.equal(await cached(a), true);

    const purged = await cli(
      ['ac', 'purge', '--principal', 'alice', '--instance', INSTANCE, '--since', '1h'],
      TOKENS.root,
    );
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /Removed 3 action cache entries written by principal "alice"/);
    for (const a of fromAlice) assert.equal(await cached(a), false);
    for (const b of fromBob) assert.equal(await cached(b), true);

    // The refusals and the purge are in the audit log and its metrics.
    const lines = auditLines();
    const refusal = lines.find(
      (l) =>
        l.event === 'denied' &&
        l.method === '/kiln.admin.v1.ActionCacheAdmin/Purge' &&
        l.principal === 'alice',
    );
    assert.ok(refusal, server.stderr());
    assert.equal(refusal.code, 'PERMISSION_DENIED');
    assert.match(String(refusal.peer), /^127\.0\.0\.1:/);
    const purge = lines.find(
      (l) => l.event === 'admin' && l.action === 'action-cache.purge' && l.dryRun === false,
    );
    assert.ok(purge);
    assert.equal(purge.principal, 'root');
    assert.equal(purge.ofPrincipal, 'alice');
    assert.equal(purge.removed, 3);
    const text = await metrics();
    assert.match(
      text,
      /kiln_auth_denials_total\{code="PERMISSION_DENIED",method="\/kiln\.admin\.v1\.ActionCacheAdmin\/Purge"\} 1\n/,
    );
    assert.match(
      text,
      /kiln_auth_denials_total\{code="UNAUTHENTICATED",method="\/kiln\.admin\.v1\.ActionCacheAdmin\/Purge"\} 1\n/,
    );
    assert.match(text, /kiln_admin_actions_total\{action="action-cache.purge"\} 2\n/);
  });

  it('a purge after a restart still finds the entries written before it', async () => {
    const action = await upload('bob', 9);
    await server.stop();
    await serve();
    const purged = await cli(
      ['ac', 'purge', '--principal', 'bob', '--instance', INSTANCE, '--json'],
      TOKENS.root,
    );
    assert.equal(purged.code, 0, purged.stderr);
    // bob 0, 1, 2 and 9.
    assert.equal(jsonOf(purged).removed, 4);
    assert.equal(await cached(action), false);
  });
});

describe('results of a remote kiln worker', () => {
  let dir: string;
  let server: KilnProcess;
  let worker: KilnWorkerProcess | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-ac-worker-'));
    await writeFile(
      join(dir, 'kiln.yaml'),
      [
        'auth:',
        '  tokens:',
        `    - { principal: alice, token: ${TOKENS.alice}, permissions: ${CLIENT} }`,
        `    - { principal: root, token: ${TOKENS.root}, permissions: [admin, ac:read, cas:read] }`,
        `    - { principal: fleet, token: ${WORKER_TOKEN}, permissions: [worker, cas:read, cas:write] }`,
        'execution:',
        '  localWorkers: 0',
        '',
      ].join('\n'),
    );
    await mkdir(join(dir, 'inputs'));
    await writeFile(join(dir, 'inputs', 'in.txt'), 'remote\n');
    await writeFile(join(dir, 'worker-token'), `${WORKER_TOKEN}\n`);
    server = await startKiln([
      ...['--config', join(dir, 'kiln.yaml'), '--listen', '127.0.0.1:0'],
      ...['--http-listen', 'off', '--data-dir', join(dir, 'data')],
    ]);
    worker = await startKilnWorker(
      [
        ...['--scheduler', `grpc://${server.address}`, '--token-file', join(dir, 'worker-token')],
        ...['--name', 'bot-remote', '--concurrency', '1', '--work-dir', join(dir, 'worker')],
        ...['--action-users', 'off', '--sandbox', 'off'],
      ],
      { KILN_TOKEN: '' },
    );
  });
  after(async () => {
    if (worker !== undefined && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await once(worker.child, 'exit');
    }
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("record the worker's name and token principal, and purge by either", async () => {
    const cli = (args: string[], token: string) =>
      kiln(args, { server: server.address, env: { KILN_TOKEN: token } });
    const run = await cli(
      ['run', '--json', '--input-root', join(dir, 'inputs'), '--', 'cat', 'in.txt'],
      TOKENS.alice,
    );
    assert.equal(run.code, 0, run.stderr);
    const action = String(jsonOf(run).action);
    const got = await cli(['ac', 'get', action, '--json'], TOKENS.root);
    assert.equal(got.code, 0, got.stderr);
    const provenance = jsonOf<{ provenance: ProvenanceJson & { workerPrincipal: string } }>(
      got,
    ).provenance;
    assert.equal(provenance.principal, 'alice');
    assert.equal(provenance.worker, 'bot-remote');
    assert.equal(provenance.workerPrincipal, 'fleet');

    const byWorker = await cli(
      ['ac', 'purge', '--worker', 'bot-remote', '--dry-run', '--json'],
      TOKENS.root,
    );
    assert.equal(jsonOf(byWorker).removed, 1, byWorker.stderr);
    // The worker's principal selects what it produced, as a leaked worker token would need.
    const byPrincipal = await cli(['ac', 'purge', '--principal', 'fleet', '--json'], TOKENS.root);
    assert.equal(jsonOf(byPrincipal).removed, 1, byPrincipal.stderr);
    const gone = await cli(['ac', 'get', action], TOKENS.root);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /no cached result/);
  });
});
