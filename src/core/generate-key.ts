/**
 * `key generate`: a new age identity (X25519) in an identity file of age-keygen's format, so the
 * `age` command reads it too (`age -d -i key.txt`). The file is created 0600 and never
 * overwritten; the identity itself is never printed — only its recipient (public key), which goes
 * into `encryption.recipients` of every machine that makes backups.
 */
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { X25519Identity } from '../cipher/age/keys.js';
import { registerSecrets, UsageError, describeCause } from '../errors.js';
import type { Clock } from '../retention/clock.js';

export interface GenerateKeyOptions {
  /** Where to write the identity; default `$HOME/.config/tenant-backup/key.txt`. */
  output?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
}

export interface GenerateKeyResult {
  /** The public key: `age1…`. */
  recipient: string;
  /** Absolute path of the identity file written. */
  identity_file: string;
}

export function defaultIdentityFile(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME;
  if (!home) throw new UsageError('HOME is not set, so there is no default place for the key: give one with -o <file>.');
  return path.join(home, '.config', 'tenant-backup', 'key.txt');
}

export async function generateKey(options: GenerateKeyOptions = {}): Promise<GenerateKeyResult> {
  if (options.output === '-') throw new UsageError('The identity is never printed: give a file with -o <file>.');
  const file = options.output ? path.resolve(options.cwd ?? process.cwd(), options.output) : defaultIdentityFile(options.env);
  // The default folder is created private; a folder named with -o must exist.
  if (!options.output) await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const { identity, recipient } = X25519Identity.generate();
  registerSecrets([identity]);
  const created = (options.clock?.now() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${file} already exists; refusing to overwrite a key (backups may depend on it). Choose another file with -o.`);
    throw new UsageError(`Cannot create ${file}: ${describeCause(error)}`);
  }
  try {
    await handle.writeFile(`# created: ${created}\n# public key: ${recipient}\n${identity}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { recipient, identity_file: file };
}
