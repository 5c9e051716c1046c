import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  findResourceUsage,
  formatCpuSeconds,
  formatResourceUsage,
  packResourceUsage,
  RESOURCE_USAGE_TYPE_URL,
  resourceUsageFigures,
} from '../../src/execution/resource-usage.ts';
import { ExecutedActionMetadata } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Any } from '../../src/gen/google/protobuf/any.js';
import { ResourceUsage } from '../../src/gen/kiln/worker/v1/resource_usage.js';

const usage = ResourceUsage.fromPartial({
  userTime: { seconds: 0, nanos: 520_000_000 },
  systemTime: { seconds: 0, nanos: 30_000_000 },
  peakMemoryBytes: 104 * 1024 * 1024,
  readBytes: 0,
  writtenBytes: 12 * 1024,
  source: 'rusage',
  memoryLimitBytes: 0,
});

function metadataWith(...aux: Any[]): ExecutedActionMetadata {
  return ExecutedActionMetadata.fromPartial({ worker: 'w1', auxiliaryMetadata: aux });
}

describe('resource usage in ExecutedActionMetadata', () => {
  it('survives packing, the ActionResult wire format and finding it again', () => {
    const packed = packResourceUsage(usage);
    assert.equal(packed.typeUrl, RESOURCE_USAGE_TYPE_URL);
    assert.equal(RESOURCE_USAGE_TYPE_URL, 'type.googleapis.com/kiln.worker.v1.ResourceUsage');
    const wire = ExecutedActionMetadata.encode(metadataWith(packed)).finish();
    assert.deepEqual(findResourceUsage(ExecutedActionMetadata.decode(wire)), usage);
  });

  it('packs fractional measurements as whole nanoseconds and bytes', () => {
    const packed = packResourceUsage({
      ...usage,
      userTime: { seconds: 1, nanos: 12_345_678.6 },
      systemTime: { seconds: 0, nanos: 999_999_999.7 },
      peakMemoryBytes: 1024.4,
    });
    const found = findResourceUsage(metadataWith(packed));
    assert.deepEqual(found?.userTime, { seconds: 1, nanos: 12_345_679 });
    assert.deepEqual(found?.systemTime, { seconds: 1, nanos: 0 });
    assert.equal(found?.peakMemoryBytes, 1024);
  });

  it('ignores entries of other types and a malformed entry, taking the first that decodes', () => {
    const other: Any = { typeUrl: 'type.googleapis.com/example.Other', value: Buffer.from([8, 1]) };
    const malformed: Any = { typeUrl: RESOURCE_USAGE_TYPE_URL, value: Buffer.from([0x0a, 0x7f]) };
    const second = packResourceUsage({ ...usage, source: 'cgroup' });
    assert.equal(
      findResourceUsage(metadataWith(other, malformed, packResourceUsage(usage), second))?.source,
      'rusage',
    );
    assert.equal(findResourceUsage(metadataWith(other, malformed)), undefined);
    assert.equal(findResourceUsage(metadataWith()), undefined);
    assert.equal(findResourceUsage(undefined), undefined);
  });

  it('gives the figures in milliseconds and bytes, unset durations as zero', () => {
    assert.deepEqual(resourceUsageFigures(usage), {
      userTimeMs: 520,
      systemTimeMs: 30,
      peakMemoryBytes: 104 * 1024 * 1024,
      readBytes: 0,
      writtenBytes: 12 * 1024,
      source: 'rusage',
      memoryLimitBytes: 0,
    });
    const bare = resourceUsageFigures(ResourceUsage.create());
    assert.equal(bare.userTimeMs, 0);
    assert.equal(bare.systemTimeMs, 0);
  });

  it('formats as one line, with the memory limit when one was in force', () => {
    assert.equal(
      formatResourceUsage(usage),
      'CPU 0.52 s user + 0.03 s system, peak memory 104 MiB, read 0 B, written 12 KiB',
    );
    assert.equal(
      formatResourceUsage({
        ...usage,
        userTime: { seconds: 75, nanos: 250_000_000 },
        readBytes: 1536,
        memoryLimitBytes: 1024 ** 3,
      }),
      'CPU 75.3 s user + 0.03 s system, peak memory 104 MiB (limit 1 GiB), read 1.5 KiB, written 12 KiB',
    );
  });

  it('shows CPU time in seconds at every magnitude', () => {
    assert.equal(formatCpuSeconds(0), '0.00 s');
    assert.equal(formatCpuSeconds(9_994), '9.99 s');
    assert.equal(formatCpuSeconds(12_340), '12.3 s');
    assert.equal(formatCpuSeconds(3_600_400), '3600 s');
  });
});
