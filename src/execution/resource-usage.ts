/**
 * An action's resource usage (`kiln.worker.v1.ResourceUsage`: CPU time, peak
 * memory, storage I/O) as workers report it: packed as a `google.protobuf.Any`
 * into `ExecutedActionMetadata.auxiliary_metadata`, where REAPI lets servers
 * put their own details (Buildbarn reports its POSIXResourceUsage the same
 * way). Clients that do not know the message ignore it.
 */

import type { ExecutedActionMetadata } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Any } from '../gen/google/protobuf/any.js';
import type { Duration } from '../gen/google/protobuf/duration.js';
import { ResourceUsage } from '../gen/kiln/worker/v1/resource_usage.js';
import { formatSize } from '../util/format-size.ts';

/** Type URL of the message, as packed into `google.protobuf.Any`. */
export const RESOURCE_USAGE_TYPE_URL = 'type.googleapis.com/kiln.worker.v1.ResourceUsage';

/** A ResourceUsage in plain numbers: what `--json` prints and what build totals add up. */
export interface ResourceUsageFigures {
  /** CPU time in user mode, in milliseconds. */
  readonly userTimeMs: number;
  /** CPU time in the kernel, in milliseconds. */
  readonly systemTimeMs: number;
  /** Largest resident set size of any one process of the action. */
  readonly peakMemoryBytes: number;
  readonly readBytes: number;
  readonly writtenBytes: number;
  /** How it was measured: `rusage` or `cgroup`; empty when the worker did not say. */
  readonly source: string;
  /** The memory limit in force; 0 for none. */
  readonly memoryLimitBytes: number;
}

/**
 * Packs a usage for `ExecutedActionMetadata.auxiliary_metadata` (workers call
 * this). Durations are rounded to whole nanoseconds and counts to whole
 * bytes first: measurements arrive as fractions (rusage reports microseconds),
 * and the protobuf writer refuses a fractional integer field.
 */
export function packResourceUsage(usage: ResourceUsage): Any {
  const whole: ResourceUsage = {
    ...usage,
    userTime: wholeNanos(usage.userTime),
    systemTime: wholeNanos(usage.systemTime),
    peakMemoryBytes: Math.round(usage.peakMemoryBytes),
    readBytes: Math.round(usage.readBytes),
    writtenBytes: Math.round(usage.writtenBytes),
    memoryLimitBytes: Math.round(usage.memoryLimitBytes),
  };
  // The writer's bytes as they are: a fresh array of their own, where a copy
  // would take a slice of Node's shared pool, which makes the scheduler copy
  // every completed response to keep it (see detach-bytes.ts).
  const bytes = ResourceUsage.encode(whole).finish();
  return {
    typeUrl: RESOURCE_USAGE_TYPE_URL,
    value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  };
}

function wholeNanos(d: Duration | undefined): Duration | undefined {
  if (d === undefined) return undefined;
  const nanos = Math.round(d.nanos);
  const carry = Math.floor(nanos / 1e9);
  return { seconds: Math.trunc(d.seconds) + carry, nanos: nanos - carry * 1e9 };
}

/**
 * The first ResourceUsage in the metadata's auxiliary entries; undefined when
 * there is none. An entry of this type that does not decode is skipped, so a
 * malformed report never hides the rest of a result.
 */
export function findResourceUsage(
  metadata: ExecutedActionMetadata | undefined,
): ResourceUsage | undefined {
  for (const any of metadata?.auxiliaryMetadata ?? []) {
    if (any.typeUrl !== RESOURCE_USAGE_TYPE_URL) continue;
    try {
      return ResourceUsage.decode(any.value);
    } catch {
      // Try the next one.
    }
  }
  return undefined;
}

const durationMs = (d: Duration | undefined): number =>
  d === undefined ? 0 : d.seconds * 1000 + d.nanos / 1e6;

/** The usage in milliseconds and bytes. */
export function resourceUsageFigures(usage: ResourceUsage): ResourceUsageFigures {
  return {
    userTimeMs: durationMs(usage.userTime),
    systemTimeMs: durationMs(usage.systemTime),
    peakMemoryBytes: usage.peakMemoryBytes,
    readBytes: usage.readBytes,
    writtenBytes: usage.writtenBytes,
    source: usage.source,
    memoryLimitBytes: usage.memoryLimitBytes,
  };
}

/**
 * CPU time in seconds, as `time` prints it: `0.52 s`, `12.3 s`, `1834 s`.
 * Seconds throughout (never minutes) so that user and system time compare at
 * a glance.
 */
export function formatCpuSeconds(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  return `${s < 10 ? s.toFixed(2) : s < 100 ? s.toFixed(1) : Math.round(s)} s`;
}

/**
 * One line for people: `CPU 0.52 s user + 0.03 s system, peak memory 104 MiB,
 * read 0 B, written 12 KiB`, with `(limit 1 GiB)` after the peak memory when
 * a memory limit was in force.
 */
export function formatResourceUsage(usage: ResourceUsage): string {
  const f = resourceUsageFigures(usage);
  const limit = f.memoryLimitBytes > 0 ? ` (limit ${formatSize(f.memoryLimitBytes)})` : '';
  return [
    `CPU ${formatCpuSeconds(f.userTimeMs)} user + ${formatCpuSeconds(f.systemTimeMs)} system`,
    `peak memory ${formatSize(f.peakMemoryBytes)}${limit}`,
    `read ${formatSize(f.readBytes)}`,
    `written ${formatSize(f.writtenBytes)}`,
  ].join(', ');
}
