/**
 * `kiln run`: one command, remotely, as if it ran here. Uploads the input
 * directory, creates the action, executes it, writes the command's stdout
 * and stderr to ours, downloads its declared outputs next to the inputs, and
 * exits with the command's exit code. The resources the action used, when
 * the worker measured them, are one more note on stderr.
 */
import { once } from 'node:events';
import { mkdir, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { status } from '@grpc/grpc-js';
import { fetchTreeMessage } from '../client/fetched-tree.ts';
import { downloadFiles, materializeTree } from '../client/tree-downloader.ts';
import { uploadAction } from '../client/upload-action.ts';
import { makeDigest } from '../digest/digest.ts';
import { fromFsError, invalidArgument, KilnError } from '../errors.ts';
import { findResourceUsage, formatResourceUsage } from '../execution/resource-usage.ts';
import type { ActionResult } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  ACTION_OPTIONS,
  ACTION_OPTIONS_HELP,
  actionDefinitionOf,
  emptyRoot,
  outputsInInputRoot,
  uploadInputDirectory,
} from './action-options.ts';
import { UsageError } from './cli-errors.ts';
import type { TextSink } from './cli-output.ts';
import { type CommandContext, runCommand } from './cli-runner.ts';
import type { Connection } from './connection.ts';
import { executeWithStages, failureOf } from './execute-command.ts';
import { viewResult } from './result-printer.ts';

const RUN_HELP = `Usage: kiln run [options] -- PROGRAM [ARGS…]

Runs a command remotely in one step: uploads the input directory (only what
the server lacks), creates the action, executes it (stage changes, and the
resources it used when the worker measured them, on stderr), prints the
command's stdout and stderr to stdout and stderr, downloads the declared
outputs, and exits with the command's exit code.
Paths declared with --output are left out of the uploaded inputs, so that
outputs downloaded into the input directory do not change the next run: a
second identical run is answered from the action cache.

Options:
  --input-root DIR     local directory to upload as the input root
                       (default: an empty input root)
  --output-dir DIR     where to download outputs (default: the input root
                       directory, or the current directory without one)
${ACTION_OPTIONS_HELP}
  --skip-cache         run even if the action cache holds a result
  -q, --quiet          do not report stage changes or resources

Examples:
  kiln run -- uname -a
  kiln run --input-root . --output out/report.txt -- sh -c 'mkdir -p out && wc -l src/*.c > out/report.txt'
  kiln run --input-root ./proj --platform OSFamily=linux --timeout 5m -- make test
  kiln run --json -- false | jq .exitCode`;

/** Runs `kiln run` with the arguments after `run`. */
export function runCommandLine(args: string[]): Promise<number> {
  return runCommand(
    args,
    {
      name: 'run',
      help: RUN_HELP,
      options: {
        ...ACTION_OPTIONS,
        'input-root': { type: 'string' },
        'output-dir': { type: 'string' },
        'skip-cache': { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
      },
      argv: true,
    },
    run,
  );
}

async function run(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const definition = actionDefinitionOf(args);
  const inputDir = args.string('input-root');
  if (inputDir !== undefined && !(await stat(inputDir).catch(() => undefined))?.isDirectory()) {
    throw new UsageError(`--input-root "${inputDir}" is not a directory`);
  }
  const outputDir = resolve(args.string('output-dir') ?? inputDir ?? '.');
  const conn = await ctx.connect();
  const inputRootDigest =
    inputDir === undefined
      ? emptyRoot(ctx)
      : await uploadInputDirectory(ctx, inputDir, outputsInInputRoot(definition));
  const { actionDigest } = await uploadAction(conn.cas, ctx.settings.digestFunction, {
    ...definition,
    inputRootDigest,
  });
  const execution = await executeWithStages(ctx, conn, actionDigest, {
    skipCacheLookup: args.flag('skip-cache'),
    quiet: args.flag('quiet'),
  });
  const failure = failureOf(execution);
  const result = execution.response.result;
  if (result === undefined) {
    throw new KilnError(
      failure?.code ?? status.INTERNAL,
      `the action failed: ${failure?.message ?? 'the server sent no result'}`,
    );
  }
  const usage = findResourceUsage(result.executionMetadata);
  if (usage !== undefined && !args.flag('quiet')) {
    out.note(`kiln: resources: ${formatResourceUsage(usage)}`);
  }
  const downloaded =
    failure === undefined
      ? await downloadOutputs(conn, result, join(outputDir, definition.workingDirectory ?? ''))
      : [];
  if (out.json) {
    const view = await viewResult(conn, result, {
      actionDigest,
      operationName: execution.operationName,
      cached: execution.response.cachedResult,
      status: failure,
    });
    out.result(
      {
        ...view.json,
        inputRoot: `${inputRootDigest.hash}/${inputRootDigest.size}`,
        stages: execution.stages,
        outputDir,
        downloaded,
      },
      () => '',
    );
  } else {
    await copyStream(conn, result.stdoutRaw, result.stdoutDigest, out.stdout);
    await copyStream(conn, result.stderrRaw, result.stderrDigest, out.stderr);
  }
  if (failure !== undefined) {
    out.note(
      `kiln: the action failed: ${status[failure.code] ?? failure.code}: ${failure.message}`,
    );
    return 1;
  }
  // A shell sees an exit status modulo 256; never let a failure look like success.
  const code = result.exitCode & 0xff;
  return code === 0 && result.exitCode !== 0 ? 1 : code;
}

/** Writes the command's stdout or stderr: inlined bytes, or streamed from the CAS. */
async function copyStream(
  conn: Connection,
  raw: Buffer,
  digest: { hash: string; sizeBytes: number } | undefined,
  sink: TextSink,
): Promise<void> {
  const stream = sink as NodeJS.WritableStream;
  if (raw.byteLength > 0 || digest === undefined || digest.sizeBytes === 0) {
    if (raw.byteLength > 0 && !stream.write(raw)) await once(stream, 'drain');
    return;
  }
  const d = makeDigest(conn.settings.digestFunction, digest.hash, digest.sizeBytes);
  for await (const chunk of conn.cas.readStream(d)) {
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
}

/** `base/path`, refusing paths that lead out of `base` (a server names them). */
function inside(base: string, path: string): string {
  const full = resolve(base, path);
  if (!full.startsWith(base + sep)) {
    throw invalidArgument(`the server returned output "${path}", which lies outside ${base}`);
  }
  return full;
}

/**
 * Downloads the result's output files, directories and symlinks under
 * `base`, replacing what is there. Returns the paths written.
 */
async function downloadOutputs(
  conn: Connection,
  result: ActionResult,
  base: string,
): Promise<string[]> {
  const fn = conn.settings.digestFunction;
  const written: string[] = [];
  const parentOf = async (path: string) => {
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (err) {
      throw fromFsError(err, `creating the directory of ${path}`);
    }
  };
  const files = [];
  for (const f of result.outputFiles) {
    const path = inside(base, f.path);
    if (f.digest === undefined) throw invalidArgument(`output file "${f.path}" has no digest`);
    await parentOf(path);
    files.push({
      path,
      digest: makeDigest(fn, f.digest.hash, f.digest.sizeBytes, `output "${f.path}"`),
      executable: f.isExecutable,
    });
    written.push(path);
  }
  await downloadFiles({ cas: conn.cas, files });
  for (const o of result.outputDirectories) {
    const path = inside(base, o.path);
    if (o.treeDigest === undefined) throw invalidArgument(`output "${o.path}" has no tree digest`);
    const tree = await fetchTreeMessage(
      conn.cas,
      makeDigest(fn, o.treeDigest.hash, o.treeDigest.sizeBytes, `output "${o.path}"`),
    );
    await rm(path, { recursive: true, force: true });
    await materializeTree({ cas: conn.cas, tree, destination: path });
    written.push(path);
  }
  for (const s of [
    ...result.outputSymlinks,
    ...result.outputFileSymlinks,
    ...result.outputDirectorySymlinks,
  ]) {
    const path = inside(base, s.path);
    await parentOf(path);
    try {
      await rm(path, { recursive: true, force: true });
      await symlink(s.target, path);
    } catch (err) {
      throw fromFsError(err, `creating symlink ${path}`);
    }
    written.push(path);
  }
  return written;
}
