/** The `key generate [-o file]` command: a new age identity for encrypted backups. */
import type { Command } from 'commander';
import { action, examples } from '../command-kit.js';
import { printJson, printLine } from '../render.js';

export function registerKey(program: Command): void {
  const key = program.command('key').description('Keys for encrypted backups (see "Encryption" in the README).');
  key
    .command('generate')
    .description('Write a new age identity (private key) to a file created with mode 0600 and print its recipient (public key).')
    .option('-o, --output <file>', 'the identity file to create (default: ~/.config/tenant-backup/key.txt); never overwritten')
    .addHelpText(
      'after',
      examples(['tenant-backup key generate', 'tenant-backup key generate -o /root/.config/tenant-backup/key.txt', 'tenant-backup key generate -o offline-key.txt --json']),
    )
    .action(
      action(async (ctx, options: { output?: string }) => {
        const { generateKey } = await import('../../core/generate-key.js');
        const result = await generateKey({ output: options.output });
        if (ctx.output.json) printJson(result);
        else {
          printLine(result.recipient, ctx.output);
          if (!ctx.output.quiet)
            process.stderr.write(
              `Identity written to ${result.identity_file} (mode 0600). Put the public key above in "encryption.recipients";\n` +
                'keep the identity file safe and apart from the backups: without it, encrypted backups cannot be restored.\n',
            );
        }
      }),
    );
}
