/**
 * Fetches and validates the Action and Command an Execute request names,
 * before anything is queued, so that malformed or missing inputs fail the
 * call at once with the status REAPI prescribes.
 */
import { status } from '@grpc/grpc-js';
import { type Digest, parseDigest } from '../digest/digest.ts';
import { hasCode, invalidArgument } from '../errors.ts';
import { Action, Command } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, readAll } from '../storage/blob-store.ts';
import { missingBlobsFailure } from './precondition-failure.ts';

/** The validated inputs of one Execute call. */
export interface LoadedAction {
  readonly action: Action;
  readonly command: Command;
  readonly commandDigest: Digest;
  readonly inputRootDigest: Digest;
}

async function readOrUndefined(cas: BlobStore, digest: Digest): Promise<Buffer | undefined> {
  try {
    return await readAll(cas, digest);
  } catch (err) {
    if (hasCode(err, status.NOT_FOUND)) return undefined;
    throw err;
  }
}

function checkRelativePath(path: string, what: string): void {
  if (path === '' || path.startsWith('/') || path.split('/').some((s) => s === '..' || s === '')) {
    throw invalidArgument(
      `${what} "${path}" must be a relative path without ".." or empty segments`,
    );
  }
}

/** Validates a Command the way REAPI requires (arguments present, outputs relative). */
export function validateCommand(command: Command): void {
  if (command.arguments.length === 0 || command.arguments[0] === '') {
    throw invalidArgument('Command.arguments is empty: there is nothing to run');
  }
  const outputs = [...command.outputPaths, ...command.outputFiles, ...command.outputDirectories];
  for (const output of outputs) checkRelativePath(output, 'output path');
  if (command.workingDirectory !== '') {
    checkRelativePath(command.workingDirectory, 'Command.working_directory');
  }
  const names = new Set<string>();
  for (const env of command.environmentVariables) {
    if (env.name === '' || env.name.includes('=')) {
      throw invalidArgument(`environment variable name "${env.name}" is invalid`);
    }
    if (names.has(env.name)) throw invalidArgument(`environment variable ${env.name} is set twice`);
    names.add(env.name);
  }
}

/**
 * Loads the Action, its Command and checks the input root exists. Missing
 * blobs → FAILED_PRECONDITION with a PreconditionFailure; undecodable or
 * invalid messages → INVALID_ARGUMENT.
 */
export async function loadAction(cas: BlobStore, actionDigest: Digest): Promise<LoadedAction> {
  const fn = actionDigest.fn.value;
  const actionBytes = await readOrUndefined(cas, actionDigest);
  if (actionBytes === undefined) throw missingBlobsFailure([actionDigest], 'Action');
  let action: Action;
  try {
    action = Action.decode(actionBytes);
  } catch {
    throw invalidArgument(`blob ${actionDigest.key} is not an Action message`);
  }
  const commandDigest = parseDigest(action.commandDigest, fn, 'Action.command_digest');
  const inputRootDigest = parseDigest(action.inputRootDigest, fn, 'Action.input_root_digest');
  const [commandBytes, missingRoot] = await Promise.all([
    readOrUndefined(cas, commandDigest),
    inputRootDigest.size === 0 ? Promise.resolve([]) : cas.findMissing([inputRootDigest]),
  ]);
  const missing = [...(commandBytes === undefined ? [commandDigest] : []), ...missingRoot];
  if (missing.length > 0) throw missingBlobsFailure(missing, 'Execute');
  let command: Command;
  try {
    command = Command.decode(commandBytes ?? Buffer.alloc(0));
  } catch {
    throw invalidArgument(`blob ${commandDigest.key} is not a Command message`);
  }
  validateCommand(command);
  return { action, command, commandDigest, inputRootDigest };
}
