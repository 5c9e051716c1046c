import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createUiFixture, putBlob, submit, takeAll, uploadTestAction } from './ui-fixture.ts';

test('the overview shows queued and executing actions per platform, workers and builds', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const running = await uploadTestAction(f.cas, { args: ['/bin/sleep', '10'] });
  await submit(f, running);
  await takeAll(f, 'overview-worker');
  const waiting = await uploadTestAction(f.cas, { args: ['/bin/true'], sources: { 'b.c': 'b' } });
  await submit(f, waiting, 'build-2');
  await submit(f, await uploadTestAction(f.cas, { args: ['/bin/false'], sources: { 'c.c': 'c' } }));

  const res = await f.app.inject('/');
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /^text\/html/);
  const body = res.body;
  assert.match(body, /<title>Overview · Kiln<\/title>/);
  // One action was leased before the others arrived; the worker's capacity of 4 took only that one.
  assert.match(body, /data-card="queued".*?<div class="card-value">2<\/div>/s);
  assert.match(body, /data-card="executing".*?<div class="card-value">1<\/div>/s);
  assert.match(
    body,
    /data-card="workers".*?<div class="card-value">1<\/div>.*?capacity 4 \(command slots \+ prefetch\)/s,
  );
  assert.match(body, /<td>OSFamily=linux<\/td><td class="num">2<\/td><td class="num">1<\/td>/);
  assert.match(body, /href="\/builds\/build-2"/);
  assert.match(body, /data-poll="\/api\/overview"/);
  assert.match(body, /<script src="\/ui\/app.js" defer>/);
});

test('the overview shows the cache hit rate, CAS size and reach, and recent errors', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  f.deps.metrics.cacheLookup('GetActionResult', true);
  f.deps.metrics.cacheLookup('GetActionResult', true);
  f.deps.metrics.cacheLookup('Execute', true);
  f.deps.metrics.cacheLookup('Execute', false);
  await putBlob(f.cas, 'x'.repeat(3000));
  f.recentErrors.record({
    timeMs: Date.now() - 5000,
    method: 'ByteStream.Write',
    code: 'INVALID_ARGUMENT',
    message: 'hash mismatch <img src=x>',
    invocationId: 'inv-9',
  });

  const body = (await f.app.inject('/')).body;
  assert.match(body, /data-card="hit-rate".*?>75%<.*?3 hits, 1 miss/s);
  assert.match(body, /data-card="cas-size".*?>2.9 KiB<.*?1 blob, budget 64 MiB/s);
  assert.match(body, /data-card="cas-reach".*?last used (just now|\d+ ms ago|1 s ago)/s);
  assert.match(body, /<code>ByteStream.Write<\/code>/);
  assert.match(body, /hash mismatch &lt;img src=x>/);
  assert.doesNotMatch(body, /<img src=x>/);
  assert.match(body, /href="\/builds\/inv-9"/);
});

test('/api/overview returns the numbers and re-rendered sections for live updates', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  await submit(f, await uploadTestAction(f.cas, { args: ['/bin/true'] }));
  const res = await f.app.inject('/api/overview');
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['cache-control'], 'no-store');
  const data = res.json();
  assert.equal(data.scheduler.queued, 1);
  assert.equal(data.buildCount, 1);
  assert.deepEqual(data.cache, { hits: 0, misses: 0 });
  assert.deepEqual(Object.keys(data.html).sort(), ['builds', 'cards', 'errors', 'fleet', 'queues']);
  assert.match(data.html.cards, /data-card="queued".*?>1</s);
  assert.match(data.html.builds, /build-1/);
  // The page embeds the same fragments the endpoint returns.
  const page = (await f.app.inject('/')).body;
  assert.ok(page.includes(data.html.queues));
});

test('without a scheduler the overview says execution is disabled', async (t) => {
  const f = await createUiFixture({ noScheduler: true });
  t.after(() => f.close());
  const res = await f.app.inject('/');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /Remote execution is disabled/);
  assert.equal((await f.app.inject('/api/overview')).json().scheduler, null);
  assert.match((await f.app.inject('/workers')).body, /Remote execution is disabled/);
  assert.match((await f.app.inject('/operations')).body, /Remote execution is disabled/);
  assert.equal((await f.app.inject('/operations/1')).statusCode, 404);
});

test('the stylesheet and the live-update script are served with safe headers', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const js = await f.app.inject('/ui/app.js');
  assert.equal(js.statusCode, 200);
  assert.match(js.headers['content-type'] as string, /^text\/javascript/);
  assert.match(js.body, /data-poll/);
  const css = await f.app.inject('/ui/style.css');
  assert.equal(css.statusCode, 200);
  assert.match(css.headers['content-type'] as string, /^text\/css/);
  const page = await f.app.inject('/');
  assert.match(page.headers['content-security-policy'] as string, /script-src 'self'/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.headers['x-frame-options'], 'DENY');
});
