/**
 * The `age` kind: archives encrypted to the configured recipients (or a passphrase), as age v1
 * files any `age` command decrypts (`age -d -i key.txt x.zip.age > x.zip`). The write side needs
 * only public keys; the check after writing reads the file back with its own file key.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import type { ArchiveCipher, FileEncryption } from '../types.js';
import { formatHeader } from './header.js';
import type { Recipient } from './keys.js';
import { FILE_KEY_BYTES } from './primitives.js';
import { PAYLOAD_NONCE_BYTES, payloadKey, StreamSealer } from './stream.js';

export class AgeCipher implements ArchiveCipher {
  readonly kind = 'age';
  readonly suffix = '.age';

  constructor(private readonly recipients: readonly Recipient[]) {
    if (recipients.length === 0) throw new ConfigError('age encryption needs at least one recipient or a passphrase.');
    if (recipients.some((recipient) => recipient.type === 'scrypt') && recipients.length > 1) {
      throw new ConfigError('age encrypts to a passphrase alone: with recipients configured, the passphrase is used only to read older archives.');
    }
  }

  async begin(): Promise<FileEncryption> {
    const fileKey = randomBytes(FILE_KEY_BYTES);
    const stanzas = await Promise.all(this.recipients.map((recipient) => recipient.wrap(fileKey)));
    const nonce = randomBytes(PAYLOAD_NONCE_BYTES);
    const sealer = new StreamSealer(payloadKey(fileKey, nonce));
    let head: Buffer | null = Buffer.concat([formatHeader(stanzas, fileKey), nonce]);
    const withHead = (bytes: Buffer | null): Buffer | null => {
      if (head === null) return bytes;
      const out = bytes ? Buffer.concat([head, bytes]) : head;
      head = null;
      return out;
    };
    return {
      update: (plain) => withHead(sealer.update(plain)),
      final: () => withHead(sealer.final()),
      ownKeys: { identities: [], fileKey, source: 'the key of the archive just written' },
    };
  }
}
