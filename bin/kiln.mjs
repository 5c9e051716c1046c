#!/usr/bin/env node
// Entry point of the `kiln` command. Kiln's sources are TypeScript run by
// Node 24's built-in type stripping; when started by an older Node (for
// example a system Node 20), re-run under the Node 24 that `npm ci` installed.
//
// `kiln serve` also needs V8 heap flags, which only take effect when a process
// starts (see SERVE_NODE_FLAGS). When they are missing, the process replaces
// itself (execve: same pid, no wrapper left running) with one that has them.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
// A namespace import: an older Node (which this file re-runs under Node 24) lacks enableCompileCache.
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const args = process.argv.slice(2);
const serving = args[0] === 'serve';

/**
 * V8 flags for `kiln serve`, unless the user sets them on the command line.
 * Blob traffic allocates Buffer memory outside V8's heap (HTTP/2 reads, gRPC
 * messages, disk reads) at hundreds of MB/s while the heap itself stays
 * small, and V8's defaults answer that with a full collection after every
 * 64 MB of new Buffer memory: about 30 per 576 MiB uploaded, as much CPU as
 * hashing the data. Measured with `npm run bench` (medians, 2 cores):
 * - defaults with 8 MB semi-spaces: ByteStream writes 306-355 MB/s, reads
 *   574 MB/s, FindMissingBlobs 960 req/s, peak RSS 292 MB;
 * - `--external-memory-accounted-in-global-limit` (Buffer memory weighed
 *   against V8's overall limit instead of the fixed 64 MB step): writes 508,
 *   reads 852, FindMissingBlobs 1,386, but peak RSS 419 MB, the garbage
 *   waiting longer for its collection;
 * - plus `--heap-growing-percent=50` (the limit grows by half the live size
 *   after each collection instead of up to 4x) and 4 MB semi-spaces
 *   (scavenges, which free young Buffers, come sooner): writes 461, reads
 *   858, FindMissingBlobs 1,359, peak RSS 288 MB.
 * (Node 24 would otherwise let each semi-space grow to 64 MB on a machine
 * with many gigabytes, 100 MB of short-lived garbage in a busy server.)
 */
const SERVE_NODE_FLAGS = [
  '--max-semi-space-size=4',
  '--external-memory-accounted-in-global-limit',
  '--heap-growing-percent=50',
];

/**
 * glibc malloc settings for `kiln serve`, unless the environment sets them.
 * Buffers, zlib and file reads allocate outside V8 from several threads, and
 * glibc's defaults keep what they free: one arena per thread (up to 8 per
 * core), and a threshold for returning large blocks to the system that rises
 * to 32 MB after the first large free. After bursts (large batches, many
 * unread streams) the process kept over a gigabyte that it no longer used.
 * Measured with `npm run fuzz -- --requests 20000` (one seed, 2 cores):
 * final RSS 560 MB with the defaults, 451 MB with two arenas and a fixed
 * 8 MB trim threshold; `npm run bench` ByteStream rows unchanged within the
 * noise (writes 481/463 MB/s against 426/399, reads 723 against 600,
 * peak RSS 266 MB against 277). A fixed 1 MB mmap threshold as well brought
 * the fuzz run to 391 MB but cost a quarter of the 1 MiB-chunk write speed
 * (every 1 MiB Buffer then is an mmap and its page faults).
 */
const SERVE_MALLOC_ENV = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: String(8 * 1024 * 1024),
};

/** The malloc settings this command should run with that the environment lacks. */
function missingEnv() {
  if (!serving) return {};
  return Object.fromEntries(
    Object.entries(SERVE_MALLOC_ENV).filter(([name]) => process.env[name] === undefined),
  );
}

/** The flags this command should run with that neither execArgv nor NODE_OPTIONS set. */
function missingFlags() {
  if (!serving) return [];
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return SERVE_NODE_FLAGS.filter((flag) => {
    const name = flag.includes('=') ? flag.slice(0, flag.indexOf('=')) : flag;
    // A boolean flag also counts as set when the user turned it off.
    const negated = `--no-${name.slice(2)}`;
    return !given.some((g) => g === name || g === negated || g.startsWith(`${name}=`));
  });
}

/** Runs main.ts in a child Node and mirrors its exit (the fallback without execve). */
function runChild(node, nodeArgs, env) {
  const child = spawn(node, [...nodeArgs, main, ...args], { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

/**
 * Keeps V8's compiled code of Kiln's modules (with their types stripped)
 * between runs, in a directory private to the user: `kiln serve` then listens
 * in about 1.2 s instead of 1.6 s (medians of 5 starts, 2 cores), which is
 * what a fleet waits for after a restart, and every CLI command starts
 * sooner. Node checks each entry against its source, so an edited file is
 * compiled afresh. Not in /tmp: code cache is trusted once loaded, so no
 * other user (an action's, say) may write there. NODE_COMPILE_CACHE or
 * NODE_DISABLE_COMPILE_CACHE, when set, leave the choice to Node.
 */
function useCompileCache() {
  const { env: e } = process;
  if (e.NODE_COMPILE_CACHE !== undefined || e.NODE_DISABLE_COMPILE_CACHE !== undefined) return;
  try {
    const dir = join(e.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kiln', 'node-compile-cache');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    nodeModule.enableCompileCache?.(dir);
  } catch {
    // No writable home (a locked-down container): start without the cache.
  }
}

const flags = missingFlags();
const extraEnv = missingEnv();
const env = { ...process.env, ...extraEnv };

if (process.features.typescript) {
  if (flags.length === 0 && Object.keys(extraEnv).length === 0) {
    useCompileCache();
    await import(main);
  } else if (typeof process.execve === 'function') {
    const node = process.execPath;
    // This file again (not main.ts), so that the new process uses the compile cache too.
    const self = fileURLToPath(import.meta.url);
    process.execve(node, [node, ...process.execArgv, ...flags, self, ...args], env);
  } else {
    // No execve (Windows): a child with the flags, at the cost of this process staying around.
    runChild(process.execPath, [...process.execArgv, ...flags], env);
  }
} else {
  const node = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node)) {
    process.stderr.write(
      'kiln needs Node.js 24 or newer; run `npm ci` in the kiln directory first\n',
    );
    process.exit(1);
  }
  runChild(node, flags, env);
}
