/**
 * The age v1 header: the version line, one stanza per recipient, and an HMAC of all of it under a
 * key derived from the file key (so a header cannot be altered without the file key).
 *
 *   age-encryption.org/v1
 *   -> X25519 <share>
 *   <body, base64 in lines of 64 columns; the last line shorter, possibly empty>
 *   --- <HMAC-SHA-256 of everything up to and including "---">
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ArchiveError } from '../../errors.js';
import { base64Decode, base64Encode, hkdf } from './primitives.js';
import type { Stanza } from './keys.js';

export const AGE_MAGIC = Buffer.from('age-encryption.org/v1\n');
/** A header larger than this is not one we would read (thousands of recipients). */
export const MAX_HEADER_BYTES = 1024 * 1024;
const COLUMNS = 64;

function headerMac(fileKey: Buffer, macInput: Buffer): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(macInput)
    .digest();
}

export function formatHeader(stanzas: Stanza[], fileKey: Buffer): Buffer {
  let text = AGE_MAGIC.toString('latin1');
  for (const stanza of stanzas) {
    text += `-> ${[stanza.type, ...stanza.args].join(' ')}\n`;
    const body = base64Encode(stanza.body);
    for (let at = 0; ; at += COLUMNS) {
      const line = body.slice(at, at + COLUMNS);
      text += `${line}\n`;
      if (line.length < COLUMNS) break;
    }
  }
  const macInput = Buffer.from(`${text}---`, 'latin1');
  return Buffer.concat([macInput, Buffer.from(` ${base64Encode(headerMac(fileKey, macInput))}\n`, 'latin1')]);
}

export interface ParsedHeader {
  stanzas: Stanza[];
  /** Bytes of the header, final newline included: the payload nonce follows. */
  length: number;
  macInput: Buffer;
  mac: Buffer;
}

/**
 * Parses the header at the start of `bytes`; null when `bytes` ends before the header does (the
 * caller reads more, up to MAX_HEADER_BYTES). A malformed header is an ArchiveError.
 */
export function parseHeader(bytes: Buffer, file: string): ParsedHeader | null {
  const bad = (what: string) => new ArchiveError(`Cannot decrypt ${file}: its age header is malformed (${what}).`);
  if (!bytes.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)) throw bad('no age-encryption.org/v1 version line');
  let at = AGE_MAGIC.length;
  const nextLine = (): string | null => {
    const end = bytes.indexOf(0x0a, at);
    if (end === -1) return null;
    const line = bytes.subarray(at, end).toString('latin1');
    if (!/^[\x20-\x7e]*$/.test(line)) throw bad('a line with characters outside printable ASCII');
    at = end + 1;
    return line;
  };
  const stanzas: Stanza[] = [];
  for (;;) {
    const lineStart = at;
    const line = nextLine();
    if (line === null) return null;
    if (line.startsWith('--- ')) {
      const mac = base64Decode(line.slice(4));
      if (!mac || mac.length !== 32) throw bad('a MAC line that is not 32 bytes of base64');
      if (stanzas.length === 0) throw bad('no recipient stanza');
      return { stanzas, length: at, macInput: bytes.subarray(0, lineStart + 3), mac };
    }
    if (!line.startsWith('-> ')) throw bad('a line that is neither a stanza nor the MAC');
    const [type, ...args] = line.slice(3).split(' ');
    if (!type || [type, ...args].some((arg) => arg === '')) throw bad('a stanza with an empty argument');
    const parts: string[] = [];
    for (;;) {
      const body = nextLine();
      if (body === null) return null;
      if (body.length > COLUMNS) throw bad('a stanza body line longer than 64 columns');
      parts.push(body);
      if (body.length < COLUMNS) break;
    }
    const decoded = base64Decode(parts.join(''));
    if (!decoded) throw bad('a stanza body that is not base64');
    stanzas.push({ type, args, body: decoded });
  }
}

/** True when the header's MAC is the one `fileKey` gives (constant-time comparison). */
export function headerMacMatches(header: ParsedHeader, fileKey: Buffer): boolean {
  return timingSafeEqual(headerMac(fileKey, header.macInput), header.mac);
}
