/**
 * Unpacks an archive blob from the CAS into a REAPI directory tree in the
 * same CAS, for the Remote Asset API's FetchDirectory. Archives are untrusted:
 * names are validated before content is read, limits trip while the archive
 * streams, and nothing is ever written outside a private temporary directory.
 *
 * Documented decisions:
 * - Duplicate names: a later file or symlink replaces an earlier one (as tar
 *   does when it extracts); a repeated directory merges; a file or symlink
 *   against a directory is INVALID_ARGUMENT (see `ArchiveTreeBuilder`).
 * - Devices, FIFOs and sockets are skipped: a REAPI tree cannot hold them and
 *   they have no content a build could use. They still count as entries.
 * - Hard links become a copy of the earlier file's node (same digest and
 *   executable bit); the linked size counts again against `maxTotalBytes`,
 *   because whoever materialises the tree writes it again.
 * - Symlinks are kept when they stay inside the tree; their targets are
 *   stored in canonical form (see `symlinkTarget`).
 * - Modes other than the execute bit, owners and times are dropped.
 */
import type { Digest } from '../digest/digest.ts';
import { invalidArgument } from '../errors.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { ArchiveBlobSpool } from './archive-blob-spool.ts';
import { ArchiveBudget, abortError } from './archive-budget.ts';
import type { ArchiveEntry } from './archive-entry.ts';
import { type ArchiveFormat, sniffArchiveFormat } from './archive-format.ts';
import { entryPath, symlinkTarget } from './archive-path.ts';
import { readTarEntries } from './archive-tar.ts';
import { ArchiveTreeBuilder } from './archive-tree-builder.ts';
import { readZipEntries } from './archive-zip.ts';

export { archiveFormatFromHint } from './archive-format.ts';

/** Options of {@link unpackArchive}. */
export interface UnpackArchiveOptions {
  /** Holds the archive, and receives every file and Directory message. */
  readonly cas: BlobStore;
  /**
   * The archive blob. Its digest function is used for every blob stored, so
   * the tree is addressable by a client of the same function.
   */
  readonly archive: Digest;
  /**
   * The archive's format; sniffed from its first bytes when undefined (see
   * `archiveFormatFromHint` to derive it from a MIME type or URI first).
   */
  readonly format?: 'tar' | 'tar.gz' | 'tar.xz' | 'zip';
  /**
   * Limits, enforced while streaming; crossing one rejects with
   * RESOURCE_EXHAUSTED. `maxFiles` bounds the entries of any kind (files,
   * directories, links, skipped devices), since each costs a node; the result's
   * `files` counts only regular files. `maxTotalBytes` bounds the uncompressed
   * content of all file entries, hard-linked copies included.
   */
  readonly limits: { readonly maxFiles: number; readonly maxTotalBytes: number };
  /** Stops the unpacking: CANCELLED, or DEADLINE_EXCEEDED when it is a timeout signal. */
  readonly signal?: AbortSignal;
}

/** The tree an archive unpacked to, all of it stored in the CAS. */
export interface UnpackedTree {
  /** Digest of the root Directory message. */
  readonly root: Digest;
  /** Regular files in the tree (a hard-linked file counts once per name). */
  readonly files: number;
  /** Total size of those files, in bytes. */
  readonly bytes: number;
}

/**
 * Unpacks the tar, tar.gz, tar.xz or zip archive `options.archive` into a
 * tree of Directory messages and file blobs in `options.cas`, and returns the
 * root's digest. Rejects with INVALID_ARGUMENT for a malformed, truncated or
 * unrecognised archive and for any unsafe entry (absolute or `..` names,
 * Windows drive letters or backslashes, symlinks leaving the tree, paths
 * through symlinks, broken hard links, file/directory collisions);
 * RESOURCE_EXHAUSTED past a limit; NOT_FOUND when the archive is not in the
 * CAS. Blobs stored before a failure stay in the CAS (unreferenced, for its
 * eviction to reclaim); temporary files never outlive the call.
 */
export async function unpackArchive(options: UnpackArchiveOptions): Promise<UnpackedTree> {
  const { cas, archive, signal } = options;
  if (signal?.aborted === true) throw abortError(signal);
  const budget = new ArchiveBudget({ ...options.limits, signal });
  const format: ArchiveFormat = options.format ?? (await sniffArchiveFormat(cas, archive));
  const spool = new ArchiveBlobSpool({ cas, fn: archive.fn });
  const tree = new ArchiveTreeBuilder({ cas, fn: archive.fn });
  const onEntry = (entry: ArchiveEntry) => addEntry(entry, { budget, spool, tree });
  try {
    switch (format) {
      case 'zip':
        await readZipEntries(
          { cas, archive, maxEntries: options.limits.maxFiles, signal },
          onEntry,
        );
        break;
      case 'tar':
      case 'tar.gz':
      case 'tar.xz':
        await readTarEntries({ source: await cas.get(archive), format, budget, signal }, onEntry);
        break;
      default:
        throw invalidArgument(`unknown archive format ${JSON.stringify(format satisfies never)}`);
    }
    budget.checkSignal();
    return await tree.finish();
  } finally {
    await spool.close();
  }
}

interface UnpackState {
  readonly budget: ArchiveBudget;
  readonly spool: ArchiveBlobSpool;
  readonly tree: ArchiveTreeBuilder;
}

/** Validates one entry and adds it to the tree; checks run before any content is read. */
async function addEntry(entry: ArchiveEntry, state: UnpackState): Promise<void> {
  const { budget, spool, tree } = state;
  budget.countEntry(entry.name);
  const path = entryPath(entry.name);
  switch (entry.kind) {
    case 'directory':
      tree.addDirectory(path);
      return;
    case 'file': {
      tree.checkLeaf(path);
      budget.checkDeclared(entry.name, entry.size);
      const digest = await spool.store(budget.meter(entry.name, entry.content));
      tree.addFile(path, digest, entry.executable);
      return;
    }
    case 'symlink':
      tree.addSymlink(path, symlinkTarget(path, entry.target));
      return;
    case 'hardlink': {
      const target = tree.fileAt(entryPath(entry.target, 'hard link target'), path);
      tree.checkLeaf(path);
      budget.addBytes(entry.name, target.digest.size);
      tree.addFile(path, target.digest, target.executable);
      return;
    }
    case 'special':
      // Nothing to add; the name was still validated so that a hostile one is reported.
      return;
  }
}
