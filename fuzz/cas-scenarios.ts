/**
 * CAS scenarios whose answers can be checked: batches of new blobs (some
 * zstd), batches with wrong data or zstd bombs that must be refused blob by
 * blob, reads checked byte for byte, FindMissingBlobs that must not lose a
 * known blob, and GetTree of a known tree.
 */
import { createHash } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import {
  BatchUpdateBlobsRequest,
  BatchUpdateBlobsResponse,
  Compressor_Value,
  Digest,
  FindMissingBlobsResponse,
  GetTreeRequest,
  GetTreeResponse,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type Blob, batchRead, batchUpdate } from './blob-io.ts';
import type { FuzzContext, Step } from './fuzz-context.ts';
import { serverStreamCall, unaryCall } from './raw-calls.ts';
import { zstdRleBomb } from './zstd-bomb.ts';

const BATCH_UPDATE = 'ContentAddressableStorage.BatchUpdateBlobs';
const BATCH_READ = 'ContentAddressableStorage.BatchReadBlobs';
const FIND_MISSING = 'ContentAddressableStorage.FindMissingBlobs';
const GET_TREE = 'ContentAddressableStorage.GetTree';

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** New blobs of at least 32 bytes (certainly not on the server yet), under `maxTotal` bytes. */
function freshBlobs(ctx: FuzzContext, maxCount: number, maxTotal: number): Blob[] {
  const blobs: Blob[] = [];
  let total = 0;
  const count = ctx.rng.range(1, maxCount);
  for (let i = 0; i < count; i++) {
    const data = ctx.rng.bytes(32 + ctx.rng.size(64 * 1024));
    if (total + data.length > maxTotal) break;
    total += data.length;
    blobs.push({ hash: sha256(data), data });
  }
  return blobs;
}

function knownByLabel(ctx: FuzzContext, label: string): { hash: string; size: number } {
  const blob = ctx.dict.blobs.find((b) => b.label === label);
  if (blob === undefined) throw new Error(`no known blob "${label}"`);
  return blob;
}

const HEX_CHARS = Buffer.from('0123456789abcdef', 'latin1');

/** Most bytes one digest entry takes below: tags, lengths, 64 hex characters, a size under 2^28. */
const MAX_ENTRY_BYTES = 4 + 64 + 5;

/**
 * A FindMissingBlobsRequest of `count` digests, 30% of them known blobs,
 * written straight as the bytes the generated encoder would give, with the
 * same random draws: objects and strings per digest made the fuzzer's own
 * side of a 400,000-digest call cost more CPU than the server's.
 */
export function findMissingRequest(ctx: FuzzContext, count: number): Buffer {
  const out = Buffer.allocUnsafe(count * MAX_ENTRY_BYTES);
  let p = 0;
  for (let i = 0; i < count; i++) {
    const start = p;
    p += 2;
    out[p++] = 10;
    out[p++] = 64;
    let size: number;
    if (ctx.rng.chance(0.3)) {
      const b = ctx.dict.blob(ctx.rng);
      p += out.write(b.hash, p, 'latin1');
      size = b.size;
    } else {
      // As rng.bytes(32).toString('hex'): eight 32-bit draws, little-endian.
      for (let w = 0; w < 8; w++) {
        const v = ctx.rng.uint32();
        for (let shift = 0; shift < 32; shift += 8) {
          const byte = (v >>> shift) & 0xff;
          out[p++] = HEX_CHARS[byte >> 4] as number;
          out[p++] = HEX_CHARS[byte & 15] as number;
        }
      }
      size = ctx.rng.int(1 << 20);
    }
    if (size !== 0) {
      out[p++] = 16;
      for (; size >= 0x80; size = Math.floor(size / 128)) out[p++] = (size & 0x7f) | 0x80;
      out[p++] = size;
    }
    out[start] = 18;
    out[start + 1] = p - start - 2;
  }
  return out.subarray(0, p);
}

/**
 * Known blobs that `reply` (an encoded FindMissingBlobsResponse) reports
 * missing, read in place: only entries whose hash starts like a known one's
 * are decoded.
 */
export function knownReportedMissing(ctx: FuzzContext, reply: Buffer): string[] {
  const known = new Set(ctx.dict.blobs.map((b) => `${b.hash}/${b.size}`));
  const prefixes = new Set(ctx.dict.blobs.map((b) => prefixKey(Buffer.from(b.hash, 'latin1'), 0)));
  const found: string[] = [];
  let p = 0;
  while (p < reply.length) {
    // Tag 18, then the entry's length (under 128 for a 64-character hash).
    const end = p + 2 + (reply[p + 1] as number);
    if (reply[p] !== 18 || (reply[p + 1] as number) >= 0x80 || reply[p + 2] !== 10) {
      // Not the shape a Kiln reply has: decode the rest the ordinary way.
      for (const d of FindMissingBlobsResponse.decode(reply.subarray(p)).missingBlobDigests) {
        if (known.has(`${d.hash}/${d.sizeBytes}`)) found.push(`${d.hash}/${d.sizeBytes}`);
      }
      return found;
    }
    if (prefixes.has(prefixKey(reply, p + 4))) {
      const d = Digest.decode(reply.subarray(p + 2, end));
      if (known.has(`${d.hash}/${d.sizeBytes}`)) found.push(`${d.hash}/${d.sizeBytes}`);
    }
    p = end;
  }
  return found;
}

/** The 8 hex characters at `at` as one number, read without making a string. */
function prefixKey(bytes: Buffer, at: number): number {
  return bytes.readUInt32BE(at) * 2 ** 32 + bytes.readUInt32BE(at + 4);
}

/** FindMissingBlobs of `count` digests, some known (which must not be reported missing). */
async function findMissing(ctx: FuzzContext, count: number): Promise<Step[]> {
  const request = findMissingRequest(ctx, count);
  const outcome = await unaryCall(ctx.client, ctx.method(FIND_MISSING).path, request, {
    deadlineMs: ctx.answerDeadlineMs,
    keepBytes: 64 * 1024 * 1024,
  });
  const input = `FindMissingBlobs of ${count} digests`;
  if (outcome.code !== 0) {
    ctx.report('valid-rejected', FIND_MISSING, input, `${outcome.code}: ${outcome.details}`);
  } else if (outcome.responses[0]) {
    for (const digest of knownReportedMissing(ctx, outcome.responses[0])) {
      ctx.report('lost-blob', FIND_MISSING, input, `known blob ${digest} reported missing`);
    }
  }
  return [{ method: FIND_MISSING, outcome, mayWait: false, input }];
}

type Scenario = (ctx: FuzzContext) => Promise<Step[]>;

/** The CAS scenarios, by name. */
export const CAS_SCENARIOS: Readonly<Record<string, Scenario>> = {
  async 'batch-update-valid'(ctx) {
    const blobs = freshBlobs(ctx, 20, 3 * 1024 * 1024);
    const result = await batchUpdate(ctx.client, blobs, {
      deadlineMs: ctx.answerDeadlineMs,
      zstd: () => ctx.rng.chance(0.3),
    });
    const input = `batch-update-valid of ${blobs.length} blobs`;
    const step: Step = {
      method: BATCH_UPDATE,
      outcome: result.outcome,
      mayWait: false,
      input,
      bytes: result.request,
    };
    if (result.outcome.code !== 0) {
      ctx.report(
        'valid-rejected',
        BATCH_UPDATE,
        input,
        `${result.outcome.code}: ${result.outcome.details}`,
      );
      return [step];
    }
    for (const blob of blobs) {
      const code = result.codes.get(blob.hash);
      if (code === 0) ctx.written(blob);
      else ctx.report('valid-rejected', BATCH_UPDATE, input, `blob ${blob.hash}: code ${code}`);
    }
    return [step];
  },

  async 'batch-update-wrong'(ctx) {
    const blobs = freshBlobs(ctx, 8, 1024 * 1024);
    const kinds = blobs.map(() =>
      ctx.rng.pick([
        'flipped',
        'short',
        'zstd-garbage',
        'zstd-bomb',
        'zstd-wrong',
        'zstd-bomb-declared-huge',
      ]),
    );
    const requests = blobs.map((b, i) => {
      const kind = kinds[i];
      const flipped = Buffer.from(b.data);
      flipped[0] = (flipped[0] as number) ^ 0x80;
      let digest = { hash: b.hash, sizeBytes: b.data.length };
      let data: Buffer;
      if (kind === 'flipped') data = flipped;
      else if (kind === 'short') data = b.data.subarray(1);
      else if (kind === 'zstd-garbage') data = ctx.rng.bytes(ctx.rng.size(4096));
      else if (kind === 'zstd-bomb') data = zstdRleBomb(ctx.rng.pick([b.data.length + 1, 2 ** 32]));
      else if (kind === 'zstd-wrong') data = zstdCompressSync(flipped);
      else {
        // A digest that claims gigabytes, and data that really expands to them.
        const size = ctx.rng.pick([64 * 2 ** 20, 2 ** 30, 2 ** 32]);
        digest = { hash: b.hash, sizeBytes: size };
        data = zstdRleBomb(size);
      }
      const zstd = kind?.startsWith('zstd') ?? false;
      return {
        digest,
        data,
        compressor: zstd ? Compressor_Value.ZSTD : Compressor_Value.IDENTITY,
      };
    });
    const request = Buffer.from(
      BatchUpdateBlobsRequest.encode(BatchUpdateBlobsRequest.fromPartial({ requests })).finish(),
    );
    const outcome = await unaryCall(ctx.client, ctx.method(BATCH_UPDATE).path, request, {
      deadlineMs: ctx.answerDeadlineMs,
      keepBytes: 1024 * 1024,
    });
    const input = `batch-update-wrong: ${kinds.join(', ')}`;
    if (outcome.code === 0 && outcome.responses[0]) {
      for (const r of BatchUpdateBlobsResponse.decode(outcome.responses[0]).responses) {
        if ((r.status?.code ?? 0) === 0) {
          const kind = kinds[blobs.findIndex((b) => b.hash === r.digest?.hash)];
          ctx.report(
            'accepted-invalid',
            BATCH_UPDATE,
            input,
            `a ${kind} blob ${r.digest?.hash} was accepted`,
          );
        }
      }
    }
    return [{ method: BATCH_UPDATE, outcome, mayWait: false, input, bytes: request }];
  },

  async 'batch-read-verify'(ctx) {
    const picked = ctx.dict.blobs.filter((b) => b.size < 1024 * 1024 && ctx.rng.chance(0.5));
    const missing = { hash: sha256(ctx.rng.bytes(40)), size: 40 };
    const zstd = ctx.rng.chance(0.4);
    const result = await batchRead(ctx.client, [...picked, missing], {
      deadlineMs: ctx.answerDeadlineMs,
      zstd,
    });
    const input = `batch-read-verify of ${picked.length} known blobs and 1 missing${zstd ? ', zstd' : ''}`;
    if (result.outcome.code !== 0) {
      ctx.report(
        'valid-rejected',
        BATCH_READ,
        input,
        `${result.outcome.code}: ${result.outcome.details}`,
      );
    } else {
      for (const blob of picked) {
        const data = result.data.get(blob.hash);
        if (data === undefined) {
          ctx.report(
            'lost-blob',
            BATCH_READ,
            input,
            `known blob ${blob.label} answered ${result.codes.get(blob.hash)}`,
          );
        } else if (!data.equals(blob.data)) {
          ctx.report(
            'wrong-bytes',
            BATCH_READ,
            input,
            `known blob ${blob.label} read back different`,
          );
        }
      }
      if (result.codes.get(missing.hash) !== 5) {
        ctx.report(
          'accepted-invalid',
          BATCH_READ,
          input,
          `a missing blob answered ${result.codes.get(missing.hash)}`,
        );
      }
    }
    return [
      { method: BATCH_READ, outcome: result.outcome, mayWait: false, input, bytes: result.request },
    ];
  },

  async 'find-missing-many'(ctx) {
    return findMissing(ctx, ctx.rng.size(50_000));
  },

  async 'find-missing-huge'(ctx) {
    // About as many digests as the largest message Kiln accepts holds.
    return findMissing(ctx, 400_000);
  },

  async 'get-tree-known'(ctx) {
    const root = knownByLabel(ctx, 'directory-root');
    const request = Buffer.from(
      GetTreeRequest.encode(
        GetTreeRequest.fromPartial({
          rootDigest: { hash: root.hash, sizeBytes: root.size },
          pageSize: ctx.rng.pick([0, 1, 2, 1000]),
        }),
      ).finish(),
    );
    const outcome = await serverStreamCall(
      ctx.client,
      ctx.method(GET_TREE).path,
      request,
      { kind: 'all' },
      {
        deadlineMs: ctx.answerDeadlineMs,
        keepBytes: 1024 * 1024,
      },
    );
    const input = 'get-tree-known';
    if (outcome.code !== 0) {
      ctx.report('valid-rejected', GET_TREE, input, `${outcome.code}: ${outcome.details}`);
    } else {
      const directories = outcome.responses.flatMap((r) => GetTreeResponse.decode(r).directories);
      if (directories.length !== 2) {
        ctx.report(
          'wrong-bytes',
          GET_TREE,
          input,
          `the known tree came back with ${directories.length} directories, not 2`,
        );
      }
    }
    return [{ method: GET_TREE, outcome, mayWait: false, input, bytes: request }];
  },
};
