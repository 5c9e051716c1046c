/**
 * Test support for killing an action user's processes: runs a command as a
 * user under a root child subreaper, so that the orphans it leaves are
 * reaped as they end even where the machine's init does not reap (zombies
 * would otherwise use up the pids), and tells when every process it left
 * has ended.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** A command running under a subreaper (see {@link underSubreaper}). */
export interface SubreapedCommand {
  /** The pid of the command's first process. */
  readonly firstPid: number;
  /** Whether every process the command left has ended (the subreaper then exits). */
  ended(timeoutMs: number): Promise<boolean>;
  /** Ends whatever the command left running, and the subreaper. */
  stop(): Promise<void>;
}

/**
 * Runs `command` as `uid` (group `nogroup`) under a root perl process that
 * is a child subreaper and reaps the orphans the command leaves as they
 * end. Resolves when the command itself has exited.
 */
export async function underSubreaper(uid: number, command: string): Promise<SubreapedCommand> {
  // prctl(PR_SET_CHILD_SUBREAPER, 1): syscall 157 on x86-64, 167 on arm64.
  const prctl = process.arch === 'arm64' ? 167 : 157;
  const script = [
    '$| = 1;',
    `syscall(${prctl}, 36, 1, 0, 0, 0) == 0 or die "prctl: $!";`,
    'my $pid = fork // die "fork: $!";',
    `if ($pid == 0) { POSIX::setgid(65534); POSIX::setuid(${uid}); exec "sh", "-c", $ARGV[0]; }`,
    'print "$pid\\n"; waitpid($pid, 0); print "exited\\n";',
    // Reap every orphan as it ends, until none is left.
    '1 while waitpid(-1, 0) > 0;',
  ].join(' ');
  const wrapper = spawn('perl', ['-MPOSIX', '-e', script, command], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    wrapper.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('exited')) resolve();
    });
    wrapper.once('exit', (code) => reject(new Error(`the subreaper exited (${code}): ${out}`)));
  });
  return {
    firstPid: Number(out.split('\n')[0]),
    ended(timeoutMs) {
      if (wrapper.exitCode !== null || wrapper.signalCode !== null) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        wrapper.once('exit', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    async stop() {
      // Whatever survived: end it as the user itself would (a kill of
      // everything the user may signal) and by its process groups, until
      // the subreaper, having reaped everything, exits.
      for (let round = 0; round < 500 && wrapper.exitCode === null; round++) {
        spawnSync('perl', ['-e', `($<, $>) = (${uid}, ${uid}); kill 9, -1 if $< == ${uid}`]);
        for (const pid of usersProcesses(uid)) {
          try {
            const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
            process.kill(-Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]), 'SIGKILL');
          } catch {}
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      if (wrapper.exitCode === null) wrapper.kill('SIGKILL');
    },
  };
}

/** Live (not zombie) processes whose real or effective user is `uid`. */
export function usersProcesses(uid: number): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'latin1');
    } catch {
      continue;
    }
    const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (/^State:\s+Z/m.test(status) || ids === null) continue;
    if (Number(ids[1]) === uid || Number(ids[2]) === uid) out.push(pid);
  }
  return out;
}
