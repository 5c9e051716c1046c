/**
 * An index of who wrote which action cache entry, so that a purge finds a
 * principal's or a worker's entries without reading the whole store (which
 * the BlobStore interface cannot list anyway). It lives in memory and, with
 * a path, in an append-only journal next to the data, replayed at start.
 *
 * The index is a hint, never the truth: a purge checks each candidate
 * against the provenance stored in the entry itself. So a journal line for
 * a write that never reached the store (a crash in between, which is why the
 * line is written first) or for an entry evicted since is harmless, and a
 * torn last line after a crash is skipped.
 */
import { closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { instanceCovered } from '../auth/permissions.ts';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { digestFunctionByName } from '../digest/digest-function.ts';
import type { Logger } from '../util/logger.ts';
import { type WriterFields, type WriterFilter, writerMatches } from './provenance.ts';

/** One indexed write. */
export interface IndexedWrite extends WriterFields {
  readonly instanceName: string;
  readonly action: Digest;
}

/** Options of {@link WriterIndex.open}. */
export interface WriterIndexOptions {
  /** The journal file (created if absent); without one the index is lost at exit. */
  readonly path?: string;
  /**
   * Most entries remembered; beyond it the least recently written are
   * forgotten (and can no longer be purged by writer). Default 1,000,000:
   * about 240 MB of memory and 140 MB of journal at that size.
   */
  readonly maxEntries?: number;
  /** Where journal write failures are reported. */
  readonly log?: Logger;
}

/** Default of {@link WriterIndexOptions.maxEntries}. */
export const DEFAULT_MAX_INDEXED_ENTRIES = 1_000_000;

/** A journal line: a write, or (`x`) the removal of an entry. */
interface JournalLine {
  /** Instance name. */
  readonly i: string;
  /** Action digest key, `fn/hash_size`. */
  readonly a: string;
  readonly p?: string;
  readonly w?: string;
  /** Worker principal. */
  readonly q?: string;
  readonly t?: number;
  readonly x?: 1;
}

/** The writer of one indexed entry. */
type Writer = WriterFields;

/** Most distinct names shared between entries (see `#names`). */
const MAX_NAMES = 100_000;

/** Compacts the journal when it holds this many more lines than twice the live entries. */
const COMPACT_SLACK = 10_000;

/** The writer index; see the module comment. */
export class WriterIndex {
  /** `instance NUL actionKey` → writer; the Digest is rebuilt only for selected entries. */
  readonly #entries = new Map<string, Writer>();
  /** One copy of each principal and worker name: thousands of entries share each. */
  readonly #names = new Map<string, string>();
  readonly #path: string | undefined;
  readonly #maxEntries: number;
  readonly #log: Logger | undefined;
  #fd: number | undefined;
  /** Lines in the journal, live or not. */
  #lines = 0;

  private constructor(options: WriterIndexOptions) {
    this.#path = options.path;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_INDEXED_ENTRIES;
    this.#log = options.log;
  }

  /** An index kept in memory only. */
  static inMemory(options: Omit<WriterIndexOptions, 'path'> = {}): WriterIndex {
    return new WriterIndex(options);
  }

  /** Opens the index, replaying its journal when there is one. */
  static open(options: WriterIndexOptions): WriterIndex {
    const index = new WriterIndex(options);
    if (options.path !== undefined) index.#load(options.path);
    return index;
  }

  /** Entries indexed. */
  get size(): number {
    return this.#entries.size;
  }

  /** Records a write; call before the entry is stored (see the module comment). */
  record(write: IndexedWrite): void {
    this.#set(write);
    this.#append({
      i: write.instanceName,
      a: write.action.key,
      p: write.principal,
      w: write.worker,
      q: write.workerPrincipal,
      t: write.writtenAtMs,
    });
  }

  /** Forgets an entry that was purged or is gone from the store. */
  forget(instanceName: string, action: Digest): void {
    if (this.#entries.delete(keyOf(instanceName, action.key))) {
      this.#append({ i: instanceName, a: action.key, x: 1 });
    }
  }

  /**
   * Indexed writes that `filter` selects, in instances covered by
   * `instancePrefix` (per path segment; "" is every instance). A scan of
   * the in-memory map: about 6 ms per 100,000 entries, plus 1 µs per match.
   */
  select(filter: WriterFilter, instancePrefix: string): IndexedWrite[] {
    const out: IndexedWrite[] = [];
    for (const [key, writer] of this.#entries) {
      if (!writerMatches(filter, writer)) continue;
      const nul = key.indexOf('\u0000');
      const instanceName = key.slice(0, nul);
      if (!instanceCovered(instancePrefix, instanceName)) continue;
      const action = digestOfKey(key.slice(nul + 1));
      if (action !== undefined) out.push({ instanceName, action, ...writer });
    }
    return out;
  }

  /** Closes the journal. */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #set(write: IndexedWrite): void {
    this.#setKey(keyOf(write.instanceName, write.action.key), write);
  }

  #setKey(key: string, write: WriterFields): void {
    // Re-inserted, so that the map's order is the order of the last writes.
    this.#entries.delete(key);
    this.#entries.set(key, {
      principal: this.#name(write.principal),
      worker: this.#name(write.worker),
      workerPrincipal: this.#name(write.workerPrincipal),
      writtenAtMs: write.writtenAtMs,
    });
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  #name(name: string): string {
    const known = this.#names.get(name);
    if (known !== undefined) return known;
    if (this.#names.size < MAX_NAMES) this.#names.set(name, name);
    return name;
  }

  #append(line: JournalLine): void {
    if (this.#fd === undefined) return;
    try {
      writeSync(this.#fd, `${JSON.stringify(line)}\n`);
      this.#lines++;
      if (this.#lines > 2 * this.#entries.size + COMPACT_SLACK) this.#compact();
    } catch (err) {
      this.#log?.warn(
        { err, path: this.#path },
        'writing the action cache writer journal failed; a purge may miss this entry',
      );
    }
  }

  #load(path: string): void {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let lines = 0;
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      lines++;
      const line = parseLine(raw);
      if (line === undefined) continue;
      const key = keyOf(line.i, line.a);
      if (line.x === 1) this.#entries.delete(key);
      else {
        this.#setKey(key, {
          principal: line.p ?? '',
          worker: line.w ?? '',
          workerPrincipal: line.q ?? '',
          writtenAtMs: line.t ?? 0,
        });
      }
    }
    this.#lines = lines;
    this.#fd = openSync(path, 'a');
    // A torn last line (a crash mid-append) is ended, so the next line is whole.
    if (text !== '' && !text.endsWith('\n')) writeSync(this.#fd, '\n');
    if (this.#lines > 2 * this.#entries.size + COMPACT_SLACK) this.#compact();
  }

  /** Rewrites the journal with one line per live entry, atomically (rename). */
  #compact(): void {
    const path = this.#path as string;
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      const batch: string[] = [];
      for (const [key, w] of this.#entries) {
        const nul = key.indexOf('\u0000');
        batch.push(
          JSON.stringify({
            i: key.slice(0, nul),
            a: key.slice(nul + 1),
            p: w.principal,
            w: w.worker,
            q: w.workerPrincipal,
            t: w.writtenAtMs,
          } satisfies JournalLine),
        );
        if (batch.length === 4096) {
          writeSync(fd, `${batch.join('\n')}\n`);
          batch.length = 0;
        }
      }
      if (batch.length > 0) writeSync(fd, `${batch.join('\n')}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = openSync(path, 'a');
    this.#lines = this.#entries.size;
  }
}

function keyOf(instanceName: string, actionKey: string): string {
  return `${instanceName}\u0000${actionKey}`;
}

/** A journal line, or undefined for a torn or foreign one. */
function parseLine(raw: string): JournalLine | undefined {
  let line: JournalLine;
  try {
    line = JSON.parse(raw) as JournalLine;
  } catch {
    return undefined;
  }
  if (typeof line?.i !== 'string' || typeof line.a !== 'string') return undefined;
  return line;
}

/** The digest of a key `fn/hash_size`, or undefined when malformed. */
function digestOfKey(key: string): Digest | undefined {
  const slash = key.indexOf('/');
  const underscore = key.lastIndexOf('_');
  const fn = slash > 0 ? digestFunctionByName(key.slice(0, slash)) : undefined;
  const size = underscore > slash ? key.slice(underscore + 1) : '';
  if (fn === undefined || !/^\d+$/.test(size)) return undefined;
  try {
    return makeDigest(fn, key.slice(slash + 1, underscore), Number(size));
  } catch {
    return undefined;
  }
}
