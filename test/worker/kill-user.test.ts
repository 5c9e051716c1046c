// The pid window of kill-user.mjs: after an action, only the pids handed
// out since it started are looked at, unless the allocator may have gone
// round, and a leftover in the window is found and killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  entriesLooked,
  forkCount,
  inPidRange,
  killUserSync,
  pidRange,
  procListings,
} from '../../src/worker/kill-user.mjs';
import { underSubreaper } from './subreaper.ts';

const isRoot = process.getuid?.() === 0;

describe('the pid window', () => {
  it('a cyclic range holds the pids between its ends, also across the wrap', () => {
    assert.ok(inPidRange(500, { first: 400, last: 600 }));
    assert.ok(!inPidRange(399, { first: 400, last: 600 }));
    assert.ok(!inPidRange(601, { first: 400, last: 600 }));
    // Wrapped: from 4,000,000 up to pid_max, then from 300 up to 1,000.
    const wrapped = { first: 4_000_000, last: 1000 };
    assert.ok(inPidRange(4_100_000, wrapped));
    assert.ok(inPidRange(350, wrapped));
    assert.ok(!inPidRange(2000, wrapped));
  });

  it('vouches for a range only while the allocator cannot have gone round', () => {
    const forks = forkCount();
    assert.ok(forks !== undefined && forks > 0);
    const range = pidRange({ firstPid: process.pid, forksBefore: forks });
    assert.ok(range !== undefined);
    assert.equal(range.first, process.pid);
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
    // As many forks as there are pids: it may have wrapped, so every pid is looked at.
    assert.equal(pidRange({ firstPid: process.pid, forksBefore: forks - pidMax }), undefined);
  });

  it('looks only at the pids made since the window opened, not at every process', () => {
    const processes = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
    const forksBefore = forkCount() as number;
    // A window opened by this test's own newest pid: little was made since.
    const firstPid = Number(readFileSync('/proc/loadavg', 'latin1').trim().split(/\s+/)[4]);
    let before = entriesLooked();
    killUserSync(59_991);
    const full = entriesLooked() - before;
    before = entriesLooked();
    killUserSync(59_991, { firstPid, forksBefore });
    const windowed = entriesLooked() - before;
    assert.ok(full >= processes / 2, `a full pass looked at ${full} of ${processes}`);
    assert.ok(windowed < full, `the windowed pass looked at ${windowed}, the full one ${full}`);
    assert.ok(windowed <= 5, `the windowed pass looked at ${windowed}`);
  });

  it('looks at a small window pid by pid, without listing /proc; at a large one by a listing', () => {
    const forksBefore = forkCount() as number;
    const newest = Number(readFileSync('/proc/loadavg', 'latin1').trim().split(/\s+/)[4]);
    let before = procListings();
    killUserSync(59_991, { firstPid: newest, forksBefore });
    assert.equal(procListings(), before, 'a window of a few pids was looked at by a listing');
    // A window opened 2,000 pids ago (pids above 300 wrap round at pid_max) holds too many to look at one by one.
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
    const firstPid = newest - 2000 >= 300 ? newest - 2000 : pidMax - 2300 + newest;
    before = procListings();
    killUserSync(59_991, { firstPid, forksBefore });
    assert.ok(procListings() > before, 'a window of 2,000 pids was looked at pid by pid');
  });

  it('kills a setsid leftover of the user that was made inside the window', {
    skip: !isRoot && !process.env.CI ? 'needs root to run a process as another user' : false,
  }, async () => {
    const uid = 59_990;
    killUserSync(uid);
    const forksBefore = forkCount() as number;
    const child = spawn('sh', ['-c', 'setsid sleep 60 & echo $!'], {
      uid,
      gid: 65534,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const firstPid = child.pid as number;
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await new Promise((resolve) => child.once('exit', resolve));
    const leftover = Number(out.trim());
    assert.ok(leftover > 0);
    assert.ok(inPidRange(leftover, pidRange({ firstPid, forksBefore }) ?? { first: 0, last: 0 }));
    assert.equal(killUserSync(uid, { firstPid, forksBefore }), 1);
    // Dead: gone, or a zombie until its new parent reaps it.
    const state = (() => {
      try {
        return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${leftover}/status`, 'latin1'))?.[1];
      } catch {
        return 'gone';
      }
    })();
    assert.ok(state === 'gone' || state === 'Z', `the leftover is in state ${state}`);
  });

  it('ends a chain of processes that each fork and exit, which outruns a single pass', {
    skip: !isRoot && !process.env.CI ? 'needs root to run a process as another user' : false,
  }, async () => {
    const uid = 59_992;
    killUserSync(uid);
    const forksBefore = forkCount() as number;
    // Each member lives ~0.2 ms, about as long as a pass over /proc, so a
    // pass often finds a member gone; slow enough that the pid allocator
    // (pid_max is often 32,768) does not wrap during the test, which would
    // make the walk a full one.
    const chain = await underSubreaper(
      uid,
      `setsid perl -e 'while (1) { select(undef, undef, undef, 0.0002); exit if fork }' & sleep 0.1`,
    );
    try {
      // On a loaded machine a member may not have run yet when the first call
      // looks; a later call finds the chain and ends it.
      let killed = 0;
      for (const deadline = Date.now() + 3000; killed === 0 && Date.now() < deadline; ) {
        killed = killUserSync(uid, { firstPid: chain.firstPid, forksBefore });
        if (killed === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(killed > 0, 'no process of the chain was found');
      // The subreaper exits once every process of the chain has ended and
      // been reaped: a check no single look at /proc can make.
      assert.equal(await chain.ended(5000), true, 'the chain still runs');
    } finally {
      await chain.stop();
    }
  });
});
