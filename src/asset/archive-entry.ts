/**
 * The format-neutral view of an archive entry that the tar and zip readers
 * produce and the unpacker consumes, so that every safety rule lives in one
 * place whatever the format.
 */

/** A regular file. Its content must be consumed before the reader moves on. */
export interface ArchiveFileEntry {
  readonly kind: 'file';
  /** The name as stored in the archive, not yet validated. */
  readonly name: string;
  /** Whether any execute bit is set in the entry's mode. */
  readonly executable: boolean;
  /** Uncompressed size the archive declares, checked against the limits before reading. */
  readonly size: number;
  /** The uncompressed bytes. */
  readonly content: AsyncIterable<Uint8Array>;
}

/** A directory, possibly empty; parents of other entries need no entry of their own. */
export interface ArchiveDirectoryEntry {
  readonly kind: 'directory';
  readonly name: string;
}

/** A symbolic link with its target as stored, not yet validated. */
export interface ArchiveSymlinkEntry {
  readonly kind: 'symlink';
  readonly name: string;
  readonly target: string;
}

/** A tar hard link: another name for a file stored earlier in the archive. */
export interface ArchiveHardlinkEntry {
  readonly kind: 'hardlink';
  readonly name: string;
  /** Archive path of the earlier entry, not yet validated. */
  readonly target: string;
}

/** A device, FIFO or socket: REAPI trees cannot hold one, so it is skipped. */
export interface ArchiveSpecialEntry {
  readonly kind: 'special';
  readonly name: string;
  /** What it is, for messages (`character-device`, `fifo`, …). */
  readonly type: string;
}

/** One entry of an archive. */
export type ArchiveEntry =
  | ArchiveFileEntry
  | ArchiveDirectoryEntry
  | ArchiveSymlinkEntry
  | ArchiveHardlinkEntry
  | ArchiveSpecialEntry;

/**
 * Receives entries in archive order. Readers await it before producing the
 * next entry; whatever it throws stops the reader, which then releases its
 * streams and passes the error on.
 */
export type ArchiveEntryHandler = (entry: ArchiveEntry) => Promise<void>;
