/**
 * age recipients (who can read a file: X25519 `age1…` keys, `ssh-ed25519` public keys, a
 * passphrase) and identities (what reads one: `AGE-SECRET-KEY-1…` keys, a passphrase), and how each
 * wraps and unwraps a file key in a header stanza — exactly as age v1 specifies, so files are
 * readable by the `age` command and vice versa.
 *
 * Contract: no message ever quotes an identity or a passphrase (callers register them as secrets
 * too); a malformed stanza of a file is an ArchiveError, a malformed key of the configuration a
 * ConfigError.
 */
import { createHash, randomBytes, scrypt as scryptCallback, type KeyObject } from 'node:crypto';
import { ArchiveError, ConfigError } from '../../errors.js';
import { bech32Decode, bech32Encode } from './bech32.js';
import { base64Decode, base64Encode, FILE_KEY_BYTES, hkdf, open, seal, x25519, x25519Generate, x25519PrivateKey, x25519PublicOf } from './primitives.js';

export interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

export interface Recipient {
  /** `X25519`, `ssh-ed25519` or `scrypt`: an scrypt stanza must be a header's only one. */
  readonly type: string;
  wrap(fileKey: Buffer): Promise<Stanza>;
}

export interface Identity {
  /** The file key from the stanza when it is addressed to this identity, else null. */
  unwrap(stanza: Stanza, file: string): Promise<Buffer | null>;
}

const X25519_LABEL = 'age-encryption.org/v1/X25519';
const SSH_ED25519_LABEL = 'age-encryption.org/v1/ssh-ed25519';
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'age-secret-key-';
/** The work factor written (age's own default): 2^18 iterations, 256 MiB, about a second. */
export const SCRYPT_WRITE_LOG_N = 18;
/** The highest work factor accepted from a file: 2^20 needs 1 GiB; more is a denial of service. */
export const SCRYPT_MAX_LOG_N = 20;

function malformed(file: string, what: string): ArchiveError {
  return new ArchiveError(`Cannot decrypt ${file}: its age header is malformed (${what}).`);
}

function x25519Wrap(theirPoint: Buffer, fileKey: Buffer, label: string, tweak?: (shared: Buffer) => Buffer | null): { share: Buffer; body: Buffer } {
  const ephemeral = x25519Generate();
  let shared = x25519(ephemeral.privateKey, theirPoint);
  if (shared && tweak) shared = tweak(shared);
  if (!shared) throw new ConfigError('An encryption recipient is not a valid public key (low-order point).');
  const key = hkdf(shared, Buffer.concat([ephemeral.point, theirPoint]), label);
  return { share: ephemeral.point, body: seal(key, fileKey) };
}

export class X25519Recipient implements Recipient {
  readonly type = 'X25519';
  constructor(readonly point: Buffer) {}

  async wrap(fileKey: Buffer): Promise<Stanza> {
    const { share, body } = x25519Wrap(this.point, fileKey, X25519_LABEL);
    return { type: 'X25519', args: [base64Encode(share)], body };
  }

  toString(): string {
    return bech32Encode(RECIPIENT_HRP, this.point);
  }
}

export class X25519Identity implements Identity {
  private readonly privateKey: KeyObject;
  readonly recipient: X25519Recipient;

  constructor(scalar: Buffer) {
    this.privateKey = x25519PrivateKey(scalar);
    this.recipient = new X25519Recipient(x25519PublicOf(this.privateKey));
  }

  static generate(): { identity: string; recipient: string } {
    const { scalar, point } = x25519Generate();
    return { identity: bech32Encode(IDENTITY_HRP, scalar).toUpperCase(), recipient: bech32Encode(RECIPIENT_HRP, point) };
  }

  async unwrap(stanza: Stanza, file: string): Promise<Buffer | null> {
    if (stanza.type !== 'X25519') return null;
    const share = stanza.args.length === 1 ? base64Decode(stanza.args[0]!) : null;
    if (!share || share.length !== 32) throw malformed(file, 'an X25519 stanza without a 32-byte share');
    if (stanza.body.length !== FILE_KEY_BYTES + 16) throw malformed(file, 'an X25519 stanza body of the wrong size');
    const shared = x25519(this.privateKey, share);
    if (!shared) throw malformed(file, 'an X25519 share of low order');
    const key = hkdf(shared, Buffer.concat([share, this.recipient.point]), X25519_LABEL);
    return open(key, stanza.body);
  }
}

/** An OpenSSH `ssh-ed25519` public key as a recipient (age's tweaked X25519 on the Montgomery form). */
export class SshEd25519Recipient implements Recipient {
  readonly type = 'ssh-ed25519';
  private readonly montgomery: Buffer;
  private readonly tag: string;

  constructor(
    private readonly wire: Buffer,
    edwards: Buffer,
  ) {
    this.montgomery = edwardsToMontgomery(edwards);
    this.tag = base64Encode(createHash('sha256').update(wire).digest().subarray(0, 4));
  }

  async wrap(fileKey: Buffer): Promise<Stanza> {
    const tweak = x25519PrivateKey(hkdf(Buffer.alloc(0), this.wire, SSH_ED25519_LABEL));
    const { share, body } = x25519Wrap(this.montgomery, fileKey, SSH_ED25519_LABEL, (shared) => x25519(tweak, shared));
    return { type: 'ssh-ed25519', args: [this.tag, base64Encode(share)], body };
  }
}

const P = 2n ** 255n - 19n;

function modPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  for (let b = base % P, e = exponent; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) result = (result * b) % P;
  return result;
}

/** The birational map from Ed25519 to Curve25519: u = (1 + y) / (1 − y) mod p. */
function edwardsToMontgomery(edwards: Buffer): Buffer {
  const bytes = Buffer.from(edwards);
  bytes[31]! &= 0x7f;
  const y = BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
  if (y >= P || y === 1n) throw new ConfigError('An ssh-ed25519 encryption recipient is not a valid Ed25519 public key.');
  const u = ((1n + y) * modPow((1n - y + P) % P, P - 2n)) % P;
  return Buffer.from(u.toString(16).padStart(64, '0'), 'hex').reverse();
}

export class ScryptRecipient implements Recipient {
  readonly type = 'scrypt';
  constructor(
    private readonly passphrase: string,
    private readonly logN = SCRYPT_WRITE_LOG_N,
  ) {}

  async wrap(fileKey: Buffer): Promise<Stanza> {
    const salt = randomBytes(16);
    const key = await scryptKey(this.passphrase, salt, this.logN);
    return { type: 'scrypt', args: [base64Encode(salt), String(this.logN)], body: seal(key, fileKey) };
  }
}

export class ScryptIdentity implements Identity {
  constructor(private readonly passphrase: string) {}

  async unwrap(stanza: Stanza, file: string): Promise<Buffer | null> {
    if (stanza.type !== 'scrypt') return null;
    const salt = stanza.args.length === 2 ? base64Decode(stanza.args[0]!) : null;
    const logN = /^[1-9][0-9]?$/.test(stanza.args[1] ?? '') ? Number(stanza.args[1]) : NaN;
    if (!salt || salt.length !== 16 || !Number.isInteger(logN)) throw malformed(file, 'an scrypt stanza without salt or work factor');
    if (stanza.body.length !== FILE_KEY_BYTES + 16) throw malformed(file, 'an scrypt stanza body of the wrong size');
    if (logN > SCRYPT_MAX_LOG_N) {
      throw new ArchiveError(`Cannot decrypt ${file}: its passphrase work factor 2^${logN} is above the 2^${SCRYPT_MAX_LOG_N} tenant-backup accepts.`);
    }
    return open(await scryptKey(this.passphrase, salt, logN), stanza.body);
  }
}

function scryptKey(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    scryptCallback(passphrase.normalize('NFC'), Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]), 32, { N, r: 8, p: 1, maxmem: 128 * 8 * N + 16 * 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** A recipient as written in the configuration: `age1…` or `ssh-ed25519 AAAA… [comment]`. */
export function parseRecipient(text: string, where: string): Recipient {
  const trimmed = text.trim();
  if (trimmed.startsWith('age1')) {
    const decoded = bech32Decode(trimmed);
    if (!decoded || decoded.hrp !== RECIPIENT_HRP || decoded.data.length !== 32) throw new ConfigError(`${where}: "${trimmed}" is not a valid age recipient (age1…).`);
    return new X25519Recipient(decoded.data);
  }
  if (trimmed.startsWith('ssh-ed25519 ')) {
    const wire = Buffer.from(trimmed.split(/\s+/)[1] ?? '', 'base64');
    const name = readSshString(wire, 0);
    const key = name && readSshString(wire, name.next);
    if (!name || name.value.toString() !== 'ssh-ed25519' || !key || key.value.length !== 32 || key.next !== wire.length) {
      throw new ConfigError(`${where}: not a valid ssh-ed25519 public key.`);
    }
    return new SshEd25519Recipient(wire, key.value);
  }
  throw new ConfigError(
    `${where}: unsupported recipient "${trimmed.slice(0, 24)}…"; use an age public key (age1…, from \`tenant-backup key generate\` or age-keygen) or an ssh-ed25519 public key.`,
  );
}

function readSshString(buffer: Buffer, at: number): { value: Buffer; next: number } | null {
  if (at + 4 > buffer.length) return null;
  const length = buffer.readUInt32BE(at);
  if (at + 4 + length > buffer.length) return null;
  return { value: buffer.subarray(at + 4, at + 4 + length), next: at + 4 + length };
}

/**
 * The identities of an identity file in age-keygen's format: one `AGE-SECRET-KEY-1…` per line,
 * `#` comments and blank lines ignored. Anything else is refused by line number, never quoted.
 */
export function parseIdentityFile(text: string, file: string): X25519Identity[] {
  const identities: X25519Identity[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const decoded = line.startsWith('AGE-SECRET-KEY-1') ? bech32Decode(line) : null;
    if (!decoded || decoded.hrp !== IDENTITY_HRP || decoded.data.length !== 32) {
      const hint = line.startsWith('-----BEGIN') ? ' (SSH private keys are not read by tenant-backup: decrypt such archives with the age command, or use an age identity)' : '';
      throw new ConfigError(`Identity file ${file}, line ${index + 1}: not an age identity (AGE-SECRET-KEY-1…)${hint}.`);
    }
    identities.push(new X25519Identity(decoded.data));
  }
  if (identities.length === 0) throw new ConfigError(`Identity file ${file} holds no age identity (AGE-SECRET-KEY-1…).`);
  return identities;
}
