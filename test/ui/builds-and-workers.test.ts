import assert from 'node:assert/strict';
import { test } from 'node:test';
import { complete, createUiFixture, submit, takeAll, uploadTestAction } from './ui-fixture.ts';

test('the builds page lists each tool invocation with its counts and durations', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const who = { invocationId: 'inv-a', toolName: 'bazel', toolVersion: '7.4.0' };
  f.builds.recordCacheLookup(who, true);
  f.builds.recordCacheLookup(who, false);
  f.builds.recordExecution(who, { failed: false, executionMs: 1500 });
  f.builds.recordExecution(who, { failed: true, executionMs: 4000 });
  f.builds.recordSubmission({ invocationId: 'inv-b' });

  const res = await f.app.inject('/builds');
  assert.equal(res.statusCode, 200);
  const row = /<tr data-invocation="inv-a">(.*?)<\/tr>/s.exec(res.body)?.[1] ?? '';
  assert.match(row, /href="\/builds\/inv-a"/);
  assert.match(row, /bazel 7.4.0/);
  const numbers = [...row.matchAll(/<td class="num[^"]*">([^<]*)<\/td>/g)].map((m) => m[1]);
  // executed, hits, misses, failures, wall, total, longest
  assert.deepEqual(numbers.slice(0, 4), ['2', '1', '1', '1']);
  assert.equal(numbers[5], '5.50 s');
  assert.equal(numbers[6], '4.00 s');
  // Most recently active first.
  assert.ok(
    res.body.indexOf('data-invocation="inv-b"') < res.body.indexOf('data-invocation="inv-a"'),
  );
});

test("a build's row and page sum its actions' CPU time and keep the largest peak memory", async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const mib = 1024 * 1024;
  const who = { invocationId: 'inv-cpu' };
  f.builds.recordExecution(who, {
    failed: false,
    executionMs: 2000,
    resources: { cpuMs: 1250, peakMemoryBytes: 80 * mib },
  });
  f.builds.recordExecution(who, {
    failed: false,
    executionMs: 3000,
    resources: { cpuMs: 2500, peakMemoryBytes: 200 * mib },
  });
  // An older worker that measured nothing.
  f.builds.recordExecution(who, { failed: false, executionMs: 500 });
  f.builds.recordExecution({ invocationId: 'inv-unmeasured' }, { failed: false, executionMs: 10 });

  const list = (await f.app.inject('/builds')).body;
  const cells = (id: string) => {
    const row = new RegExp(`<tr data-invocation="${id}">(.*?)</tr>`, 's').exec(list)?.[1] ?? '';
    return [...row.matchAll(/<td class="num[^"]*">([^<]*)<\/td>/g)].map((m) => m[1]);
  };
  // executed, hits, misses, failures, wall, total, critical path, CPU, peak memory
  assert.deepEqual(cells('inv-cpu').slice(7), ['3.75 s', '200 MiB']);
  assert.deepEqual(cells('inv-unmeasured').slice(7), ['—', '—']);

  const page = (await f.app.inject('/builds/inv-cpu')).body;
  assert.match(
    page,
    /<th>CPU time \(user \+ system\)<\/th><td>3.75 s \(2 of 3 executions measured\)<\/td>/,
  );
  assert.match(page, /<th>Largest peak memory of an action<\/th><td>200 MiB<\/td>/);
});

test("a build's page lists its operations with links", async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const mine = await submit(f, await uploadTestAction(f.cas, { args: ['/bin/true'] }), 'inv-x');
  const other = await submit(
    f,
    await uploadTestAction(f.cas, { args: ['/bin/false'], sources: { 'o.c': 'o' } }),
    'inv-y',
  );
  const res = await f.app.inject('/builds/inv-x');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /<code>inv-x<\/code>/);
  assert.ok(res.body.includes(`href="/${mine.name}"`));
  assert.ok(!res.body.includes(`href="/${other.name}"`));
  assert.ok(
    res.body.includes(`/action/sha256/${mine.actionDigest.hash}/${mine.actionDigest.size}`),
  );
  assert.match(res.body, /href="\/operations\?build=inv-x"/);
});

test('an unknown build is a 404 page', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const res = await f.app.inject('/builds/never-seen');
  assert.equal(res.statusCode, 404);
  assert.match(res.body, /no build with tool invocation id &quot;never-seen&quot;/);
});

test('the workers page shows platforms, leases and what each worker runs', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const op = await submit(f, await uploadTestAction(f.cas, { args: ['/bin/sleep', '5'] }));
  const [lease] = await takeAll(f, 'busy-worker');
  await takeAll(f, 'idle-worker');

  let body = (await f.app.inject('/workers')).body;
  const busy = /<tr data-worker="busy-worker"[^>]*>(.*?)<\/tr>/s.exec(body)?.[1] ?? '';
  assert.match(busy, /<code>OSFamily=linux<\/code>/);
  assert.match(busy, /<td class="num">1 \/ 4<\/td>/);
  assert.ok(busy.includes(`href="/${op.name}"`));
  const idle = /<tr data-worker="idle-worker"[^>]*>(.*?)<\/tr>/s.exec(body)?.[1] ?? '';
  assert.match(idle, /<td class="num">0 \/ 4<\/td>/);
  assert.match(idle, />idle</);
  assert.match(idle, /<td class="num">0<\/td>/, 'no actions done yet');

  await complete(f, lease as string, { exitCode: 0 }, 'busy-worker');
  body = (await f.app.inject('/workers')).body;
  const after = /<tr data-worker="busy-worker"[^>]*>(.*?)<\/tr>/s.exec(body)?.[1] ?? '';
  assert.match(after, />idle</);
  // Actions done: the one completed lease.
  assert.match(after, /<td class="num">1<\/td>/);
});
