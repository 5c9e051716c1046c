import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packResourceUsage } from '../../src/execution/resource-usage.ts';
import {
  ActionResult,
  UpdateActionResultRequest,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { call, connectClients } from '../support/grpc-clients.ts';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import { jsonOf, kiln } from './kiln-cli.ts';

const COMMAND = ['--', 'sh', '-c', 'echo measured'];
const PLAIN_COMMAND = ['--', 'sh', '-c', 'echo unmeasured'];
const LINE =
  'CPU 1.25 s user + 0.50 s system, peak memory 256 MiB (limit 2 GiB), read 4 KiB, written 8 MiB';

/**
 * A real server whose action cache holds a result carrying a ResourceUsage,
 * as a measuring worker would have left it, and one without: `kiln execute`
 * and `kiln run` answer from the cache and print the usage a result carries.
 */
describe('kiln execute and kiln run show the resources an action used', () => {
  let server: KilnProcess;
  let dir: string;
  let actionDigest: string;
  let plainDigest: string;
  const run = (...args: string[]) => kiln(args, { server: server.address });

  /** Creates the action and caches a result for it; returns the action digest. */
  async function cachedAction(command: string[], result: ActionResult): Promise<string> {
    const created = await run('action', 'create', ...command);
    assert.equal(created.code, 0, created.stderr);
    const digest = created.stdout.trim();
    const [hash, size] = digest.split('/');
    const clients = connectClients(server.address);
    try {
      await call(
        clients.actionCache,
        'updateActionResult',
        UpdateActionResultRequest.fromPartial({
          actionDigest: { hash, sizeBytes: Number(size) },
          actionResult: result,
        }),
      );
    } finally {
      clients.close();
    }
    return digest;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-cli-usage-'));
    server = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')]);
    const usage = packResourceUsage({
      userTime: { seconds: 1, nanos: 250_000_000 },
      systemTime: { seconds: 0, nanos: 500_000_000 },
      peakMemoryBytes: 256 * 1024 * 1024,
      readBytes: 4096,
      writtenBytes: 8 * 1024 * 1024,
      source: 'rusage',
      memoryLimitBytes: 2 * 1024 ** 3,
    });
    actionDigest = await cachedAction(
      COMMAND,
      ActionResult.fromPartial({
        exitCode: 0,
        stdoutRaw: Buffer.from('measured\n'),
        executionMetadata: { worker: 'measuring-worker', auxiliaryMetadata: [usage] },
      }),
    );
    plainDigest = await cachedAction(
      PLAIN_COMMAND,
      ActionResult.fromPartial({
        exitCode: 0,
        stdoutRaw: Buffer.from('unmeasured\n'),
        executionMetadata: { worker: 'older-worker' },
      }),
    );
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('kiln execute prints a resources line, and --json the figures', async () => {
    const text = await run('execute', actionDigest);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^exit code\s+0 \(cached result\)$/m);
    assert.ok(text.stdout.split('\n').includes(`resources  ${LINE}`), text.stdout);

    const json = jsonOf<{ cached: boolean; resourceUsage: unknown }>(
      await run('execute', actionDigest, '--json'),
    );
    assert.equal(json.cached, true);
    assert.deepEqual(json.resourceUsage, {
      userTimeMs: 1250,
      systemTimeMs: 500,
      peakMemoryBytes: 256 * 1024 * 1024,
      readBytes: 4096,
      writtenBytes: 8 * 1024 * 1024,
      source: 'rusage',
      memoryLimitBytes: 2 * 1024 ** 3,
    });
  });

  it('kiln run notes the resources on stderr unless quiet, and --json carries them', async () => {
    const text = await run('run', ...COMMAND);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, 'measured\n');
    assert.ok(text.stderr.split('\n').includes(`kiln: resources: ${LINE}`), text.stderr);

    const quiet = await run('run', '--quiet', ...COMMAND);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /resources/);

    const json = jsonOf<{ action: string; cached: boolean; resourceUsage: { userTimeMs: number } }>(
      await run('run', '--json', ...COMMAND),
    );
    assert.equal(json.action, actionDigest, 'the same action as kiln action create made');
    assert.equal(json.cached, true);
    assert.equal(json.resourceUsage.userTimeMs, 1250);
  });

  it('a result without a ResourceUsage prints no resources line and no resourceUsage', async () => {
    const text = await run('execute', plainDigest);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^worker\s+older-worker$/m);
    assert.doesNotMatch(text.stdout, /^resources/m);
    const json = jsonOf(await run('execute', plainDigest, '--json'));
    assert.equal(json.cached, true);
    assert.equal('resourceUsage' in json, false);
    const ran = await run('run', ...PLAIN_COMMAND);
    assert.equal(ran.stdout, 'unmeasured\n');
    assert.doesNotMatch(ran.stderr, /resources/);
  });
});
