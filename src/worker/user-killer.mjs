// @ts-check
/**
 * The process that kills every process of a user for kill-user.mjs: it
 * takes on the user's ids and calls `kill(-1, SIGKILL)`, which signals every
 * process that user may signal (all of the user's but itself) in one pass
 * under the kernel's task-list lock. Run by perl, part of every Debian
 * system.
 *
 * It starts as root and switches user right before the call, so that the
 * user's processes, which could kill it like any process of their user, have
 * only the few microseconds between the two system calls to do so (a shell
 * with the user's ids from the start would be theirs to kill for the whole
 * of its start-up). Before the call it checks that it cannot signal its
 * parent, a root process: if it could (it kept a capability, say),
 * `kill(-1)` would reach far more than the user's processes, and it refuses
 * (exit 3). Exit 0: the kill was made.
 *
 * {@link killAsUserSync} starts one such process per call (2 ms, most of it
 * the fork and perl's start-up). {@link killAsUser}, for the spawn helper,
 * keeps one root perl running that forks a killer per request: a fork of a
 * small perl instead of a fork of Node.js and a new perl. That perl reads requests on its stdin and ends
 * at end of file, when its parent goes.
 *
 * Plain JavaScript that imports only Node.js built-ins: the spawn helper runs
 * it (see `spawn-helper.mjs`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';

/** The perl that runs the killers. */
const PERL = '/usr/bin/perl';

/** Longest a killer may take. */
const KILL_TIMEOUT_MS = 5000;

/** The killer's body; `$u` and `$g` are the user and group. Perl. */
const KILL = [
  '$) = "$g $g"; $( = $g;',
  '($<, $>) = ($u, $u);',
  'exit 2 if $< != $u || $> != $u;',
  'exit 3 if kill 0, getppid;',
  'kill 9, -1; exit 0;',
].join(' ');

/** One killer, the user and group its arguments. */
const ONE_KILLER = `my ($u, $g) = @ARGV; ${KILL}`;

/**
 * The long-lived root perl: reads "UID GID" lines, forks a killer for each
 * and answers its wait status, one line per request, in order.
 */
const KILL_SERVER = [
  '$| = 1;',
  'while (my $line = <STDIN>) {',
  '  my ($u, $g) = split " ", $line;',
  '  my $pid = fork;',
  '  if (!defined $pid) { print "fork\\n"; next; }',
  `  if ($pid == 0) { ${KILL} }`,
  '  waitpid $pid, 0; print "$?\\n";',
  '}',
].join(' ');

/**
 * Has the kernel kill every process of `uid` at once, from a process of its
 * own; undefined when that was done, or why it could not be.
 * @param {number} uid
 * @param {number} gid the group the killer runs as
 * @returns {string | undefined}
 */
export function killAsUserSync(uid, gid) {
  kills++;
  const run = spawnSync(PERL, ['-e', ONE_KILLER, String(uid), String(gid)], {
    env: {},
    stdio: 'ignore',
    timeout: KILL_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  if (run.error !== undefined) return `the kill process could not run: ${run.error.message}`;
  return failure(run.status, run.signal);
}

/**
 * {@link killAsUserSync} through the long-lived perl, which is started on
 * the first call (and again after it died).
 * @param {number} uid
 * @param {number} gid
 * @returns {Promise<string | undefined>}
 */
export function killAsUser(uid, gid) {
  kills++;
  current ??= startServer();
  const server = current;
  return new Promise((resolve) => {
    // A killer that never answers: end the server, which answers everyone waiting.
    const timer = setTimeout(() => server.child.kill('SIGKILL'), KILL_TIMEOUT_MS);
    timer.unref();
    server.waiting.push((why) => {
      clearTimeout(timer);
      resolve(why);
    });
    server.output.ref();
    server.child.stdin?.write(`${uid} ${gid}\n`);
  });
}

/**
 * The running kill server and the callers waiting for its answers, oldest first.
 * @typedef {{
 *   readonly child: import('node:child_process').ChildProcess,
 *   readonly output: import('node:net').Socket,
 *   readonly waiting: Array<(why: string | undefined) => void>,
 * }} KillServer
 */

/** @type {KillServer | undefined} */
let current;

/** How many kill servers were started (for tests: one serves many kills). */
let started = 0;

/** How many kills were asked for, either way (for tests). */
let kills = 0;

/** How many kills {@link killAsUser} and {@link killAsUserSync} were asked for. */
export function killsRequested() {
  return kills;
}

/** How many times the long-lived perl of {@link killAsUser} was started. */
export function killServersStarted() {
  return started;
}

/** @returns {KillServer} */
function startServer() {
  started++;
  const child = spawn(PERL, ['-e', KILL_SERVER], {
    env: {},
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  // A pipe from a child process is a socket, which can stop keeping this process alive.
  const output = /** @type {import('node:net').Socket} */ (child.stdout);
  /** @type {KillServer} */
  const server = { child, output, waiting: [] };
  /** @param {string} why */
  const lost = (why) => {
    if (current === server) current = undefined;
    for (const resolve of server.waiting.splice(0)) resolve(why);
  };
  let buffered = '';
  output.setEncoding('latin1');
  output.on('data', (/** @type {string} */ data) => {
    buffered += data;
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      const status = Number(line);
      server.waiting.shift()?.(
        line === 'fork' || !Number.isInteger(status)
          ? 'the kill process could not be forked'
          : failure(status >> 8, signalName(status & 127)),
      );
    }
    // Idle: nothing to keep the caller's process alive for.
    if (server.waiting.length === 0) output.unref();
  });
  child.once('error', (err) => lost(`the kill process could not run: ${err.message}`));
  child.once('exit', () => lost('the kill server ended'));
  child.stdin?.on('error', () => {});
  // It lives as long as its parent, and never keeps it alive by itself.
  child.unref();
  output.unref();
  return server;
}

/**
 * @param {number} signal
 * @returns {NodeJS.Signals | null}
 */
function signalName(signal) {
  if (signal === 0) return null;
  const entry = Object.entries(constants.signals).find(([, n]) => n === signal);
  return entry === undefined ? null : /** @type {NodeJS.Signals} */ (entry[0]);
}

/**
 * Why a killer did not make the kill, from how it ended; undefined when it did.
 * @param {number | null} status
 * @param {NodeJS.Signals | null} signal
 * @returns {string | undefined}
 */
function failure(status, signal) {
  if (signal !== null) return `the kill process was ended by ${signal}`;
  if (status === 0) return undefined;
  if (status === 3) return 'the kill process could signal processes of other users';
  return `the kill process failed (exit ${status})`;
}
