/**
 * Timing helpers shared by the benchmarks: wall time plus the CPU each side
 * used, which tells whether the server or the client was the bottleneck, and
 * the CPU everything else on the machine used, which tells whether a number
 * is to be trusted (this machine is shared).
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ServerProcess } from './server-process.ts';

/** Linux reports /proc/stat times in clock ticks of 1/100 s. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds the whole machine has been busy (including time stolen by the hypervisor). */
async function machineBusySeconds(): Promise<number> {
  const stat = await readFile('/proc/stat', 'utf8');
  const [, user, nice, system, , , irq, softirq, steal] = (stat.split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .map(Number);
  const busy = [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
  return busy / CLOCK_TICKS_PER_SECOND;
}

/** One timed run. */
export interface Sample {
  readonly seconds: number;
  /** Server CPU seconds per wall second (1 = one core busy). */
  readonly serverCpu: number;
  /** Client (this process) CPU seconds per wall second. */
  readonly clientCpu: number;
  /** CPU seconds per wall second of everything else on the machine (other users, the kernel). */
  readonly otherCpu: number;
}

/** Runs `fn` and measures wall time and both processes' CPU use. */
export async function timed(server: ServerProcess, fn: () => Promise<void>): Promise<Sample> {
  const serverBefore = await server.cpuSeconds();
  const machineBefore = await machineBusySeconds();
  const clientBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const client = process.cpuUsage(clientBefore);
  const serverCpu = (await server.cpuSeconds()) - serverBefore;
  const machine = (await machineBusySeconds()) - machineBefore;
  const clientCpu = (client.user + client.system) / 1e6;
  return {
    seconds,
    serverCpu: serverCpu / seconds,
    clientCpu: clientCpu / seconds,
    otherCpu: Math.max(0, machine - serverCpu - clientCpu) / seconds,
  };
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Mean CPU use over samples, weighted by their durations. */
export function meanCpu(samples: readonly Sample[]): {
  server: number;
  client: number;
  other: number;
} {
  let seconds = 0;
  let server = 0;
  let client = 0;
  let other = 0;
  for (const s of samples) {
    seconds += s.seconds;
    server += s.serverCpu * s.seconds;
    client += s.clientCpu * s.seconds;
    other += s.otherCpu * s.seconds;
  }
  return { server: server / seconds, client: client / seconds, other: other / seconds };
}

/** Wall-clock time in ms since the epoch, at sub-millisecond resolution, comparable between processes. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until files deleted so far no longer slow down file creation. On
 * ext4 without a journal (this machine's), creating a file skips, one by
 * one, every free inode of its group that was freed in the last 5 seconds,
 * or the last 5 minutes while the inode table block is not yet written back:
 * after a phase deleted thousands of files, creations cost up to a
 * millisecond of kernel CPU each for minutes, which lands in whatever runs
 * next. `sync` writes the inode tables back, and the 5 seconds then pass.
 */
export async function settleFileSystem(): Promise<void> {
  await promisify(execFile)('sync');
  await sleep(6000);
}

/**
 * utime and stime plus cutime and cstime of a process (or only the latter,
 * `reaped`: its exited children's), and its parent pid.
 */
async function processTimes(
  pid: number,
  which: 'all' | 'reaped',
): Promise<{ ticks: number; ppid: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const indices = which === 'all' ? [11, 12, 13, 14] : [13, 14];
  const ticks = indices.reduce((sum, i) => sum + Number(fields[i]), 0);
  return { ticks, ppid: Number(fields[1]) };
}

/**
 * CPU seconds of `pid` and its live descendants, each with the time of the
 * children it reaped (a server's exited action processes, PostgreSQL's
 * exited backends); with `reaped`, only the latter.
 */
export async function treeCpuSeconds(
  pid: number,
  which: 'all' | 'reaped' = 'all',
): Promise<number> {
  const processes = new Map<number, { ticks: number; ppid: number }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const times = await processTimes(Number(entry), which).catch(() => undefined);
    if (times !== undefined) processes.set(Number(entry), times);
  }
  const inTree = new Set([pid]);
  let ticks = processes.get(pid)?.ticks ?? (await processTimes(pid, which)).ticks;
  for (let grew = true; grew; ) {
    grew = false;
    for (const [other, times] of processes) {
      if (inTree.has(other) || !inTree.has(times.ppid)) continue;
      inTree.add(other);
      ticks += times.ticks;
      grew = true;
    }
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}
