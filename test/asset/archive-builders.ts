/**
 * Builds archives for the unpacker's tests (tar with tar-stream, gzip with
 * zlib, zip with a tiny encoder below, so that tests can craft the broken and
 * hostile archives no well-behaved writer produces) and reads unpacked trees
 * back from the CAS.
 */
import assert from 'node:assert/strict';
import { constants, crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { type Digest, digestOf, parseDigest } from '../../src/digest/digest.ts';
import { type DigestFunction, SHA256 } from '../../src/digest/digest-function.ts';
import { Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type BlobStore,
  type BlobWriter,
  putBuffer,
  type ReadRange,
  readAll,
} from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';

/** One tar entry: a tar-stream header plus its data. */
export interface TarSpec {
  readonly name: string;
  readonly type?:
    | 'file'
    | 'link'
    | 'symlink'
    | 'directory'
    | 'block-device'
    | 'character-device'
    | 'fifo'
    | 'contiguous-file';
  readonly data?: string | Buffer;
  readonly mode?: number;
  readonly linkname?: string;
}

/** An uncompressed tar of `entries`, in order, with the end-of-archive blocks. */
export async function tarOf(entries: readonly TarSpec[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of p) out.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644),
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
    };
    await new Promise<void>((resolve, reject) => {
      p.entry(header, data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await collected;
  return Buffer.concat(out);
}

/**
 * One raw ustar header block, for what tar-stream will not write: a size with
 * no data behind it (a bomb's promise) or a type it does not know (`S`, sparse).
 */
export function ustarHeader(name: string, size: number, typeflag = '0'): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0);
  block.write('0000644\0', 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  block.write('00000000000\0', 136);
  block.write(typeflag, 156);
  block.write('ustar\0' + '00', 257);
  block.write('        ', 148);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

/**
 * `mib` MiB of zeros as raw deflate, made cheaply: one sync-flushed block of
 * 1 MiB of zeros repeated (its back-references only ever see zeros), then an
 * empty final block. About 1 KiB per MiB, like a real bomb.
 */
export function deflatedZeros(mib: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(1024 * 1024), { finishFlush: constants.Z_SYNC_FLUSH });
  return Buffer.concat([
    ...Array.from({ length: mib }, () => block),
    deflateRawSync(Buffer.alloc(0)),
  ]);
}

/** gzip, for tar.gz archives. */
export const gzip = (data: Buffer): Buffer => gzipSync(data);

/** One zip entry. Defaults: deflated, made on Unix with mode 0644 (0755 for directories). */
export interface ZipSpec {
  /** A string is stored as UTF-8 with the UTF-8 flag; a Buffer is stored as is. */
  readonly name: string | Buffer;
  readonly data?: string | Buffer;
  /** Full Unix mode including the file type bits, e.g. 0o120777 for a symlink. */
  readonly mode?: number;
  /** 0 (stored) or 8 (deflate) or anything else to test refusal. */
  readonly method?: number;
  /** Uncompressed size to declare instead of the real one (a lying bomb). */
  readonly declaredSize?: number;
  /** Record no Unix mode, like Windows tools (made by MS-DOS). */
  readonly dos?: boolean;
  /** Set the "encrypted" flag. */
  readonly encrypted?: boolean;
  /** Raw deflate data to store as is (with `declaredSize`; the CRC is then not computed). */
  readonly deflated?: Buffer;
}

/** A zip archive of `entries`: local headers, data, central directory, end record. */
export function zipOf(entries: readonly ZipSpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name) : e.name;
    const data = Buffer.from(e.data ?? '');
    const method = e.method ?? 8;
    const stored = e.deflated ?? (method === 8 ? deflateRawSync(data) : data);
    const isDir = name.toString().endsWith('/');
    const mode = e.mode ?? (isDir ? 0o040755 : 0o100644);
    const flags = (typeof e.name === 'string' ? 0x800 : 0) | (e.encrypted ? 1 : 0);
    const size = e.declaredSize ?? data.length;
    const crc = e.deflated === undefined ? crc32(data) : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(e.dos ? 20 : (3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(e.dos ? (isDir ? 0x10 : 0) : (mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, stored);
    centrals.push(central, name);
    offset += local.length + name.length + stored.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/**
 * A tar.xz made with GNU tar and `xz -9e` (there is no xz encoder in Node):
 * `src/` (a.txt = "hello xz\n", empty/), `bin/` (run, mode 0755, and
 * link -> ../src/a.txt).
 */
export const TAR_XZ_FIXTURE = Buffer.from(
  '/Td6WFoAAATm1rRGAgAhARwAAAAQz1jM4Cf/AMpdADmciIYQ5JSzSsi80f5CS2Je1+UGtZ0ZXJZnN/5lzYV9GUu6ByG2O52aPiJt' +
    'PBgK/hEqFdgD8ioVcU/tVO1UnELFn2MTqiKPHEq98BUghToy/vOAdVQiNwti4FDyoNIdRLY/eTPx8/kDe5zBExpVguA4ah6kd9az' +
    '5bkCAPROhIGIDQDcJrQi/6pz7YThEMcaLiS29v3Fp0T8HlAc3F8OpuEfy5K4+gOG40dAg+OKtGM42/B4BO7jk9vEOptV+xI6GJap' +
    'ErZiyBKVr0MAAACSdMyfCxrfeQAB5gGAUAAAeZ3Nv7HEZ/sCAAAAAARZWg==',
  'base64',
);

/** A memory CAS big enough for every test here. */
export const newCas = (): MemoryBlobStore => new MemoryBlobStore({ maxBytes: 512 * 1024 * 1024 });

/**
 * A CAS that serves reads in 4 KiB slices and counts the bytes it served, to
 * show that a bomb was refused after reading only a little of it.
 */
export class CountingCas implements BlobStore {
  readonly inner: BlobStore;
  served = 0;

  constructor(inner: BlobStore) {
    this.inner = inner;
  }

  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    const source = await this.inner.get(digest, range);
    const self = this;
    return (async function* () {
      for await (const chunk of source) {
        for (let i = 0; i < chunk.byteLength; i += 4096) {
          const slice = chunk.subarray(i, i + 4096);
          self.served += slice.byteLength;
          yield slice;
        }
      }
    })();
  }

  put(digest: Digest): Promise<BlobWriter> {
    return this.inner.put(digest);
  }

  findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    return this.inner.findMissing(digests);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Stores `bytes` and returns its digest. */
export async function store(
  cas: BlobStore,
  bytes: Uint8Array,
  fn: DigestFunction = SHA256,
): Promise<Digest> {
  const digest = await digestOf(fn, bytes);
  await putBuffer(cas, digest, bytes);
  return digest;
}

/**
 * Reads a tree back as `{ path: description }`: `dir` for every directory
 * (`path/`), `file:<text>` or `exec:<text>` for files, `symlink:<target>`.
 * Asserts along the way that every Directory is canonical and sorted.
 */
export async function readTree(cas: BlobStore, root: Digest): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (digest: Digest, prefix: string) => {
    const bytes = await readAll(cas, digest);
    const dir = Directory.decode(bytes);
    assert.deepEqual(Buffer.from(Directory.encode(dir).finish()), bytes, 'canonical encoding');
    for (const list of [dir.files, dir.directories, dir.symlinks]) {
      const names = list.map((n) => n.name);
      assert.deepEqual(names, [...names].sort(), `sorted entries in ${prefix || '/'}`);
    }
    for (const f of dir.files) {
      const data = await readAll(cas, parseDigest(f.digest, digest.fn.value));
      out[prefix + f.name] = `${f.isExecutable ? 'exec' : 'file'}:${data.toString()}`;
    }
    for (const s of dir.symlinks) out[prefix + s.name] = `symlink:${s.target}`;
    for (const d of dir.directories) {
      out[`${prefix}${d.name}/`] = 'dir';
      await walk(parseDigest(d.digest, digest.fn.value), `${prefix}${d.name}/`);
    }
  };
  await walk(root, '');
  return out;
}
