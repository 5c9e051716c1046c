import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseActionUsers, resolveActionUsers } from '../../src/worker/action-users.ts';
import { probeSandbox, wantsSandbox } from '../../src/worker/sandboxing-runner.ts';

describe('action users and sandbox options', () => {
  it('parses auto, off and ranges, and names what is wrong with anything else', () => {
    assert.deepEqual(parseActionUsers('auto'), { kind: 'auto' });
    assert.deepEqual(parseActionUsers('off'), { kind: 'off' });
    assert.deepEqual(parseActionUsers('61000-61007:1234'), {
      kind: 'range',
      first: 61000,
      last: 61007,
      gid: 1234,
    });
    assert.throws(() => parseActionUsers('nobody'), /auto, off, or a user id range/);
    assert.throws(() => parseActionUsers('10-5'), /FIRST no more than LAST/);
  });

  it('runs actions as the worker itself when it is not root, and says why', () => {
    const plan = resolveActionUsers({ kind: 'auto' }, 2, 1000);
    assert.equal(plan.enabled, false);
    assert.match(plan.enabled ? '' : plan.why, /does not run as root/);
    assert.throws(
      () => resolveActionUsers({ kind: 'range', first: 61000, last: 61001, gid: 65534 }, 2, 1000),
      /needs a worker run as root/,
    );
    assert.equal(resolveActionUsers({ kind: 'off' }, 2, 0).enabled, false);
  });

  it('refuses a range smaller than the commands run at once', {
    skip: process.getuid?.() !== 0 && 'needs root',
  }, () => {
    assert.throws(
      () => resolveActionUsers({ kind: 'range', first: 61500, last: 61501, gid: 65534 }, 3),
      /fewer than the 3 commands/,
    );
  });

  it('does not offer a sandbox that fails its trial run, and says why', async () => {
    const probe = await probeSandbox(undefined, '/bin/false');
    assert.ok('why' in probe);
    assert.match(probe.why, /bwrap failed \(exit 1\)/);
    const missing = await probeSandbox(undefined, '/no/such/bwrap');
    assert.ok('why' in missing);
  });

  it('reads the sandbox request from the platform', () => {
    assert.equal(wantsSandbox([{ name: 'sandbox', value: 'namespaces' }]), true);
    assert.equal(wantsSandbox([{ name: 'sandbox', value: 'other' }]), false);
    assert.equal(wantsSandbox([]), false);
  });
});
