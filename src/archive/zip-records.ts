/**
 * The records of a zip file as ArchiveWriter writes them (PKWARE APPNOTE 6.3): local headers,
 * data descriptors, central directory records with an Info-ZIP universal timestamp, and the end
 * records — zip64 forms exactly when a size, an offset or the entry count needs them, as yazl and
 * Info-ZIP write them.
 */
import zlib from 'node:zlib';
import { crc32 } from './zip-streams.js';

/** Unix mode stored for each entry: tenant data is private, also once extracted by hand. */
export const ENTRY_MODE = 0o100600;

const LOCAL_HEADER = 0x04034b50;
const DATA_DESCRIPTOR = 0x08074b50;
const CENTRAL_HEADER = 0x02014b50;
const ZIP64_END = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const VERSION_MADE_BY = (3 << 8) | 63; // Unix, APPNOTE 6.3
const VERSION_NEEDED = 20;
const VERSION_NEEDED_ZIP64 = 45;
export const FLAG_DATA_DESCRIPTOR = 1 << 3;
export const FLAG_UTF8 = 1 << 11;
const MAX_32 = 0xfffffffe; // above this, a field is 0xffffffff and the zip64 record holds the value

export interface CentralEntry {
  name: Buffer;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  offset: number;
  /** Offset of the entry's (compressed) data: just past its local header. */
  dataStart?: number;
}

/**
 * An entry whose data is known whole and small (the manifest): compressed here, its sizes and
 * CRC-32 known up front, so they go in its local header (no data descriptor). `stored` is what
 * follows that header.
 */
export function wholeEntry(path: string, data: Buffer, level: number, offset: number): { entry: CentralEntry; stored: Buffer } {
  const stored = level > 0 ? zlib.deflateRawSync(data, { level }) : data;
  const entry: CentralEntry = {
    name: Buffer.from(path, 'utf8'),
    method: level > 0 ? 8 : 0,
    flags: FLAG_UTF8,
    crc32: crc32(data, 0),
    compressedSize: stored.length,
    uncompressedSize: data.length,
    offset,
  };
  return { entry, stored };
}

/** Where an entry's data was written (what a reader must find through the central directory). */
export interface EntryLayout {
  path: string;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  dataStart: number;
}

export function entryLayout(entry: CentralEntry): EntryLayout {
  return {
    path: entry.name.toString('utf8'),
    method: entry.method,
    crc32: entry.crc32,
    compressedSize: entry.compressedSize,
    uncompressedSize: entry.uncompressedSize,
    localHeaderOffset: entry.offset,
    dataStart: entry.dataStart ?? -1,
  };
}

/** The entries' time, in the forms the records carry (DOS date and time, Unix seconds). */
export interface EntryStamp {
  dosTime: number;
  dosDate: number;
  unixTime: number;
}

export function localHeader(entry: CentralEntry, sizesKnown: boolean, stamp: EntryStamp): Buffer {
  const header = Buffer.alloc(30 + entry.name.length);
  header.writeUInt32LE(LOCAL_HEADER, 0);
  header.writeUInt16LE(VERSION_NEEDED, 4);
  header.writeUInt16LE(entry.flags, 6);
  header.writeUInt16LE(entry.method, 8);
  header.writeUInt16LE(stamp.dosTime, 10);
  header.writeUInt16LE(stamp.dosDate, 12);
  if (sizesKnown) {
    header.writeUInt32LE(entry.crc32, 14);
    header.writeUInt32LE(entry.compressedSize, 18);
    header.writeUInt32LE(entry.uncompressedSize, 22);
  }
  header.writeUInt16LE(entry.name.length, 26);
  header.writeUInt16LE(0, 28);
  entry.name.copy(header, 30);
  return header;
}

export function centralRecord(entry: CentralEntry, stamp: EntryStamp): Buffer {
  const zip64 = needsZip64(entry);
  const extraLength = 9 + (zip64 ? 28 : 0);
  const record = Buffer.alloc(46 + entry.name.length + extraLength);
  record.writeUInt32LE(CENTRAL_HEADER, 0);
  record.writeUInt16LE(VERSION_MADE_BY, 4);
  record.writeUInt16LE(zip64 ? VERSION_NEEDED_ZIP64 : VERSION_NEEDED, 6);
  record.writeUInt16LE(entry.flags, 8);
  record.writeUInt16LE(entry.method, 10);
  record.writeUInt16LE(stamp.dosTime, 12);
  record.writeUInt16LE(stamp.dosDate, 14);
  record.writeUInt32LE(entry.crc32, 16);
  record.writeUInt32LE(zip64 ? 0xffffffff : entry.compressedSize, 20);
  record.writeUInt32LE(zip64 ? 0xffffffff : entry.uncompressedSize, 24);
  record.writeUInt16LE(entry.name.length, 28);
  record.writeUInt16LE(extraLength, 30);
  record.writeUInt16LE(0, 32); // comment length
  record.writeUInt16LE(0, 34); // disk number start
  record.writeUInt16LE(0, 36); // internal attributes
  record.writeUInt32LE((ENTRY_MODE << 16) >>> 0, 38);
  record.writeUInt32LE(zip64 ? 0xffffffff : entry.offset, 42);
  let at = 46 + entry.name.copy(record, 46);
  // Info-ZIP universal timestamp (mtime, UTC).
  record.writeUInt16LE(0x5455, at);
  record.writeUInt16LE(5, at + 2);
  record.writeUInt8(0b11, at + 4); // mtime (+ atime flag, as Info-ZIP sets it)
  record.writeInt32LE(stamp.unixTime, at + 5);
  at += 9;
  if (zip64) {
    record.writeUInt16LE(0x0001, at);
    record.writeUInt16LE(24, at + 2);
    writeUInt64(record, entry.uncompressedSize, at + 4);
    writeUInt64(record, entry.compressedSize, at + 12);
    writeUInt64(record, entry.offset, at + 20);
  }
  return record;
}

export function needsZip64(entry: CentralEntry): boolean {
  return entry.uncompressedSize > MAX_32 || entry.compressedSize > MAX_32 || entry.offset > MAX_32;
}

export function dataDescriptor(entry: CentralEntry): Buffer {
  const zip64 = needsZip64(entry);
  const descriptor = Buffer.alloc(zip64 ? 24 : 16);
  descriptor.writeUInt32LE(DATA_DESCRIPTOR, 0);
  descriptor.writeUInt32LE(entry.crc32, 4);
  if (zip64) {
    writeUInt64(descriptor, entry.compressedSize, 8);
    writeUInt64(descriptor, entry.uncompressedSize, 16);
  } else {
    descriptor.writeUInt32LE(entry.compressedSize, 8);
    descriptor.writeUInt32LE(entry.uncompressedSize, 12);
  }
  return descriptor;
}

/** End of central directory, preceded by the zip64 record and locator when a field overflows. */
export function endRecords(count: number, centralStart: number, centralSize: number, position: number): Buffer {
  const zip64 = count >= 0xffff || centralSize > MAX_32 || centralStart > MAX_32;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
  end.writeUInt16LE(zip64 ? 0xffff : count, 8);
  end.writeUInt16LE(zip64 ? 0xffff : count, 10);
  end.writeUInt32LE(zip64 ? 0xffffffff : centralSize, 12);
  end.writeUInt32LE(zip64 ? 0xffffffff : centralStart, 16);
  if (!zip64) return end;
  const record = Buffer.alloc(56);
  record.writeUInt32LE(ZIP64_END, 0);
  writeUInt64(record, 56 - 12, 4);
  record.writeUInt16LE(VERSION_MADE_BY, 12);
  record.writeUInt16LE(VERSION_NEEDED_ZIP64, 14);
  writeUInt64(record, count, 24);
  writeUInt64(record, count, 32);
  writeUInt64(record, centralSize, 40);
  writeUInt64(record, centralStart, 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(ZIP64_LOCATOR, 0);
  writeUInt64(locator, position, 8); // the zip64 end record starts where the central directory ended
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([record, locator, end]);
}

function writeUInt64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32LE(value % 0x100000000, offset);
  buffer.writeUInt32LE(Math.floor(value / 0x100000000), offset + 4);
}
