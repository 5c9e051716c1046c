/** Builds and uploads Actions and Commands for execution tests, and runs them. */
import { Metadata } from '@grpc/grpc-js';
import {
  Action,
  Command,
  Compressor_Value,
  type Digest as DigestMessage,
  Directory,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { sha256Digest } from './blobs.ts';
import { call, type KilnClients } from './grpc-clients.ts';

/** Uploads blobs with BatchUpdateBlobs and returns their digests. */
export async function uploadBlobs(clients: KilnClients, blobs: Buffer[]): Promise<DigestMessage[]> {
  const res = await call(clients.cas, 'batchUpdateBlobs', {
    instanceName: '',
    digestFunction: 0,
    requests: blobs.map((data) => ({
      digest: sha256Digest(data),
      data,
      compressor: Compressor_Value.IDENTITY,
    })),
  });
  for (const r of res.responses) {
    if (r.status?.code !== 0) throw new Error(`upload failed: ${r.status?.message}`);
  }
  return blobs.map(sha256Digest);
}

/** Options for {@link uploadAction}. */
export interface ActionSpec {
  readonly args: string[];
  readonly outputPaths?: string[];
  readonly env?: Record<string, string>;
  readonly platform?: Record<string, string>;
  readonly timeoutSeconds?: number;
  readonly doNotCache?: boolean;
  readonly inputRoot?: Directory;
  /** Input files by path (`dir/name`), uploaded with their directories; replaces `inputRoot`. */
  readonly files?: Record<string, string>;
  /** Makes otherwise identical actions distinct. */
  readonly salt?: string;
}

/** Uploads an Action, its Command and input root; returns the action digest. */
export async function uploadAction(clients: KilnClients, spec: ActionSpec): Promise<DigestMessage> {
  const platform = {
    properties: Object.entries(spec.platform ?? {})
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, value]) => ({ name, value })),
  };
  const command = Command.fromPartial({
    arguments: spec.args,
    outputPaths: spec.outputPaths ?? [],
    environmentVariables: Object.entries(spec.env ?? {})
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, value]) => ({ name, value })),
  });
  const commandBytes = Buffer.from(Command.encode(command).finish());
  const root =
    spec.files === undefined
      ? (spec.inputRoot ?? Directory.fromPartial({}))
      : await uploadFileTree(clients, spec.files);
  const rootBytes = Buffer.from(Directory.encode(root).finish());
  const [commandDigest, inputRootDigest] = await uploadBlobs(clients, [commandBytes, rootBytes]);
  const action = Action.fromPartial({
    commandDigest,
    inputRootDigest,
    doNotCache: spec.doNotCache ?? false,
    timeout: spec.timeoutSeconds ? { seconds: spec.timeoutSeconds, nanos: 0 } : undefined,
    platform,
    salt: Buffer.from(spec.salt ?? ''),
  });
  const [actionDigest] = await uploadBlobs(clients, [Buffer.from(Action.encode(action).finish())]);
  if (actionDigest === undefined) throw new Error('no action digest');
  return actionDigest;
}

/** Uploads `files` (path → content) and every Directory below the root; returns the root. */
async function uploadFileTree(
  clients: KilnClients,
  files: Record<string, string>,
): Promise<Directory> {
  interface Node {
    files: Map<string, Buffer>;
    dirs: Map<string, Node>;
  }
  const top: Node = { files: new Map(), dirs: new Map() };
  for (const [path, content] of Object.entries(files)) {
    const parts = path.split('/');
    const name = parts.pop() as string;
    let node = top;
    for (const part of parts) {
      let child = node.dirs.get(part);
      if (child === undefined) {
        child = { files: new Map(), dirs: new Map() };
        node.dirs.set(part, child);
      }
      node = child;
    }
    node.files.set(name, Buffer.from(content));
  }
  const build = async (node: Node): Promise<Directory> => {
    const blobs = [...node.files.values()];
    await uploadBlobs(clients, blobs);
    const directories = [];
    for (const [name, child] of [...node.dirs].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const bytes = Buffer.from(Directory.encode(await build(child)).finish());
      const [digest] = await uploadBlobs(clients, [bytes]);
      directories.push({ name, digest });
    }
    return Directory.fromPartial({
      files: [...node.files]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, data]) => ({ name, digest: sha256Digest(data), isExecutable: false })),
      directories,
    });
  };
  return build(top);
}

/** Options for {@link executeAll}. */
export interface ExecuteAllOptions {
  /** Default true: the action runs even when its result is cached. */
  readonly skipCacheLookup?: boolean;
  /** Sent with the call (RequestMetadata, say). */
  readonly metadata?: Metadata;
  /** Called with the first Operation, while the execution goes on. */
  readonly onFirst?: (op: Operation) => void;
}

/** Runs Execute and resolves with every Operation the stream sent, once it ends. */
export function executeAll(
  clients: KilnClients,
  actionDigest: DigestMessage,
  options: ExecuteAllOptions = {},
): Promise<Operation[]> {
  return new Promise<Operation[]>((resolve, reject) => {
    const ops: Operation[] = [];
    const stream = clients.execution.execute(
      {
        instanceName: '',
        skipCacheLookup: options.skipCacheLookup ?? true,
        actionDigest,
        executionPolicy: undefined,
        resultsCachePolicy: undefined,
        digestFunction: 0,
        inlineStdout: false,
        inlineStderr: false,
        inlineOutputFiles: [],
      },
      options.metadata ?? new Metadata(),
    );
    stream.on('data', (op: Operation) => {
      ops.push(op);
      if (ops.length === 1) options.onFirst?.(op);
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(ops));
  });
}
