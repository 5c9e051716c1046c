/**
 * A request to any method, built from its request descriptor alone: a
 * random message, a mutated one, random bytes or nothing, sent the way the
 * method's kind allows (unary; streams read whole, cancelled or never read;
 * client streams half-closed, cancelled or left open).
 */
import { Metadata } from '@grpc/grpc-js';
import { RequestMetadata } from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { BotSession } from '../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import { Operation } from '../src/gen/google/longrunning/operations.js';
import { NASTY_STRINGS } from './dictionary.ts';
import type { FuzzContext, Step } from './fuzz-context.ts';
import { randomMessage } from './message-gen.ts';
import { mutate } from './mutate.ts';
import {
  clientStreamCall,
  type ReadMode,
  serverStreamCall,
  unaryCall,
  type WriteEnd,
} from './raw-calls.ts';
import type { FuzzMethod } from './schema.ts';

/**
 * Unary methods that may hold a call until their own timeout: long polls
 * and downloads. Every streaming-response method may wait too.
 */
const LONG_POLLS = new Set([
  'Operations.WaitOperation',
  'Bots.UpdateBotSession',
  'Fetch.FetchBlob',
  'Fetch.FetchDirectory',
]);

/** Whether a call to `method` may end at its deadline without the server being at fault. */
export function mayWait(method: FuzzMethod): boolean {
  return method.responseStream || LONG_POLLS.has(method.key);
}

/** Most bytes of one generated message; now and then up to 8 MiB. */
function messageBudget(ctx: FuzzContext): number {
  return ctx.rng.chance(0.03) ? 8 * 1024 * 1024 : 256 * 1024;
}

/** One request message for `method`, and how it was made. */
function requestBytes(ctx: FuzzContext, method: FuzzMethod): { bytes: Buffer; how: string } {
  const { rng } = ctx;
  const strategy =
    method.input === undefined
      ? 'random'
      : rng.weighted({ plausible: 35, valid: 25, mutated: 30, random: 5, empty: 5 });
  const build = (tame = rng.chance(0.5)): Buffer =>
    method.input === undefined
      ? rng.bytes(rng.size(1024))
      : Buffer.from(
          randomMessage(method.input, { rng, dict: ctx.dict, maxBytes: messageBudget(ctx), tame }),
        );
  switch (strategy) {
    case 'plausible':
      return { bytes: build(true), how: 'plausible' };
    case 'valid':
      return { bytes: build(false), how: 'valid' };
    case 'mutated': {
      const { bytes, applied } = mutate(rng, build(), build());
      return { bytes, how: `mutated (${applied.join(', ')})` };
    }
    case 'random':
      return { bytes: rng.bytes(rng.size(4096)), how: 'random' };
    default:
      return { bytes: Buffer.alloc(0), how: 'empty' };
  }
}

/** Call metadata: usually none, sometimes a REAPI RequestMetadata, valid or not, and odd headers. */
function randomMetadata(ctx: FuzzContext): Metadata | undefined {
  const { rng } = ctx;
  if (!rng.chance(0.1)) return undefined;
  const metadata = new Metadata();
  const value = rng.chance(0.5)
    ? Buffer.from(
        RequestMetadata.encode(
          RequestMetadata.fromPartial({
            toolInvocationId: rng.pick(NASTY_STRINGS),
            actionId: rng.bytes(rng.size(100)).toString('latin1'),
            correlatedInvocationsId: 'x'.repeat(rng.size(4096)),
          }),
        ).finish(),
      )
    : rng.bytes(rng.size(512));
  metadata.set('build.bazel.remote.execution.v2.requestmetadata-bin', value);
  if (rng.chance(0.3)) metadata.set('x-fuzz', rng.bytes(rng.size(64)).toString('base64'));
  return metadata;
}

/** Names in responses that later requests should reuse. */
function rememberNames(ctx: FuzzContext, method: FuzzMethod, responses: readonly Buffer[]): void {
  for (const response of responses) {
    try {
      if (method.service === 'Bots') ctx.dict.remember('bot', BotSession.decode(response).name);
      if (method.service === 'Execution')
        ctx.dict.remember('operation', Operation.decode(response).name);
    } catch {
      // A response that is not what it should be still counts by its status.
    }
  }
}

/** Sends one generic request to `method`. */
export async function genericRequest(ctx: FuzzContext, method: FuzzMethod): Promise<Step[]> {
  const { rng } = ctx;
  const waits = mayWait(method);
  const metadata = randomMetadata(ctx);
  const deadlineMs = waits ? rng.range(200, 3000) : ctx.answerDeadlineMs;
  const options = { deadlineMs, metadata, keepBytes: 256 * 1024 };

  if (method.requestStream) {
    // Now and then no message at all: a stream half-closed (or cancelled) at once.
    const count = rng.chance(0.05)
      ? 0
      : rng.chance(0.7)
        ? rng.range(1, 3)
        : rng.chance(0.7)
          ? rng.range(4, 50)
          : rng.range(100, 1000);
    const messages: Buffer[] = [];
    const hows = new Set<string>();
    for (let i = 0; i < count; i++) {
      const { bytes, how } = requestBytes(ctx, method);
      messages.push(count > 50 ? bytes.subarray(0, 256) : bytes);
      hows.add(how.replace(/ \(.*/, ''));
    }
    const end: WriteEnd =
      rng.weighted({ 'half-close': 70, cancel: 20, 'leave-open': 10 }) === 'half-close'
        ? { kind: 'half-close' }
        : rng.chance(0.67)
          ? { kind: 'cancel', afterMs: rng.int(50) }
          : { kind: 'leave-open' };
    const leftOpen = end.kind === 'leave-open';
    const outcome = await clientStreamCall(ctx.client, method.path, messages, end, {
      ...options,
      deadlineMs: leftOpen ? rng.range(200, 1500) : ctx.answerDeadlineMs,
    });
    const input = `${count} messages (${[...hows].join(', ')}), then ${end.kind}`;
    return [{ method: method.key, outcome, mayWait: leftOpen, input, bytes: messages[0] }];
  }

  const { bytes, how } = requestBytes(ctx, method);
  if (method.responseStream) {
    const mode = rng.pick<ReadMode>([
      { kind: 'all' },
      { kind: 'all' },
      { kind: 'cancel-after-messages', messages: rng.range(1, 3) },
      { kind: 'cancel-after-ms', ms: rng.int(100) },
      { kind: 'never-read', cancelAfterMs: rng.range(10, 1000) },
    ]);
    const outcome = await serverStreamCall(ctx.client, method.path, bytes, mode, options);
    rememberNames(ctx, method, outcome.responses);
    return [
      { method: method.key, outcome, mayWait: true, input: `${how}, read ${mode.kind}`, bytes },
    ];
  }
  const outcome = await unaryCall(ctx.client, method.path, bytes, options);
  rememberNames(ctx, method, outcome.responses);
  return [{ method: method.key, outcome, mayWait: waits, input: how, bytes }];
}
