/**
 * Hands memory that glibc's malloc keeps after a burst back to the system.
 *
 * A server that moves blobs allocates Buffers, HTTP/2 and zlib state outside
 * V8's heap, from several threads. glibc returns freed memory from the top of
 * its heap only: a few long-lived small blocks above freed megabytes keep
 * those megabytes in the process. Measured with `npm run fuzz` (100,000
 * calls, then 100 s idle), the server held 521 MB of which `malloc_trim(0)`
 * returned 332 MB at once (to 189 MB), and the held amount grew with the
 * length of the run. Lowering glibc's mmap threshold to 64 KiB instead kept
 * RSS down but cost ByteStream 40% of its throughput (every socket read and
 * Buffer pool block became an mmap), and jemalloc cost a quarter of the
 * write speed and 40 MB more peak RSS in `npm run bench`.
 *
 * So `kiln serve` calls glibc's `malloc_trim(0)` every 10 s, through the
 * koffi FFI library (loaded only here, and only on Linux with glibc): each
 * call took 3-11 ms of one thread with hundreds of MB to scan, a few
 * thousandths of a core. Elsewhere (musl, macOS, Windows) nothing runs.
 */
import type { Logger } from './logger.ts';

/** A running trimmer. */
export interface MallocTrimmer {
  /** Calls made so far, and the bytes of resident memory they gave back in all. */
  readonly stats: () => { trims: number; releasedBytes: number };
  /** Trims once now; false when nothing could be called. */
  trimNow(): boolean;
  stop(): void;
}

/** How often `kiln serve` trims, by default. */
export const DEFAULT_TRIM_EVERY_MS = 10_000;

/** Options of {@link startMallocTrimmer}. */
export interface MallocTrimmerOptions {
  readonly everyMs?: number;
  readonly log?: Logger;
}

/**
 * Starts trimming every `everyMs` (an unreferenced timer: it never keeps the
 * process alive). Resolves with undefined where there is no glibc to call.
 */
export async function startMallocTrimmer(
  options: MallocTrimmerOptions = {},
): Promise<MallocTrimmer | undefined> {
  const trim = await loadMallocTrim(options.log);
  if (trim === undefined) return undefined;
  let trims = 0;
  let releasedBytes = 0;
  const trimNow = (): boolean => {
    const before = process.memoryUsage.rss();
    trim(0);
    trims++;
    releasedBytes += Math.max(0, before - process.memoryUsage.rss());
    return true;
  };
  const timer = setInterval(trimNow, options.everyMs ?? DEFAULT_TRIM_EVERY_MS);
  timer.unref();
  return {
    stats: () => ({ trims, releasedBytes }),
    trimNow,
    stop: () => clearInterval(timer),
  };
}

/** glibc's `malloc_trim`, or undefined (not Linux with glibc, or koffi unusable). */
async function loadMallocTrim(log?: Logger): Promise<((pad: number) => number) | undefined> {
  if (process.platform !== 'linux' || !runsOnGlibc()) return undefined;
  try {
    const { default: koffi } = await import('koffi');
    const fn = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    return (pad) => fn(pad) as number;
  } catch (err) {
    log?.warn({ err }, 'cannot call malloc_trim; freed memory may stay in the process');
    return undefined;
  }
}

function runsOnGlibc(): boolean {
  const report = process.report?.getReport() as
    | { header?: { glibcVersionRuntime?: string } }
    | undefined;
  return typeof report?.header?.glibcVersionRuntime === 'string';
}
