/**
 * `npm run fuzz`: fuzzes a fresh `kiln serve` child and prints a report.
 *
 * Usage: npm run fuzz -- [--requests N] [--seed S] [--concurrency C]
 *                        [--only INDEX] [--inputs DIR] [--max-final-rss MB]
 *
 * Exits 1 when the server crashed, hung, answered INTERNAL or UNKNOWN,
 * served wrong bytes, accepted invalid data, or stayed over the RSS bound.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatReport, formatSampleDetails, verdict } from './report.ts';
import { runFuzz } from './run-fuzz.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    only: { type: 'string' },
    exclude: { type: 'string' },
    inputs: { type: 'string' },
    'max-final-rss': { type: 'string', default: '400' },
    details: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(
    [
      'Usage: npm run fuzz -- [options]',
      '  --requests N        calls to make (default 20000)',
      '  --seed S            seed of every random choice (default: random, printed)',
      '  --concurrency C     requests in flight (default 16)',
      '  --only INDEX        send only request INDEX of the seed (to reproduce a finding)',
      '  --exclude A,B       scenarios never to run (e.g. execute-diamond)',
      '  --inputs DIR        write the request bytes of each finding to DIR',
      '  --max-final-rss MB  RSS the server must be back under after the run (default 400)',
      '  --details           also print the first status message of each method and status',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const seed = values.seed ?? randomBytes(4).toString('hex');
const result = await runFuzz({
  root: resolve(import.meta.dirname, '..'),
  requests: Number(values.requests),
  seed,
  concurrency: Number(values.concurrency),
  only: values.only === undefined ? undefined : Number(values.only),
  exclude: values.exclude?.split(',').filter((name) => name !== ''),
  settleRssBytes: Number(values['max-final-rss']) * 1e6,
  progress: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(formatReport(result));
if (values.details) process.stdout.write(`\n${formatSampleDetails(result)}\n`);
if (values.inputs !== undefined) {
  await mkdir(values.inputs, { recursive: true });
  for (const f of result.tally.findings) {
    if (f.bytes === undefined) continue;
    const file = join(values.inputs, `${seed}-${f.index}-${f.method}-${f.kind}.bin`);
    await writeFile(file, f.bytes);
  }
}
const failures = verdict(result, { maxFinalRssBytes: Number(values['max-final-rss']) * 1e6 });
if (failures.length > 0) {
  process.stdout.write(`\nFAILED: ${failures.join('; ')}\nReproduce with --seed ${seed}.\n`);
  process.exitCode = 1;
} else {
  process.stdout.write('\nPASSED\n');
}
