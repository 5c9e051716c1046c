/** Builds and uploads Actions and Commands for execution tests. */
import {
  Action,
  Command,
  Compressor_Value,
  type Digest as DigestMessage,
  Directory,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
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
  const rootBytes = Buffer.from(
    Directory.encode(spec.inputRoot ?? Directory.fromPartial({})).finish(),
  );
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
