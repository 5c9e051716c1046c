/**
 * Remote actions shaped like Bazel 4.2.3's, without Bazel: per action the
 * calls Bazel makes (GetActionResult, a miss; FindMissingBlobs over the
 * action's Merkle tree; a ByteStream.Write per missing blob; Execute; a
 * ByteStream.Read of the output), for genrule-like actions whose input tree
 * has Bazel's layout (`bazel-out/k8-fastbuild/bin/pkg`, the genrule setup
 * script under `external/bazel_tools`) and whose inputs are earlier actions'
 * outputs, four in flight as with `--jobs=4`.
 *
 * It measures Kiln's own CPU per action, and that CPU over the actions' own
 * (bash, cat, cksum): the second number hardly moves when the machine as a
 * whole runs faster or slower, which on a shared VM shifts every time by
 * 15% or more, so it is the one to compare between versions of Kiln.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { ClientWritableStream } from '@grpc/grpc-js';
import { executeAction } from '../src/client/execute-action.ts';
import { makeDigest } from '../src/digest/digest.ts';
import { SHA256 } from '../src/digest/digest-function.ts';
import {
  Action,
  Command,
  type Digest as DigestMessage,
  Directory,
  type OutputFile,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { WriteRequest } from '../src/gen/google/bytestream/bytestream.js';
import { call, connectClients, type KilnClients } from '../test/support/grpc-clients.ts';
import { benchInterceptors } from './bench-token.ts';
import { startExecServer } from './exec-bench.ts';
import { median, settleFileSystem } from './measure.ts';
import type { ResultRow } from './report.ts';

/** Options of {@link bazelShapedRows}. */
export interface BazelShapedOptions {
  readonly runs: number;
  /** Layers of 30 actions measured per run, after one layer of warm-up. */
  readonly layers?: number;
  readonly cpuProfDir?: string;
}

const WIDTH = 30;
const JOBS = 4;
const PKG = 'bazel-out/k8-fastbuild/bin/pkg';
const SETUP = Buffer.from('#!/bin/bash\nset -euo pipefail\n');

const digestOf = (bytes: Uint8Array): DigestMessage => ({
  hash: createHash('sha256').update(bytes).digest('hex'),
  sizeBytes: bytes.length,
});

/** One run's client: builds and runs the actions of a layered genrule graph. */
export class BazelShapedClient {
  readonly #clients: KilnClients;
  readonly #nonce = randomUUID();
  readonly #outputs = new Map<string, DigestMessage>();

  constructor(clients: KilnClients) {
    this.#clients = clients;
  }

  /** Runs layer `layer` with {@link JOBS} actions in flight. */
  async layer(layer: number): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: JOBS }, async () => {
        while (next < WIDTH) await this.#action(layer, next++);
      }),
    );
  }

  async #action(layer: number, i: number): Promise<void> {
    const name = `l${layer}_${i}.txt`;
    const inputs =
      layer === 0 ? [] : [`l${layer - 1}_${i}.txt`, `l${layer - 1}_${(i + 1) % WIDTH}.txt`];
    const blobs: Buffer[] = [];
    const dir = (message: Parameters<typeof Directory.fromPartial>[0]): DigestMessage => {
      const bytes = Buffer.from(Directory.encode(Directory.fromPartial(message)).finish());
      blobs.push(bytes);
      return digestOf(bytes);
    };
    /** The digest of directory `names[0]`, holding `names[1]`, …, down to `leaf` (the last one's). */
    const chain = (names: string[], leaf: DigestMessage): DigestMessage =>
      names.slice(1).reduceRight((digest, n) => dir({ directories: [{ name: n, digest }] }), leaf);
    const files = inputs.map((n) => ({
      name: n,
      digest: this.#outputs.get(n),
      isExecutable: false,
    }));
    const setup = { name: 'genrule-setup.sh', digest: digestOf(SETUP), isExecutable: true };
    const root = dir({
      directories: [
        { name: 'bazel-out', digest: chain(PKG.split('/'), dir({ files })) },
        {
          name: 'external',
          digest: chain(['external', 'bazel_tools', 'tools', 'genrule'], dir({ files: [setup] })),
        },
      ],
    });
    const out = `${PKG}/${name}`;
    const script =
      layer === 0
        ? `echo ${this.#nonce} ${i} > ${out}`
        : `cat ${inputs.map((n) => `${PKG}/${n}`).join(' ')} | cksum > ${out}`;
    const command = Command.fromPartial({
      arguments: [
        '/bin/bash',
        '-c',
        `source external/bazel_tools/tools/genrule/genrule-setup.sh; ${script}`,
      ],
      environmentVariables: [{ name: 'PATH', value: '/bin:/usr/bin' }],
      outputFiles: [out],
      outputPaths: [out],
    });
    const commandBytes = Buffer.from(Command.encode(command).finish());
    blobs.push(commandBytes);
    const action = Action.fromPartial({
      commandDigest: digestOf(commandBytes),
      inputRootDigest: root,
      // KILN_BENCH_SANDBOX=1 runs every action in the namespace sandbox (for its cost).
      platform:
        process.env.KILN_BENCH_SANDBOX === '1'
          ? { properties: [{ name: 'sandbox', value: 'namespaces' }] }
          : undefined,
    });
    const actionBytes = Buffer.from(Action.encode(action).finish());
    blobs.push(actionBytes, SETUP);
    const actionDigest = digestOf(actionBytes);

    await call(this.#clients.actionCache, 'getActionResult', {
      instanceName: '',
      actionDigest,
      inlineStdout: false,
      inlineStderr: false,
      inlineOutputFiles: [],
      digestFunction: 0,
    }).catch(() => {});
    const found = await call(this.#clients.cas, 'findMissingBlobs', {
      instanceName: '',
      digestFunction: 0,
      blobDigests: [...blobs.map(digestOf), ...files.map((f) => f.digest as DigestMessage)],
    });
    const missing = new Set(found.missingBlobDigests.map((d) => d.hash));
    await Promise.all(
      blobs.filter((b) => missing.delete(digestOf(b).hash)).map((b) => this.#write(b)),
    );
    const output = await this.#execute(actionDigest);
    await this.#read(output.digest as DigestMessage);
    this.#outputs.set(name, output.digest as DigestMessage);
  }

  #write(data: Buffer): Promise<void> {
    const d = digestOf(data);
    return new Promise((resolve, reject) => {
      const stream: ClientWritableStream<WriteRequest> = this.#clients.byteStream.write((err) =>
        err ? reject(err) : resolve(),
      );
      stream.write({
        resourceName: `uploads/${randomUUID()}/blobs/${d.hash}/${d.sizeBytes}`,
        writeOffset: 0,
        finishWrite: true,
        data,
      });
      stream.end();
    });
  }

  async #execute(actionDigest: DigestMessage): Promise<OutputFile> {
    const { response } = await executeAction({
      client: this.#clients.execution,
      instanceName: '',
      actionDigest: makeDigest(SHA256, actionDigest.hash, actionDigest.sizeBytes),
    });
    const output = response.result?.outputFiles[0];
    if (output === undefined) throw new Error(`action failed: ${JSON.stringify(response.status)}`);
    return output;
  }

  #read(digest: DigestMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.#clients.byteStream.read({
        resourceName: `blobs/${digest.hash}/${digest.sizeBytes}`,
        readOffset: 0,
        readLimit: 0,
      });
      stream.on('data', () => {});
      stream.on('end', resolve);
      stream.on('error', reject);
    });
  }
}

/** CPU seconds per thread name of a process (numbers in names folded). */
async function threadCpu(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const task of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${task}/stat`, 'utf8').catch(() => '');
    if (stat === '') continue;
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+/g, '#');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
  }
  return out;
}

/** Runs the Bazel-shaped actions `runs` times on fresh servers and returns the rows. */
export async function bazelShapedRows(options: BazelShapedOptions): Promise<ResultRow[]> {
  const layers = options.layers ?? 20;
  const actions = layers * WIDTH;
  const perAction: number[] = [];
  const overActions: number[] = [];
  let threads = '';
  for (let run = 0; run < options.runs; run++) {
    if (run > 0) await settleFileSystem(); // The last run's data directory was just deleted.
    const server = await startExecServer({ localWorkers: 2, cpuProfDir: options.cpuProfDir });
    const clients = connectClients(server.address, benchInterceptors());
    try {
      const client = new BazelShapedClient(clients);
      await client.layer(0);
      const before = { all: await server.cpuSeconds(), actions: await server.actionCpuSeconds?.() };
      const threadsBefore = await threadCpu(server.pid);
      for (let layer = 1; layer <= layers; layer++) await client.layer(layer);
      const actionCpu = ((await server.actionCpuSeconds?.()) ?? 0) - (before.actions ?? 0);
      const kiln = (await server.cpuSeconds()) - before.all - actionCpu;
      perAction.push((kiln / actions) * 1000);
      overActions.push(kiln / actionCpu);
      const threadsAfter = await threadCpu(server.pid);
      threads = [...threadsAfter]
        .map(([n, s]) => [n, ((s - (threadsBefore.get(n) ?? 0)) / actions) * 1000] as const)
        .filter(([, ms]) => ms >= 0.05)
        .map(([n, ms]) => `${n} ${ms.toFixed(2)}`)
        .join(', ');
    } finally {
      clients.close();
      await server.stop();
    }
  }
  const note = `${actions} genrule-shaped actions per run, ${JOBS} in flight, 2 local workers`;
  return [
    {
      name: 'Bazel-shaped actions, Kiln CPU per action',
      unit: 'ms',
      best: Math.min(...perAction),
      median: median(perAction),
      samples: perAction,
      note: `${note}; Kiln's own process and spawn helper, not the actions; last run by thread (ms per action): ${threads}`,
    },
    {
      name: "Bazel-shaped actions, Kiln CPU / the actions' CPU",
      unit: '×',
      best: Math.min(...overActions),
      median: median(overActions),
      samples: overActions,
      note: "steadier between runs than the milliseconds, which follow the machine's speed",
    },
  ];
}
