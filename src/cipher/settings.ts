/**
 * From the configuration's `encryption` settings to a target's cipher (write side) and keys (read
 * side). A tenant's `tenants.<name>.encryption` overrides the top-level `encryption` key by key
 * (as `retention` does); organizations use the top-level settings.
 *
 * Writing: to `recipients` when there are any; else to the recipients of the identities in
 * `identityFile` (as `age -e -i` does); else to `passphrase`; else not encrypted. Reading: the
 * identities of `identityFile` and the `passphrase`, whichever matches the archive. Public keys
 * suffice to back up; only reading needs the private key.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { ConfigError, describeCause, registerSecrets } from '../errors.js';
import { AgeCipher } from './age/index.js';
import { parseIdentityFile, parseRecipient, ScryptIdentity, ScryptRecipient, type Identity, type Recipient } from './age/keys.js';
import { noneCipher } from './none.js';
import type { ArchiveCipher, ReadKeys } from './types.js';

export interface EncryptionSettings {
  recipients?: string[] | undefined;
  /** Absolute path (the configuration loader resolves it against the file's folder). */
  identityFile?: string | undefined;
  passphrase?: string | undefined;
}

interface ConfigWithEncryption {
  encryption?: EncryptionSettings | undefined;
  tenants: Record<string, { encryption?: EncryptionSettings | undefined }>;
}

/** The settings that apply to a tenant (its override, key by key) or, without one, to organizations. */
export function encryptionSettingsOf(config: ConfigWithEncryption, tenant?: string): EncryptionSettings {
  const override = tenant === undefined ? undefined : config.tenants[tenant]?.encryption;
  return { ...config.encryption, ...override };
}

/** The suffix new archives of this target get (`.age` when they are encrypted), without reading any key. */
export function cipherSuffixOf(config: ConfigWithEncryption, tenant?: string): '' | '.age' {
  const settings = encryptionSettingsOf(config, tenant);
  return (settings.recipients?.length ?? 0) > 0 || settings.identityFile || settings.passphrase ? '.age' : '';
}

/** Where a setting is, for messages. */
function settingPath(tenant: string | undefined, key: string): string {
  return tenant === undefined ? `encryption.${key}` : `tenants.${tenant}.encryption.${key} (or encryption.${key})`;
}

/** The cipher new archives of this target are written with. ConfigError for an unusable key. */
export async function writeCipherOf(config: ConfigWithEncryption, tenant?: string): Promise<ArchiveCipher> {
  const settings = encryptionSettingsOf(config, tenant);
  let recipients: Recipient[] = [];
  if (settings.recipients && settings.recipients.length > 0) {
    recipients = settings.recipients.map((text, index) => parseRecipient(text, `${settingPath(tenant, 'recipients')}[${index}]`));
  } else if (settings.identityFile) {
    recipients = (await readIdentityFile(settings.identityFile)).map((identity) => identity.recipient);
  } else if (settings.passphrase) {
    recipients = [new ScryptRecipient(settings.passphrase)];
  }
  return recipients.length === 0 ? noneCipher : new AgeCipher(recipients);
}

/**
 * The keys that read this target's archives, loaded on first use (a plain archive needs none, so a
 * missing identity file is an error only when an encrypted archive is read). Undefined: none configured.
 */
export function readKeysOf(config: ConfigWithEncryption, tenant?: string): () => Promise<ReadKeys | undefined> {
  let loaded: Promise<ReadKeys | undefined> | undefined;
  return () =>
    (loaded ??= (async () => {
      const settings = encryptionSettingsOf(config, tenant);
      const identities: Identity[] = [];
      const sources: string[] = [];
      if (settings.identityFile) {
        identities.push(...(await readIdentityFile(settings.identityFile)));
        sources.push(`the identity file ${settings.identityFile}`);
      }
      if (settings.passphrase) {
        identities.push(new ScryptIdentity(settings.passphrase));
        sources.push(`the configured passphrase`);
      }
      return identities.length === 0 ? undefined : { identities, source: sources.join(' and ') };
    })());
}

/** True when this target's own new archives can be read back with its configured keys. */
export async function canReadOwnArchives(config: ConfigWithEncryption, tenant?: string): Promise<boolean> {
  const settings = encryptionSettingsOf(config, tenant);
  const cipher = await writeCipherOf(config, tenant);
  if (cipher.kind === 'none') return true;
  if (!settings.recipients || settings.recipients.length === 0) return true; // identity file's own recipients, or the passphrase
  if (!settings.identityFile) return false;
  const own = new Set((await readIdentityFile(settings.identityFile)).map((identity) => identity.recipient.toString()));
  return settings.recipients.some((text) => own.has(text.trim()));
}

/**
 * Reads an identity file: it must be a regular file not readable by other users (age-keygen and
 * `tenant-backup key generate` write it 0600). Its identities are registered as secrets.
 */
async function readIdentityFile(file: string): Promise<ReturnType<typeof parseIdentityFile>> {
  let text: string;
  try {
    const handle = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new ConfigError(`Identity file ${file} is not a regular file.`);
      if ((info.mode & 0o007) !== 0) {
        throw new ConfigError(`Identity file ${file} is readable by other users (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 on it.`);
      }
      if (info.size > 1024 * 1024) throw new ConfigError(`Identity file ${file} is larger than 1 MiB; it is not an age identity file.`);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`Cannot read the identity file ${file} (encryption.identityFile): ${describeCause(error)}`, { identity_file: file });
  }
  registerSecrets(
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line.startsWith('AGE-SECRET-KEY-')),
  );
  return parseIdentityFile(text, file);
}
