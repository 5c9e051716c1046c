import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  ActionResult,
  Directory,
  Tree,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { createUiFixture, putBlob, uploadTestAction } from './ui-fixture.ts';

const casPath = (d: { hash: string; size: number }) => `/cas/sha256/${d.hash}/${d.size}`;

test('a Directory blob is listed with links to its sub-directories and files', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const a = await uploadTestAction(f.cas, {
    args: ['/bin/true'],
    sources: { 'main.c': 'int main;\n', '<evil>.h': 'x' },
  });
  const root = await f.app.inject(casPath(a.inputRoot));
  assert.equal(root.statusCode, 200);
  assert.match(root.body, /data-kind="directory"/);
  assert.ok(root.body.includes(`href="${casPath(a.srcDir)}?path=src&amp;as=directory">src/</a>`));

  const src = await f.app.inject(`${casPath(a.srcDir)}?path=src&as=directory`);
  assert.equal(src.statusCode, 200);
  assert.match(src.body, /<title>src · Kiln<\/title>/);
  const main = await digestOf(SHA256, Buffer.from('int main;\n'));
  assert.ok(src.body.includes(`href="${casPath(main)}?path=src%2Fmain.c&amp;as=file">main.c</a>`));
  assert.ok(src.body.includes(`${casPath(main)}/download?name=main.c`));
  assert.match(src.body, />&lt;evil>.h</);
});

test('a text file is shown as text and a binary file as a hex dump', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const text = await putBlob(f.cas, 'hello <kiln> & friends\nline two\n');
  const res = await f.app.inject(`${casPath(text)}?path=docs/hello.txt`);
  assert.match(res.body, /data-kind="file"/);
  assert.match(res.body, /<pre class="file-text">hello &lt;kiln> &amp; friends\nline two\n<\/pre>/);
  assert.ok(res.body.includes(`${casPath(text)}/download?name=hello.txt`));

  const binary = await putBlob(f.cas, Buffer.from([0, 1, 2, 0xff, 0x41, 0x42, 0x43, 0x0a]));
  const hex = await f.app.inject(`${casPath(binary)}?as=file`);
  assert.match(
    hex.body,
    /<pre class="hex">00000000 {2}00 01 02 ff 41 42 43 0a\s+\|\.\.\.\.ABC\.\|<\/pre>/,
  );
});

test('an output Tree is shown as nested folders', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const file = await putBlob(f.cas, 'leaf\n');
  const child = Directory.fromPartial({
    files: [{ name: 'leaf.txt', digest: toDigestMessage(file) }],
  });
  const childDigest = await digestOf(SHA256, Directory.encode(child).finish());
  const tree = Tree.fromPartial({
    root: Directory.fromPartial({
      directories: [{ name: 'nested', digest: toDigestMessage(childDigest) }],
      symlinks: [{ name: 'link', target: 'nested/leaf.txt' }],
    }),
    children: [child],
  });
  const treeDigest = await putBlob(f.cas, Tree.encode(tree).finish());
  const res = await f.app.inject(`${casPath(treeDigest)}?path=out`);
  assert.match(res.body, /data-kind="tree"/);
  assert.match(res.body, /<summary>nested\/<\/summary>/);
  assert.ok(res.body.includes(`${casPath(file)}?path=out%2Fnested%2Fleaf.txt&amp;as=file`));
  assert.match(res.body, /link <span class="muted">→<\/span> <code>nested\/leaf.txt<\/code>/);
});

test('Action and Command blobs are recognised and link to the action page', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const a = await uploadTestAction(f.cas, { args: ['/usr/bin/env', 'FOO=1'] });
  const action = await f.app.inject(casPath(a.digest));
  assert.match(action.body, /data-kind="action"/);
  assert.ok(action.body.includes(`href="/action/sha256/${a.digest.hash}/${a.digest.size}"`));
  const cmd = a.action.commandDigest;
  const command = await f.app.inject(`/cas/sha256/${cmd?.hash}/${cmd?.sizeBytes}`);
  assert.match(command.body, /data-kind="command"/);
  assert.match(command.body, /<pre class="cmdline">\/usr\/bin\/env FOO=1<\/pre>/);
});

test('downloads stream the raw bytes with a safe Content-Disposition', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const data = Buffer.alloc(300_000, 7);
  const d = await putBlob(f.cas, data);
  const res = await f.app.inject(
    `${casPath(d)}/download?name=${encodeURIComponent('dir/ré"port.bin')}`,
  );
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/octet-stream');
  assert.equal(res.headers['content-length'], '300000');
  assert.equal(
    res.headers['content-disposition'],
    `attachment; filename="r_port.bin"; filename*=UTF-8''r%C3%A9port.bin`,
  );
  assert.deepEqual(res.rawPayload, data);
});

test('bad digests are 400 pages and missing blobs 404 pages', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const absent = await digestOf(SHA256, Buffer.from('never stored'));
  const cases: [string, number, RegExp][] = [
    ['/cas/sha256/xyz/12', 400, /is not a valid SHA256 hash \(expected 64 lower-case hexadecimal/],
    [`/cas/sha256/${absent.hash}/-1`, 400, /size &quot;-1&quot; must be a non-negative decimal/],
    [`/cas/whirlpool/${absent.hash}/1`, 400, /unknown digest function &quot;whirlpool&quot;/],
    [`${casPath(absent)}?as=picture`, 400, /unknown view &quot;picture&quot;/],
    [casPath(absent), 404, /is not in the CAS: it was never uploaded, or it has been evicted/],
    [`${casPath(absent)}/download`, 404, /is not in the CAS/],
    [
      `/action/sha256/${absent.hash}/${absent.size}`,
      404,
      /neither in the CAS nor in the action cache/,
    ],
  ];
  for (const [url, code, message] of cases) {
    const res = await f.app.inject(url);
    assert.equal(res.statusCode, code, url);
    assert.match(res.headers['content-type'] as string, /^text\/html/, url);
    assert.match(res.body, message, url);
  }
});

test('forcing a view the blob does not fit falls back to the file view with a note', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const d = await putBlob(f.cas, 'plain text, not a directory');
  const res = await f.app.inject(`${casPath(d)}?as=directory`);
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /not a valid Directory; it is shown as a file/);
  assert.match(res.body, /plain text, not a directory/);
});

test('the action page shows the Action, Command and the cached result', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const a = await uploadTestAction(f.cas, { args: ['/bin/echo', 'cached'] });
  const stdout = await putBlob(f.cas, 'cached output line\n');
  await f.deps.actionCache.put(
    'ci',
    a.digest,
    ActionResult.fromPartial({ exitCode: 0, stdoutDigest: toDigestMessage(stdout) }),
  );
  const url = `/action/sha256/${a.digest.hash}/${a.digest.size}`;
  const withResult = (await f.app.inject(`${url}?instance=ci`)).body;
  assert.match(withResult, /<pre class="cmdline">\/bin\/echo cached<\/pre>/);
  assert.match(withResult, /cached output line/);
  assert.match(withResult, /data-exit-code="0"/);
  const otherInstance = (await f.app.inject(url)).body;
  assert.match(otherInstance, /The action cache holds no result for this action/);
  assert.match(otherInstance, /<pre class="cmdline">\/bin\/echo cached<\/pre>/);
});

test('the CAS page shows the lookup form and store statistics', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  await putBlob(f.cas, 'abc');
  const res = await f.app.inject('/cas');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /<form class="lookup" method="get" action="\/lookup"/);
  assert.match(res.body, /<th>Blobs<\/th><td>1<\/td>/);
});
