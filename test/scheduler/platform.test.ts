import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import {
  describeUnschedulable,
  formatPlatform,
  normalizePlatform,
  offeredSet,
  satisfies,
} from '../../src/scheduler/platform.ts';
import { outcome, request, testAction, worker } from './scenario.ts';

const linux: [string, string][] = [['OSFamily', 'linux']];
const mac: [string, string][] = [['OSFamily', 'macos']];

import { forEachScheduler } from './scheduler-kinds.ts';

forEachScheduler((kind, scenario) => {
  describe(`platform matching [${kind}]`, { timeout: 10_000 }, () => {
    it('a worker with the wrong properties never gets the action; the right one does', async () => {
      const s = await scenario();
      await worker(s, 'mac-1', mac);
      await worker(s, 'linux-1', [...linux, ['arch', 'x86_64']]);
      const a = testAction('compile', { platform: linux });
      await s.scheduler.submit(request(a));

      assert.deepEqual((await s.scheduler.takeWork('mac-1')).leases, []);
      const { leases } = await s.scheduler.takeWork('linux-1');
      assert.equal(leases[0]?.actionDigest.key, a.digest.key);
    });

    it('a worker may advertise several values for one name', () => {
      const offered = offeredSet([
        { name: 'container-image', value: 'docker://a' },
        { name: 'container-image', value: 'docker://b' },
      ]);
      assert.equal(satisfies(offered, [{ name: 'container-image', value: 'docker://b' }]), true);
      assert.equal(satisfies(offered, [{ name: 'container-image', value: 'docker://c' }]), false);
      assert.equal(satisfies(offered, []), true, 'no requirement matches any worker');
    });

    it('Command.platform is used when the Action carries no platform', async () => {
      const s = await scenario();
      await worker(s, 'mac-1', mac);
      await worker(s, 'linux-1', linux);
      const op = await s.scheduler.submit(
        request(testAction('legacy', { commandPlatform: linux })),
      );

      assert.deepEqual(op.platform, [{ name: 'OSFamily', value: 'linux' }]);
      assert.deepEqual((await s.scheduler.takeWork('mac-1')).leases, []);
      assert.equal((await s.scheduler.takeWork('linux-1')).leases.length, 1);
    });

    it('Action.platform wins over Command.platform', async () => {
      const s = await scenario();
      const op = await s.scheduler.submit(
        request(testAction('both', { platform: mac, commandPlatform: linux })),
      );
      assert.deepEqual(op.platform, [{ name: 'OSFamily', value: 'macos' }]);
    });

    it('properties are normalized and formatted in order', () => {
      const props = [
        { name: 'b', value: '2' },
        { name: 'a', value: '1' },
        { name: 'b', value: '2' },
      ];
      assert.deepEqual(normalizePlatform(props), [
        { name: 'a', value: '1' },
        { name: 'b', value: '2' },
      ]);
      assert.equal(formatPlatform(props), '{a=1, b=2}');
    });
  });

  describe(`unschedulable actions [${kind}]`, { timeout: 10_000 }, () => {
    it('an unschedulable action fails fast with a message naming the platforms', async () => {
      const s = await scenario({ unschedulableTimeoutMs: 0 });
      await worker(s, 'mac-1', mac);
      await worker(s, 'mac-2', mac);
      await worker(s, 'arm-1', [...linux, ['arch', 'arm64']]);

      const op = await s.scheduler.submit(
        request(testAction('compile', { platform: [...linux, ['arch', 'x86_64']] })),
      );

      assert.equal(op.done, true);
      assert.deepEqual(outcome(op), {
        code: Code.FAILED_PRECONDITION,
        message:
          'no connected worker can run this action: it requires platform {OSFamily=linux, arch=x86_64}; ' +
          'connected workers offer: {OSFamily=macos} (mac-1, mac-2); {OSFamily=linux, arch=arm64} (arm-1)',
      });
      assert.equal((await s.scheduler.stats()).queued, 0);
    });

    it('with no workers at all the message says so', () => {
      assert.equal(
        describeUnschedulable([{ name: 'OSFamily', value: 'linux' }], []),
        'no connected worker can run this action: it requires platform {OSFamily=linux}; no workers are connected',
      );
    });

    it('an unschedulable action waits unschedulableTimeoutMs before it fails', async () => {
      const s = await scenario({ unschedulableTimeoutMs: 30_000 });
      const op = await s.scheduler.submit(request(testAction('compile', { platform: linux })));

      s.clock.advance(29_999);
      assert.equal((await s.scheduler.getOperation(op.name)).stage, 'QUEUED');
      s.clock.advance(1);
      const failed = await s.scheduler.getOperation(op.name);
      assert.equal(failed.done, true);
      assert.equal(failed.response?.status?.code, Code.FAILED_PRECONDITION);
    });

    it('a matching worker that connects in time saves the action', async () => {
      const s = await scenario({ unschedulableTimeoutMs: 30_000 });
      const op = await s.scheduler.submit(request(testAction('compile', { platform: linux })));
      s.clock.advance(20_000);

      await worker(s, 'linux-1', linux);
      s.clock.advance(60_000 - 20_000 - 1);

      assert.equal((await s.scheduler.getOperation(op.name)).stage, 'QUEUED');
      assert.equal((await s.scheduler.takeWork('linux-1')).leases.length, 1);
    });

    it('when the only matching worker leaves, its queued actions start the countdown again', async () => {
      const s = await scenario({ unschedulableTimeoutMs: 10_000 });
      await worker(s, 'linux-1', linux);
      const op = await s.scheduler.submit(request(testAction('compile', { platform: linux })));

      await s.scheduler.unregisterWorker('linux-1');
      s.clock.advance(10_000);

      const failed = await s.scheduler.getOperation(op.name);
      assert.equal(failed.response?.status?.code, Code.FAILED_PRECONDITION);
      assert.match(failed.response?.status?.message ?? '', /no workers are connected$/);
    });
  });
});
