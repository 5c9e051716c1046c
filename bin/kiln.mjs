#!/usr/bin/env node
// Entry point of the `kiln` command. Kiln's sources are TypeScript run by
// Node 24's built-in type stripping; when started by an older Node (for
// example a system Node 20), re-run under the Node 24 that `npm ci` installed.
//
// `kiln serve` also needs memory settings that only take effect when a
// process starts (see SERVE_NODE_FLAGS and SERVE_ENV). When they are missing,
// the process replaces itself (execve: same pid, no wrapper left running) with
// one that has them.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const args = process.argv.slice(2);
const long = args[0] === 'serve';

/**
 * V8 flags for `kiln serve`, unless the user sets them (command line or
 * NODE_OPTIONS). On a machine with many gigabytes, Node 24 lets each
 * young-generation semi-space grow to 64 MB; a busy server then held over
 * 100 MB of short-lived garbage, which a 16 MB semi-space collects about as
 * cheaply (measured with `npm run bench`).
 */
const SERVE_NODE_FLAGS = ['--max-semi-space-size=16'];

/**
 * Environment for `kiln serve`, unless already set. glibc's malloc raises its
 * mmap threshold after the first large free, so the 1 MiB buffers that blob
 * transfers allocate come from the heap, which never shrinks: a fixed
 * threshold returns them to the system when freed (about 90 MB less resident
 * memory after a few 64 MiB uploads). Other C libraries ignore it; actions run
 * by the local worker do not inherit it (their environment is the Command's).
 */
const SERVE_ENV = { MALLOC_MMAP_THRESHOLD_: String(128 * 1024) };

/** The flags this command should run with that neither execArgv nor NODE_OPTIONS set. */
function missingFlags() {
  if (!long) return [];
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return SERVE_NODE_FLAGS.filter((flag) => {
    const name = flag.slice(0, flag.indexOf('='));
    return !given.some((g) => g === name || g.startsWith(`${name}=`));
  });
}

/** Variables of SERVE_ENV that the environment lacks. */
function missingEnv() {
  if (!long || process.platform !== 'linux') return {};
  return Object.fromEntries(Object.entries(SERVE_ENV).filter(([name]) => !(name in process.env)));
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

const flags = missingFlags();
const extraEnv = missingEnv();
const env = { ...process.env, ...extraEnv };

if (process.features.typescript) {
  if (flags.length === 0 && Object.keys(extraEnv).length === 0) {
    await import(main);
  } else if (typeof process.execve === 'function') {
    const node = process.execPath;
    process.execve(node, [node, ...process.execArgv, ...flags, main, ...args], env);
  } else {
    // No execve (Windows): a child with the settings, at the cost of this process staying around.
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
