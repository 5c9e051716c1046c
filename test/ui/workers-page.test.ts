// The workers page at fleet scale: per-platform counts, filters by platform,
// state and name, paging links, the overview's fleet table, and a page of a
// 20,000-worker fleet that renders only its own rows, quickly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import {
  activityOf,
  fleetByPlatform,
  selectWorkers,
  WORKER_LOST_AFTER_MS,
} from '../../src/ui/workers-data.ts';
import { createUiFixture, submit, uploadTestAction } from './ui-fixture.ts';

const LINUX = { name: 'OSFamily', value: 'linux' };

/** Registers `count` workers named `prefix-N` offering `pool=<pool>`. */
async function register(
  scheduler: InMemoryScheduler,
  prefix: string,
  pool: string,
  count: number,
): Promise<void> {
  for (let n = 0; n < count; n++) {
    await scheduler.registerWorker({
      id: `${prefix}-${n}-id`,
      name: `${prefix}-${n}`,
      platform: [LINUX, { name: 'pool', value: pool }],
      capacity: 2,
    });
  }
}

/** The `data-worker` names of the rows on a page, in order. */
function rowNames(body: string): string[] {
  return [...body.matchAll(/<tr data-worker="([^"]+)"/g)].map((m) => m[1] as string);
}

/** The cells of the fleet table's row for `platform`. */
function fleetRow(body: string, platform: string): string[] {
  const row =
    new RegExp(`<tr data-platform="${platform}">(.*?)</tr>`, 's').exec(body)?.[1] ?? 'missing';
  return [...row.matchAll(/<td class="num">([^<]*)<\/td>/g)].map((m) => m[1] as string);
}

/** The `href` of the link with class `cls`, decoded. */
function link(body: string, cls: string): string | undefined {
  const href = new RegExp(`<a class="${cls}" rel="${cls}" href="([^"]+)"`).exec(body)?.[1];
  return href?.replaceAll('&amp;', '&');
}

/**
 * 150 `large` and 100 `small` workers registered 50 s ago; all but
 * `small-0…9` called since (those ten are lost); `large-0` and `large-1` hold
 * a lease each (busy).
 */
async function fleetFixture() {
  const start = Date.now() - 50_000;
  const f = await createUiFixture({ clockStartMs: start });
  await register(f.scheduler, 'large', 'large', 150);
  await register(f.scheduler, 'small', 'small', 100);
  f.clock.advance(Date.now() - start);
  for (const w of await f.scheduler.listWorkers()) {
    if (!/^small-\d-id$/.test(w.id)) await f.scheduler.heartbeat(w.id);
  }
  for (const [i, worker] of ['large-0', 'large-1'].entries()) {
    await submit(f, await uploadTestAction(f.cas, { args: ['/bin/sleep', String(i + 5)] }));
    const taken = await f.scheduler.takeWork(`${worker}-id`);
    assert.equal(taken.leases.length, 1);
  }
  return f;
}

test('the workers page counts the fleet per platform: busy, idle, lost, utilisation', async (t) => {
  const f = await fleetFixture();
  t.after(() => f.close());
  const res = await f.app.inject('/workers');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /250 connected\./);
  // Capacity is explained where it is shown: command slots plus prefetch.
  assert.match(
    res.body,
    /<th class="num" title="Actions a worker takes at once: its command slots[^"]*prefetch/,
  );
  // workers, busy, idle, lost, utilisation, leases / capacity
  assert.deepEqual(fleetRow(res.body, 'OSFamily=linux, pool=large'), [
    '150',
    '2',
    '148',
    '0',
    '1.3%',
    '2 / 300',
  ]);
  assert.deepEqual(fleetRow(res.body, 'OSFamily=linux, pool=small'), [
    '100',
    '0',
    '90',
    '10',
    '0%',
    '0 / 200',
  ]);
  // Each platform links to its workers.
  assert.match(res.body, /href="\/workers\?platform=OSFamily%3Dlinux%2C\+pool%3Dsmall"/);
});

test('the list is paged on the server, 100 rows a page, with links that keep the filters', async (t) => {
  const f = await fleetFixture();
  t.after(() => f.close());
  const first = await f.app.inject('/workers');
  const names = rowNames(first.body);
  assert.equal(names.length, 100);
  assert.equal(names[0], 'large-0');
  assert.match(first.body, /Page 1 of 3/);
  assert.equal(link(first.body, 'prev'), undefined);
  assert.equal(link(first.body, 'next'), '/workers?page=2');

  const third = await f.app.inject('/workers?page=3');
  assert.deepEqual(rowNames(third.body), [
    ...Array.from({ length: 50 }, (_, n) => `small-${n + 50}`),
  ]);
  assert.equal(link(third.body, 'prev'), '/workers?page=2');
  assert.equal(link(third.body, 'next'), undefined);

  // Filters travel with the page links.
  const small = await f.app.inject('/workers?platform=pool%3Dsmall&name=SMALL-');
  assert.match(small.body, /250 connected, 100 matching the filters\./);
  assert.equal(rowNames(small.body).length, 100);
  assert.doesNotMatch(small.body, /Page \d/, 'one page needs no pager');
  const idle = await f.app.inject('/workers?state=idle');
  assert.match(idle.body, /238 matching/);
  assert.equal(link(idle.body, 'next'), '/workers?state=idle&page=2');
  const page2 = await f.app.inject(link(idle.body, 'next') as string);
  assert.equal(rowNames(page2.body).length, 100);
  assert.ok(rowNames(page2.body).every((n) => n !== 'large-0' && n !== 'large-1'));
});

test('filters by state, platform and name', async (t) => {
  const f = await fleetFixture();
  t.after(() => f.close());
  const busy = await f.app.inject('/workers?state=busy');
  assert.deepEqual(rowNames(busy.body), ['large-0', 'large-1']);
  assert.match(busy.body, /<tr data-worker="large-0" data-state="busy">/);
  assert.match(busy.body, /<option value="busy" selected>busy<\/option>/);

  const lost = await f.app.inject('/workers?state=lost');
  assert.deepEqual(
    rowNames(lost.body),
    Array.from({ length: 10 }, (_, n) => `small-${n}`),
  );

  const named = await f.app.inject('/workers?name=large-14');
  assert.deepEqual(rowNames(named.body), [
    'large-14',
    ...Array.from({ length: 10 }, (_, n) => `large-14${n}`),
  ]);
  assert.match(named.body, /value="large-14"/);

  const both = await f.app.inject('/workers?platform=OSFamily%3Dlinux%2Cpool%3Dlarge&state=lost');
  assert.match(both.body, /No worker matches\./);
  const none = await f.app.inject('/workers?platform=pool%3Dgpu');
  assert.deepEqual(rowNames(none.body), []);
});

test('bad filters are answered 400 with what was expected', async (t) => {
  const f = await fleetFixture();
  t.after(() => f.close());
  const state = await f.app.inject('/workers?state=sleeping');
  assert.equal(state.statusCode, 400);
  assert.match(state.body, /unknown state &quot;sleeping&quot;; expected idle, busy, lost/);
  const page = await f.app.inject('/workers?page=0');
  assert.equal(page.statusCode, 400);
  assert.match(page.body, /page &quot;0&quot; must be a positive integer/);
  const platform = await f.app.inject('/workers?platform=linux');
  assert.equal(platform.statusCode, 400);
  assert.match(platform.body, /platform filter &quot;linux&quot; must look like NAME=VALUE/);
});

test('the overview shows fleet size and utilisation per platform', async (t) => {
  const f = await fleetFixture();
  t.after(() => f.close());
  const body = (await f.app.inject('/')).body;
  assert.match(body, /Workers by platform/);
  assert.deepEqual(fleetRow(body, 'OSFamily=linux, pool=large').slice(0, 5), [
    '150',
    '2',
    '148',
    '0',
    '1.3%',
  ]);
  const data = (await f.app.inject('/api/overview')).json();
  const large = data.fleet.find(
    (p: { platform: { value: string }[] }) => p.platform[1]?.value === 'large',
  );
  assert.deepEqual(
    { workers: large.workers, busy: large.busy, idle: large.idle, lost: large.lost },
    { workers: 150, busy: 2, idle: 148, lost: 0 },
  );
  assert.ok(data.html.fleet.includes('data-platform="OSFamily=linux, pool=small"'));
});

test('a worker is lost after 45 s of silence, and lost wins over busy', () => {
  const w = {
    id: 'w',
    name: 'w',
    platform: [LINUX],
    capacity: 1,
    leaseIds: ['l1'],
    registeredAtMs: 0,
    lastSeenMs: 1000,
    actionsDone: 0,
  };
  assert.equal(activityOf(w, 1000 + WORKER_LOST_AFTER_MS), 'busy');
  assert.equal(activityOf(w, 1001 + WORKER_LOST_AFTER_MS), 'lost');
  assert.equal(activityOf({ ...w, leaseIds: [] }, 2000), 'idle');
  assert.deepEqual(
    fleetByPlatform([w, { ...w, leaseIds: [] }], 2000).map((p) => [p.workers, p.busy, p.idle]),
    [[2, 1, 1]],
  );
});

test('a page of a 20,000-worker fleet holds only its rows and answers within a second', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const pools = ['a', 'b', 'c', 'd'];
  for (let n = 0; n < 20_000; n++) {
    await f.scheduler.registerWorker({
      id: `w${n}`,
      name: `worker-${n}`,
      platform: [LINUX, { name: 'pool', value: pools[n % 4] as string }],
      capacity: 4,
    });
  }
  // Some of them busy, so that the page also reads executing operations.
  for (let i = 0; i < 20; i++) {
    await submit(f, await uploadTestAction(f.cas, { args: ['/bin/echo', String(i)] }));
    await f.scheduler.takeWork(`w${i * 1000}`);
  }
  await f.app.inject('/workers'); // warm up
  const timings: number[] = [];
  for (const url of [
    '/workers',
    '/workers?page=150&platform=pool%3Db',
    '/workers?name=worker-1999',
  ]) {
    const started = performance.now();
    const res = await f.app.inject(url);
    timings.push(performance.now() - started);
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /20,000 connected/);
    // Only the page's rows, never the fleet.
    assert.ok(rowNames(res.body).length <= 100, url);
    assert.ok(res.body.length < 400_000, `${url}: ${res.body.length} bytes`);
  }
  const workers = await f.scheduler.listWorkers();
  const selectStarted = performance.now();
  const view = selectWorkers(workers, { platform: 'pool=b', page: '50' }, Date.now());
  const selectMs = performance.now() - selectStarted;
  assert.equal(view.matching, 5000);
  assert.equal(view.pages, 50);
  assert.equal(view.rows[0]?.name, 'worker-19601');
  const overviewStarted = performance.now();
  const overview = await f.app.inject('/');
  const overviewMs = performance.now() - overviewStarted;
  assert.match(overview.body, /<td class="num">5,000<\/td>/);
  t.diagnostic(
    `20,000 workers: pages ${timings.map((ms) => ms.toFixed(0)).join(', ')} ms; select ${selectMs.toFixed(1)} ms; overview ${overviewMs.toFixed(0)} ms`,
  );
  for (const ms of [...timings, overviewMs]) assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
});
