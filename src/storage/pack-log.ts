/**
 * Small blobs appended to a few large files ("packs") instead of a file each.
 *
 * A remote build writes several small blobs per action (the Action, the
 * Command, input Directories, outputs of a few hundred bytes, the
 * ActionResult). As files, each costs an inode: open, write, close and rename
 * on the way in, an unlink on eviction, a 4 KiB block for 150 bytes, and on
 * ext4 without a journal the creation alone took 0.3–0.9 ms of kernel CPU
 * after many deletions (the allocator skips recently deleted inodes one by
 * one). Appended to a pack, a blob costs a share of one positioned write per
 * batch, and a read is one positioned read on a file already open.
 *
 * A record is a 16-byte header with a CRC-32, the key (the store's
 * `Digest.key`) and the data (see pack-format.ts). Appends
 * made in the same microtask go out as one `writev` (and one `fdatasync`
 * with `fsync`); a record becomes visible only when its write has completed.
 * At open every pack is read through and each record checked against its
 * CRC, so a record torn by a power loss is never served: the scan skips to
 * the next intact record, and cuts a damaged tail off. A process killed
 * mid-write cannot tear a record that was reported written (the kernel
 * already holds it), and one not yet reported was never visible.
 *
 * Space is reclaimed per pack: a pack whose records are all released is
 * deleted, and once a quarter of a finished pack's data belongs to released
 * records, its live records are copied to the pack being written (the owner
 * is told where each went) and the pack is deleted.
 */
import {
  closeSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  writevSync,
} from 'node:fs';
import { mkdir, readdir, readFile, rm, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HEADER_BYTES, recordHeader, records } from './pack-format.ts';

const PACK_NAME = /^(\d{10})\.pack$/;
/** A pack is compacted once this share of its data belongs to released records. */
const COMPACT_DEAD_SHARE = 0.25;
/** Records parsed at open between two turns of the event loop. */
const LOAD_BATCH = 20_000;

/** Where one record's data is. Not its key, which compaction reads back: a string per
 * record cost more memory than the owner's index entry. */
export interface PackSlot<T> {
  readonly pack: Pack<T>;
  /** Offset of the record's header in its pack. */
  readonly offset: number;
  /** Length of the data. */
  readonly size: number;
  /** Header, key and data. */
  readonly recordBytes: number;
  /** The owner's handle on the record. */
  readonly tag: T;
}

/** A record found at open, and its key. */
export interface FoundRecord<T> {
  readonly slot: PackSlot<T>;
  readonly key: string;
}

/** One pack file. */
export interface Pack<T> {
  readonly id: number;
  readonly path: string;
  readonly fd: number;
  /** Bytes appended or reserved for appends in flight. */
  size: number;
  /** Data bytes of its records (live or not). */
  dataBytes: number;
  /** Last modification when opened, for packs found at open; when created otherwise. */
  readonly mtimeMs: number;
  /** Data bytes of its released records. */
  deadBytes: number;
  /** Records written and not released. */
  readonly live: Set<PackSlot<T>>;
  /** Appends reserved and not yet written. */
  writing: number;
  /** No longer appended to. */
  sealed: boolean;
  /** Its dead bytes no longer count: it is to be compacted, or being compacted. */
  compacting: boolean;
  /** The compaction running, if any. */
  compacted: Promise<void> | undefined;
  deleted: boolean;
}

/** Options of {@link PackLog.create}. */
export interface PackLogOptions<T> {
  /** Directory of the packs, created if absent; owned by the log. */
  readonly dir: string;
  /** A pack is finished once an append would take it past this size. */
  readonly packBytes: number;
  /** Flush each batch of appends (and a new pack's directory entry) to stable storage. */
  readonly fsync: boolean;
  /** The tag of a record found at open, or undefined to drop a record with a key of no use. */
  readonly parseKey: (key: string) => T | undefined;
  /**
   * Compaction copied a live record of `key`: returns whether the owner now
   * uses `to` instead of `from` (false when it dropped the record meanwhile,
   * and then `to` is released).
   */
  readonly moved: (from: PackSlot<T>, to: PackSlot<T>, key: string) => boolean;
}

/** Appends pending in one pack, written together. */
interface Batch<T> {
  readonly pack: Pack<T>;
  readonly position: number;
  readonly buffers: Uint8Array[];
  readonly waiters: {
    readonly slot: PackSlot<T>;
    readonly resolve: (slot: PackSlot<T>) => void;
    readonly reject: (err: unknown) => void;
  }[];
}

/** The packs of one store. */
export class PackLog<T> {
  readonly #options: PackLogOptions<T>;
  readonly #packs = new Map<number, Pack<T>>();
  readonly #background = new Set<Promise<void>>();
  #active: Pack<T> | undefined;
  #nextId: number;
  #batches: Batch<T>[] = [];
  /** Data bytes of released records in packs not being compacted: space not yet given back. */
  #deadBytes = 0;
  #closed = false;
  /** Packs found at create and not read yet (see {@link load}). */
  #unread: number[] = [];

  private constructor(options: PackLogOptions<T>, nextId: number) {
    this.#options = options;
    this.#nextId = nextId;
  }

  /**
   * Opens the log without reading the packs already in `options.dir`: it
   * takes appends at once (into new packs, numbered after every existing
   * one), and {@link load} reads the existing packs afterwards.
   */
  static async create<T>(options: PackLogOptions<T>): Promise<PackLog<T>> {
    await mkdir(options.dir, { recursive: true });
    const ids: number[] = [];
    for (const name of await readdir(options.dir)) {
      const match = PACK_NAME.exec(name);
      if (match === null) await rm(join(options.dir, name), { recursive: true, force: true });
      else ids.push(Number(match[1]));
    }
    ids.sort((a, b) => a - b);
    const log = new PackLog(options, (ids.at(-1) ?? 0) + 1);
    log.#unread = ids;
    return log;
  }

  /**
   * Reads the packs that were there at {@link create} and returns every
   * intact record, oldest first; once only. Records of one key may repeat:
   * the caller keeps the last and releases the others.
   */
  async load(): Promise<FoundRecord<T>[]> {
    const ids = this.#unread;
    this.#unread = [];
    const found: FoundRecord<T>[] = [];
    for (const id of ids) {
      const pack = await this.#load(id, found);
      if (pack.live.size === 0) this.#delete(pack);
    }
    return found;
  }

  /** Data bytes of released records whose space is not given back yet. */
  get deadBytes(): number {
    return this.#deadBytes;
  }

  /** Appends a record; resolves with its slot once written. */
  append(key: string, data: Uint8Array, tag: T): Promise<PackSlot<T>> {
    if (this.#closed) return Promise.reject(new Error('the pack log is closed'));
    const keyBytes = Buffer.from(key, 'latin1');
    const recordBytes = HEADER_BYTES + keyBytes.byteLength + data.byteLength;
    let pack = this.#active;
    if (
      pack === undefined ||
      (pack.size > 0 && pack.size + recordBytes > this.#options.packBytes)
    ) {
      try {
        pack = this.#rotate();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const offset = pack.size;
    pack.size += recordBytes;
    pack.dataBytes += data.byteLength;
    pack.writing++;
    const header = recordHeader(keyBytes, data);
    const slot: PackSlot<T> = { pack, offset, size: data.byteLength, recordBytes, tag };
    let batch = this.#batches.at(-1);
    if (batch === undefined || batch.pack !== pack) {
      batch = { pack, position: offset, buffers: [], waiters: [] };
      if (this.#batches.length === 0) queueMicrotask(() => this.#flush());
      this.#batches.push(batch);
    }
    batch.buffers.push(header, keyBytes, data);
    const { waiters } = batch;
    return new Promise((resolve, reject) => waiters.push({ slot, resolve, reject }));
  }

  /** The data of a written record from `start` to `end`, read synchronously. */
  read(slot: PackSlot<T>, start: number, end: number): Buffer {
    return this.#readAt(slot, slot.recordBytes - slot.size + start, end - start);
  }

  /** The record's key, read back from its pack. */
  #readKey(slot: PackSlot<T>): string {
    const keyLength = slot.recordBytes - slot.size - HEADER_BYTES;
    return this.#readAt(slot, HEADER_BYTES, keyLength).toString('latin1');
  }

  /** `length` bytes from `from` bytes into the record of `slot`. */
  #readAt(slot: PackSlot<T>, from: number, length: number): Buffer {
    const { pack } = slot;
    const where = `the record at ${slot.offset} of pack ${pack.path}`;
    if (pack.deleted) throw new Error(`${where} was in a deleted pack`);
    const data = Buffer.allocUnsafe(length);
    const position = slot.offset + from;
    let done = 0;
    while (done < length) {
      const n = readSync(pack.fd, data, done, length - done, position + done);
      if (n === 0) throw new Error(`pack ${pack.path} ends inside ${where}`);
      done += n;
    }
    return data;
  }

  /** Marks a record unused; its space is given back with its pack's. */
  release(slot: PackSlot<T>): void {
    const { pack } = slot;
    if (!pack.live.delete(slot)) return;
    this.#drop(slot);
  }

  /** Waits for appends, compactions and deletions in flight, and closes the packs. */
  async close(): Promise<void> {
    while (this.#batches.length > 0 || this.#background.size > 0) {
      if (this.#batches.length > 0) this.#flush();
      await Promise.all(this.#background);
    }
    this.#closed = true;
    for (const pack of this.#packs.values()) closeSync(pack.fd);
    this.#packs.clear();
  }

  /** Accounts a record as dead, and gives back its pack's space when that is due. */
  #drop(slot: PackSlot<T>): void {
    const { pack } = slot;
    pack.deadBytes += slot.size;
    if (!pack.compacting) this.#deadBytes += slot.size;
    this.#reclaim(pack);
  }

  /**
   * Gives back the space of released records when due: deletes a finished
   * pack without live records, and compacts one whose data is a quarter
   * dead. The pack being written is finished early when it is a quarter
   * dead, so that its space can be given back too. A pack's dead bytes stop
   * counting in {@link deadBytes} as soon as its compaction is decided, even
   * while appends to it are still in flight, so that an eviction deciding
   * what to delete does not delete more than the budget asks.
   */
  #reclaim(pack: Pack<T>): void {
    if (pack.deleted) return;
    const quarterDead = pack.deadBytes > 0 && pack.deadBytes >= pack.dataBytes * COMPACT_DEAD_SHARE;
    if (!pack.sealed) {
      if (pack !== this.#active || !quarterDead) return;
      pack.sealed = true;
      this.#active = undefined;
    }
    if (pack.writing > 0) {
      if (quarterDead && !pack.compacting) {
        pack.compacting = true;
        this.#deadBytes -= pack.deadBytes;
      }
      return;
    }
    if (pack.live.size === 0) {
      this.#delete(pack);
      return;
    }
    if (!quarterDead || pack.compacted !== undefined) return;
    if (!pack.compacting) {
      pack.compacting = true;
      this.#deadBytes -= pack.deadBytes;
    }
    pack.compacted = this.#compact(pack);
    this.#track(pack.compacted);
  }

  /** Copies the live records of `pack` to the active pack, then deletes it. */
  async #compact(pack: Pack<T>): Promise<void> {
    for (const slot of [...pack.live]) {
      if (!pack.live.has(slot)) continue;
      let copy: PackSlot<T>;
      let key: string;
      try {
        key = this.#readKey(slot);
        copy = await this.append(key, this.read(slot, 0, slot.size), slot.tag);
      } catch {
        // The disk is full, say: the pack stays as it is, and a later release tries again.
        break;
      }
      if (pack.live.has(slot) && this.#options.moved(slot, copy, key)) this.release(slot);
      else this.release(copy);
    }
    if (pack.live.size > 0) {
      // Stopped early: what is still dead counts again, and a later release retries.
      pack.compacting = false;
      pack.compacted = undefined;
      this.#deadBytes += pack.deadBytes;
    } else {
      this.#delete(pack);
    }
  }

  #delete(pack: Pack<T>): void {
    if (pack.deleted) return;
    pack.deleted = true;
    if (!pack.compacting) this.#deadBytes -= pack.deadBytes;
    this.#packs.delete(pack.id);
    if (this.#active === pack) this.#active = undefined;
    closeSync(pack.fd);
    // A pack that cannot be deleted is read again at the next open, its records whole.
    this.#track(unlink(pack.path).catch(() => {}));
  }

  /** Finishes the active pack and starts a new one. */
  #rotate(): Pack<T> {
    const previous = this.#active;
    const id = this.#nextId++;
    const path = this.#pathOf(id);
    const fd = openSync(path, 'wx+', 0o644);
    if (this.#options.fsync) {
      const dir = openSync(this.#options.dir, 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    }
    const pack = newPack<T>(id, path, fd, false);
    this.#packs.set(id, pack);
    this.#active = pack;
    if (previous !== undefined) {
      previous.sealed = true;
      this.#reclaim(previous);
    }
    return pack;
  }

  /** Writes every pending batch. */
  #flush(): void {
    const batches = this.#batches;
    this.#batches = [];
    for (const batch of batches) {
      const { pack } = batch;
      const err = writeAll(pack.fd, batch.buffers, batch.position);
      const written =
        err !== null || !this.#options.fsync
          ? Promise.resolve(err)
          : new Promise<NodeJS.ErrnoException | null>((resolve) => fdatasync(pack.fd, resolve));
      this.#track(
        written.then((err) => {
          pack.writing -= batch.waiters.length;
          for (const { slot, resolve, reject } of batch.waiters) {
            if (err === null) {
              pack.live.add(slot);
              resolve(slot);
            } else {
              this.#drop(slot);
              reject(err);
            }
          }
          this.#reclaim(pack);
        }),
      );
    }
  }

  #pathOf(id: number): string {
    return join(this.#options.dir, `${String(id).padStart(10, '0')}.pack`);
  }

  #track(promise: Promise<void>): void {
    this.#background.add(promise);
    void promise.finally(() => this.#background.delete(promise));
  }

  /**
   * Reads pack `id` through, adding its intact records to `found`. Past a damaged
   * record it looks for the next intact one; a damaged tail is cut off.
   */
  async #load(id: number, found: FoundRecord<T>[]): Promise<Pack<T>> {
    const path = this.#pathOf(id);
    const bytes = await readFile(path);
    const pack = newPack<T>(id, path, openSync(path, 'r+'), true);
    this.#packs.set(id, pack);
    let intactEnd = 0;
    let parsed = 0;
    for (const record of records(bytes)) {
      // Requests are served between batches (nothing uses this pack before it is loaded).
      if (++parsed % LOAD_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
      const size = record.end - record.dataStart;
      const tag = this.#options.parseKey(record.key);
      const slot: PackSlot<T> = {
        pack,
        offset: record.offset,
        size,
        recordBytes: record.end - record.offset,
        tag: tag as T,
      };
      pack.dataBytes += size;
      if (tag === undefined) {
        pack.deadBytes += size;
        this.#deadBytes += size;
      } else {
        pack.live.add(slot);
        found.push({ slot, key: record.key });
      }
      intactEnd = record.end;
    }
    pack.size = intactEnd;
    if (intactEnd < bytes.length) await truncate(path, intactEnd);
    return pack;
  }
}

/**
 * Writes all of `buffers` at `position`, synchronously; returns the error,
 * or null. Appending to a file already open only copies into the page cache:
 * measured here, 2 µs of CPU per synchronous `writev` of a record against 35
 * (17 of them on the event loop) for the asynchronous one, which also wakes
 * a thread-pool thread. A write that stops short (the disk filled up midway)
 * is continued, so that the error that stopped it is the one reported.
 */
function writeAll(
  fd: number,
  buffers: Uint8Array[],
  position: number,
): NodeJS.ErrnoException | null {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    let n: number;
    try {
      n = writevSync(fd, rest, at);
    } catch (err) {
      return err as NodeJS.ErrnoException;
    }
    if (n === 0)
      return Object.assign(new Error('a write to a pack made no progress'), { code: 'EIO' });
    at += n;
    let skip = n;
    const next: Uint8Array[] = [];
    for (const buffer of rest) {
      if (skip >= buffer.byteLength) skip -= buffer.byteLength;
      else {
        next.push(skip === 0 ? buffer : buffer.subarray(skip));
        skip = 0;
      }
    }
    rest = next;
  }
  return null;
}

function newPack<T>(id: number, path: string, fd: number, sealed: boolean): Pack<T> {
  return {
    id,
    path,
    fd,
    mtimeMs: fstatSync(fd).mtimeMs,
    size: 0,
    dataBytes: 0,
    deadBytes: 0,
    live: new Set(),
    writing: 0,
    sealed,
    compacting: false,
    compacted: undefined,
    deleted: false,
  };
}
