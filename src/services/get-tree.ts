/**
 * The traversal behind ContentAddressableStorage.GetTree: breadth-first over
 * Directory messages, each distinct directory once, in pages.
 *
 * A page token records how many directories earlier pages returned; a
 * continuation replays the (deterministic) traversal up to that point. That
 * keeps tokens small and servers stateless at the cost of re-reading the
 * skipped directories, which are usually in the fastest storage tier.
 */

import { status } from '@grpc/grpc-js';
import { type Digest, isEmptyDigest, makeDigest } from '../digest/digest.ts';
import { hasCode, invalidArgument, notFound, quote } from '../errors.ts';
import {
  Directory,
  type GetTreeResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, readAll } from '../storage/blob-store.ts';

/** Most directories in one GetTree reply. */
const MAX_PAGE_DIRECTORIES = 1000;
/** Most encoded bytes of directories in one GetTree reply. */
const MAX_PAGE_BYTES = 2 * 1024 * 1024;

interface TreeToken {
  readonly root: string;
  readonly skip: number;
}

/** Options for {@link streamTree}. */
export interface StreamTreeOptions {
  readonly cas: BlobStore;
  readonly root: Digest;
  /** Client's page size; 0 means the server's default. */
  readonly pageSize: number;
  /** Token from a previous reply, or ''. */
  readonly pageToken: string;
  readonly send: (response: GetTreeResponse) => Promise<void>;
}

function encodeToken(token: TreeToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeToken(text: string, root: Digest): number {
  if (text === '') return 0;
  let token: TreeToken;
  try {
    token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as TreeToken;
  } catch {
    throw invalidArgument(`page_token ${quote(text)} is not a token this server issued`);
  }
  if (token.root !== root.key || !Number.isSafeInteger(token.skip) || token.skip < 0) {
    throw invalidArgument(`page_token ${quote(text)} does not belong to root_digest ${root.key}`);
  }
  return token.skip;
}

/**
 * A Directory from the CAS; undefined when absent, INVALID_ARGUMENT when the
 * blob is not a Directory message.
 */
export async function readDirectory(
  cas: BlobStore,
  digest: Digest,
): Promise<Directory | undefined> {
  if (isEmptyDigest(digest)) return Directory.decode(new Uint8Array(0));
  let bytes: Buffer;
  try {
    bytes = await readAll(cas, digest);
  } catch (err) {
    if (hasCode(err, status.NOT_FOUND)) return undefined;
    throw err;
  }
  try {
    return Directory.decode(bytes);
  } catch {
    throw invalidArgument(`blob ${digest.key} is not a Directory message`);
  }
}

/** Sends the tree under `root` as a stream of pages. Missing subtrees are omitted, per REAPI. */
export async function streamTree(options: StreamTreeOptions): Promise<void> {
  const { cas, root, send } = options;
  if (options.pageSize < 0) throw invalidArgument(`page_size ${options.pageSize} is negative`);
  const skip = decodeToken(options.pageToken, root);
  const pageLimit = Math.min(options.pageSize || MAX_PAGE_DIRECTORIES, MAX_PAGE_DIRECTORIES);
  const rootDirectory = await readDirectory(cas, root);
  if (rootDirectory === undefined) throw notFound(`root directory ${root.key} is not in the CAS`);

  const seen = new Set<string>([root.key]);
  const queue: Array<{ digest: Digest; directory?: Directory }> = [
    { digest: root, directory: rootDirectory },
  ];
  let index = 0;
  let page: Directory[] = [];
  let pageBytes = 0;
  while (queue.length > 0) {
    const next = queue.shift();
    if (next === undefined) break;
    const directory = next.directory ?? (await readDirectory(cas, next.digest));
    if (directory === undefined) continue;
    for (const child of directory.directories) {
      if (child.digest === undefined) continue;
      const digest = makeDigest(
        root.fn,
        child.digest.hash,
        child.digest.sizeBytes,
        `directory ${child.name}`,
      );
      if (!seen.has(digest.key)) {
        seen.add(digest.key);
        queue.push({ digest });
      }
    }
    const position = index++;
    if (position < skip) continue;
    // The blob's size, not a re-encoding of the decoded message: the same bytes
    // unless the blob carried fields this server does not know (then fewer).
    const size = next.digest.size;
    if (page.length >= pageLimit || (page.length > 0 && pageBytes + size > MAX_PAGE_BYTES)) {
      await send({
        directories: page,
        nextPageToken: encodeToken({ root: root.key, skip: position }),
      });
      page = [];
      pageBytes = 0;
    }
    page.push(directory);
    pageBytes += size;
  }
  await send({ directories: page, nextPageToken: '' });
}
