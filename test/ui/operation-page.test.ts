import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toDigestMessage } from '../../src/digest/digest.ts';
import { packResourceUsage } from '../../src/execution/resource-usage.ts';
import type { Any } from '../../src/gen/google/protobuf/any.js';
import {
  complete,
  createUiFixture,
  putBlob,
  submit,
  takeAll,
  ts,
  type UiFixture,
  uploadTestAction,
} from './ui-fixture.ts';

async function finishedOperation(
  f: UiFixture,
  stdout: Buffer | string,
  auxiliaryMetadata: Any[] = [],
) {
  const a = await uploadTestAction(f.cas, {
    args: ['/bin/sh', '-c', 'echo "<b>hi</b>" > out.txt'],
    env: { PATH: '/usr/bin:/bin', TRICKY: '<script>alert("env")</script>' },
    workingDirectory: 'pkg/sub',
    outputPaths: ['out.txt'],
    sources: { 'a.c': 'int a;\n', 'b.h': '#pragma once\n' },
  });
  const op = await submit(f, a, 'inv-operation');
  const [lease] = await takeAll(f);
  const out = await putBlob(f.cas, '<b>hi</b>\n');
  const stderr = await putBlob(f.cas, 'warning: something\n');
  // The scheduler stamps the queued time from its clock; the worker's stamps follow it.
  const t0 = f.clock.now();
  await complete(f, lease as string, {
    exitCode: 0,
    stdoutRaw: typeof stdout === 'string' ? Buffer.from(stdout) : Buffer.alloc(0),
    stdoutDigest:
      typeof stdout === 'string' ? undefined : toDigestMessage(await putBlob(f.cas, stdout)),
    stderrDigest: toDigestMessage(stderr),
    outputFiles: [
      {
        path: 'out.txt',
        digest: toDigestMessage(out),
        isExecutable: false,
        contents: Buffer.alloc(0),
        nodeProperties: undefined,
      },
    ],
    executionMetadata: {
      worker: '',
      queuedTimestamp: ts(t0),
      workerStartTimestamp: ts(t0 + 1000),
      inputFetchStartTimestamp: ts(t0 + 1100),
      inputFetchCompletedTimestamp: ts(t0 + 1600),
      executionStartTimestamp: ts(t0 + 1700),
      executionCompletedTimestamp: ts(t0 + 7700),
      outputUploadStartTimestamp: ts(t0 + 7800),
      outputUploadCompletedTimestamp: ts(t0 + 8800),
      workerCompletedTimestamp: ts(t0 + 9000),
      virtualExecutionDuration: undefined,
      auxiliaryMetadata,
    },
  });
  return { a, op, out, stderr };
}

test('the operation page shows the command, input root, outputs, logs and timeline', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const { a, op, out, stderr } = await finishedOperation(f, '\u001b[32mall good\u001b[0m\n');
  assert.equal(op.name, 'operations/1');
  const res = await f.app.inject('/operations/1');
  assert.equal(res.statusCode, 200);
  const body = res.body;
  assert.match(body, /<code>operations\/1<\/code>/);
  // The Command, from the CAS via the action digest.
  assert.match(
    body,
    /<pre class="cmdline">\/bin\/sh -c 'echo &quot;&lt;b>hi&lt;\/b>&quot; > out.txt'<\/pre>/,
  );
  assert.match(body, /<th>PATH<\/th><td><code>\/usr\/bin:\/bin<\/code>/);
  assert.match(body, /<code>pkg\/sub<\/code>/);
  assert.match(body, /<th>OSFamily<\/th><td><code>linux<\/code>/);
  // The input root, with its sub-directory linked into the CAS browser.
  assert.ok(
    body.includes(`href="/cas/sha256/${a.srcDir.hash}/${a.srcDir.size}?path=src&amp;as=directory"`),
  );
  assert.ok(body.includes(`/cas/sha256/${a.inputRoot.hash}/${a.inputRoot.size}?as=directory`));
  // Outputs with view and download links.
  assert.ok(body.includes(`href="/cas/sha256/${out.hash}/${out.size}/download?name=out.txt"`));
  // stdout inline with its colour; stderr fetched from the CAS with a download link.
  assert.match(body, /<span style="color:rgb\(0,187,0\)">all good<\/span>/);
  assert.match(body, /warning: something/);
  assert.ok(body.includes(`/cas/sha256/${stderr.hash}/${stderr.size}/download?name=stderr.txt`));
  // Exit code, worker and the build.
  assert.match(body, /data-exit-code="0"/);
  assert.match(body, /<th>Worker<\/th><td>worker-a<\/td>/);
  assert.match(body, /href="\/builds\/inv-operation"/);
  // The timeline: every stage with its duration, as bars.
  assert.match(body, /<th>Queued<\/th><td>[^<]+<\/td><td class="num">1.00 s<\/td>/);
  assert.match(body, /<th>Input fetch<\/th><td>[^<]+<\/td><td class="num">500 ms<\/td>/);
  assert.match(body, /<th>Execution<\/th><td>[^<]+<\/td><td class="num">6.00 s<\/td>/);
  assert.match(body, /<th>Output upload<\/th><td>[^<]+<\/td><td class="num">1.00 s<\/td>/);
  assert.match(
    body,
    /class="bar bar-execution" style="margin-left:[\d.]+%;width:max\(2px,[\d.]+%\)"/,
  );
  // No cancel button unless the server allows it, and none for a done operation anyway.
  assert.doesNotMatch(body, /Cancel this operation/);
  // The worker measured nothing: no resources section.
  assert.doesNotMatch(body, /<h2>Resources<\/h2>/);
});

test('the operation page shows the resources a measuring worker reported, after the timeline', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const other: Any = { typeUrl: 'type.googleapis.com/example.Other', value: Buffer.from([8, 1]) };
  const usage = packResourceUsage({
    userTime: { seconds: 3, nanos: 140_000_000 },
    systemTime: { seconds: 0, nanos: 270_000_000 },
    peakMemoryBytes: 96 * 1024 * 1024,
    readBytes: 1536,
    writtenBytes: 20 * 1024,
    source: 'cgroup',
    memoryLimitBytes: 512 * 1024 * 1024,
  });
  await finishedOperation(f, 'done\n', [other, usage]);
  const body = (await f.app.inject('/operations/1')).body;
  const section = /<h2>Resources<\/h2>\s*<table class="kv resources">(.*?)<\/table>/s.exec(body);
  assert.ok(section, 'a resources table');
  assert.ok(body.indexOf('<h2>Timeline</h2>') < (section.index ?? 0), 'next to the timeline');
  const rows = Object.fromEntries(
    [...(section[1] ?? '').matchAll(/<tr><th>([^<]*)<\/th><td>([^<]*)<\/td><\/tr>/g)].map((m) => [
      m[1],
      m[2],
    ]),
  );
  assert.deepEqual(rows, {
    'CPU user': '3.14 s',
    'CPU system': '0.27 s',
    'Peak memory': '96 MiB (limit 512 MiB)',
    Read: '1.5 KiB',
    Written: '20 KiB',
    'Measured by': 'cgroup of the action',
  });
});

test('stdout and stderr are escaped: a <script> in an action log stays text', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  await finishedOperation(
    f,
    '<script>alert("xss")</script>\n\u001b[1m<img src=x onerror=alert(1)>\u001b[0m\n' +
      '\u001b]8;;javascript:alert(2)\u0007click me\u001b]8;;\u0007\n',
  );
  const body = (await f.app.inject('/operations/1')).body;
  assert.ok(body.includes('&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;'));
  assert.ok(body.includes('&lt;img src=x onerror=alert(1)&gt;'));
  assert.doesNotMatch(body, /<script>alert/);
  assert.doesNotMatch(body, /<img src=x/);
  // Terminal hyperlinks keep their text but never become links.
  assert.match(body, /click me/);
  assert.doesNotMatch(body, /javascript:alert/);
  // Environment values are escaped too.
  assert.ok(body.includes('&lt;script>alert(&quot;env&quot;)&lt;/script>'));
});

test('a long stdout in the CAS is shown up to 1 MiB with a link to download it all', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const line = 'kiln log line\n';
  const big = Buffer.from(line.repeat(Math.ceil((1.5 * 1024 * 1024) / line.length)));
  await finishedOperation(f, big);
  const body = (await f.app.inject('/operations/1')).body;
  assert.match(body, /download full \(1.5 MiB\)/);
  assert.match(body, /Only the first 1.0 MiB are shown/);
  const shown = body.split('kiln log line').length - 1;
  assert.ok(shown >= 74_000 && shown <= 75_000, `lines shown: ${shown}`);
});

test('operations are listed and filtered by state, instance and build', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  await finishedOperation(f, 'done\n');
  const second = await submit(
    f,
    await uploadTestAction(f.cas, { args: ['/bin/true'], sources: { 'q.c': 'q' } }),
    'inv-queued',
  );
  const link = (name: string) => `<a href="/${name}"><code>${name}</code></a>`;

  const all = (await f.app.inject('/operations')).body;
  assert.ok(all.includes(link('operations/1')));
  assert.ok(all.includes(link(second.name)));
  const queued = (await f.app.inject('/operations?state=queued')).body;
  assert.ok(!queued.includes(link('operations/1')));
  assert.ok(queued.includes(link(second.name)));
  assert.match(queued, /<option value="queued" selected>/);
  const completed = (await f.app.inject('/operations?state=COMPLETED&build=inv-operation')).body;
  assert.ok(completed.includes(link('operations/1')));
  assert.ok(!completed.includes(link(second.name)));
  const otherInstance = (await f.app.inject('/operations?instance=elsewhere')).body;
  assert.match(otherInstance, /No operations match/);

  const bad = await f.app.inject('/operations?state=sleeping');
  assert.equal(bad.statusCode, 400);
  assert.match(
    bad.body,
    /unknown state &quot;sleeping&quot;; expected queued, executing, completed/,
  );
});

test('an unknown operation is a 404 page', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const res = await f.app.inject('/operations/does-not-exist');
  assert.equal(res.statusCode, 404);
  assert.match(res.headers['content-type'] as string, /^text\/html/);
  assert.match(res.body, /<title>Not found · Kiln<\/title>/);
});

// Cancelling (admin permission, CSRF) is tested in ui-access.test.ts.
