/**
 * The record format of packs (see pack-log.ts): a 16-byte header, the key
 * (ASCII) and the data. The header holds, little-endian: the magic "KPK1",
 * a CRC-32 of everything after it (the rest of the header, the key, the
 * data), the key's length (16 bits), 16 zero bits, and the data's length
 * (32 bits).
 */
import { crc32 } from 'node:zlib';

/** "KPK1": the first bytes of every record. */
const MAGIC = 0x314b504b;
/** Bytes of a record's header. */
export const HEADER_BYTES = 16;

/** The header of a record of `key` (its bytes) and `data`. */
export function recordHeader(keyBytes: Uint8Array, data: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt16LE(keyBytes.byteLength, 8);
  header.writeUInt16LE(0, 10);
  header.writeUInt32LE(data.byteLength, 12);
  header.writeUInt32LE(crc32(data, crc32(keyBytes, crc32(header.subarray(8)))), 4);
  return header;
}

/** The keys of the intact records of a pack's bytes, in order (for tests and tools). */
export function packRecordKeys(bytes: Buffer): string[] {
  return [...records(bytes)].map((record) => record.key);
}

/** The intact records of a pack's bytes; past a damaged one, the next intact one. */
export function* records(
  bytes: Buffer,
): Generator<{ offset: number; key: string; dataStart: number; end: number }> {
  let offset = 0;
  while (offset + HEADER_BYTES <= bytes.length) {
    const record = parseRecord(bytes, offset);
    if (record === undefined) {
      const next = bytes.indexOf(MAGIC_BYTES, offset + 1);
      if (next < 0) return;
      offset = next;
      continue;
    }
    yield { offset, ...record };
    offset = record.end;
  }
}

const MAGIC_BYTES = (() => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(MAGIC, 0);
  return b;
})();

/** The record at `offset` if it is whole and intact. */
function parseRecord(
  bytes: Buffer,
  offset: number,
): { key: string; dataStart: number; end: number } | undefined {
  if (bytes.readUInt32LE(offset) !== MAGIC) return undefined;
  const keyLength = bytes.readUInt16LE(offset + 8);
  const dataLength = bytes.readUInt32LE(offset + 12);
  const dataStart = offset + HEADER_BYTES + keyLength;
  const end = dataStart + dataLength;
  if (keyLength === 0 || end > bytes.length) return undefined;
  if (crc32(bytes.subarray(offset + 8, end)) !== bytes.readUInt32LE(offset + 4)) return undefined;
  return { key: bytes.toString('latin1', offset + HEADER_BYTES, dataStart), dataStart, end };
}
