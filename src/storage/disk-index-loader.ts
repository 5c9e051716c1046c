/**
 * Builds the disk store's index from what is on disk at open: the blob files
 * (names, sizes, mtimes) and the records of the packs. Runs before open
 * returns, or in the background while the store already takes requests
 * (see `indexInBackground` in disk-blob-store.ts).
 */
import type { Digest } from '../digest/digest.ts';
import type { BlobFileUploads } from './blob-file-uploads.ts';
import { type CompactDigestIndex, NONE } from './compact-digest-index.ts';
import { digestOfKey, scanBlobs } from './disk-layout.ts';
import type { FoundRecord, PackLog, PackSlot } from './pack-log.ts';

/** What the loader fills in, and what it reads. */
export interface DiskIndexTarget {
  readonly blobsDir: string;
  readonly contentAddressed: boolean;
  readonly files: BlobFileUploads;
  readonly packs: PackLog<true>;
  readonly index: CompactDigestIndex<PackSlot<true>>;
  /** Stamps of the entries committed since open: newer than anything found. */
  readonly committed: ReadonlySet<number>;
  /** Accounts bytes found (or, when a record replaces a file, the difference). */
  readonly addBytes: (bytes: number) => void;
}

/** Entries indexed between two turns of the event loop. */
const INDEX_BATCH = 20_000;

/**
 * Indexes the blob files and the records of the packs found at open,
 * newest first, each inserted as the oldest entry so far, so that the index
 * ends up in recency order however far it got. Blobs committed meanwhile
 * are newer than anything found, and stay the newest. Of a key found twice
 * the newer copy wins, except that a pack record beats a file (a file of a
 * key that also has a record was left by an older version of Kiln);
 * records with a malformed key, or whose length differs from their
 * digest's size in a content-addressed store, are released. The event loop
 * is given back every {@link INDEX_BATCH} entries, so that requests are
 * served meanwhile; a compaction that moves a record not indexed yet leaves
 * it where it is (see `PackLog`), so that never loses a blob.
 *
 * Returns the digests whose files are outdated by a record, for the caller
 * to delete.
 */
export async function loadDiskIndex(target: DiskIndexTarget): Promise<Digest[]> {
  const { index } = target;
  const { blobs: files, dirs } = await scanBlobs({
    blobsDir: target.blobsDir,
    contentAddressed: target.contentAddressed,
  });
  target.files.knowDirectories(dirs);
  const records = await target.packs.load();
  files.sort((x, y) => x.mtimeMs - y.mtimeMs);
  const outdated: Digest[] = [];
  let f = files.length - 1;
  let r = records.length - 1;
  for (let n = 1; f >= 0 || r >= 0; n++) {
    if (n % INDEX_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
    const file = files[f];
    const record = records[r];
    // Newest first; a record goes before a file of the same time, as it came later.
    if (record !== undefined && (file === undefined || record.slot.pack.mtimeMs >= file.mtimeMs)) {
      r--;
      indexFoundRecord(target, record, outdated);
    } else if (file !== undefined) {
      f--;
      const found = index.find(file.digest);
      if (found === NONE) {
        index.insert(file.digest, file.size, file.mtimeMs, undefined, true);
        target.addBytes(file.size);
      } else if (index.refOf(found) !== undefined) {
        outdated.push(file.digest);
      }
    }
  }
  return outdated;
}

/** Indexes one pack record found at open (see {@link loadDiskIndex}). */
function indexFoundRecord(
  target: DiskIndexTarget,
  { slot, key }: FoundRecord<true>,
  outdated: Digest[],
): void {
  const { index, packs } = target;
  const digest = digestOfKey(key);
  if (digest === undefined || (target.contentAddressed && slot.size !== digest.size)) {
    packs.release(slot);
    return;
  }
  const found = index.find(digest);
  if (found === NONE) {
    index.insert(digest, slot.size, slot.pack.mtimeMs, slot, true);
    target.addBytes(slot.size);
    return;
  }
  if (index.refOf(found) !== undefined || target.committed.has(index.stamp(found))) {
    // A newer record, or a copy committed meanwhile.
    packs.release(slot);
    return;
  }
  // A file found at open, and an older record of the same key: the record wins, in the
  // file's place.
  outdated.push(digest);
  target.addBytes(slot.size - index.lengthOf(found));
  index.setLength(found, slot.size);
  index.setRef(found, slot);
}
