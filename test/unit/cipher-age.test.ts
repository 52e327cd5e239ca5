/**
 * The `age` cipher: the cipher contract for each way of encrypting (X25519 keys made by the real
 * age-keygen, a passphrase), ssh-ed25519 recipients read by the real `age` command, every payload
 * size around the 64 KiB chunk boundaries, and the rules of keys and identity files.
 */
import { randomBytes } from 'node:crypto';
import { close, open } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { AgeCipher } from '../../src/cipher/age/index.js';
import { parseIdentityFile, parseRecipient, ScryptIdentity, ScryptRecipient, X25519Identity } from '../../src/cipher/age/keys.js';
import { openPlainView } from '../../src/cipher/index.js';
import type { ReadKeys } from '../../src/cipher/types.js';
import { ArchiveError, ConfigError } from '../../src/errors.js';
import { ageDecrypt, ageEncrypt, ageKeygen } from '../helpers/age.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { describeCipherContract } from '../contract/cipher.contract.js';

afterAll(removeTempDirs);

const keysOf = async (identityFile: string): Promise<ReadKeys> => ({ identities: parseIdentityFile(await readFile(identityFile, 'utf8'), identityFile), source: identityFile });

describeCipherContract('age (X25519 keys from age-keygen)', {
  authenticates: true,
  readableByAgeCommand: true,
  async create(dir) {
    const mine = await ageKeygen(dir);
    const theirs = await ageKeygen(dir, 'other-key.txt');
    return {
      cipher: new AgeCipher([parseRecipient(mine.recipient, 'test')]),
      keys: await keysOf(mine.identityFile),
      wrongKeys: await keysOf(theirs.identityFile),
      ageCli: mine,
    };
  },
});

// A low work factor keeps the test fast; the format is the same (age reads any factor it allows).
describeCipherContract('age-passphrase (scrypt)', {
  authenticates: true,
  async create() {
    return {
      cipher: new AgeCipher([new ScryptRecipient('correct horse battery staple', 10)]),
      keys: { identities: [new ScryptIdentity('correct horse battery staple')], source: 'the passphrase' },
      wrongKeys: { identities: [new ScryptIdentity('wrong horse')], source: 'the passphrase' },
    };
  },
});

/** Encrypts `plain` as one file through the cipher's FileEncryption, fed in pieces of `piece` bytes. */
async function encryptFile(file: string, cipher: AgeCipher, plain: Buffer, piece: number): Promise<void> {
  const encryption = await cipher.begin();
  const out: Buffer[] = [];
  for (let at = 0; at < plain.length; at += piece) {
    const sealed = encryption.update(plain.subarray(at, at + piece));
    if (sealed) out.push(sealed);
  }
  const last = encryption.final();
  if (last) out.push(last);
  await writeFile(file, Buffer.concat(out));
}

async function decryptFile(file: string, keys: ReadKeys): Promise<Buffer> {
  const fd = await promisify(open)(file, 'r');
  try {
    const view = await openPlainView(fd, (await stat(file)).size, async () => keys, file);
    const chunks: Buffer[] = [];
    for await (const chunk of view.stream(0, view.size)) chunks.push(chunk as Buffer);
    const whole = Buffer.concat(chunks);
    if (view.size > 10) expect((await view.read(3, view.size - 5)).equals(whole.subarray(3, view.size - 2))).toBe(true);
    return whole;
  } finally {
    await promisify(close)(fd);
  }
}

describe('age STREAM at the chunk boundaries', () => {
  it.each([0, 1, 65_535, 65_536, 65_537, 2 * 65_536, 3 * 65_536 + 1])('%i bytes: ours and the age command agree both ways', async (size) => {
    const dir = await makeTempDir('tb-age-sizes-');
    const { identityFile, recipient } = await ageKeygen(dir);
    const plain = randomBytes(size);
    const ours = path.join(dir, 'ours.age');
    await encryptFile(ours, new AgeCipher([parseRecipient(recipient, 'test')]), plain, 40_000);
    expect((await ageDecrypt(ours, identityFile)).equals(plain)).toBe(true);
    expect((await decryptFile(ours, await keysOf(identityFile))).equals(plain)).toBe(true);
    const plainFile = path.join(dir, 'plain.bin');
    await writeFile(plainFile, plain);
    const theirs = path.join(dir, 'theirs.age');
    await ageEncrypt(plainFile, recipient, theirs);
    expect((await decryptFile(theirs, await keysOf(identityFile))).equals(plain)).toBe(true);
  });
});

describe('age keys', () => {
  it('encrypts to an ssh-ed25519 public key that `age -d -i <ssh private key>` reads', async () => {
    const dir = await makeTempDir('tb-age-ssh-');
    const key = path.join(dir, 'id_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'backup@test', '-f', key]);
    const plain = randomBytes(100_000);
    const file = path.join(dir, 'x.age');
    await encryptFile(file, new AgeCipher([parseRecipient(await readFile(`${key}.pub`, 'utf8'), 'test')]), plain, 65_536);
    expect((await ageDecrypt(file, key)).equals(plain)).toBe(true);
  });

  it('generates identities the age command reads, whose recipient it derives too', async () => {
    const dir = await makeTempDir('tb-age-gen-');
    const { identity, recipient } = X25519Identity.generate();
    expect(identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(recipient).toMatch(/^age1[0-9a-z]{58}$/);
    const file = path.join(dir, 'key.txt');
    await writeFile(file, `${identity}\n`, { mode: 0o600 });
    const derived = await execa('age-keygen', ['-y', file]);
    expect(derived.stdout.trim()).toBe(recipient);
    expect(parseIdentityFile(`# comment\n\n${identity}\n`, file)[0]!.recipient.toString()).toBe(recipient);
  });

  it('refuses malformed recipients and identity lines without quoting a key', () => {
    expect(() => parseRecipient('age1qqqq', 'encryption.recipients[0]')).toThrow(ConfigError);
    expect(() => parseRecipient('ssh-rsa AAAAB3Nza', 'encryption.recipients[0]')).toThrow(/unsupported recipient/);
    const { identity } = X25519Identity.generate();
    const broken = `${identity.slice(0, -1)}${identity.endsWith('Q') ? 'P' : 'Q'}`;
    const error = (() => {
      try {
        parseIdentityFile(`# ok\n${broken}\n`, 'key.txt');
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toContain('line 2');
    expect(error!.message).not.toContain(broken);
    expect(() => parseIdentityFile('-----BEGIN OPENSSH PRIVATE KEY-----\n', 'id')).toThrow(/SSH private keys are not read/);
    expect(() => parseIdentityFile('# nothing\n', 'empty.txt')).toThrow(/holds no age identity/);
  });

  it('refuses a passphrase work factor that would exhaust memory', async () => {
    const dir = await makeTempDir('tb-age-scrypt-');
    const file = path.join(dir, 'x.age');
    await encryptFile(file, new AgeCipher([new ScryptRecipient('pw-pw-pw', 10)]), Buffer.from('x'), 1);
    const text = (await readFile(file)).toString('latin1').replace(/^(-> scrypt \S+) 10$/m, '$1 22');
    await writeFile(file, Buffer.from(text, 'latin1'));
    await expect(decryptFile(file, { identities: [new ScryptIdentity('pw-pw-pw')], source: 'the passphrase' })).rejects.toThrow(/work factor 2\^22/);
  });

  it('refuses a passphrase beside recipients, and no recipient at all', () => {
    const { recipient } = X25519Identity.generate();
    expect(() => new AgeCipher([parseRecipient(recipient, 'r'), new ScryptRecipient('pw')])).toThrow(ConfigError);
    expect(() => new AgeCipher([])).toThrow(ConfigError);
  });

  it('says "cannot decrypt" for a file that is not for us, naming where the keys come from', async () => {
    const dir = await makeTempDir('tb-age-wrong-');
    const file = path.join(dir, 'x.age');
    const mine = X25519Identity.generate();
    await encryptFile(file, new AgeCipher([parseRecipient(mine.recipient, 'r')]), randomBytes(10), 10);
    const other = X25519Identity.generate();
    const error = await decryptFile(file, { identities: parseIdentityFile(other.identity, 'k'), source: 'the identity file /k' }).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(ArchiveError);
    expect((error as Error).message).toMatch(/^Cannot decrypt .* with the identity file \/k: no configured key matches its recipients \(X25519\)/);
  });
});
