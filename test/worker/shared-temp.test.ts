/**
 * SharedTempSweeper on a directory made to look like /tmp (sticky, open to
 * all, thousands of entries of several users): it finds exactly one user's
 * entries, lists a directory again only when it changed, and removes as the
 * user, following no link. Needs root (entries of other users, removal as
 * another user).
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SharedTempSweeper } from '../../src/worker/shared-temp.mjs';

const isRoot = process.getuid?.() === 0;
const USER = 59131;
const OTHER = 59132;
const GID = 65534;
/** Longer than the sweeper's settling time, so that its last listing is trusted. */
const SETTLED_MS = 150;

describe('shared temporary directory sweeping', {
  skip: !isRoot && !process.env.CI && 'needs root',
}, () => {
  let base: string;
  let shared: string;

  before(async () => {
    assert.ok(isRoot, 'these tests must run as root under CI');
    base = await mkdtemp(join(tmpdir(), 'kiln-shared-temp-'));
    chmodSync(base, 0o755);
    shared = join(base, 'tmp');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    // Thousands of entries, as on a busy machine: root's, another user's.
    for (let i = 0; i < 3000; i++) {
      const path = join(shared, `entry-${i}`);
      writeFileSync(path, '');
      if (i % 3 === 1) chownSync(path, OTHER, GID);
    }
  });
  after(async () => {
    if (base !== undefined) await rm(base, { recursive: true, force: true });
  });

  /** Makes `name` in the shared directory as `uid` would have. */
  function own(name: string, uid: number, dir = false): string {
    const path = join(shared, name);
    if (dir) mkdirSync(path);
    else writeFileSync(path, 'x');
    chownSync(path, uid, GID);
    return path;
  }

  it('lists a directory again only when it changed since a settled look', async () => {
    const sweeper = new SharedTempSweeper([shared]);
    await sleep(SETTLED_MS);
    assert.deepEqual(sweeper.owned(USER), []);
    assert.equal(sweeper.listings, 1);
    for (let i = 0; i < 5; i++) assert.deepEqual(sweeper.owned(USER), []);
    assert.equal(sweeper.listings, 1, 'an unchanged directory is not listed again');
    // Entries of another user seen then are still answered for, from memory.
    assert.equal(sweeper.owned(OTHER).length, 1000);
    assert.equal(sweeper.listings, 1);
    const planted = own('planted', USER);
    assert.deepEqual(sweeper.owned(USER), [planted]);
    assert.equal(sweeper.listings, 2, 'a new entry changes the directory');
    await rm(planted);
  });

  it('does not trust a look made right after a change', async () => {
    const sweeper = new SharedTempSweeper([shared]);
    const first = own('recent-1', OTHER);
    assert.deepEqual(sweeper.owned(USER), []);
    // Possibly in the same clock tick as the look: the change time may not move.
    const second = own('recent-2', USER);
    assert.deepEqual(sweeper.owned(USER), [second]);
    assert.equal(sweeper.listings, 2);
    await Promise.all([rm(first), rm(second)]);
  });

  it("removes the user's entries as the user, following no link and leaving others'", async () => {
    const sweeper = new SharedTempSweeper([shared, join(base, 'missing')]);
    const file = own('file', USER);
    const closed = own('closed', USER, true);
    const inside = join(closed, 'inside');
    writeFileSync(inside, 'x');
    chownSync(inside, USER, GID);
    chmodSync(closed, 0);
    const target = join(base, 'target');
    writeFileSync(target, 'keep');
    chownSync(target, USER, GID);
    const link = join(shared, 'link');
    symlinkSync(target, link);
    // A directory of the user's elsewhere, reached through a link: neither opened nor emptied.
    const userDir = join(base, 'user-dir');
    mkdirSync(userDir);
    writeFileSync(join(userDir, 'kept'), 'x');
    chownSync(userDir, USER, GID);
    chmodSync(userDir, 0o500);
    const linkDir = join(shared, 'link-dir');
    symlinkSync(userDir, linkDir);
    for (const l of [link, linkDir]) lchownSync(l, USER, GID);
    const others = own('others', OTHER);
    assert.equal(await sweeper.sweep(USER, GID), 4);
    for (const p of [file, closed, link, linkDir]) {
      assert.equal(lstatSync(p, { throwIfNoEntry: false }), undefined, `${p} removed`);
    }
    assert.equal(lstatSync(target).size, 4, 'the link was not followed');
    assert.equal(lstatSync(userDir).mode & 0o777, 0o500, 'nothing was changed through a link');
    assert.equal(lstatSync(join(userDir, 'kept')).size, 1);
    assert.equal(lstatSync(others).uid, OTHER);
    assert.equal(await sweeper.sweep(USER, GID), 0);
    await assert.rejects(sweeper.sweep(0, 0), RangeError);
    await rm(others);
  });
});
