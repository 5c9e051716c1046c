/**
 * `kiln cas`: the content-addressable storage from the command line.
 * Upload a file or a directory tree, download one back, print a blob, list
 * or draw a directory tree.
 */
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  asDirectory,
  decodeDirectory,
  type FetchedTree,
  fetchTree,
  fetchTreeMessage,
} from '../client/fetched-tree.ts';
import { downloadFiles, materializeTree } from '../client/tree-downloader.ts';
import { uploadPath } from '../client/upload-path.ts';
import { formatDigest, isEmptyDigest } from '../digest/digest.ts';
import { fromFsError, invalidArgument, KilnError } from '../errors.ts';
import {
  Action,
  ActionResult,
  Command,
  Directory,
  Tree,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { UsageError } from './cli-errors.ts';
import { formatSize, plural } from './cli-output.ts';
import { type CommandContext, runCommand, runGroup } from './cli-runner.ts';
import { parseDigestArg } from './digest-arg.ts';
import { ProgressBar } from './progress-bar.ts';
import { printListing, printTree } from './tree-printer.ts';

const CAS_HELP = `Usage: kiln cas <command> [options]

The content-addressable storage of any REAPI server.

Commands:
  upload PATH            upload a file or a directory tree; prints its digest
  download DIGEST PATH   download a file or a directory tree
  cat DIGEST             print a blob (or decode a message with --as)
  ls DIGEST              list a directory (-r: the whole tree)
  tree DIGEST            draw a directory tree with sizes

Run "kiln cas <command> --help" for a command's options.
`;

const UPLOAD_HELP = `Usage: kiln cas upload PATH [options]

Uploads a file, or a directory as a tree of Directory messages (executable
bits, symlinks and empty directories included). Asks the server which blobs
it lacks (FindMissingBlobs) and sends only those. Prints the digest of the
file or of the root Directory, HASH/SIZE, which the other commands accept.

Examples:
  kiln cas upload ./src
  ROOT=$(kiln cas upload ./inputs) && kiln cas tree "$ROOT"
  kiln cas upload big.tar --server grpcs://cache.example.com:443 --json`;

const DOWNLOAD_HELP = `Usage: kiln cas download DIGEST PATH [options]

Downloads a file, or recreates a directory tree (files with their executable
bit, symlinks, empty directories) from its root Directory digest. Without
--file or --dir the blob's contents decide: a canonical Directory message is
downloaded as a tree, anything else as a file. PATH must not exist, or be an
empty directory when a tree is downloaded.

Options:
  --file           DIGEST is a file's contents
  --dir            DIGEST is a root Directory
  --tree           DIGEST is a Tree message (an output directory's tree_digest)
  -x, --executable make the downloaded file executable

Examples:
  kiln cas download 9f86d0…/4 ./out.txt
  kiln cas download "$ROOT" ./copy --dir
  kiln cas download 3a7bd3…/512 ./outdir --tree`;

const CAT_HELP = `Usage: kiln cas cat DIGEST [options]

Writes a blob to stdout. With --as, decodes it as a REAPI message and prints
the message as JSON.

Options:
  --as TYPE   directory, tree, action, command or action-result

Examples:
  kiln cas cat 9f86d0…/4
  kiln cas cat "$ACTION" --as action`;

const LS_HELP = `Usage: kiln cas ls DIGEST [options]

Lists a directory: type and mode, size, digest and name of each entry.

Options:
  -r, --recursive   list the whole tree, with paths
  --tree            DIGEST is a Tree message rather than a root Directory

Examples:
  kiln cas ls "$ROOT"
  kiln cas ls "$ROOT" -r --json`;

const TREE_HELP = `Usage: kiln cas tree DIGEST [options]

Draws a directory tree with the size of every file and directory.

Options:
  --tree   DIGEST is a Tree message rather than a root Directory

Examples:
  kiln cas tree "$ROOT"`;

/** Message types `kiln cas cat --as` decodes. */
const MESSAGES = {
  directory: Directory,
  tree: Tree,
  action: Action,
  command: Command,
  'action-result': ActionResult,
} as const;

/** Largest blob whose contents are inspected to tell a Directory from a file. */
const SNIFF_BYTES = 4 * 1024 * 1024;

/** Runs `kiln cas` with the arguments after `cas`. */
export function casCommand(args: string[]): Promise<number> {
  return runGroup(
    {
      name: 'cas',
      help: CAS_HELP,
      commands: {
        upload: (a) =>
          runCommand(a, { name: 'cas upload', help: UPLOAD_HELP, positionals: ['PATH'] }, upload),
        download: (a) =>
          runCommand(
            a,
            {
              name: 'cas download',
              help: DOWNLOAD_HELP,
              positionals: ['DIGEST', 'PATH'],
              options: {
                file: { type: 'boolean' },
                dir: { type: 'boolean' },
                tree: { type: 'boolean' },
                executable: { type: 'boolean', short: 'x' },
              },
            },
            download,
          ),
        cat: (a) =>
          runCommand(
            a,
            {
              name: 'cas cat',
              help: CAT_HELP,
              positionals: ['DIGEST'],
              options: { as: { type: 'string' } },
            },
            cat,
          ),
        ls: (a) =>
          runCommand(
            a,
            {
              name: 'cas ls',
              help: LS_HELP,
              positionals: ['DIGEST'],
              options: { recursive: { type: 'boolean', short: 'r' }, tree: { type: 'boolean' } },
            },
            ls,
          ),
        tree: (a) =>
          runCommand(
            a,
            {
              name: 'cas tree',
              help: TREE_HELP,
              positionals: ['DIGEST'],
              options: { tree: { type: 'boolean' } },
            },
            tree,
          ),
      },
    },
    args,
  );
}

async function upload(ctx: CommandContext): Promise<number> {
  const { out } = ctx;
  const conn = await ctx.connect();
  let bar: ProgressBar | undefined;
  const result = await uploadPath({
    cas: conn.cas,
    digestFunction: ctx.settings.digestFunction,
    path: ctx.args.positional(0),
    onStart: (total) => {
      bar = new ProgressBar({ stream: out.stderr, label: 'uploading', total, enabled: !out.json });
    },
    onProgress: (bytes) => bar?.add(bytes),
  });
  bar?.finish();
  out.result({ ...result, digest: formatDigest(result.digest) }, () => {
    const what =
      result.kind === 'file'
        ? `a file of ${formatSize(result.bytes)}`
        : `${plural(result.files, 'file')} (${formatSize(result.bytes)}) and ` +
          plural(result.directories, 'directory', 'directories');
    out.note(
      `uploaded ${what}: ${plural(result.uploadedBlobs, 'missing blob')} (${formatSize(result.uploadedBytes)}) sent`,
    );
    return formatDigest(result.digest);
  });
  return 0;
}

async function download(ctx: CommandContext): Promise<number> {
  const { args, out, settings } = ctx;
  const digest = parseDigestArg(args.positional(0), settings.digestFunction);
  const destination = resolve(args.positional(1));
  const modes = ['file', 'dir', 'tree'].filter((m) => args.flag(m));
  if (modes.length > 1) throw new UsageError(`--${modes.join(' and --')} exclude each other`);
  const conn = await ctx.connect();
  let mode = modes[0];
  if (mode === undefined) {
    // A small blob is read to see whether it is a Directory; a file is then read again.
    const unsniffable = isEmptyDigest(digest) || digest.size > SNIFF_BYTES;
    mode =
      unsniffable || asDirectory(await conn.cas.readBlob(digest), digest.fn) === undefined
        ? 'file'
        : 'dir';
  }
  if (mode === 'file') {
    try {
      await mkdir(dirname(destination), { recursive: true });
    } catch (err) {
      throw fromFsError(err, `creating the directory of ${destination}`);
    }
    const bar = new ProgressBar({
      stream: out.stderr,
      label: 'downloading',
      total: digest.size,
      enabled: !out.json,
    });
    await downloadFiles({
      cas: conn.cas,
      files: [{ path: destination, digest, executable: args.flag('executable') }],
      onProgress: (bytes) => bar.add(bytes),
    });
    bar.finish();
    out.result({ digest: formatDigest(digest), kind: 'file', path: destination }, () => {
      out.note(`downloaded a file of ${formatSize(digest.size)} to ${destination}`);
      return '';
    });
    return 0;
  }
  const fetched =
    mode === 'tree' ? await fetchTreeMessage(conn.cas, digest) : await fetchTree(conn.cas, digest);
  let bar: ProgressBar | undefined;
  const written = await materializeTree({
    cas: conn.cas,
    tree: fetched,
    destination,
    onStart: (total) => {
      bar = new ProgressBar({
        stream: out.stderr,
        label: 'downloading',
        total,
        enabled: !out.json,
      });
    },
    onProgress: (bytes) => bar?.add(bytes),
  });
  bar?.finish();
  out.result(
    {
      digest: formatDigest(digest),
      root: formatDigest(fetched.root),
      kind: 'directory',
      path: destination,
      ...written,
    },
    () => {
      out.note(
        `downloaded ${plural(written.files, 'file')} (${formatSize(written.bytes)}), ` +
          `${plural(written.directories, 'directory', 'directories')} and ` +
          `${plural(written.symlinks, 'symlink')} to ${destination}`,
      );
      return '';
    },
  );
  return 0;
}

async function cat(ctx: CommandContext): Promise<number> {
  const { args, out, settings } = ctx;
  const digest = parseDigestArg(args.positional(0), settings.digestFunction);
  const as = args.string('as');
  const conn = await ctx.connect();
  if (as !== undefined) {
    const type = MESSAGES[as as keyof typeof MESSAGES];
    if (type === undefined) {
      throw new UsageError(`--as "${as}" is not one of ${Object.keys(MESSAGES).join(', ')}`);
    }
    const bytes = await conn.cas.readBlob(digest);
    let message: unknown;
    try {
      message = (type as typeof Directory).toJSON((type as typeof Directory).decode(bytes));
    } catch {
      throw invalidArgument(`blob ${formatDigest(digest)} is not a ${as} message`);
    }
    out.stdout.write(`${JSON.stringify(message, null, 2)}\n`);
    return 0;
  }
  if (out.json) {
    const bytes = await conn.cas.readBlob(digest);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    const isText = Buffer.from(text).equals(bytes);
    out.result(
      {
        digest: formatDigest(digest),
        size: digest.size,
        ...(isText ? { text } : { base64: bytes.toString('base64') }),
      },
      () => '',
    );
    return 0;
  }
  const stdout = out.stdout as NodeJS.WritableStream;
  for await (const chunk of conn.cas.readStream(digest)) {
    if (!stdout.write(chunk)) await once(stdout, 'drain');
  }
  return 0;
}

/** Loads the tree a listing command names. */
async function loadTree(ctx: CommandContext, wholeTree: boolean): Promise<FetchedTree> {
  const digest = parseDigestArg(ctx.args.positional(0), ctx.settings.digestFunction);
  const conn = await ctx.connect();
  if (ctx.args.flag('tree')) return fetchTreeMessage(conn.cas, digest);
  if (wholeTree) {
    return fetchTree(conn.cas, digest).catch((err: unknown) => {
      // The server names the blob in its internal form (`sha256/HASH_SIZE`).
      if (err instanceof KilnError && / is not a Directory message/.test(err.message)) {
        throw invalidArgument(
          `blob ${formatDigest(digest)} is not a Directory (a file? see "kiln cas cat")`,
        );
      }
      throw err;
    });
  }
  const bytes = await conn.cas.readBlob(digest);
  // Directories from other clients need not be canonical; but bytes that decode to no entry
  // at all (only unknown fields) are a file, not a Directory.
  const directory = asDirectory(bytes, digest.fn) ?? decodeDirectory(bytes, digest);
  const entries = directory.files.length + directory.directories.length + directory.symlinks.length;
  if (bytes.byteLength > 0 && entries === 0) {
    throw invalidArgument(`blob ${formatDigest(digest)} is not a Directory message`);
  }
  return { root: digest, directories: new Map([[digest.key, directory]]) };
}

async function ls(ctx: CommandContext): Promise<number> {
  const recursive = ctx.args.flag('recursive');
  printListing(ctx.out, await loadTree(ctx, recursive), recursive);
  return 0;
}

async function tree(ctx: CommandContext): Promise<number> {
  printTree(ctx.out, await loadTree(ctx, true));
  return 0;
}
