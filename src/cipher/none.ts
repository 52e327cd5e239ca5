/** The `none` kind: the archive is stored as the zip itself (the default). */
import type { ArchiveCipher, FileEncryption } from './types.js';

const passThrough: FileEncryption = { update: (plain) => plain, final: () => null, ownKeys: undefined };

export const noneCipher: ArchiveCipher = { kind: 'none', suffix: '', begin: async () => passThrough };
