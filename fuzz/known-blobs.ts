/**
 * The blobs uploaded before fuzzing starts, read back during and after it:
 * random data at every size class the stores treat differently (empty,
 * packed small blobs, files over 64 KiB, multi-chunk reads, O_DIRECT writes
 * over 2 MiB), a two-level directory tree and an action that runs `exit 0`.
 */
import type { Client } from '@grpc/grpc-js';
import {
  Action,
  Command,
  Directory,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { batchUpdate, byteStreamWrite } from './blob-io.ts';
import { type KnownBlob, knownBlob } from './dictionary.ts';
import type { Prng } from './prng.ts';

const SIZES = [0, 1, 100, 1000, 10_000, 70_000, 1_500_000, 3_200_000];

/** Makes the known blobs (random contents from `rng`). */
export function makeKnownBlobs(rng: Prng): KnownBlob[] {
  const blobs = SIZES.map((size) => knownBlob(`random-${size}`, rng.bytes(size)));
  const file = blobs[3] as KnownBlob;
  const sub = knownBlob(
    'directory-sub',
    Buffer.from(
      Directory.encode(
        Directory.fromPartial({
          files: [{ name: 'f', digest: { hash: file.hash, sizeBytes: file.size } }],
        }),
      ).finish(),
    ),
  );
  const root = knownBlob(
    'directory-root',
    Buffer.from(
      Directory.encode(
        Directory.fromPartial({
          files: [
            { name: 'a', digest: { hash: file.hash, sizeBytes: file.size }, isExecutable: true },
          ],
          directories: [{ name: 'sub', digest: { hash: sub.hash, sizeBytes: sub.size } }],
        }),
      ).finish(),
    ),
  );
  const command = knownBlob(
    'command',
    Buffer.from(
      Command.encode(
        Command.fromPartial({ arguments: ['/bin/sh', '-c', 'exit 0'], outputPaths: ['out'] }),
      ).finish(),
    ),
  );
  const action = knownBlob(
    'action',
    Buffer.from(
      Action.encode(
        Action.fromPartial({
          commandDigest: { hash: command.hash, sizeBytes: command.size },
          inputRootDigest: { hash: root.hash, sizeBytes: root.size },
        }),
      ).finish(),
    ),
  );
  return [...blobs, sub, root, command, action];
}

/** Uploads the known blobs: small ones in one batch, large ones through ByteStream. */
export async function uploadKnownBlobs(client: Client, blobs: readonly KnownBlob[]): Promise<void> {
  const small = blobs.filter((b) => b.size < 1024 * 1024);
  const result = await batchUpdate(client, small, { deadlineMs: 30_000 });
  const failed = small.filter((b) => result.codes.get(b.hash) !== 0);
  if (result.outcome.code !== 0 || failed.length > 0) {
    throw new Error(
      `uploading the known blobs failed: ${result.outcome.details} ${failed.map((b) => b.label).join(', ')}`,
    );
  }
  for (const blob of blobs.filter((b) => b.size >= 1024 * 1024)) {
    const outcome = await byteStreamWrite(client, blob, { deadlineMs: 30_000 });
    if (outcome.code !== 0) throw new Error(`uploading ${blob.label} failed: ${outcome.details}`);
  }
}
