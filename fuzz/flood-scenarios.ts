/**
 * Many streams at once on one connection: reads of the largest known blob
 * that nobody reads, and uploads that stop midway and stay open, all
 * cancelled after a while. What the server holds for them (buffers, open
 * files) must be bounded and released.
 */
import { randomUUID } from 'node:crypto';
import { ReadRequest, WriteRequest } from '../src/gen/google/bytestream/bytestream.js';
import type { FuzzContext, Step } from './fuzz-context.ts';
import { clientStreamCall, serverStreamCall } from './raw-calls.ts';

const READ = 'ByteStream.Read';
const WRITE = 'ByteStream.Write';

type Scenario = (ctx: FuzzContext) => Promise<Step[]>;

/** The flood scenarios, by name. */
export const FLOOD_SCENARIOS: Readonly<Record<string, Scenario>> = {
  async 'read-flood'(ctx) {
    const largest = [...ctx.dict.blobs].sort((a, b) => b.size - a.size)[0];
    if (largest === undefined) return [];
    const count = ctx.rng.range(20, 100);
    const cancelAfterMs = ctx.rng.range(50, 1000);
    const request = Buffer.from(
      ReadRequest.encode({
        resourceName: `blobs/${largest.hash}/${largest.size}`,
        readOffset: 0,
        readLimit: 0,
      }).finish(),
    );
    const input = `read-flood: ${count} unread reads of ${largest.size} bytes, cancelled after ${cancelAfterMs} ms`;
    const outcomes = await Promise.all(
      Array.from({ length: count }, () =>
        serverStreamCall(
          ctx.client,
          ctx.method(READ).path,
          request,
          { kind: 'never-read', cancelAfterMs },
          { deadlineMs: ctx.answerDeadlineMs },
        ),
      ),
    );
    return outcomes.map((outcome) => ({
      method: READ,
      outcome,
      mayWait: true,
      input,
      bytes: request,
    }));
  },

  async 'write-flood'(ctx) {
    const count = ctx.rng.range(20, 100);
    const cancelAfterMs = ctx.rng.range(50, 1000);
    const input = `write-flood: ${count} uploads stopped midway, cancelled after ${cancelAfterMs} ms`;
    const outcomes = await Promise.all(
      Array.from({ length: count }, () => {
        // Large enough for a temporary file: part of a 1 MiB blob that never comes.
        const data = ctx.rng.bytes(ctx.rng.range(70_000, 300_000));
        const hash = ctx.rng.bytes(32).toString('hex');
        const message = Buffer.from(
          WriteRequest.encode({
            resourceName: `uploads/${randomUUID()}/blobs/${hash}/${1024 * 1024}`,
            writeOffset: 0,
            finishWrite: false,
            data,
          }).finish(),
        );
        return clientStreamCall(
          ctx.client,
          ctx.method(WRITE).path,
          [message],
          { kind: 'cancel', afterMs: cancelAfterMs },
          { deadlineMs: ctx.answerDeadlineMs },
        );
      }),
    );
    return outcomes.map((outcome) => ({ method: WRITE, outcome, mayWait: true, input }));
  },
};
