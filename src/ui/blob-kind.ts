/**
 * Recognises what a CAS blob is. Blobs carry no type, so the CAS browser
 * decodes a blob as each REAPI message in turn and accepts the first that
 * decodes, re-encodes to the very same bytes (REAPI requires canonical
 * encoding of Directories, and every client encodes all of these
 * canonically) and holds only plausible values. Random bytes and text fail
 * one of those checks almost always; a view can still be forced.
 */
import { type Digest, parseDigest } from '../digest/digest.ts';
import {
  Action,
  Command,
  type Digest as DigestMessage,
  Directory,
  Tree,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';

/** The kinds of blob the CAS browser can show. */
export type BlobKind = 'directory' | 'tree' | 'action' | 'command' | 'file';

/** Every kind, for validating a forced `?as=` view. */
export const BLOB_KINDS: readonly BlobKind[] = ['directory', 'tree', 'action', 'command', 'file'];

/** A blob decoded as one kind. */
export type DecodedBlob =
  | { readonly kind: 'directory'; readonly directory: Directory }
  | { readonly kind: 'tree'; readonly tree: Tree }
  | { readonly kind: 'action'; readonly action: Action }
  | { readonly kind: 'command'; readonly command: Command }
  | { readonly kind: 'file' };

interface Codec<T> {
  decode(input: Uint8Array): T;
  encode(message: T): { finish(): Uint8Array };
}

/** Decodes `data` as `codec`'s message if it round-trips byte for byte. */
function strictDecode<T>(codec: Codec<T>, data: Buffer): T | undefined {
  let message: T;
  try {
    message = codec.decode(data);
  } catch {
    return undefined;
  }
  return Buffer.compare(Buffer.from(codec.encode(message).finish()), data) === 0
    ? message
    : undefined;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: names must not hold control characters.
const CONTROL = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: arguments may hold tabs and newlines only.
const CONTROL_EXCEPT_WHITESPACE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function isValidName(name: string): boolean {
  return name !== '' && !name.includes('/') && !CONTROL.test(name) && !name.includes('\ufffd');
}

function isValidDigest(d: DigestMessage | undefined, fn: Digest['fn']): boolean {
  try {
    parseDigest(d, fn.value);
    return true;
  } catch {
    return false;
  }
}

/** Whether every entry of a Directory has a valid name and digest. */
export function isPlausibleDirectory(dir: Directory, fn: Digest['fn']): boolean {
  return (
    dir.files.every((f) => isValidName(f.name) && isValidDigest(f.digest, fn)) &&
    dir.directories.every((d) => isValidName(d.name) && isValidDigest(d.digest, fn)) &&
    dir.symlinks.every((s) => isValidName(s.name) && s.target !== '')
  );
}

function asDirectory(data: Buffer, fn: Digest['fn']): DecodedBlob | undefined {
  const directory = strictDecode(Directory, data);
  return directory !== undefined && isPlausibleDirectory(directory, fn)
    ? { kind: 'directory', directory }
    : undefined;
}

function asTree(data: Buffer, fn: Digest['fn']): DecodedBlob | undefined {
  const tree = strictDecode(Tree, data);
  if (tree?.root === undefined) return undefined;
  const dirs = [tree.root, ...tree.children];
  return dirs.every((d) => isPlausibleDirectory(d, fn)) ? { kind: 'tree', tree } : undefined;
}

function asAction(data: Buffer, fn: Digest['fn']): DecodedBlob | undefined {
  const action = strictDecode(Action, data);
  if (action === undefined || action.commandDigest === undefined) return undefined;
  const valid =
    isValidDigest(action.commandDigest, fn) &&
    (action.inputRootDigest === undefined || isValidDigest(action.inputRootDigest, fn));
  return valid ? { kind: 'action', action } : undefined;
}

function asCommand(data: Buffer): DecodedBlob | undefined {
  const command = strictDecode(Command, data);
  if (command === undefined || command.arguments.length === 0) return undefined;
  const texts = [
    ...command.arguments,
    ...command.environmentVariables.flatMap((e) => [e.name, e.value]),
    ...command.outputPaths,
    ...command.outputFiles,
    ...command.outputDirectories,
  ];
  const plausible =
    command.arguments[0] !== '' &&
    texts.every((t) => !CONTROL_EXCEPT_WHITESPACE.test(t) && !t.includes('\ufffd'));
  return plausible ? { kind: 'command', command } : undefined;
}

/**
 * Decodes a blob as `forced`, or as the first kind that fits: Directory,
 * Tree, Action, Command, else a plain file. The empty blob is an empty
 * Directory (the input root of an action without inputs). Returns undefined
 * only when a forced kind does not decode.
 */
export function decodeBlob(
  digest: Digest,
  data: Buffer,
  forced?: BlobKind,
): DecodedBlob | undefined {
  const fn = digest.fn;
  switch (forced) {
    case 'directory':
      return asDirectory(data, fn);
    case 'tree':
      return asTree(data, fn);
    case 'action':
      return asAction(data, fn);
    case 'command':
      return asCommand(data);
    case 'file':
      return { kind: 'file' };
    case undefined:
      return (
        asDirectory(data, fn) ??
        asTree(data, fn) ??
        asAction(data, fn) ??
        asCommand(data) ?? { kind: 'file' }
      );
  }
}
