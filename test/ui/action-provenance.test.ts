/**
 * The action page says who wrote the cached result: the principal of the
 * Execute call and the worker for an executed action, the uploader for an
 * uploaded one, and a note for entries older than provenance.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActionCache } from '../../src/cache/action-cache.ts';
import { makeDigest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { loadCachedEntry, loadLogs } from '../../src/ui/action-data.ts';
import { renderDocument } from '../../src/ui/html.ts';
import { actionPage } from '../../src/ui/pages/action-page.ts';
import { complete, createUiFixture, takeAll, uploadTestAction } from './ui-fixture.ts';

test('an executed action shows the principal that asked for it and the worker that ran it', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const a = await uploadTestAction(f.cas, { args: ['/bin/echo', 'hi'] });
  await f.scheduler.submit({
    instanceName: '',
    digestFunction: SHA256,
    actionDigest: a.digest,
    action: a.action,
    command: a.command,
    skipCacheLookup: true,
    priority: 0,
    principal: 'carol',
    clientAddress: '10.1.2.3:4567',
    toolInvocationId: 'build-42',
    correlatedInvocationsId: '',
  });
  const [lease] = await takeAll(f, 'bot-9');
  assert.ok(lease);
  await complete(f, lease, { exitCode: 0 }, 'bot-9');
  const res = await f.app.inject(`/action/sha256/${a.digest.hash}/${a.digest.size}`);
  assert.equal(res.statusCode, 200, res.body);
  assert.match(res.body, /<h2>Written by<\/h2>/);
  assert.match(res.body, /data-principal="carol"/);
  assert.match(res.body, /data-worker="bot-9"/);
  assert.match(res.body, /executed by a worker/);
  assert.match(res.body, /10\.1\.2\.3:4567/);
  assert.match(res.body, /href="\/builds\/build-42"/);
});

test('an uploaded result shows its uploader; an entry older than provenance says so', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const uploaded = await uploadTestAction(f.cas, { args: ['/bin/true'] });
  await f.deps.actionCache.put('', uploaded.digest, ActionResult.fromPartial({ exitCode: 0 }), {
    source: 'upload',
    principal: 'ci-cache',
    clientAddress: '192.0.2.1:999',
  });
  const page = await f.app.inject(`/action/sha256/${uploaded.digest.hash}/${uploaded.digest.size}`);
  assert.equal(page.statusCode, 200, page.body);
  assert.match(page.body, /data-principal="ci-cache"/);
  assert.match(page.body, /uploaded by a client/);
});

test('an entry stored before provenance was recorded says that its writer is unknown', async () => {
  const cas = new MemoryBlobStore({ maxBytes: 1 << 20 });
  const store = new MemoryBlobStore({ maxBytes: 1 << 20 });
  const cache = new ActionCache({ store, cas });
  const digest = makeDigest(SHA256, 'c'.repeat(64), 10);
  const old = ActionResult.fromPartial({ exitCode: 0 });
  await putBuffer(store, ActionCache.keyOf('', digest), ActionResult.encode(old).finish());
  const entry = await loadCachedEntry(cache, '', digest);
  assert.ok(entry);
  assert.deepEqual(entry.result, old);
  const body = renderDocument(
    actionPage({
      digest,
      instanceName: '',
      details: {
        actionDigest: digest,
        action: undefined,
        commandDigest: undefined,
        command: undefined,
        inputRootDigest: undefined,
        inputRoot: undefined,
        problems: [],
      },
      result: entry.result,
      entry,
      logs: await loadLogs(cas, old, SHA256),
    }),
  );
  assert.match(body, /Who wrote this entry is not known/);
});
