/**
 * Reads tar archives (plain, gzip or xz compressed) as a stream of
 * {@link ArchiveEntry}s. The archive streams from the CAS through the
 * decompressor into the tar parser with backpressure all the way, so a
 * compression bomb inflates only as far as the consumer reads.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { type Extract, extract as tarExtract } from 'tar-stream';
import { invalidArgument, KilnError, resourceExhausted } from '../errors.ts';
import { type ArchiveBudget, abortError } from './archive-budget.ts';
import type { ArchiveEntry, ArchiveEntryHandler } from './archive-entry.ts';
import { quote } from './archive-path.ts';
import { xzDecompress } from './archive-xz.ts';

/** One entry as tar-stream yields it: a readable of its data, with its header. */
type TarStreamEntry = Extract extends AsyncIterable<infer E> ? E : never;

/**
 * Bytes of headers, padding and skipped data allowed besides counted content:
 * a fixed slack (one maximal pax header, which tar-stream caps at 4 MiB, plus
 * what sits in stream buffers) and a share per entry (header, padding, long
 * names). A gzip of nothing but zero blocks holds no entries, so without this
 * it would inflate to the end without ever touching a limit.
 */
const OVERHEAD_SLACK = 8 * 1024 * 1024;
const OVERHEAD_PER_ENTRY = 16 * 1024;

/** Options of {@link readTarEntries}. */
export interface ReadTarOptions {
  /** The archive blob's bytes, as the CAS returns them. */
  readonly source: AsyncIterable<Uint8Array>;
  /** Compression around the tar stream. */
  readonly format: 'tar' | 'tar.gz' | 'tar.xz';
  /** Limits; the reader adds the overhead check, the handler counts entries and content. */
  readonly budget: ArchiveBudget;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Parses the archive and awaits `onEntry` for each entry in order. Malformed
 * or truncated archives reject with INVALID_ARGUMENT; errors from `onEntry`
 * and from reading the blob pass through unchanged. Every stream is closed
 * when the promise settles.
 */
export async function readTarEntries(
  options: ReadTarOptions,
  onEntry: ArchiveEntryHandler,
): Promise<void> {
  const { format, budget, signal } = options;
  const what = `${format} archive`;
  const extract = tarExtract();
  const decoders: Transform[] = format === 'tar.gz' ? [createGunzip()] : [];
  const source =
    format === 'tar.xz'
      ? Readable.from(xzDecompress(options.source, what, signal), { objectMode: false })
      : Readable.from(options.source, { objectMode: false });
  // The pipeline's own rejection duplicates what the entry iterator reports; keep it for the end.
  let pipelineError: unknown;
  const piping = pipeline([source, ...decoders, new OverheadMeter(budget), extract], {
    signal,
  }).catch((err: unknown) => {
    pipelineError = err;
  });
  const entries = extract[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<TarStreamEntry>;
      try {
        next = await entries.next();
      } catch (err) {
        throw decodeError(err, what, signal);
      }
      if (next.done) break;
      const stream = next.value;
      await onEntry(toArchiveEntry(stream, what, signal));
      // Whatever the handler left unread (a device's data, say) must drain for the parser to go on.
      stream.resume();
    }
    await piping;
    if (pipelineError !== undefined) throw decodeError(pipelineError, what, signal);
  } finally {
    extract.destroy();
    await piping;
  }
}

/** Converts a tar-stream entry; its content is consumed by the handler or drained after. */
function toArchiveEntry(
  stream: TarStreamEntry,
  what: string,
  signal: AbortSignal | undefined,
): ArchiveEntry {
  const { header } = stream;
  const name = header.name;
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return {
        kind: 'file',
        name,
        executable: ((header.mode ?? 0) & 0o111) !== 0,
        size: header.size ?? 0,
        content: decoded(stream, what, signal),
      };
    case 'directory':
      return { kind: 'directory', name };
    case 'symlink':
      return { kind: 'symlink', name, target: header.linkname ?? '' };
    case 'link':
      return { kind: 'hardlink', name, target: header.linkname ?? '' };
    case 'character-device':
    case 'block-device':
    case 'fifo':
      return { kind: 'special', name, type: header.type };
    default:
      // GNU sparse files, volume labels, multi-volume continuations and vendor types: their
      // data does not mean what a plain reader would take it to mean.
      throw invalidArgument(`${what}: entry ${quote(name)} has an unsupported tar entry type`);
  }
}

/** An entry's bytes, with parser failures (a truncated archive) turned into INVALID_ARGUMENT. */
async function* decoded(
  stream: TarStreamEntry,
  what: string,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } catch (err) {
    throw decodeError(err, what, signal);
  }
}

/**
 * KilnErrors (limits, reading the blob) and aborts pass through; anything
 * else came from the decompressor or the parser and means the archive is bad.
 */
function decodeError(err: unknown, what: string, signal: AbortSignal | undefined): unknown {
  if (err instanceof KilnError) return err;
  if (signal?.aborted === true) return abortError(signal);
  const message = err instanceof Error ? err.message : String(err);
  return invalidArgument(`${what} is malformed or truncated: ${message}`);
}

/** Counts the decompressed tar stream and stops it when it is mostly not content. */
class OverheadMeter extends Transform {
  readonly #budget: ArchiveBudget;
  #bytes = 0;

  constructor(budget: ArchiveBudget) {
    super();
    this.#budget = budget;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#bytes += chunk.byteLength;
    const allowed = OVERHEAD_SLACK + this.#budget.entries * OVERHEAD_PER_ENTRY;
    if (this.#bytes - this.#budget.bytes > allowed) {
      callback(
        resourceExhausted(
          `tar stream holds more than ${allowed} bytes besides the content of its ` +
            `${this.#budget.entries} entries; refusing it as a likely decompression bomb`,
        ),
      );
      return;
    }
    callback(null, chunk);
  }
}
