/**
 * `--only startup`: how soon `kiln serve` listens after it is started again
 * over the same data directory, empty and with 1,000,000 blobs in its disk
 * CAS, and how long the CAS's index then takes to load in the background
 * (health checks answer SERVING once it has). Each server is ended with
 * SIGKILL, as after a crash; the first start of each case is a warm-up.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus,
  HealthClient,
} from '../src/gen/grpc/health/v1/health.js';
import { writeLargeDiskStore } from '../test/http/large-disk-store.ts';
import { benchAuthYaml, benchInterceptors } from './bench-token.ts';
import { FleetServer } from './fleet-processes.ts';
import { median, sleep } from './measure.ts';
import type { ResultRow } from './report.ts';

/** Blobs in the full CAS: the "a million-blob cache". */
const FULL_CAS_BLOBS = 1_000_000;
const LISTEN_TARGET = { op: '<=', value: 2 } as const;

/** Options of {@link startupRows}. */
export interface StartupOptions {
  /** Repository root. */
  readonly root: string;
  /** Measured starts per case. */
  readonly runs: number;
}

/** Resolves with the seconds from `since` until the server's health check answers SERVING. */
async function untilServing(address: string, since: number): Promise<number> {
  const client = new HealthClient(address, credentials.createInsecure(), {
    interceptors: benchInterceptors(),
  });
  try {
    for (;;) {
      const serving = await new Promise<boolean>((resolve) => {
        client.check({ service: '' }, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
          resolve(err === null && res.status === HealthCheckResponse_ServingStatus.SERVING),
        );
      });
      if (serving) return (performance.now() - since) / 1000;
      await sleep(50);
    }
  } finally {
    client.close();
  }
}

/**
 * Starts and kills `kiln serve` over `dir` `runs` + 1 times: the seconds
 * until listening, the server's CPU seconds by then, and the seconds until ready.
 */
async function measureStarts(
  root: string,
  dir: string,
  runs: number,
): Promise<{ listen: number[]; cpu: number[]; ready: number[] }> {
  const listen: number[] = [];
  const cpu: number[] = [];
  const ready: number[] = [];
  for (let run = 0; run <= runs; run++) {
    // A new server object each time: fresh ports (another process may have taken the last ones).
    const server = new FleetServer(root, dir, 4096);
    try {
      const started = performance.now();
      const seconds = await server.start();
      // CPU time is what a busy machine does not inflate as it does wall time.
      const cpuSeconds = await server.stats.cpuSeconds();
      const readySeconds = await untilServing(server.address, started);
      if (run > 0) {
        listen.push(seconds);
        cpu.push(cpuSeconds);
        ready.push(readySeconds);
      }
      await server.kill();
    } finally {
      await server.stop();
    }
  }
  return { listen, cpu, ready };
}

function row(name: string, samples: number[], extra: Partial<ResultRow> = {}): ResultRow {
  return {
    name,
    unit: 's',
    best: Math.min(...samples),
    median: median(samples),
    samples,
    ...extra,
  };
}

/** The start-up rows. */
export async function startupRows(options: StartupOptions): Promise<ResultRow[]> {
  const { root } = options;
  const runs = Math.max(1, options.runs);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-startup-bench-'));
  try {
    await writeFile(join(dir, 'kiln.yaml'), `execution:\n  localWorkers: 0\n${benchAuthYaml()}`);
    const empty = await measureStarts(root, dir, runs);
    await rm(join(dir, 'data'), { recursive: true, force: true });
    // Written directly as packs (see large-disk-store.ts): 16-byte blobs, about 100 MB.
    await writeLargeDiskStore(join(dir, 'data', 'cas'), FULL_CAS_BLOBS);
    const full = await measureStarts(root, dir, runs);
    const blobs = FULL_CAS_BLOBS.toLocaleString('en-US');
    return [
      row('kiln serve listening after a kill, empty data directory', empty.listen, {
        target: LISTEN_TARGET,
        note: 'process start to the "serving" line (no local workers)',
      }),
      row(`kiln serve listening after a kill, ${blobs} blobs in the disk CAS`, full.listen, {
        target: LISTEN_TARGET,
        note: 'the index loads in the background once the gRPC port is bound',
      }),
      row('kiln serve CPU until listening, empty data directory', empty.cpu, {
        note: 'the server process\'s user and system CPU time when its "serving" line came',
      }),
      row(`kiln serve CPU until listening, ${blobs} blobs in the disk CAS`, full.cpu),
      row(`kiln serve ready after a kill, ${blobs} blobs in the disk CAS`, full.ready, {
        note: 'process start until health checks answer SERVING (the index fully loaded)',
      }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
