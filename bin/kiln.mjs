#!/usr/bin/env node
// Entry point of the `kiln` command. Kiln's sources are TypeScript run by
// Node 24's built-in type stripping; when started by an older Node (for
// example a system Node 20), re-run under the Node 24 that `npm ci` installed.
//
// `kiln serve` also needs V8 heap flags, which only take effect when a process
// starts (see SERVE_NODE_FLAGS). When they are missing, the process replaces
// itself (execve: same pid, no wrapper left running) with one that has them.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const args = process.argv.slice(2);
const serving = args[0] === 'serve';

/**
 * V8 flags for `kiln serve`, unless the user sets them (command line or
 * NODE_OPTIONS). On a machine with many gigabytes, Node 24 lets each
 * young-generation semi-space grow to 64 MB, and a busy server's resident
 * memory grew by 100 MB of short-lived garbage. In `npm run bench`, 8 MB
 * semi-spaces took the server's peak from 366-388 MB to 263-271 MB at the
 * same FindMissingBlobs throughput (16 MB: 266-293 MB, no faster).
 */
const SERVE_NODE_FLAGS = ['--max-semi-space-size=8'];

/** The flags this command should run with that neither execArgv nor NODE_OPTIONS set. */
function missingFlags() {
  if (!serving) return [];
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return SERVE_NODE_FLAGS.filter((flag) => {
    const name = flag.slice(0, flag.indexOf('='));
    return !given.some((g) => g === name || g.startsWith(`${name}=`));
  });
}

/** Runs main.ts in a child Node and mirrors its exit (the fallback without execve). */
function runChild(node, nodeArgs) {
  const child = spawn(node, [...nodeArgs, main, ...args], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

const flags = missingFlags();

if (process.features.typescript) {
  if (flags.length === 0) {
    await import(main);
  } else if (typeof process.execve === 'function') {
    const node = process.execPath;
    process.execve(node, [node, ...process.execArgv, ...flags, main, ...args], process.env);
  } else {
    // No execve (Windows): a child with the flags, at the cost of this process staying around.
    runChild(process.execPath, [...process.execArgv, ...flags]);
  }
} else {
  const node = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node)) {
    process.stderr.write(
      'kiln needs Node.js 24 or newer; run `npm ci` in the kiln directory first\n',
    );
    process.exit(1);
  }
  runChild(node, flags);
}
