/**
 * ByteStream abuse: writes with wrong offsets, wrong data, changing
 * resource names, zstd garbage and bombs, data past the declared size,
 * thousands of tiny chunks, uploads abandoned or resumed; reads of ranges
 * (checked byte for byte), reads cancelled midway or never read.
 */
import { createHash, randomUUID } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import {
  QueryWriteStatusRequest,
  QueryWriteStatusResponse,
  ReadRequest,
  ReadResponse,
  WriteRequest,
} from '../src/gen/google/bytestream/bytestream.js';
import type { FuzzContext, Step } from './fuzz-context.ts';
import {
  clientStreamCall,
  type ReadMode,
  serverStreamCall,
  unaryCall,
  type WriteEnd,
} from './raw-calls.ts';
import { zstdRleBomb } from './zstd-bomb.ts';

const WRITE = 'ByteStream.Write';
const READ = 'ByteStream.Read';
const QUERY = 'ByteStream.QueryWriteStatus';

/** A blob made up for one request. */
interface FreshBlob {
  readonly hash: string;
  readonly size: number;
  readonly data: Buffer;
}

/**
 * Random data of up to `maxSize` bytes. With `minSize` of 32 or more it is
 * certainly new to the server, which may otherwise end an upload of a blob
 * it already holds at once, with OK.
 */
function freshBlob(ctx: FuzzContext, maxSize = 3 * 1024 * 1024, minSize = 0): FreshBlob {
  const data = ctx.rng.bytes(Math.max(minSize, ctx.rng.size(maxSize)));
  return { hash: createHash('sha256').update(data).digest('hex'), size: data.length, data };
}

/** Splits `data` into WriteRequests at random points; `offsetOf` may lie about offsets. */
function writeMessages(
  ctx: FuzzContext,
  resourceName: string,
  data: Buffer,
  options: {
    maxChunks?: number;
    finish?: boolean;
    offsetOf?: (offset: number, i: number) => number;
  } = {},
): Buffer[] {
  const chunks = Math.max(1, ctx.rng.range(1, options.maxChunks ?? 4));
  const cuts = new Set<number>([0, data.length]);
  for (let i = 1; i < chunks; i++) cuts.add(ctx.rng.int(data.length + 1));
  const points = [...cuts].sort((a, b) => a - b);
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < points.length || (i === 0 && points.length === 1); i++) {
    const from = points[i] as number;
    const to = points[i + 1] ?? from;
    const last = i + 2 >= points.length;
    out.push(
      Buffer.from(
        WriteRequest.encode({
          resourceName: i === 0 || ctx.rng.chance(0.2) ? resourceName : '',
          writeOffset: options.offsetOf ? options.offsetOf(from, i) : from,
          finishWrite: last && (options.finish ?? true),
          data: data.subarray(from, to),
        }).finish(),
      ),
    );
  }
  return out;
}

async function write(
  ctx: FuzzContext,
  input: string,
  messages: Buffer[],
  end: WriteEnd = { kind: 'half-close' },
): Promise<Step> {
  const mayWait = end.kind === 'leave-open';
  const outcome = await clientStreamCall(ctx.client, ctx.method(WRITE).path, messages, end, {
    deadlineMs: mayWait ? ctx.rng.range(200, 1500) : ctx.answerDeadlineMs,
    keepBytes: 1024,
  });
  return { method: WRITE, outcome, mayWait, input, bytes: messages[0] };
}

async function read(
  ctx: FuzzContext,
  input: string,
  request: { resourceName: string; readOffset: number; readLimit: number },
  mode: ReadMode = { kind: 'all' },
): Promise<Step> {
  const bytes = Buffer.from(ReadRequest.encode(request).finish());
  const outcome = await serverStreamCall(ctx.client, ctx.method(READ).path, bytes, mode, {
    deadlineMs: ctx.answerDeadlineMs,
    keepBytes: 8 * 1024 * 1024,
  });
  return { method: READ, outcome, mayWait: mode.kind !== 'all', input, bytes };
}

function readData(step: Step): Buffer {
  return Buffer.concat(step.outcome.responses.map((r) => ReadResponse.decode(r).data));
}

/** Must be rejected: reports `accepted-invalid` when it was not. */
function mustFail(ctx: FuzzContext, step: Step, why: string): void {
  if (step.outcome.code === 0) ctx.report('accepted-invalid', step.method, step.input, why);
}

/** Must succeed: reports `valid-rejected` when it did not. */
function mustSucceed(ctx: FuzzContext, step: Step): void {
  if (step.outcome.code !== 0) {
    ctx.report(
      'valid-rejected',
      step.method,
      step.input,
      `${step.outcome.code}: ${step.outcome.details}`,
    );
  }
}

type Scenario = (ctx: FuzzContext) => Promise<Step[]>;

/** The ByteStream scenarios, by name. */
export const BYTESTREAM_SCENARIOS: Readonly<Record<string, Scenario>> = {
  async 'write-valid'(ctx) {
    const blob = freshBlob(ctx);
    const zstd = ctx.rng.chance(0.3);
    const data = zstd ? zstdCompressSync(blob.data) : blob.data;
    // Half the time with the dictionary's instance names and metadata, which may be refused.
    const plain = ctx.rng.chance(0.5);
    const name = plain
      ? `uploads/${randomUUID()}/${zstd ? 'compressed-blobs/zstd' : 'blobs'}/${blob.hash}/${blob.size}`
      : ctx.dict.writeResourceName(ctx.rng, blob, zstd ? 'zstd' : undefined);
    const input = `write-valid ${name} (${data.length} bytes sent)`;
    const step = await write(ctx, input, writeMessages(ctx, name, data, { maxChunks: 8 }));
    if (plain) mustSucceed(ctx, step);
    if (step.outcome.code === 0) ctx.written({ hash: blob.hash, data: blob.data });
    return [step];
  },

  async 'write-wrong-offset'(ctx) {
    const blob = freshBlob(ctx, 256 * 1024, 32);
    const name = `uploads/${randomUUID()}/blobs/${blob.hash}/${blob.size}`;
    const lie = ctx.rng.pick([-1, 1, 4096, 2 ** 40, -(2 ** 40)]);
    const bad = ctx.rng.int(4);
    const messages = writeMessages(ctx, name, blob.data, {
      maxChunks: 4,
      offsetOf: (offset, i) => (i === bad || (i === 0 && bad >= 1) ? offset + lie : offset),
    });
    const step = await write(ctx, `write-wrong-offset ${name} by ${lie}`, messages);
    mustFail(ctx, step, `a write with offsets off by ${lie} was accepted`);
    return [step];
  },

  async 'write-wrong-data'(ctx) {
    const blob = freshBlob(ctx, 512 * 1024, 32);
    const wrong = Buffer.from(blob.data);
    const at = ctx.rng.int(wrong.length);
    wrong[at] = (wrong[at] as number) ^ 0x01;
    const name = `uploads/${randomUUID()}/blobs/${blob.hash}/${blob.size}`;
    const step = await write(
      ctx,
      `write-wrong-data ${name}, byte ${at} flipped`,
      writeMessages(ctx, name, wrong),
    );
    mustFail(ctx, step, 'data that does not match its digest was accepted');
    const check = await read(ctx, `read after write-wrong-data ${blob.hash}`, {
      resourceName: `blobs/${blob.hash}/${blob.size}`,
      readOffset: 0,
      readLimit: 0,
    });
    if (check.outcome.code === 0 && !readData(check).equals(blob.data)) {
      ctx.report('wrong-bytes', READ, check.input, 'a blob written with wrong data is served');
    }
    return [step, check];
  },

  async 'write-resource-change'(ctx) {
    const a = freshBlob(ctx, 64 * 1024);
    const b = ctx.dict.blob(ctx.rng);
    const first = `uploads/${randomUUID()}/blobs/${a.hash}/${a.size}`;
    const second = ctx.dict.writeResourceName(ctx.rng, b);
    const messages = [
      ...writeMessages(ctx, first, a.data.subarray(0, a.size >> 1), { finish: false }),
      ...writeMessages(ctx, second, a.data.subarray(a.size >> 1)),
    ];
    return [await write(ctx, `write-resource-change ${first} -> ${second}`, messages)];
  },

  async 'write-zstd-garbage'(ctx) {
    const blob = freshBlob(ctx, 1024 * 1024, 32);
    const kind = ctx.rng.pick(['random', 'bomb', 'truncated']);
    const payload =
      kind === 'bomb'
        ? zstdRleBomb(ctx.rng.pick([blob.size + 1, 64 * 2 ** 20, 2 ** 32]))
        : kind === 'truncated'
          ? zstdCompressSync(blob.data).subarray(0, ctx.rng.int(blob.size + 8))
          : ctx.rng.bytes(ctx.rng.size(64 * 1024));
    const name = `uploads/${randomUUID()}/compressed-blobs/zstd/${blob.hash}/${blob.size}`;
    const step = await write(
      ctx,
      `write-zstd-garbage (${kind}) ${name}`,
      writeMessages(ctx, name, payload),
    );
    if (kind !== 'truncated') {
      mustFail(ctx, step, `a zstd upload of ${kind} data was accepted`);
    }
    return [step];
  },

  async 'write-beyond-size'(ctx) {
    const blob = freshBlob(ctx, 128 * 1024, 32);
    const extra = Buffer.concat([blob.data, ctx.rng.bytes(ctx.rng.range(1, 70_000))]);
    const name = `uploads/${randomUUID()}/blobs/${blob.hash}/${blob.size}`;
    const step = await write(
      ctx,
      `write-beyond-size ${name} +${extra.length - blob.size}`,
      writeMessages(ctx, name, extra),
    );
    mustFail(ctx, step, 'a write of more bytes than the digest declares was accepted');
    return [step];
  },

  async 'write-many-small'(ctx) {
    const blob = freshBlob(ctx, 8 * 1024);
    const name = `uploads/${randomUUID()}/blobs/${blob.hash}/${blob.size}`;
    const messages: Buffer[] = [];
    let offset = 0;
    do {
      const n = Math.min(blob.size - offset, ctx.rng.range(1, 16));
      messages.push(
        Buffer.from(
          WriteRequest.encode({
            resourceName: name,
            writeOffset: offset,
            finishWrite: offset + n === blob.size,
            data: blob.data.subarray(offset, offset + n),
          }).finish(),
        ),
      );
      offset += n;
    } while (offset < blob.size);
    const step = await write(
      ctx,
      `write-many-small ${name} in ${messages.length} messages`,
      messages,
    );
    mustSucceed(ctx, step);
    if (step.outcome.code === 0) ctx.written(blob);
    return [step];
  },

  async 'write-abandon'(ctx) {
    const blob = freshBlob(ctx);
    const name = `uploads/${randomUUID()}/blobs/${blob.hash}/${blob.size}`;
    const part = blob.data.subarray(0, ctx.rng.int(blob.size + 1));
    const end: WriteEnd = ctx.rng.chance(0.7)
      ? { kind: 'cancel', afterMs: ctx.rng.int(50) }
      : { kind: 'leave-open' };
    return [
      await write(
        ctx,
        `write-abandon (${end.kind}) ${name}`,
        writeMessages(ctx, name, part, { finish: false }),
        end,
      ),
    ];
  },

  async 'write-resume'(ctx) {
    const blob = freshBlob(ctx, 2 * 1024 * 1024);
    const id = randomUUID();
    const name = `uploads/${id}/blobs/${blob.hash}/${blob.size}`;
    const half = blob.data.subarray(0, blob.size >> 1);
    const first = await write(
      ctx,
      `write-resume first half ${name}`,
      writeMessages(ctx, name, half, { finish: false }),
      {
        kind: 'cancel',
        afterMs: 20,
      },
    );
    // The server may still be taking in the cancelled stream's last messages
    // when the query arrives; a client then learns the new size from the
    // refusal and asks again, as this one does (three times at most).
    const steps: Step[] = [first];
    for (let attempt = 1; ; attempt++) {
      const query = Buffer.from(QueryWriteStatusRequest.encode({ resourceName: name }).finish());
      const queried = await unaryCall(ctx.client, ctx.method(QUERY).path, query, {
        deadlineMs: ctx.answerDeadlineMs,
        keepBytes: 1024,
      });
      const input = `query ${name}`;
      steps.push({ method: QUERY, outcome: queried, mayWait: false, input, bytes: query });
      let from = 0;
      if (queried.code === 0 && queried.responses[0]) {
        const written = QueryWriteStatusResponse.decode(queried.responses[0]);
        // Complete: the server holds the blob already (a small one may have been written before).
        if (written.complete) return steps;
        from = written.committedSize;
      }
      if (from < 0 || from > blob.size) {
        ctx.report(
          'accepted-invalid',
          QUERY,
          input,
          `committed_size ${from} outside 0..${blob.size}`,
        );
        from = 0;
      }
      const rest = writeMessages(ctx, name, blob.data.subarray(from), {
        offsetOf: (offset) => offset + from,
      });
      const second = await write(
        ctx,
        `write-resume from ${from} (attempt ${attempt}) ${name}`,
        rest,
      );
      steps.push(second);
      const raced = second.outcome.code === 3 && /does not match/.test(second.outcome.details);
      if (raced && attempt < 3) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      mustSucceed(ctx, second);
      if (second.outcome.code === 0) ctx.written(blob);
      return steps;
    }
  },

  async 'read-range'(ctx) {
    const blob = ctx.dict.blob(ctx.rng);
    const offset = ctx.rng.int(blob.size + 1);
    const limit = ctx.rng.chance(0.5) ? 0 : ctx.rng.int(blob.size - offset + 2);
    const resourceName = `blobs/${blob.hash}/${blob.size}`;
    const step = await read(ctx, `read-range ${resourceName} offset ${offset} limit ${limit}`, {
      resourceName,
      readOffset: offset,
      readLimit: limit,
    });
    mustSucceed(ctx, step);
    const expected = blob.data.subarray(offset, limit === 0 ? blob.size : offset + limit);
    if (step.outcome.code === 0 && !readData(step).equals(expected)) {
      ctx.report(
        'wrong-bytes',
        READ,
        step.input,
        `served ${readData(step).length} bytes that differ from the blob`,
      );
    }
    return [step];
  },

  async 'read-abandon'(ctx) {
    const big =
      [...ctx.dict.blobs].sort((a, b) => b.size - a.size)[ctx.rng.int(2)] ?? ctx.dict.blob(ctx.rng);
    const mode: ReadMode = ctx.rng.pick<ReadMode>([
      { kind: 'cancel-after-messages', messages: 1 },
      { kind: 'cancel-after-ms', ms: ctx.rng.int(30) },
      { kind: 'never-read', cancelAfterMs: ctx.rng.range(10, 500) },
    ]);
    const resourceName = ctx.rng.chance(0.3)
      ? `compressed-blobs/zstd/${big.hash}/${big.size}`
      : `blobs/${big.hash}/${big.size}`;
    return [
      await read(
        ctx,
        `read-abandon (${mode.kind}) ${resourceName}`,
        { resourceName, readOffset: 0, readLimit: 0 },
        mode,
      ),
    ];
  },

  async 'read-out-of-range'(ctx) {
    const blob = ctx.dict.blob(ctx.rng);
    const offset = ctx.rng.pick([blob.size + 1, -1, 2 ** 53 - 1, -(2 ** 40)]);
    const limit = ctx.rng.pick([0, -1, 1]);
    const resourceName = `blobs/${blob.hash}/${blob.size}`;
    const step = await read(
      ctx,
      `read-out-of-range ${resourceName} offset ${offset} limit ${limit}`,
      {
        resourceName,
        readOffset: offset,
        readLimit: limit,
      },
    );
    mustFail(ctx, step, `a read at offset ${offset}, limit ${limit} succeeded`);
    return [step];
  },
};
