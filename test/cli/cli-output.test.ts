import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, formatSize, table } from '../../src/cli/cli-output.ts';
import { ProgressBar } from '../../src/cli/progress-bar.ts';

/** A stream that records what is written to it. */
function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 80, write: (s: string) => writes.push(s) } };
}

describe('CLI output', () => {
  it('formats sizes in binary units with three significant digits', () => {
    assert.equal(formatSize(0), '0 B');
    assert.equal(formatSize(1023), '1023 B');
    assert.equal(formatSize(1536), '1.5 KiB');
    assert.equal(formatSize(10 * 1024 * 1024 + 1), '10 MiB');
    assert.equal(formatSize(3.25 * 2 ** 30), '3.25 GiB');
    assert.equal(formatSize(123.4 * 2 ** 40), '123 TiB');
  });

  it('formats durations from milliseconds to hours', () => {
    assert.equal(formatDuration(0.4), '0 ms');
    assert.equal(formatDuration(850), '850 ms');
    assert.equal(formatDuration(1250), '1.25 s');
    assert.equal(formatDuration(42_130), '42.1 s');
    assert.equal(formatDuration(125_000), '2m 05s');
    assert.equal(formatDuration(3_720_000), '1h 02m');
  });

  it('aligns table columns without padding the last one', () => {
    assert.equal(
      table([
        ['a', 'long value', 'x'],
        ['longer', 'v', 'y'],
      ]),
      'a       long value  x\nlonger  v           y',
    );
  });

  it('draws a progress bar on a terminal, throttled, and erases it when done', () => {
    const { writes, stream } = fakeStream(true);
    let now = 0;
    const bar = new ProgressBar({
      stream,
      label: 'uploading',
      total: 4 * 1024 * 1024,
      now: () => now,
    });
    bar.add(1024 * 1024);
    bar.add(1024 * 1024); // within the interval: not drawn
    now = 500;
    bar.add(1024 * 1024);
    assert.equal(writes.length, 2);
    assert.match(writes[0] ?? '', /^\ruploading \[#+-+\] {2}25% {2}1 MiB \/ 4 MiB$/);
    assert.match(writes[1] ?? '', /75% {2}3 MiB \/ 4 MiB$/);
    bar.finish();
    assert.match(writes[2] ?? '', /^\r +\r$/);
  });

  it('draws nothing when stderr is not a terminal, when disabled, or for small transfers', () => {
    for (const [isTTY, enabled, total] of [
      [false, true, 10 * 1024 * 1024],
      [true, false, 10 * 1024 * 1024],
      [true, true, 1000],
    ] as const) {
      const { writes, stream } = fakeStream(isTTY);
      const bar = new ProgressBar({ stream, label: 'downloading', total, enabled });
      bar.add(total);
      bar.finish();
      assert.deepEqual(writes, []);
      assert.equal(bar.done, total);
    }
  });
});
