/** From the configuration's `encryption` to a target's cipher and keys: overrides, identity files. */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { X25519Identity } from '../../src/cipher/age/keys.js';
import { canReadOwnArchives, cipherSuffixOf, encryptionSettingsOf, readKeysOf, writeCipherOf } from '../../src/cipher/settings.js';
import { resolveConfig } from '../../src/config/load.js';
import { ConfigError, redactSecrets } from '../../src/errors.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

describe('encryption settings', () => {
  it('a tenant overrides the top-level settings key by key; organizations use the top level', async () => {
    const dir = await makeTempDir('tb-crypt-settings-');
    const config = resolveConfig(
      {
        storage: { dir: './b' },
        encryption: { recipients: ['age1top'], identityFile: 'keys/main.txt' },
        tenants: {
          acme: { client: 'better-sqlite3', connection: 'a.sqlite', encryption: { recipients: [], passphrase: 'tenant pass phrase' } },
          globex: { client: 'better-sqlite3', connection: 'g.sqlite' },
        },
      },
      path.join(dir, '.backuprc'),
      {},
    );
    expect(encryptionSettingsOf(config)).toEqual({ recipients: ['age1top'], identityFile: path.join(dir, 'keys/main.txt') });
    expect(encryptionSettingsOf(config, 'acme')).toEqual({ recipients: [], identityFile: path.join(dir, 'keys/main.txt'), passphrase: 'tenant pass phrase' });
    expect(encryptionSettingsOf(config, 'globex')).toEqual(encryptionSettingsOf(config));
    expect(cipherSuffixOf(config, 'globex')).toBe('.age');
    expect(cipherSuffixOf(resolveConfig({ storage: { dir: 'b' } }, path.join(dir, '.backuprc'), {}))).toBe('');
    // The passphrase is a secret of every message.
    expect(redactSecrets('it was tenant pass phrase')).toBe('it was ***');
  });

  it("writes to recipients, else to the identity file's own recipients, else to the passphrase, else not at all", async () => {
    const dir = await makeTempDir('tb-crypt-write-');
    const { identity, recipient } = X25519Identity.generate();
    const keyFile = path.join(dir, 'key.txt');
    await writeFile(keyFile, `# created by a test\n${identity}\n`, { mode: 0o600 });
    const configOf = (encryption?: Record<string, unknown>) => resolveConfig({ storage: { dir: 'b' }, ...(encryption ? { encryption } : {}) }, path.join(dir, '.backuprc'), {});
    expect((await writeCipherOf(configOf())).kind).toBe('none');
    expect((await writeCipherOf(configOf({ recipients: [recipient] }))).kind).toBe('age');
    expect((await writeCipherOf(configOf({ identityFile: 'key.txt' }))).kind).toBe('age');
    expect((await writeCipherOf(configOf({ passphrase: 'a passphrase' }))).kind).toBe('age');
    await expect(writeCipherOf(configOf({ recipients: ['age1nonsense'] }))).rejects.toThrow(/encryption\.recipients\[0\]: "age1nonsense" is not a valid age recipient/);

    expect(await canReadOwnArchives(configOf({ recipients: [recipient], identityFile: 'key.txt' }))).toBe(true);
    expect(await canReadOwnArchives(configOf({ recipients: [X25519Identity.generate().recipient], identityFile: 'key.txt' }))).toBe(false);
    expect(await canReadOwnArchives(configOf({ recipients: [recipient] }))).toBe(false);
    expect(await canReadOwnArchives(configOf({ passphrase: 'a passphrase' }))).toBe(true);
    expect(await canReadOwnArchives(configOf())).toBe(true);

    expect(await readKeysOf(configOf({ recipients: [recipient] }))()).toBeUndefined();
    const keys = await readKeysOf(configOf({ identityFile: 'key.txt', passphrase: 'a passphrase' }))();
    expect(keys?.identities).toHaveLength(2);
    expect(keys?.source).toBe(`the identity file ${keyFile} and the configured passphrase`);
    // Once read, the identity is a secret of every message.
    expect(redactSecrets(`oops ${identity}`)).toBe('oops ***');
  });

  it('refuses an identity file other users can read, or one that is missing, naming it and never its content', async () => {
    const dir = await makeTempDir('tb-crypt-idfile-');
    const { identity } = X25519Identity.generate();
    const keyFile = path.join(dir, 'key.txt');
    await writeFile(keyFile, `${identity}\n`);
    await chmod(keyFile, 0o644);
    const config = resolveConfig({ storage: { dir: 'b' }, encryption: { identityFile: 'key.txt' } }, path.join(dir, '.backuprc'), {});
    const error = await readKeysOf(config)().catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/readable by other users \(mode 0644\): run chmod 600/);
    const gone = resolveConfig({ storage: { dir: 'b' }, encryption: { identityFile: 'nope.txt' } }, path.join(dir, '.backuprc'), {});
    await expect(readKeysOf(gone)()).rejects.toThrow(/Cannot read the identity file .*nope\.txt/);
  });
});
