/**
 * The real `age` command (Debian package `age`; scripts/test-full.sh installs it like the database
 * packages): the interoperability gate of the age cipher. A missing binary fails the tests that
 * need it with the fix, never skips them.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

function findTool(name: string): string {
  for (const dir of ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(path.delimiter)]) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`The "${name}" command is missing: install the Debian package age (apt-get install age; scripts/test-full.sh does it).`);
}

export const ageBinary = () => findTool('age');
export const ageKeygenBinary = () => findTool('age-keygen');

/** `age -d -i <identityFile> <file>`: the plaintext, or the command's error. */
export async function ageDecrypt(file: string, identityFile: string): Promise<Buffer> {
  const result = await execa(ageBinary(), ['-d', '-i', identityFile, file], { encoding: 'buffer', reject: false, stdin: 'ignore' });
  if (result.exitCode !== 0) throw new Error(`age -d failed (${result.exitCode}): ${Buffer.from(result.stderr).toString()}`);
  return Buffer.from(result.stdout);
}

/** `age -r <recipient> -o <output> <input>`. */
export async function ageEncrypt(input: string, recipient: string, output: string): Promise<void> {
  await execa(ageBinary(), ['-r', recipient, '-o', output, input], { stdin: 'ignore' });
}

/** A new identity file made by `age-keygen -o` (0600), and its recipient. */
export async function ageKeygen(dir: string, name = 'age-key.txt'): Promise<{ identityFile: string; recipient: string }> {
  const identityFile = path.join(dir, name);
  const result = await execa(ageKeygenBinary(), ['-o', identityFile], { stdin: 'ignore' });
  const recipient = /age1[0-9a-z]+/.exec(result.stderr)?.[0];
  if (!recipient) throw new Error(`age-keygen printed no recipient: ${result.stderr}`);
  return { identityFile, recipient };
}

/** Writes an identity file (0600) holding `identity`. */
export async function writeIdentityFile(file: string, identity: string): Promise<string> {
  await writeFile(file, `${identity}\n`, { mode: 0o600 });
  return file;
}
