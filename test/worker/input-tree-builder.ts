/**
 * Builds REAPI Directory trees from a compact description and uploads them,
 * for worker tests: `tree({ src: { 'a.c': file('int x;') }, run: file('#!/bin/sh', true) })`.
 */
import type { CasClient } from '../../src/client/cas-client.ts';
import { type Digest, digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  Action,
  Command,
  Directory,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';

/** A file node. */
export interface FileSpec {
  readonly kind: 'file';
  readonly data: Buffer;
  readonly executable: boolean;
}
/** A symlink node. */
export interface SymlinkSpec {
  readonly kind: 'symlink';
  readonly target: string;
}
/** A directory: children by name. */
export interface DirSpec {
  readonly [name: string]: FileSpec | SymlinkSpec | DirSpec;
}

export const file = (data: string | Buffer, executable = false): FileSpec => ({
  kind: 'file',
  data: Buffer.isBuffer(data) ? data : Buffer.from(data),
  executable,
});
export const symlink = (target: string): SymlinkSpec => ({ kind: 'symlink', target });

const byUtf8 = (a: { name: string }, b: { name: string }) =>
  Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));

/** Blobs of a built tree. */
export interface BuiltTree {
  readonly root: Digest;
  readonly blobs: Map<string, { digest: Digest; data: Buffer }>;
}

/** Encodes a tree into Directory messages and collects every blob. */
export async function buildTree(spec: DirSpec): Promise<BuiltTree> {
  const blobs = new Map<string, { digest: Digest; data: Buffer }>();
  const add = async (data: Buffer) => {
    const digest = await digestOf(SHA256, data);
    blobs.set(digest.key, { digest, data });
    return digest;
  };
  const encode = async (dir: DirSpec): Promise<Digest> => {
    const message = Directory.create({});
    for (const [name, node] of Object.entries(dir)) {
      if (node.kind === 'file') {
        const f = node as FileSpec;
        const digest = await add(f.data);
        message.files.push({
          name,
          digest: toDigestMessage(digest),
          isExecutable: f.executable,
          nodeProperties: undefined,
        });
      } else if (node.kind === 'symlink') {
        message.symlinks.push({
          name,
          target: (node as SymlinkSpec).target,
          nodeProperties: undefined,
        });
      } else {
        const digest = await encode(node as DirSpec);
        message.directories.push({ name, digest: toDigestMessage(digest) });
      }
    }
    message.files.sort(byUtf8);
    message.directories.sort(byUtf8);
    message.symlinks.sort(byUtf8);
    return add(Buffer.from(Directory.encode(message).finish()));
  };
  const root = await encode(spec);
  return { root, blobs };
}

/** Builds and uploads a tree; returns its root digest and blobs. */
export async function uploadTree(cas: CasClient, spec: DirSpec): Promise<BuiltTree> {
  const built = await buildTree(spec);
  await cas.uploadBlobs([...built.blobs.values()]);
  return built;
}

/** A Command with defaults for everything not given. */
export function makeCommand(fields: Partial<Command>): Command {
  return Command.create(fields);
}

/** Uploads a Command and an Action over `inputRoot`; returns the action's digest and message. */
export async function uploadAction(
  cas: CasClient,
  command: Command,
  inputRoot: Digest,
  timeoutSeconds = 0,
): Promise<{ digest: Digest; action: Action }> {
  const commandBytes = Buffer.from(Command.encode(command).finish());
  const commandDigest = await digestOf(SHA256, commandBytes);
  const action = Action.create({
    commandDigest: toDigestMessage(commandDigest),
    inputRootDigest: toDigestMessage(inputRoot),
    timeout: timeoutSeconds > 0 ? { seconds: timeoutSeconds, nanos: 0 } : undefined,
  });
  const actionBytes = Buffer.from(Action.encode(action).finish());
  const digest = await digestOf(SHA256, actionBytes);
  await cas.uploadBlobs([
    { digest: commandDigest, data: commandBytes },
    { digest, data: actionBytes },
  ]);
  return { digest, action };
}
