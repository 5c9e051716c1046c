// @ts-check
/**
 * {@link ProcessForker}: starts action processes from a long-lived perl
 * instead of from the spawn helper's Node.js process.
 *
 * Each fork of a Node.js process copies the page tables of its ~50 MB heap
 * and code, then every page the parent touches before the child has
 * executed its program is copied on write: with Node's child-process
 * bookkeeping around it, about 0.75 ms of the spawn helper's CPU per action
 * on the Bazel-shaped bench, a third of all it did. The perl holds about
 * 7 MB; its fork and faults cost about 0.3 ms, and the helper only writes
 * one request and reads two lines per process.
 *
 * The perl starts with the helper's ids and no_new_privs (inherited, so
 * every process it starts has the flag too), forks a child per request,
 * which becomes a new session (the caller signals the whole group),
 * redirects stdin from /dev/null and stdout and stderr to the request's
 * files (opened by the perl beforehand, so that their errors are reported
 * as such), changes directory, drops to the action's user and group (no
 * supplementary group but that one) and executes the program with exactly
 * the request's environment, the program looked up in its `PATH` when it
 * has no slash: what Node.js's `spawn` with `detached`, `uid` and `gid`
 * does. A failure before the program runs comes back through a close-on-exec
 * pipe as the errno, like libuv's. Exits are noticed through a pidfd per
 * child (Linux 5.3 and later), so no signal handler races the wait for
 * requests; without pidfds it polls every 10 ms for exits. Each exit is
 * reaped with wait4 (on x86_64 and arm64), whose rusage covers the process
 * and every descendant it waited for: what GNU time would report, without
 * a GNU time started per action (about 1 ms of CPU each here).
 *
 * Protocol, over the perl's stdin and stdout: a request is its byte length
 * on a line, then its fields joined by NUL (strings from Node.js cannot
 * hold one); the answers are lines: `P id pid` (started), `E id stage errno
 * message` (not started), `X id code signal [user system maxrss in out]`
 * (exited; `-` for whichever of code and signal does not apply; then, from
 * wait4, CPU microseconds, the largest resident set in KiB and block
 * operations in and out, when measured). The perl ends at end of file on its stdin, when the
 * helper goes; processes it started then keep running, as with the helper.
 *
 * Plain JavaScript that imports only Node.js built-ins: the spawn helper
 * runs it (see `spawn-helper.mjs`).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';

/** @import { ActionUser, ProcessExit } from './process-launcher.ts' */

/** The perl that forks, part of every Debian system (perl-base). */
export const FORKER_PERL = '/usr/bin/perl';

/** The perl program. */
const FORKER = String.raw`
use strict; use warnings; use POSIX ();
use Fcntl qw(O_WRONLY O_CREAT O_TRUNC);
$| = 1; binmode STDIN; binmode STDOUT;
my %byfd; my %polled; my $in = '';
sub errname { my $e = shift; local $! = $e; for my $k (keys %!) { return $k if $!{$k} } return "E$e" }
sub failed { my ($id, $stage, $e) = @_; local $! = $e; my $m = "$!"; $m =~ s/\n/ /g;
  print "E $id $stage ", errname($e), " $m\n" }
sub exited { my ($id, $st, $usage) = @_;
  print "X $id ", (($st & 127) ? "- " . ($st & 127) : ($st >> 8) . " -"), $usage, "\n" }
my $WAIT4 = { x86_64 => 61, aarch64 => 260 }->{(POSIX::uname())[4]};
sub reap { my ($pid, $flags) = @_;
  if (!defined $WAIT4) { my $r = waitpid($pid, $flags); return ($r, $?, '') }
  my $st = pack('i', 0); my $ru = "\0" x 144; my $r;
  do { $r = syscall($WAIT4, $pid + 0, $st, $flags + 0, $ru) } while ($r < 0 && $!{EINTR});
  return ($r, 0, '') if $r <= 0;
  my @u = unpack('l!18', $ru);
  return ($r, unpack('i', $st), sprintf(' %d %d %d %d %d', $u[0] * 1e6 + $u[1], $u[2] * 1e6 + $u[3], @u[4, 11, 12])) }
sub launch {
  my ($id, $uid, $gid, $cwd, $out, $err, $prog, $nargs, @rest) = @_;
  my @args = splice(@rest, 0, $nargs);
  my ($o, $e);
  if (!sysopen($o, $out, O_WRONLY | O_CREAT | O_TRUNC, 0666)) { failed($id, 'stdout', $! + 0); return }
  if (!sysopen($e, $err, O_WRONLY | O_CREAT | O_TRUNC, 0666)) { failed($id, 'stderr', $! + 0); return }
  my ($r, $w);
  if (!pipe($r, $w)) { failed($id, 'spawn', $! + 0); return }
  my $pid = fork;
  if (!defined $pid) { failed($id, 'spawn', $! + 0); return }
  if ($pid == 0) {
    close $r;
    my $ok = POSIX::setsid() && open(STDIN, '<', '/dev/null')
      && defined POSIX::dup2(fileno $o, 1) && defined POSIX::dup2(fileno $e, 2) && chdir $cwd;
    if ($ok && $uid ne '') {
      $) = "$gid $gid"; POSIX::setgid($gid); POSIX::setuid($uid);
      $ok = $< == $uid && $> == $uid && $( == $gid && $) eq "$gid $gid";
      $! = POSIX::EPERM() unless $ok;
    }
    # No warning of perl's on a failed exec: stderr is the action's by now.
    if ($ok) { %ENV = map { split /=/, $_, 2 } @rest; no warnings; exec { $prog } $prog, @args }
    syswrite $w, ($! + 0) . "\n"; POSIX::_exit(127);
  }
  close $o; close $e; close $w;
  my $got = ''; my $n;
  do { $n = sysread($r, $got, 32, length $got) } while ((defined $n && $n > 0) || (!defined $n && $!{EINTR}));
  close $r;
  if ($got ne '') { waitpid $pid, 0; failed($id, 'spawn', $got + 0); return }
  my $fd = syscall(434, $pid, 0);
  if ($fd >= 0) { $byfd{$fd} = [$id, $pid] } else { $polled{$pid} = $id }
  print "P $id $pid\n";
}
for (;;) {
  my $rin = ''; vec($rin, 0, 1) = 1; vec($rin, $_, 1) = 1 for keys %byfd;
  my $n = select(my $rout = $rin, undef, undef, %polled ? 0.01 : undef);
  if ($n < 0) { next if $!{EINTR}; die "select: $!" }
  for my $fd (keys %byfd) {
    next unless vec($rout, $fd, 1);
    my ($id, $pid) = @{delete $byfd{$fd}};
    my (undef, $st, $usage) = reap($pid, 0); POSIX::close($fd); exited($id, $st, $usage);
  }
  for my $pid (keys %polled) {
    my ($r, $st, $usage) = reap($pid, POSIX::WNOHANG());
    next unless $r == $pid;
    exited(delete $polled{$pid}, $st, $usage);
  }
  next unless $n > 0 && vec($rout, 0, 1);
  my $got = sysread(STDIN, $in, 65536, length $in);
  if (!defined $got) { next if $!{EINTR}; exit 0 }
  exit 0 if $got == 0;
  while ($in =~ /\A(\d+)\n/) {
    my $head = length($1) + 1; my $len = $1;
    last if length($in) < $head + $len;
    my $record = substr($in, $head, $len); substr($in, 0, $head + $len) = '';
    launch(split /\0/, $record, -1);
  }
}
`;

/**
 * A process to start (see `LaunchRequest`).
 * @typedef {{
 *   readonly program: string,
 *   readonly args: readonly string[],
 *   readonly cwd: string,
 *   readonly env: Readonly<Record<string, string>>,
 *   readonly stdoutPath: string,
 *   readonly stderrPath: string,
 *   readonly user?: ActionUser,
 * }} ForkRequest
 */

/**
 * Why a process was not started: the stage, the errno's name, the message.
 * @typedef {{ readonly stage: 'stdout' | 'stderr' | 'spawn', readonly errno: string, readonly message: string }} ForkFailure
 */

/**
 * @typedef {{
 *   readonly request: ForkRequest,
 *   readonly started: (pid: number) => void,
 *   readonly failed: (failure: ForkFailure | Error) => void,
 *   exited: ((exit: ProcessExit) => void) | undefined,
 *   lost: ((err: Error) => void) | undefined,
 * }} Pending
 */

/**
 * @typedef {{
 *   readonly child: import('node:child_process').ChildProcess,
 *   readonly output: import('node:net').Socket,
 *   readonly pending: Map<number, Pending>,
 * }} Forker
 */

/** Starts processes through one long-lived perl, started on first use and again after it died. */
export class ProcessForker {
  /** @type {Forker | undefined} */
  #forker;
  #nextId = 1;
  /** How many perls were started (for tests: one serves many launches). */
  started = 0;

  /** Whether exits come with their resource usage (wait4 on these architectures). */
  static reportsUsage() {
    return (process.arch === 'x64' || process.arch === 'arm64') && ProcessForker.available();
  }

  /** Whether the perl is there to fork from. */
  static available() {
    try {
      accessSync(FORKER_PERL, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Starts the process; resolves with its pid and a promise of its exit,
   * which rejects when the perl ended first (the exit is then unknown).
   * Rejects with a {@link ForkFailure} when it was not started, or with an
   * Error when the perl could not be reached.
   * @param {ForkRequest} request
   * @returns {Promise<{ pid: number, exit: Promise<ProcessExit> }>}
   */
  launch(request) {
    const fields = [
      request.user === undefined ? '' : String(request.user.uid),
      request.user === undefined ? '' : String(request.user.gid),
      request.cwd,
      request.stdoutPath,
      request.stderrPath,
      request.program,
      String(request.args.length),
      ...request.args,
      ...Object.entries(request.env).map(([name, value]) => `${name}=${value}`),
    ];
    const bad = fields.find((field) => field.includes('\0'));
    if (bad !== undefined) {
      return Promise.reject(
        /** @type {ForkFailure} */ ({
          stage: 'spawn',
          errno: 'ERR_INVALID_ARG_VALUE',
          message: `an argument, the environment or a path holds a NUL byte: ${JSON.stringify(bad)}`,
        }),
      );
    }
    const forker = this.#forker ?? this.#start();
    const id = this.#nextId++;
    const record = Buffer.from(`${id}\0${fields.join('\0')}`, 'utf8');
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const pending = {
        request,
        started: (pid) => {
          const exit = new Promise((resolveExit, rejectExit) => {
            pending.exited = resolveExit;
            pending.lost = rejectExit;
          });
          resolve({ pid, exit });
        },
        failed: reject,
        exited: undefined,
        lost: undefined,
      };
      if (forker.pending.size === 0) forker.output.ref();
      forker.pending.set(id, pending);
      forker.child.stdin?.write(Buffer.concat([Buffer.from(`${record.length}\n`), record]));
    });
  }

  /** Ends the perl (processes it started keep running). */
  close() {
    this.#forker?.child.stdin?.end();
  }

  /** @returns {Forker} */
  #start() {
    this.started++;
    const child = spawn(FORKER_PERL, ['-e', FORKER], {
      env: {},
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    // A pipe from a child process is a socket, which can stop keeping this process alive.
    const output = /** @type {import('node:net').Socket} */ (child.stdout);
    /** @type {Forker} */
    const forker = { child, output, pending: new Map() };
    this.#forker = forker;
    /** @param {string} why */
    const lost = (why) => {
      if (this.#forker === forker) this.#forker = undefined;
      const error = new Error(`the process forker ${why}`);
      for (const pending of forker.pending.values()) {
        if (pending.lost !== undefined) pending.lost(error);
        else pending.failed(error);
      }
      forker.pending.clear();
    };
    let buffered = '';
    output.setEncoding('utf8');
    output.on('data', (/** @type {string} */ data) => {
      buffered += data;
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        this.#receive(forker, line);
      }
      if (forker.pending.size === 0) output.unref();
    });
    child.once('error', (err) => lost(`could not run: ${err.message}`));
    child.once('exit', (code, signal) => lost(`ended (${signal ?? code})`));
    child.stdin?.on('error', () => {});
    // It lives as long as its parent, and never keeps it alive by itself.
    child.unref();
    output.unref();
    return forker;
  }

  /**
   * @param {Forker} forker
   * @param {string} line
   */
  #receive(forker, line) {
    const [kind, idText, a, b] = line.split(' ', 4);
    const id = Number(idText);
    const pending = forker.pending.get(id);
    if (pending === undefined) return;
    if (kind === 'P') {
      pending.started(Number(a));
    } else if (kind === 'E') {
      forker.pending.delete(id);
      // "E id stage errno strerror", worded as Node.js words the same failures.
      const stage = /** @type {ForkFailure['stage']} */ (a);
      const errno = b ?? 'EIO';
      const { request } = pending;
      const path = stage === 'stdout' ? request.stdoutPath : request.stderrPath;
      const message =
        stage === 'spawn'
          ? `spawn ${request.program} ${errno}`
          : `${errno}: ${line.split(' ').slice(4).join(' ').toLowerCase()}, open '${path}'`;
      pending.failed({ stage, errno, message });
    } else if (kind === 'X') {
      forker.pending.delete(id);
      const signal = b === '-' || b === undefined ? null : signalName(Number(b));
      const code = a === '-' ? null : Number(a);
      const usage = usageOf(line.split(' ').slice(4));
      pending.exited?.(usage === undefined ? { code, signal } : { code, signal, usage });
    }
  }
}

/**
 * @param {number} signal
 * @returns {NodeJS.Signals | null}
 */
function signalName(signal) {
  const entry = Object.entries(constants.signals).find(([, n]) => n === signal);
  return entry === undefined ? null : /** @type {NodeJS.Signals} */ (entry[0]);
}

/**
 * The usage fields of an exit line (wait4's rusage), in the units
 * `MeasuredUsage` has; undefined when the line has none.
 * @param {string[]} fields user and system CPU µs, max RSS KiB, blocks in, blocks out
 * @returns {import('./command-runner.ts').MeasuredUsage | undefined}
 */
function usageOf(fields) {
  if (fields.length !== 5) return undefined;
  const numbers = fields.map(Number);
  if (numbers.some((n) => !Number.isFinite(n) || n < 0)) return undefined;
  const [user = 0, system = 0, maxRssKiB = 0, blocksIn = 0, blocksOut = 0] = numbers;
  return {
    userTimeMs: Math.round(user / 1000),
    systemTimeMs: Math.round(system / 1000),
    peakMemoryBytes: maxRssKiB * 1024,
    readBytes: blocksIn * 512,
    writtenBytes: blocksOut * 512,
  };
}
