import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.ts';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { createServer } from '../../src/server/create-server.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { parsePrometheusText, sampleValue } from '../observe/prometheus-text.ts';
import { executeAll, uploadAction } from '../support/actions.ts';
import { connectClients } from '../support/grpc-clients.ts';

describe('createServer with HTTP', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-http-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  const config = (extra: string, localWorkers = 0) =>
    parseConfigText(
      `
server:
  listen: 127.0.0.1:0
${extra}
storage:
  cas: { memory: { maxSize: 16MiB } }
  actionCache: { memory: { maxSize: 1MiB } }
execution:
  localWorkers: ${localWorkers}
`,
      'test.yaml',
      { overrides: { dataDir } },
    );

  it('serves /metrics and the web UI next to gRPC, and stops both on close', async () => {
    const kiln = await createServer({ config: config(''), log: silentLogger() });
    let url: string;
    try {
      assert.ok(kiln.httpAddress, 'auto with gRPC port 0 picks a free HTTP port');
      assert.doesNotMatch(kiln.httpAddress, /:0$/);
      url = `http://${kiln.httpAddress}/`;
      const res = await fetch(`${url}metrics`);
      assert.equal(res.status, 200);
      const parsed = parsePrometheusText(await res.text());
      assert.equal(sampleValue(parsed, 'kiln_store_max_bytes', { store: 'cas' }), 16 * 2 ** 20);
      assert.equal(sampleValue(parsed, 'kiln_scheduler_workers'), 0);
      assert.ok(parsed.types.has('process_resident_memory_bytes'));
      const ui = await fetch(url);
      assert.notEqual(ui.status, 404, 'the web UI is mounted at /');
      await ui.arrayBuffer();
    } finally {
      await kiln.close();
    }
    await assert.rejects(fetch(`${url}metrics`));
  });

  it("counts the in-process worker's executions and CAS traffic", async () => {
    const kiln = await createServer({ config: config('', 1), log: silentLogger() });
    const clients = connectClients(kiln.grpcAddress);
    try {
      const actionDigest = await uploadAction(clients, {
        args: ['/bin/sh', '-c', 'echo local > out.txt'],
        outputPaths: ['out.txt'],
        salt: randomUUID(),
      });
      const scrape = async () =>
        parsePrometheusText(await (await fetch(`http://${kiln.httpAddress}/metrics`)).text());
      const written = (e: Awaited<ReturnType<typeof scrape>>) =>
        sampleValue(e, 'kiln_cas_written_bytes_total') ?? 0;
      const before = await scrape();
      const ops = await executeAll(clients, actionDigest);
      assert.equal(executeResponseOf(ops.at(-1) as Operation)?.result?.exitCode, 0);
      const parsed = await scrape();
      assert.equal(sampleValue(parsed, 'kiln_executions_total', { result: 'success' }), 1);
      assert.equal(
        sampleValue(parsed, 'kiln_execution_stage_duration_seconds_count', { stage: 'total' }),
        1,
      );
      // The worker uploaded out.txt ("local\n") through the metered CAS.
      assert.ok(written(parsed) - written(before) >= 6);
      assert.equal(sampleValue(parsed, 'kiln_scheduler_workers'), 1);
      // The local worker calls the scheduler and the CAS directly: no Bots or CAS RPCs of its own.
      const rpcs = (method: string) =>
        parsed.samples
          .filter((x) => x.name === 'kiln_rpc_requests_total' && x.labels.method === method)
          .reduce((sum, x) => sum + x.value, 0);
      assert.equal(rpcs('CreateBotSession') + rpcs('UpdateBotSession'), 0);
      assert.equal(rpcs('GetTree'), 0);
    } finally {
      clients.close();
      await kiln.close();
    }
  });

  it('serves no HTTP when server.httpListen is off', async () => {
    const kiln = await createServer({
      config: config('  httpListen: "off"'),
      log: silentLogger(),
    });
    try {
      assert.equal(kiln.httpAddress, undefined);
    } finally {
      await kiln.close();
    }
  });
});
