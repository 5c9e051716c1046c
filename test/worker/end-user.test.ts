// Ending every process of an action user with the kernel's kill of all
// the user may signal (kill-user.mjs's endUserSync): what a walk of /proc
// can miss, chains that outrun it or change session at every step, is gone,
// and nothing of any other user is touched.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { endUser, endUserSync, forkCount } from '../../src/worker/kill-user.mjs';
import { killServersStarted, killsRequested } from '../../src/worker/user-killer.mjs';
import { underSubreaper, usersProcesses } from './subreaper.ts';

const needsRoot = {
  skip:
    process.getuid?.() !== 0 && !process.env.CI
      ? 'needs root to run processes as other users'
      : false,
};

/** Passes when no process of `uid` shows up during `ms` (looked at every 20 ms). */
async function assertNoneFor(uid: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    assert.deepEqual(usersProcesses(uid), [], `processes of user ${uid} are running`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The state letter of `pid` in /proc, or 'gone'. */
function state(pid: number): string {
  try {
    return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? '?';
  } catch {
    return 'gone';
  }
}

/** How many chains each chain test starts and ends. */
const ROUNDS = 4;

/** Starts `command` as `uid`, ends every process of the user, and checks that all of it ended. */
async function assertChainEnded(uid: number, command: string): Promise<void> {
  const chain = await underSubreaper(uid, command);
  try {
    assert.equal(endUserSync(uid).fallback, undefined);
    // The subreaper exits once every process of the chain has ended and
    // been reaped: a check no single look at /proc can make.
    assert.equal(await chain.ended(3000), true, 'the chain still runs');
  } finally {
    await chain.stop();
  }
}

describe('ending every process of an action user', needsRoot, () => {
  it('ends a chain whose every member forks, exits and starts a new session', async () => {
    const uid = 59_993;
    endUserSync(uid);
    // Each member is alone in its session and process group, so no group
    // kill reaches the next; it lives about as long as a fork takes. No
    // pid window: every pid is looked at, as after a chain fast enough to
    // make the pid allocator wrap round. A few rounds: a walk of /proc
    // misses such a chain only now and then.
    for (let round = 0; round < ROUNDS; round++) {
      await assertChainEnded(
        uid,
        `setsid perl -MPOSIX -e 'while (1) { exit if fork; POSIX::setsid() }' & sleep 0.2`,
      );
    }
    await assertNoneFor(uid, 1000);
  });

  it('ends a fast chain of forks and exits when every pid must be looked at', async () => {
    const uid = 59_994;
    endUserSync(uid);
    // Shell subshells that fork the next and exit: one process group, but
    // each member lives only as long as a fork of a small shell takes.
    for (let round = 0; round < ROUNDS; round++) {
      await assertChainEnded(uid, `setsid sh -c 'f() { f & exit; }; f' & sleep 0.2`);
    }
    await assertNoneFor(uid, 1000);
  });

  it('ends a tree of background processes in many sessions, counting each', async () => {
    const uid = 59_995;
    endUserSync(uid);
    const forksBefore = forkCount() as number;
    const tree = await underSubreaper(
      uid,
      `for i in 1 2 3 4 5 6 7 8; do setsid sh -c 'sleep 60 & setsid sleep 60 & (sleep 60 &) ; sleep 60' & done; sleep 0.5`,
    );
    try {
      const left = usersProcesses(uid).length;
      assert.ok(left >= 32, `${left} processes were left`);
      // As the spawn helper does it, without blocking its event loop.
      const ended = await endUser(uid, { window: { firstPid: tree.firstPid, forksBefore } });
      assert.equal(ended.fallback, undefined);
      assert.equal(ended.killed, left);
      assert.equal(await tree.ended(3000), true, 'some of the tree still runs');
      await assertNoneFor(uid, 200);
    } finally {
      await tree.stop();
    }
  });

  it('ends processes that kill every process of their user over and over, the killer too', async () => {
    const uid = 59_999;
    endUserSync(uid);
    // They may kill the kill process in the microseconds it runs as the user:
    // then /proc is walked, and the kill made again.
    const loop = `setsid sh -c 'while :; do kill -9 -1; done'`;
    for (let round = 0; round < 3; round++) {
      const killers = await underSubreaper(uid, `${loop} & ${loop} & sleep 0.2`);
      try {
        await endUser(uid);
        assert.equal(await killers.ended(3000), true, 'the loops still run');
      } finally {
        await killers.stop();
      }
    }
    await assertNoneFor(uid, 200);
  });

  it("touches no process of another user, root's included", async () => {
    const uid = 59_996;
    const other = 59_997;
    endUserSync(uid);
    endUserSync(other);
    const neighbour = spawn('sleep', ['30'], { uid: other, gid: 65534, stdio: 'ignore' });
    const rootOwned = spawn('sleep', ['30'], { stdio: 'ignore' });
    const left = await underSubreaper(uid, 'setsid sleep 60 & sleep 0.2');
    try {
      assert.equal(endUserSync(uid).killed, 1);
      assert.equal(await left.ended(3000), true);
      assert.equal(state(neighbour.pid as number), 'S');
      assert.equal(state(rootOwned.pid as number), 'S');
    } finally {
      neighbour.kill('SIGKILL');
      rootOwned.kill('SIGKILL');
      await left.stop();
    }
  });

  it('proves an action that left nothing running without a kill, and still ends one that did', async () => {
    const uid = 59_989; // Its own: test files run side by side, and each ends every process of its users.
    endUserSync(uid);
    // Nothing left: one look at the window's pids tells, with no kill made. Another
    // process of the window that ends between the listing and the look (a
    // neighbour's) forces the kill, so one clean look in a few tries is asked for.
    let withoutKill = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      const forksBefore = forkCount() as number;
      const done = spawn('true', [], { uid, gid: 65534, stdio: 'ignore' });
      await new Promise((resolve) => done.on('exit', resolve));
      const kills = killsRequested();
      const ended = await endUser(uid, {
        window: { firstPid: done.pid as number, forksBefore },
      });
      assert.deepEqual(ended, { killed: 0 });
      if (killsRequested() === kills) withoutKill++;
    }
    assert.ok(withoutKill > 0, 'every look at a clean user made the kill too');
    // A chain of sessions left behind, with the same window: the look finds it, the kill ends it.
    const forksBefore = forkCount() as number;
    const chain = await underSubreaper(
      uid,
      `setsid perl -MPOSIX -e 'while (1) { exit if fork; POSIX::setsid() }' & sleep 0.2`,
    );
    try {
      const kills = killsRequested();
      const ended = await endUser(uid, { window: { firstPid: chain.firstPid, forksBefore } });
      assert.equal(ended.fallback, undefined);
      assert.ok(killsRequested() > kills, 'no kill was made');
      assert.equal(await chain.ended(3000), true, 'the chain still runs');
    } finally {
      await chain.stop();
    }
    await assertNoneFor(uid, 500);
  });

  it('makes every kill through one long-lived process, not a new one per action', async () => {
    const before = killServersStarted();
    for (let i = 0; i < 5; i++) assert.deepEqual(await endUser(59_998), { killed: 0 });
    const started = killServersStarted() - before;
    assert.ok(started <= 1, `${started} kill servers were started for 5 kills`);
    assert.ok(killServersStarted() >= 1);
  });
});
