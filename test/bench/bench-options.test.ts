/**
 * The benchmark's command line, its reference ratios and the fleet bench's
 * small computations: what a user sees without running a benchmark.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fleetLayout } from '../../bench/fleet-bench.ts';
import { withFileLimit } from '../../bench/fleet-processes.ts';
import { percentile } from '../../bench/fleet-stats.ts';
import { DEFAULT_GROUPS, GROUPS, HELP, parseBenchArgs, UsageError } from '../../bench/options.ts';
import { ratioTo, referenceOf, withRatios } from '../../bench/reference-bench.ts';
import { type ResultRow, toMarkdown } from '../../bench/report.ts';
import { NODE24, ROOT } from '../support/kiln-process.ts';

const MAIN = join(ROOT, 'bench', 'main.ts');

/** Runs `node bench/main.ts ARGS`; resolves with its exit code and output. */
async function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(NODE24, [MAIN, ...args], {
      cwd: ROOT,
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run bench command line', () => {
  it('prints the options for --help and exits 0 without running anything', async () => {
    const { code, stdout, stderr } = await bench(['--help']);
    assert.equal(code, 0);
    assert.equal(stderr, '');
    assert.equal(stdout, HELP);
    for (const option of ['--only', '--runs', '--fleet-workers', '--fleet-connections'])
      assert.match(stdout, new RegExp(option));
    for (const group of GROUPS) assert.match(stdout, new RegExp(`\\b${group}\\b`));
  });

  it('rejects a bad option with a message and the help, not a stack trace', async () => {
    const bad = await bench(['--fleet-workers', 'many']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--fleet-workers must be an integer of at least 1, not "many"/);
    assert.match(bad.stderr, /Usage: npm run bench/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
    const unknown = await bench(['--bogus']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--bogus/);
    assert.doesNotMatch(unknown.stderr, /\n\s+at /);
  });

  it('parses defaults and groups; the fleet runs only on request', () => {
    const defaults = parseBenchArgs([]);
    assert.notEqual(defaults, 'help');
    if (defaults === 'help') return;
    assert.deepEqual([...defaults.only], [...DEFAULT_GROUPS]);
    assert.equal(defaults.only.has('fleet'), false);
    assert.equal(defaults.fleetWorkers, 20_000);
    assert.equal(defaults.fleetBurst, 1000);
    const fleet = parseBenchArgs(['--only', 'fleet', '--fleet-workers', '1000']);
    assert.notEqual(fleet, 'help');
    if (fleet === 'help') return;
    assert.deepEqual([...fleet.only], ['fleet']);
    assert.equal(fleet.fleetWorkers, 1000);
    assert.equal(parseBenchArgs(['-h']), 'help');
    assert.throws(() => parseBenchArgs(['--only', 'write,flet']), UsageError);
    assert.throws(() => parseBenchArgs(['--runs', '0']), /--runs must be an integer of at least 1/);
  });
});

describe('npm run bench --fleet-scheduler', () => {
  it('runs the fleet on memory by default, on PostgreSQL when asked, and rejects others', () => {
    const defaults = parseBenchArgs([]);
    assert.ok(defaults !== 'help' && defaults.fleetScheduler === 'memory');
    assert.equal(defaults.only.has('postgres'), false);
    const pg = parseBenchArgs(['--only', 'fleet,postgres', '--fleet-scheduler', 'postgres']);
    assert.ok(pg !== 'help' && pg.fleetScheduler === 'postgres' && pg.only.has('postgres'));
    assert.throws(
      () => parseBenchArgs(['--fleet-scheduler', 'redis']),
      /--fleet-scheduler must be memory or postgres, not "redis"/,
    );
  });
});

describe('reference ratios', () => {
  const references = { sha256: 500, unary: 2000, stream: 1000, spawn: 250 };

  it('divides a rate by its reference rate', () => {
    const write = { name: 'ByteStream.Write 64 MiB', unit: 'MB/s', median: 400 };
    assert.deepEqual(ratioTo(write, references), { value: 0.4, to: 'stream' });
    const find = { name: 'FindMissingBlobs 1000 digests', unit: 'req/s', median: 1000 };
    assert.deepEqual(ratioTo(find, references), { value: 0.5, to: 'unary' });
    const batchMB = { name: 'BatchUpdateBlobs, MB/s', unit: 'MB/s', median: 100 };
    assert.deepEqual(ratioTo(batchMB, references), { value: 0.2, to: 'SHA-256' });
    const exec = { name: 'Execute no-op actions', unit: 'actions/s', median: 500 };
    assert.deepEqual(ratioTo(exec, references), { value: 2, to: 'spawn' });
  });

  it("expresses a time in the reference's time per operation", () => {
    // 10 ms at 2000 requests/s (0.5 ms each) is 20 requests' time.
    const latency = { name: 'Fleet 20,000: Execute→lease, one at a time, p99', unit: 'ms' };
    assert.deepEqual(ratioTo({ ...latency, median: 10 }, references), { value: 20, to: 'unary' });
    const restart = { name: 'Fleet 20,000: all workers back', unit: 's', median: 2 };
    assert.deepEqual(ratioTo(restart, references), { value: 4000, to: 'unary' });
  });

  it('leaves memory, CPU shares, ratios and the references themselves alone', () => {
    assert.equal(referenceOf({ name: 'Fleet 1,000: idle server RSS', unit: 'MB' }), undefined);
    assert.equal(
      referenceOf({ name: 'Fleet 1,000: idle server CPU', unit: '% of a core' }),
      undefined,
    );
    assert.equal(referenceOf({ name: 'Bazel cold build, remote / local', unit: '×' }), undefined);
    assert.equal(
      referenceOf({ name: 'Reference: fork/exec of /bin/true', unit: 'spawns/s' }),
      undefined,
    );
    assert.equal(ratioTo({ name: 'ByteStream.Read', unit: 'MB/s', median: 1 }, {}), undefined);
  });

  it('adds a ratio column to the table only when a row has a ratio', () => {
    const rows: ResultRow[] = [
      { name: 'ByteStream.Read 64 MiB', unit: 'MB/s', best: 600, median: 500, samples: [500, 600] },
      { name: 'Server peak RSS', unit: 'MB', best: 200, median: 200, samples: [200] },
    ];
    assert.doesNotMatch(toMarkdown(rows), /× reference/);
    const table = toMarkdown(withRatios(rows, references));
    assert.match(table, /× reference \|/);
    assert.match(table, /\| ByteStream.Read 64 MiB \|.*\| 0\.50 stream \|/);
    assert.match(table, /\| Server peak RSS \|.*\| {2}\|$/m);
  });

  it('keeps a ratio a row brings to a reference of its own run', () => {
    const own: ResultRow = {
      name: 'Fleet 1,000: Execute→lease, burst of 1000, p99',
      unit: 'ms',
      best: 300,
      median: 300,
      samples: [300],
      ratio: { value: 2.5, to: 'floor' },
    };
    assert.deepEqual(withRatios([own], references)[0]?.ratio, { value: 2.5, to: 'floor' });
    const { ratio: _, ...bare } = own;
    assert.equal(withRatios([bare], references)[0]?.ratio?.to, 'unary');
  });
});

describe('fleet bench computations', () => {
  it('takes the nearest-rank percentile', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(percentile(values, 0.5), 50);
    assert.equal(percentile(values, 0.99), 99);
    assert.equal(percentile([7], 0.99), 7);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });

  it('spreads the fleet over connections under the stream limit and a few processes', () => {
    assert.deepEqual(fleetLayout(20_000), { connections: 40, processes: 4 });
    assert.deepEqual(fleetLayout(1000), { connections: 2, processes: 2 });
    assert.deepEqual(fleetLayout(500), { connections: 1, processes: 1 });
    assert.deepEqual(fleetLayout(1000, 8, 2), { connections: 8, processes: 2 });
    assert.throws(() => fleetLayout(1000, 2, 4), /fewer than the 4 simulator processes/);
  });

  it('checks the file descriptor limit before starting processes', () => {
    assert.deepEqual(withFileLimit('node', ['x.ts'], 64), ['node', ['x.ts']]);
    assert.throws(
      () => withFileLimit('node', ['x.ts'], Number.MAX_SAFE_INTEGER),
      /file descriptors per process but the hard limit \(ulimit -Hn\) is \d+/,
    );
  });
});
