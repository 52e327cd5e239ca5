/**
 * The primitives of age v1 (age-encryption.org/v1), all from Node's crypto (OpenSSL): HKDF-SHA-256,
 * ChaCha20-Poly1305, X25519, scrypt, HMAC-SHA-256; and age's base64 (standard alphabet, no
 * padding, canonical only).
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';

export const FILE_KEY_BYTES = 16;
const TAG_BYTES = 16;
const ZERO_NONCE = Buffer.alloc(12);

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/** ChaCha20-Poly1305 with the given 12-byte nonce (zero by default: each wrapping key is used once). */
export function seal(key: Uint8Array, plaintext: Uint8Array, nonce: Uint8Array = ZERO_NONCE): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext, or null when the ciphertext does not authenticate under this key. */
export function open(key: Uint8Array, sealed: Uint8Array, nonce: Uint8Array = ZERO_NONCE): Buffer | null {
  if (sealed.length < TAG_BYTES) return null;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const out = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return out;
}

// DER prefixes of raw X25519 keys (RFC 8410): PKCS#8 private, SubjectPublicKeyInfo public.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function x25519PrivateKey(scalar: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, scalar]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKey(point: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, point]), format: 'der', type: 'spki' });
}

export function x25519PublicOf(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** X25519(scalar, point); null for a low-order point (an all-zero shared secret, which age refuses). */
export function x25519(privateKey: KeyObject, point: Uint8Array): Buffer | null {
  try {
    const shared = diffieHellman({ privateKey, publicKey: x25519PublicKey(point) });
    return shared.every((byte) => byte === 0) ? null : shared;
  } catch {
    return null;
  }
}

export function x25519Generate(): { scalar: Buffer; point: Buffer; privateKey: KeyObject } {
  const { privateKey } = generateKeyPairSync('x25519');
  const scalar = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  return { scalar, point: x25519PublicOf(privateKey), privateKey };
}

export function base64Encode(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

/** Canonical unpadded standard base64, or null (age refuses padding and non-canonical trailing bits). */
export function base64Decode(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*$/.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64');
  return base64Encode(bytes) === text ? bytes : null;
}
