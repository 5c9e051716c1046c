/**
 * The action cgroups' own housekeeping: what a launcher killed before it
 * could remove its cgroups is removed by the next one (and what ran in them
 * is ended), and the probe tells what the machine offers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ActionCgroups, probeActionCgroups } from '../../src/worker/action-cgroups.mjs';

const isRoot = process.getuid?.() === 0;

describe('action cgroups', { skip: !isRoot && !process.env.CI && 'needs root' }, () => {
  it('removes the cgroups a dead launcher left behind', (t) => {
    const probe = probeActionCgroups();
    if (!probe.usable) {
      assert.ok(!process.env.CI, `cgroups must be usable under CI: ${probe.why}`);
      t.skip(probe.why);
      return;
    }
    const mount = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((l) => l.includes(' - cgroup2 '))
      ?.split(' ')[4];
    const own = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    assert.ok(mount !== undefined && own !== undefined);
    // A pid that no process has any more.
    const dead = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    const stale = join(mount, own, `kiln-actions-${dead}`);
    mkdirSync(join(stale, '59999'), { recursive: true });
    const cgroups = ActionCgroups.open();
    assert.ok(cgroups !== undefined);
    cgroups.close();
    assert.equal(existsSync(stale), false, `${stale} is still there`);
  });

  it('says whether moves are cheap and where a memory limit would be enforced', () => {
    const probe = probeActionCgroups();
    if (!probe.usable) return;
    const options = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((l) => l.includes(' - cgroup2 '))
      ?.split(' - ')[1]
      ?.split(' ')[2];
    assert.equal(probe.cheapMoves, options?.split(',').includes('favordynmods') ?? false);
    assert.ok(probe.memory === undefined || probe.memory === 'v1' || probe.memory === 'v2');
  });
});
