import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * In a child process of its own (a clean malloc heap): allocates 200 MB in
 * 4 KiB Buffers, keeps one in 64 (so glibc cannot give the freed memory back
 * from the top of its heap), frees the rest, then trims once.
 */
const SCRIPT = `
import { startMallocTrimmer } from './src/util/malloc-trim.ts';
// All alive until every one is allocated, so that none is freed (and its
// memory reused) while the heap grows: 200 MB of malloc heap, then holes.
let all = [];
for (let i = 0; i < 50_000; i++) all.push(Buffer.allocUnsafeSlow(4096).fill(i & 255));
const kept = all.filter((_, i) => i % 64 === 0);
all = undefined;
// V8 frees the dropped Buffers' memory after a collection, on a thread of
// its own: wait until it has (only the kept ones left), so that the trim
// below is measured on memory that is really free.
for (let i = 0; i < 50; i++) {
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 100));
  if (process.memoryUsage().arrayBuffers < 2 * kept.length * 4096 + 16e6) break;
}
const trimmer = await startMallocTrimmer({ everyMs: 60_000 });
const before = process.memoryUsage.rss();
const ran = trimmer?.trimNow() ?? false;
const after = process.memoryUsage.rss();
trimmer?.stop();
console.log(JSON.stringify({ ran, before, after, kept: kept.length, stats: trimmer?.stats() }));
`;

describe('malloc trimmer', () => {
  it('gives memory freed under live blocks back to the system (Linux, glibc)', async (t) => {
    const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } })
      .header?.glibcVersionRuntime;
    if (process.platform !== 'linux' || glibc === undefined) {
      if (process.env.CI === 'true') assert.fail('CI runs on Linux with glibc');
      t.skip('not Linux with glibc');
      return;
    }
    const { stdout } = await run(
      process.execPath,
      ['--expose-gc', '--input-type=module', '-e', SCRIPT],
      { cwd: new URL('../..', import.meta.url).pathname },
    );
    const r = JSON.parse(stdout) as {
      ran: boolean;
      before: number;
      after: number;
      stats: { trims: number; releasedBytes: number };
    };
    assert.equal(r.ran, true);
    const released = r.before - r.after;
    assert.ok(
      released > 20e6,
      `released ${(released / 1e6).toFixed(0)} MB of ${(r.before / 1e6).toFixed(0)} MB`,
    );
    assert.equal(r.stats.trims, 1);
    assert.ok(r.stats.releasedBytes > 20e6);
  });
});
