/**
 * Building an Action and its Command the way REAPI asks (environment
 * variables sorted by name, output paths sorted and unique, platform
 * properties sorted by name then value, so that equal actions get equal
 * digests and hit the cache) and storing both in the CAS.
 */
import { type Digest, digestOf, toDigestMessage } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import {
  Action,
  Command,
  type Platform,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';

/** A name/value pair (environment variable, platform property). */
export interface NameValue {
  readonly name: string;
  readonly value: string;
}

/** What the action runs and where. */
export interface ActionDefinition {
  /** argv[0] and its arguments. */
  readonly arguments: readonly string[];
  readonly environment?: readonly NameValue[];
  readonly platform?: readonly NameValue[];
  /** Outputs (REAPI `output_paths`), relative to the working directory. */
  readonly outputPaths?: readonly string[];
  /** Relative to the input root; '' (the root) by default. */
  readonly workingDirectory?: string;
  readonly inputRootDigest: Digest;
  /** Timeout in milliseconds; the server's default when absent. */
  readonly timeoutMs?: number;
  /** Never cache the result (and do not merge with identical running actions). */
  readonly doNotCache?: boolean;
}

/** The stored Action and Command. */
export interface UploadedAction {
  readonly actionDigest: Digest;
  readonly commandDigest: Digest;
  readonly action: Action;
  readonly command: Command;
}

/** What storing the messages needs from a CAS client; {@link CasClient} is one. */
export interface MessageSink {
  findMissing(digests: readonly Digest[]): Promise<Digest[]>;
  uploadBlobs(blobs: readonly { digest: Digest; data: Uint8Array }[]): Promise<void>;
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Builds the canonical Command and Action and uploads whichever the CAS lacks. */
export async function uploadAction(
  cas: MessageSink,
  fn: DigestFunction,
  definition: ActionDefinition,
): Promise<UploadedAction> {
  const platform: Platform = {
    properties: [...(definition.platform ?? [])]
      .map(({ name, value }) => ({ name, value }))
      .sort((a, b) => byBytes(a.name, b.name) || byBytes(a.value, b.value)),
  };
  const command = Command.fromPartial({
    arguments: [...definition.arguments],
    environmentVariables: [...(definition.environment ?? [])]
      .map(({ name, value }) => ({ name, value }))
      .sort((a, b) => byBytes(a.name, b.name)),
    outputPaths: [...new Set(definition.outputPaths ?? [])].sort(byBytes),
    workingDirectory: definition.workingDirectory ?? '',
    // Servers older than REAPI 2.2 read the platform from the Command.
    platform,
  });
  const commandBytes = Buffer.from(Command.encode(command).finish());
  const commandDigest = await digestOf(fn, commandBytes);
  const timeoutMs = definition.timeoutMs;
  const action = Action.fromPartial({
    commandDigest: toDigestMessage(commandDigest),
    inputRootDigest: toDigestMessage(definition.inputRootDigest),
    timeout:
      timeoutMs === undefined
        ? undefined
        : { seconds: Math.floor(timeoutMs / 1000), nanos: Math.round((timeoutMs % 1000) * 1e6) },
    doNotCache: definition.doNotCache ?? false,
    platform,
  });
  const actionBytes = Buffer.from(Action.encode(action).finish());
  const actionDigest = await digestOf(fn, actionBytes);
  const blobs = [
    { digest: commandDigest, data: commandBytes },
    { digest: actionDigest, data: actionBytes },
  ];
  const missing = new Set((await cas.findMissing(blobs.map((b) => b.digest))).map((d) => d.key));
  await cas.uploadBlobs(blobs.filter((b) => missing.has(b.digest.key)));
  return { actionDigest, commandDigest, action, command };
}
