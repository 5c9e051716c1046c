import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { packExecuteResponse, unpackAssignment } from '../../src/execution/lease-payload.ts';
import { executeMetadataOf, executeResponseOf } from '../../src/execution/operation-message.ts';
import { missingSubjects } from '../../src/execution/precondition-failure.ts';
import {
  ActionResult,
  ExecutionStage_Value,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type BotSession,
  LeaseState,
} from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { Status } from '../../src/gen/google/rpc/status.js';
import { CAPACITY_PROPERTY } from '../../src/services/bots-service.ts';
import { uploadAction, uploadBlobs } from '../support/actions.ts';
import { randomBlob, sha256Digest } from '../support/blobs.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

describe('Execution, Operations and Bots services', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ scheduler: { unschedulableTimeoutMs: 0 } });
  });
  after(() => t.stop());

  /** Runs Execute and collects every Operation until the stream ends. */
  function execute(
    actionDigest: object,
    extra: object = {},
    onOperation: (op: Operation) => void = () => {},
  ): Promise<Operation[]> {
    return new Promise((resolve, reject) => {
      const ops: Operation[] = [];
      const stream = t.clients.execution.execute({
        instanceName: '',
        skipCacheLookup: false,
        actionDigest: actionDigest as never,
        executionPolicy: undefined,
        resultsCachePolicy: undefined,
        digestFunction: 0,
        inlineStdout: false,
        inlineStderr: false,
        inlineOutputFiles: [],
        ...extra,
      });
      stream.on('data', (op: Operation) => {
        ops.push(op);
        onOperation(op);
      });
      stream.on('error', reject);
      stream.on('end', () => resolve(ops));
    });
  }

  async function createBot(platform: Record<string, string> = {}): Promise<BotSession> {
    return call(t.clients.bots, 'createBotSession', {
      parent: '',
      botSession: {
        name: '',
        botId: 'test-bot',
        status: 1,
        worker: {
          devices: [],
          configs: [],
          properties: [
            { key: CAPACITY_PROPERTY, value: '1' },
            ...Object.entries(platform).map(([key, value]) => ({ key, value })),
          ],
        },
        leases: [],
        expireTime: undefined,
        version: '',
      },
    });
  }

  /** UpdateBotSession with a short deadline, so the server's long poll ends quickly. */
  function update(session: BotSession, leases: BotSession['leases']): Promise<BotSession> {
    return call(
      t.clients.bots,
      'updateBotSession',
      { name: session.name, botSession: { ...session, leases }, updateMask: undefined },
      new Metadata(),
      { deadline: Date.now() + 2500 },
    );
  }

  it('answers FAILED_PRECONDITION listing the missing Action blob', async () => {
    const missing = sha256Digest(randomBlob(32));
    await assert.rejects(execute(missing), (err: ServiceError) => {
      assert.equal(err.code, status.FAILED_PRECONDITION);
      const raw = (err.metadata as Metadata).get('grpc-status-details-bin')[0] as Buffer;
      const details = Status.decode(raw).details;
      assert.deepEqual(missingSubjects(details), [`blobs/${missing.hash}/${missing.sizeBytes}`]);
      return true;
    });
  });

  it('answers INVALID_ARGUMENT for a Command without arguments', async () => {
    const digest = await uploadAction(t.clients, { args: [] });
    await assert.rejects(execute(digest), { code: status.INVALID_ARGUMENT });
  });

  it('sends a new lease with its Action and Command, and a running one without', async () => {
    const digest = await uploadAction(t.clients, { args: ['echo', 'inline'], salt: 'inline' });
    const bot = await createBot();
    const running = execute(digest);
    let session = await update(bot, []);
    const lease = session.leases[0];
    assert.ok(lease, 'the bot received a lease');
    const assignment = unpackAssignment(lease.payload);
    assert.equal(assignment.actionDigest.hash, digest.hash);
    assert.deepEqual(assignment.command?.arguments, ['echo', 'inline']);
    assert.equal(Buffer.from(assignment.action?.salt ?? []).toString(), 'inline');

    session = await update(session, [{ ...lease, state: LeaseState.ACTIVE }]);
    const again = unpackAssignment(session.leases[0]?.payload);
    assert.equal(again.actionDigest.hash, digest.hash);
    assert.equal(again.action, undefined);
    assert.equal(again.command, undefined);
    const ok = { code: 0, message: '', details: [] };
    await update(session, [
      {
        ...lease,
        state: LeaseState.COMPLETED,
        result: packExecuteResponse({
          result: ActionResult.fromPartial({ exitCode: 0 }),
          cachedResult: false,
          status: ok,
          serverLogs: {},
          message: '',
        }),
        status: ok,
      },
    ]);
    await running;
  });

  it('runs an action on a bot, streams its stages, and serves the rerun from the cache', async () => {
    const digest = await uploadAction(t.clients, { args: ['echo', 'hi'], salt: 'cycle' });
    const bot = await createBot();
    let executingSent = (): void => {};
    const executing = new Promise<void>((resolve) => {
      executingSent = resolve;
    });
    const running = execute(digest, {}, (op) => {
      if (executeMetadataOf(op)?.stage === ExecutionStage_Value.EXECUTING) executingSent();
    });
    let session = await update(bot, []);
    const lease = session.leases[0];
    assert.ok(lease, 'the bot received a lease');
    assert.equal(lease.state, LeaseState.PENDING);
    assert.equal(unpackAssignment(lease.payload).actionDigest.hash, digest.hash);

    const [stdoutDigest] = await uploadBlobs(t.clients, [Buffer.from('hi\n')]);
    const result = ActionResult.fromPartial({ exitCode: 0, stdoutDigest });
    session = await update(session, [{ ...lease, state: LeaseState.ACTIVE }]);
    // A stage update goes out once it has stood for a moment (a newer one replaces it before).
    await executing;
    await update(session, [
      {
        ...lease,
        state: LeaseState.COMPLETED,
        result: packExecuteResponse({
          result,
          cachedResult: false,
          status: { code: 0, message: '', details: [] },
          serverLogs: {},
          message: '',
        }),
        status: { code: 0, message: '', details: [] },
      },
    ]);
    const ops = await running;
    const stages = ops.map((op) => executeMetadataOf(op)?.stage);
    assert.ok(stages.includes(ExecutionStage_Value.EXECUTING), `stages ${stages}`);
    const last = ops.at(-1);
    assert.ok(last?.done);
    const response = last && executeResponseOf(last);
    assert.equal(response?.cachedResult, false);
    assert.equal(response?.result?.exitCode, 0);
    assert.equal(response?.result?.executionMetadata?.worker, 'test-bot');

    const again = await execute(digest, { inlineStdout: true });
    assert.equal(again.length, 1);
    const cached = executeResponseOf(again[0] as Operation);
    assert.equal(cached?.cachedResult, true);
    assert.equal(cached?.result?.stdoutRaw.toString(), 'hi\n', 'stdout inlined on request');

    const got = await call(t.clients.operations, 'getOperation', { name: last?.name ?? '' });
    assert.equal(got.done, true);
    const list = await call(t.clients.operations, 'listOperations', {
      name: '',
      filter: 'done=true',
      pageSize: 0,
      pageToken: '',
      returnPartialSuccess: false,
    });
    assert.ok(list.operations.some((op) => op.name === last?.name));
  });

  it('cancels a queued operation and forgets a deleted one', async () => {
    const digest = await uploadAction(t.clients, {
      args: ['true'],
      platform: { OSFamily: 'never-matched-by-a-bot' },
      salt: 'cancel',
    });
    await createBot({ OSFamily: 'never-matched-by-a-bot' });
    const running = execute(digest);
    let name = '';
    for (let i = 0; i < 50 && name === ''; i++) {
      const page = await call(t.clients.operations, 'listOperations', {
        name: '',
        filter: 'stage=QUEUED',
        pageSize: 0,
        pageToken: '',
        returnPartialSuccess: false,
      });
      name = page.operations[0]?.name ?? '';
      if (name === '') await new Promise((r) => setTimeout(r, 20));
    }
    assert.notEqual(name, '', 'the operation shows up as queued');
    await call(t.clients.operations, 'cancelOperation', { name });
    const ops = await running;
    assert.equal(executeResponseOf(ops.at(-1) as Operation)?.status?.code, status.CANCELLED);
    await call(t.clients.operations, 'deleteOperation', { name });
    await assert.rejects(call(t.clients.operations, 'getOperation', { name }), {
      code: status.NOT_FOUND,
    });
  });

  it('fails an action no connected worker can run with FAILED_PRECONDITION', async () => {
    const digest = await uploadAction(t.clients, {
      args: ['true'],
      platform: { ISA: 'riscv-quantum' },
    });
    const ops = await execute(digest);
    const response = executeResponseOf(ops.at(-1) as Operation);
    assert.equal(response?.status?.code, status.FAILED_PRECONDITION);
    assert.match(response?.status?.message ?? '', /ISA/);
  });

  it('rejects a malformed ListOperations filter and unknown names', async () => {
    await assert.rejects(
      call(t.clients.operations, 'listOperations', {
        name: '',
        filter: 'colour=blue',
        pageSize: 0,
        pageToken: '',
        returnPartialSuccess: false,
      }),
      { code: status.INVALID_ARGUMENT },
    );
    await assert.rejects(call(t.clients.operations, 'getOperation', { name: 'operations/nope' }), {
      code: status.NOT_FOUND,
    });
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = t.clients.execution.waitExecution({ name: 'operations/nope' });
        s.on('data', () => undefined);
        s.on('error', reject);
        s.on('end', resolve);
      }),
      { code: status.NOT_FOUND },
    );
  });

  it('pages ListOperations and returns from WaitOperation when done or at its timeout', async () => {
    const instanceName = 'paging';
    const digest = await uploadAction(t.clients, {
      args: ['true'],
      platform: { OSFamily: 'never-matched-by-a-bot' },
      salt: 'paging',
    });
    await createBot({ OSFamily: 'never-matched-by-a-bot' });
    const streams = [0, 1, 2].map(() => execute(digest, { instanceName }));
    const list = (pageToken: string) =>
      call(t.clients.operations, 'listOperations', {
        name: '',
        filter: `instance_name=${instanceName}`,
        pageSize: 2,
        pageToken,
        returnPartialSuccess: false,
      });
    let first = await list('');
    for (let i = 0; i < 100 && first.nextPageToken === ''; i++) {
      await new Promise((r) => setTimeout(r, 20));
      first = await list('');
    }
    assert.equal(first.operations.length, 2);
    const second = await list(first.nextPageToken);
    assert.equal(second.operations.length, 1);
    assert.equal(second.nextPageToken, '');
    const name = first.operations[0]?.name ?? '';
    const waited = await call(t.clients.operations, 'waitOperation', {
      name,
      timeout: { seconds: 0, nanos: 200_000_000 },
    });
    assert.equal(waited.done, false, 'still queued after the timeout');
    await call(t.clients.operations, 'cancelOperation', { name });
    const after = await call(t.clients.operations, 'waitOperation', { name, timeout: undefined });
    assert.equal(after.done, true);
    for (const op of [...first.operations, ...second.operations]) {
      await call(t.clients.operations, 'cancelOperation', { name: op.name });
    }
    await Promise.all(streams);
  });

  it("hands new work to the bot's latest UpdateBotSession, not to one it abandoned", async () => {
    const platform = { pool: 'one-poll' };
    const first = await uploadAction(t.clients, { args: ['true'], platform, salt: 'poll-1' });
    const second = await uploadAction(t.clients, { args: ['true'], platform, salt: 'poll-2' });
    const bot = await createBot(platform);
    const done1 = execute(first);
    const session = await update(bot, []);
    const lease = session.leases[0];
    assert.ok(lease);
    const slowUpdate = (leases: BotSession['leases']) =>
      call(
        t.clients.bots,
        'updateBotSession',
        { name: session.name, botSession: { ...session, leases }, updateMask: undefined },
        new Metadata(),
        { deadline: Date.now() + 12_000 },
      );
    // Call A long-polls with the bot's capacity full; the bot then reports the
    // result on call B without A ever returning.
    const callA = slowUpdate([{ ...lease, state: LeaseState.ACTIVE }]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const callB = slowUpdate([
      {
        ...lease,
        state: LeaseState.COMPLETED,
        status: { code: 0, message: '', details: [] },
        result: packExecuteResponse({
          result: ActionResult.fromPartial({ exitCode: 0 }),
          cachedResult: false,
          status: { code: 0, message: '', details: [] },
          serverLogs: {},
          message: '',
        }),
      },
    ]);
    await done1;
    const done2 = execute(second);
    const reply = await callB;
    assert.ok(Date.now() - started < 3000, `call B answered after ${Date.now() - started} ms`);
    const next = reply.leases.find((l) => l.id !== lease.id);
    assert.ok(next, 'call B carries the new lease');
    assert.equal(unpackAssignment(next.payload).actionDigest.hash, second.hash);
    await callA;
    const pending = await call(t.clients.operations, 'listOperations', {
      name: '',
      filter: 'done=false',
      pageSize: 100,
      pageToken: '',
      returnPartialSuccess: false,
    });
    for (const op of pending.operations) {
      await call(t.clients.operations, 'cancelOperation', { name: op.name });
    }
    await done2;
  });

  it('advertises execution in Capabilities', async () => {
    const caps = await call(t.clients.capabilities, 'getCapabilities', { instanceName: '' });
    assert.equal(caps.executionCapabilities?.execEnabled, true);
  });
});
