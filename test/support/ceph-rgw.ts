/**
 * A real S3 server for tests: a throwaway single-node Ceph cluster (one
 * monitor, one OSD on the in-memory object store) with the RADOS Gateway in
 * front of it, all from Debian's packages (`ceph-mon`, `ceph-osd`,
 * `radosgw`), started by hand in a temporary directory without systemd.
 * The monitor and the gateway listen on free loopback ports; the OSD takes
 * its ports from Ceph's own range (6800-7300), on loopback too. Cephx is
 * off inside the cluster (nothing but this process can reach it); S3
 * requests are signed and checked as on any RGW. A bucket lifecycle rule's
 * day lasts one second ({@link RGW_LIFECYCLE_DAY_MS}). Every daemon dies with
 * this process (parent-death signal), and {@link CephRgw.stop} kills and
 * waits for each one, since this VM's pid 1 reaps no orphans.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './free-port.ts';
import type { S3Server } from './s3-server.ts';

/** The programs a cluster needs, with the Debian package of each. */
export const CEPH_PROGRAMS: Readonly<Record<string, string>> = {
  '/usr/bin/monmaptool': 'ceph-base',
  '/usr/bin/ceph-mon': 'ceph-mon',
  '/usr/bin/ceph-osd': 'ceph-osd',
  '/usr/bin/ceph': 'ceph-common',
  '/usr/bin/radosgw': 'radosgw',
  '/usr/bin/radosgw-admin': 'radosgw',
};

/** The Ceph programs that are not installed (empty when all are). */
export function missingCephPrograms(): string[] {
  return Object.keys(CEPH_PROGRAMS).filter((path) => {
    try {
      accessSync(path, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * Why a Ceph test cannot run here, or undefined when it can. In CI
 * (`CI=true`) a missing program throws instead: a skipped real-server suite
 * would hide a broken image.
 */
export function cephUnavailable(): string | undefined {
  const missing = missingCephPrograms();
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((p) => CEPH_PROGRAMS[p]))].join(' ');
  const message = `${missing.join(', ')} not found (Debian packages: ${packages})`;
  if (process.env.CI === 'true') {
    throw new Error(`${message}; CI must run the S3 tests against Ceph RGW`);
  }
  return message;
}

/** The key pair of the S3 user every cluster creates. */
export const RGW_ACCESS_KEY_ID = 'KILNTESTACCESSKEY000';
export const RGW_SECRET_ACCESS_KEY = 'kiln-test-secret-key-0000000000000000000';
/** The bucket every cluster starts with. */
export const RGW_BUCKET = 'kiln';
/** How long a "day" of a bucket lifecycle rule lasts on a test cluster. */
export const RGW_LIFECYCLE_DAY_MS = 1_000;

/** A running cluster: an {@link S3Server} whose directory holds the cluster's state and logs. */
export interface CephRgw extends S3Server {
  /** Milliseconds from the first command to the bucket's creation. */
  readonly startMs: number;
  /** The process ids of the monitor, the OSD and the gateway. */
  readonly pids: readonly number[];
}

/** Options of {@link startCephRgw}. */
export interface CephRgwOptions {
  /** Directory for the cluster (created if missing); a fresh temporary one, removed on stop, when absent. */
  readonly dir?: string;
  /** Milliseconds the whole start may take. Default 60 s. */
  readonly timeoutMs?: number;
  /** Bytes the in-memory OSD may hold. Default 2 GiB (only what is stored takes memory). */
  readonly osdBytes?: number;
  /** The bucket to create. Default {@link RGW_BUCKET}. */
  readonly bucket?: string;
}

/** The configuration of a one-monitor, one-OSD cluster under `dir`. */
function cephConf(fsid: string, dir: string, monPort: number, rgwPort: number, osdBytes: number) {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
# Without cephx, daemons must accept connections that are not encrypted.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
mon data = ${dir}/$name
osd data = ${dir}/$name
osd objectstore = memstore
memstore device bytes = ${osdBytes}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# A nearly full disk must not stop the monitor in the middle of a test.
mon data avail warn = 1
mon data avail crit = 0
# One monitor: commit map changes (pools, the OSD's boot) without the default one-second batching.
paxos propose interval = 0.01
paxos min wait = 0.001
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw thread pool size = 32
rgw enable usage log = false
# A lifecycle rule's day lasts ${RGW_LIFECYCLE_DAY_MS / 1000} s, and rules run that often, so expiry acts within seconds.
rgw lc debug interval = ${RGW_LIFECYCLE_DAY_MS / 1000}
`;
}

/** Runs `program` to completion (dying with this process); rejects with its output on failure. */
async function run(program: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const child = spawn('setpriv', ['--pdeathsig=SIGKILL', program, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  if (code !== 0) {
    const how = signal === null ? `exit ${code}` : `${signal} after ${timeoutMs} ms`;
    throw new Error(`${program} ${args.join(' ')} failed (${how}):\n${output}`);
  }
  return stdout;
}

/** The last lines of a daemon's log, for an error message. */
async function logTail(dir: string, name: string): Promise<string> {
  try {
    const lines = (await readFile(join(dir, 'log', `${name}.log`), 'utf8')).trimEnd().split('\n');
    return `--- ${name}.log\n${lines.slice(-15).join('\n')}`;
  } catch {
    return `--- ${name}.log: none`;
  }
}

/** Polls the gateway until it answers HTTP (any status). */
async function waitForHttp(url: string, deadline: number, daemon: ChildProcess): Promise<void> {
  for (;;) {
    if (daemon.exitCode !== null || daemon.signalCode !== null) {
      throw new Error(`radosgw exited (${daemon.exitCode ?? daemon.signalCode})`);
    }
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await answer.arrayBuffer();
      return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`radosgw did not answer on ${url} in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Creates and starts a cluster, an S3 user and a bucket; resolves once the
 * bucket exists. On any failure every daemon started so far is killed and
 * awaited before the error (with the daemons' last log lines) is thrown.
 */
export async function startCephRgw(options: CephRgwOptions = {}): Promise<CephRgw> {
  const unavailable = cephUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 60_000);
  const left = () => Math.max(1_000, deadline - Date.now());
  const owned = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'kiln-ceph-')));
  for (const sub of ['run', 'log', 'mon.a', 'osd.0'])
    await mkdir(join(dir, sub), { recursive: true });
  const conf = join(dir, 'ceph.conf');
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const bucket = options.bucket ?? RGW_BUCKET;
  await writeFile(conf, cephConf(fsid, dir, monPort, rgwPort, options.osdBytes ?? 2 ** 31));

  const daemons: ChildProcess[] = [];
  const daemon = (program: string, args: readonly string[]): ChildProcess => {
    // -f: stay in the foreground, so the child is the daemon this process waits for.
    const child = spawn('setpriv', ['--pdeathsig=SIGKILL', program, '-f', '-c', conf, ...args], {
      stdio: 'ignore',
    });
    daemons.push(child);
    return child;
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Throwaway data in memory: nothing to flush, so no graceful shutdown.
      await Promise.all(
        daemons.map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        }),
      );
      if (owned) await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    const monmap = join(dir, 'monmap');
    await run(
      'monmaptool',
      ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, monmap],
      left(),
    );
    await run('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', monmap], left());
    daemon('ceph-mon', ['-i', 'a']);
    const osdUuid = randomUUID();
    const timeoutSec = String(Math.ceil(left() / 1000));
    const id = (
      await run(
        'ceph',
        ['-c', conf, '--connect-timeout', timeoutSec, 'osd', 'new', osdUuid],
        left(),
      )
    ).trim();
    await run('ceph-osd', ['-c', conf, '-i', id, '--mkfs', '--osd-uuid', osdUuid], left());
    daemon('ceph-osd', ['-i', id]);
    const gateway = daemon('radosgw', ['-n', 'client.rgw']);
    // The user is written to the cluster while the gateway starts.
    await run(
      'radosgw-admin',
      [
        '-c',
        conf,
        'user',
        'create',
        '--uid=kiln',
        '--display-name=kiln tests',
        `--access-key=${RGW_ACCESS_KEY_ID}`,
        `--secret=${RGW_SECRET_ACCESS_KEY}`,
      ],
      left(),
    );
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitForHttp(endpoint, deadline, gateway);
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: RGW_ACCESS_KEY_ID, secretAccessKey: RGW_SECRET_ACCESS_KEY },
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }), {
        abortSignal: AbortSignal.timeout(left()),
      });
    } finally {
      client.destroy();
    }
    return {
      endpoint,
      port: rgwPort,
      bucket,
      accessKeyId: RGW_ACCESS_KEY_ID,
      secretAccessKey: RGW_SECRET_ACCESS_KEY,
      directory: dir,
      startMs: Date.now() - started,
      pids: daemons.map((d) => d.pid ?? -1),
      stop,
    };
  } catch (err) {
    const logs = await Promise.all(['mon.a', 'osd.0', 'client.rgw'].map((n) => logTail(dir, n)));
    await stop();
    const pids = daemons.map((d) => d.pid).join(', ');
    throw new Error(
      `the Ceph cluster in ${dir} did not start (daemons ${pids} killed): ${(err as Error).name}: ${(err as Error).message}\n${logs.join('\n')}`,
    );
  }
}
