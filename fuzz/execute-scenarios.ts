/**
 * Execution scenarios: the known action (run, or cancelled after its first
 * update), hostile actions (input names that climb out of the build
 * directory, symlinks out of it, duplicate names, output paths and working
 * directories with "..", NUL in arguments and environment), and an action
 * whose input root is a directory DAG that expands to 2^40 entries. The
 * hostile ones must end in an error status, never in a run.
 */
import { createHash } from 'node:crypto';
import {
  Action,
  Command,
  Directory,
  ExecuteRequest,
  ExecuteResponse,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { Operation } from '../src/gen/google/longrunning/operations.js';
import { batchUpdate } from './blob-io.ts';
import type { FuzzContext, Step } from './fuzz-context.ts';
import { type CallOutcome, serverStreamCall } from './raw-calls.ts';

const EXECUTE = 'Execution.Execute';
const BATCH_UPDATE = 'ContentAddressableStorage.BatchUpdateBlobs';

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function encode<T>(
  type: { encode(m: T): { finish(): Uint8Array }; fromPartial(o: object): T },
  value: object,
): Buffer {
  return Buffer.from(type.encode(type.fromPartial(value)).finish());
}

function digestOf(data: Buffer): { hash: string; sizeBytes: number } {
  return { hash: sha256(data), sizeBytes: data.length };
}

const FILE = Buffer.from('fuzz input\n');

/** Input roots and commands that must not run, by name. */
const HOSTILE: Readonly<Record<string, { root: object; command: object }>> = {
  'file named ..': { root: { files: [{ name: '..', digest: digestOf(FILE) }] }, command: {} },
  'file climbing out': {
    root: { files: [{ name: '../../escape', digest: digestOf(FILE) }] },
    command: {},
  },
  'absolute file name': {
    root: { files: [{ name: '/tmp/escape', digest: digestOf(FILE) }] },
    command: {},
  },
  'duplicate names': {
    root: {
      files: [{ name: 'a', digest: digestOf(FILE) }],
      directories: [{ name: 'a', digest: digestOf(Buffer.alloc(0)) }],
    },
    command: {},
  },
  'write through a symlink out': {
    root: { symlinks: [{ name: 'l', target: '/tmp' }] },
    command: { outputPaths: ['l/escape'] },
  },
  'output path climbing out': { root: {}, command: { outputPaths: ['../../escape'] } },
  'absolute output path': { root: {}, command: { outputPaths: ['/etc/passwd'] } },
  'working directory climbing out': { root: {}, command: { workingDirectory: '../..' } },
  'NUL in an argument': { root: {}, command: { arguments: ['/bin/sh\u0000x', '-c', 'exit 0'] } },
  'NUL in the environment': {
    root: {},
    command: { environmentVariables: [{ name: 'A\u0000B', value: 'x' }] },
  },
  'no arguments': { root: {}, command: { arguments: [] } },
};

/** The final ExecuteResponse status code of a finished Execute stream, if there is one. */
function executeStatus(outcome: CallOutcome): number | undefined {
  const last = outcome.responses.at(-1);
  if (last === undefined) return undefined;
  try {
    const op = Operation.decode(last);
    if (!op.done || op.response === undefined) return undefined;
    return ExecuteResponse.decode(op.response.value).status?.code ?? 0;
  } catch {
    return undefined;
  }
}

/** Uploads `blobs` and executes the last one (an Action). */
async function uploadAndExecute(
  ctx: FuzzContext,
  input: string,
  blobs: readonly Buffer[],
  deadlineMs: number,
): Promise<Step[]> {
  const upload = await batchUpdate(
    ctx.client,
    blobs.map((data) => ({ hash: sha256(data), data })),
    { deadlineMs: ctx.answerDeadlineMs },
  );
  const uploaded: Step = {
    method: BATCH_UPDATE,
    outcome: upload.outcome,
    mayWait: false,
    input: `${input}: upload`,
  };
  const action = blobs.at(-1) as Buffer;
  const request = encode(ExecuteRequest, { actionDigest: digestOf(action), skipCacheLookup: true });
  const outcome = await serverStreamCall(
    ctx.client,
    ctx.method(EXECUTE).path,
    request,
    { kind: 'all' },
    {
      deadlineMs,
      keepBytes: 1024 * 1024,
    },
  );
  return [uploaded, { method: EXECUTE, outcome, mayWait: true, input, bytes: request }];
}

type Scenario = (ctx: FuzzContext) => Promise<Step[]>;

/** The execution scenarios, by name. */
export const EXECUTE_SCENARIOS: Readonly<Record<string, Scenario>> = {
  async 'execute-known'(ctx) {
    const action = ctx.dict.blobs.find((b) => b.label === 'action');
    if (action === undefined) throw new Error('no known action');
    const request = encode(ExecuteRequest, {
      actionDigest: { hash: action.hash, sizeBytes: action.size },
      skipCacheLookup: ctx.rng.chance(0.3),
    });
    const cancel = ctx.rng.chance(0.3);
    const outcome = await serverStreamCall(
      ctx.client,
      ctx.method(EXECUTE).path,
      request,
      cancel ? { kind: 'cancel-after-messages', messages: 1 } : { kind: 'all' },
      { deadlineMs: ctx.rng.range(500, 5000), keepBytes: 1024 * 1024 },
    );
    for (const r of outcome.responses) {
      try {
        ctx.dict.remember('operation', Operation.decode(r).name);
      } catch {
        // Not an Operation: the table shows the call's status anyway.
      }
    }
    const input = `execute-known${cancel ? ' (cancelled)' : ''}`;
    return [{ method: EXECUTE, outcome, mayWait: true, input, bytes: request }];
  },

  async 'execute-hostile'(ctx) {
    const name = ctx.rng.pick(Object.keys(HOSTILE));
    const { root, command } = HOSTILE[name] as { root: object; command: object };
    const rootBlob = encode(Directory, root);
    const commandBlob = encode(Command, { arguments: ['/bin/sh', '-c', 'exit 0'], ...command });
    const action = encode(Action, {
      commandDigest: digestOf(commandBlob),
      inputRootDigest: digestOf(rootBlob),
      doNotCache: true,
      salt: ctx.rng.bytes(8),
    });
    const input = `execute-hostile: ${name}`;
    const steps = await uploadAndExecute(
      ctx,
      input,
      [FILE, Buffer.alloc(0), rootBlob, commandBlob, action],
      15_000,
    );
    const executed = steps[1] as Step;
    if (executed.outcome.code === 0 && executeStatus(executed.outcome) === 0) {
      ctx.report('accepted-invalid', EXECUTE, input, 'a hostile action ran');
    }
    return steps;
  },

  async 'execute-diamond'(ctx) {
    // Each level holds its child twice: 40 small blobs, 2^40 paths.
    let level = encode(Directory, { files: [{ name: 'f', digest: digestOf(FILE) }] });
    const blobs = [FILE, level];
    for (let i = 0; i < 40; i++) {
      const child = digestOf(level);
      level = encode(Directory, {
        directories: [
          { name: 'a', digest: child },
          { name: 'b', digest: child },
        ],
      });
      blobs.push(level);
    }
    const commandBlob = encode(Command, { arguments: ['/bin/sh', '-c', 'exit 0'] });
    const action = encode(Action, {
      commandDigest: digestOf(commandBlob),
      inputRootDigest: digestOf(level),
      doNotCache: true,
      salt: ctx.rng.bytes(8),
    });
    const input = 'execute-diamond: an input root of 2^40 entries';
    const steps = await uploadAndExecute(ctx, input, [...blobs, commandBlob, action], 15_000);
    const executed = steps[1] as Step;
    if (executed.outcome.code === 0 && executeStatus(executed.outcome) === 0) {
      ctx.report('accepted-invalid', EXECUTE, input, 'an action with 2^40 inputs ran');
    }
    return steps;
  },
};
