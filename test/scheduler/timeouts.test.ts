import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import { BLAKE3 } from '../../src/digest/digest-function.ts';
import { resolvePolicy } from '../../src/scheduler/policy.ts';
import { ok, request, testAction, worker } from './scenario.ts';

import { forEachScheduler } from './scheduler-kinds.ts';

forEachScheduler((kind, scenario) => {
  describe(`action timeouts [${kind}]`, { timeout: 10_000 }, () => {
    it('an action without a timeout gets the default, and the lease carries it', async () => {
      const s = await scenario({ defaultTimeoutMs: 600_000, leaseGraceMs: 60_000 });
      await worker(s, 'w1', [], 2);
      await s.scheduler.submit(request(testAction('no timeout')));
      await s.scheduler.submit(request(testAction('explicit', { timeoutSeconds: 30 })));

      const { leases } = await s.scheduler.takeWork('w1');

      assert.deepEqual(
        leases.map((l) => [l.timeoutMs, l.deadlineMs - s.clock.now()]),
        [
          [600_000, 660_000],
          [30_000, 90_000],
        ],
      );
    });

    it('a timeout above the maximum is rejected with INVALID_ARGUMENT', async () => {
      const s = await scenario({ maxTimeoutMs: 3_600_000 });

      await assert.rejects(
        s.scheduler.submit(request(testAction('eternal', { timeoutSeconds: 3601 }))),
        {
          code: Code.INVALID_ARGUMENT,
          message: 'action.timeout 3601s exceeds the maximum of 3600s',
        },
      );
      const atMax = await s.scheduler.submit(request(testAction('long', { timeoutSeconds: 3600 })));
      assert.equal(atMax.stage, 'QUEUED');
      assert.equal((await s.scheduler.listOperations({})).operations.length, 1, 'nothing created');
    });

    it('a lease not completed by timeout plus grace is lost, retried, and its worker told to stop', async () => {
      const s = await scenario({ leaseGraceMs: 10_000 });
      await worker(s, 'w1');
      await worker(s, 'w2');
      const op = await s.scheduler.submit(request(testAction('hangs', { timeoutSeconds: 20 })));
      const first = (await s.scheduler.takeWork('w1')).leases[0];

      s.clock.advance(29_999);
      await s.scheduler.heartbeat('w2');
      assert.deepEqual(await s.scheduler.heartbeat('w1'), { cancelledLeaseIds: [] });
      s.clock.advance(1);

      assert.deepEqual(await s.scheduler.heartbeat('w1'), { cancelledLeaseIds: [first?.id] });
      assert.equal((await s.scheduler.getOperation(op.name)).stage, 'QUEUED');
      const retry = (await s.scheduler.takeWork('w2')).leases[0];
      assert.equal(retry?.attempt, 2);
      await s.scheduler.completeLease('w2', retry?.id ?? '', ok());
      assert.equal((await s.scheduler.getOperation(op.name)).response?.status?.code, Code.OK);
    });

    it('a digest function that disagrees with the action digest is rejected', async () => {
      const s = await scenario();
      await assert.rejects(
        s.scheduler.submit(request(testAction('x'), { digestFunction: BLAKE3 })),
        {
          code: Code.INVALID_ARGUMENT,
        },
      );
    });

    it('policy values are validated with their names', () => {
      assert.throws(() => resolvePolicy({ maxRetries: -1 }), {
        message: 'scheduler.maxRetries: -1 must be a non-negative integer',
      });
      assert.throws(() => resolvePolicy({ defaultTimeoutMs: 2_000, maxTimeoutMs: 1_000 }), {
        code: Code.INVALID_ARGUMENT,
      });
      assert.equal(resolvePolicy({}).maxRetries, 2);
    });
  });
});
