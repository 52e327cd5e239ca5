/**
 * Commander wiring. Each command (one file in ./commands) parses its flags, calls one core use
 * case (lazy-imported, so `--help` and `list` never load database drivers) and renders the
 * result. Nothing here touches the file system, child processes or knex.
 */
import { Command } from 'commander';
import { TOOL_VERSION } from '../version.js';
import { examples } from './command-kit.js';
import { registerAuto } from './commands/auto.js';
import { registerBackup } from './commands/backup.js';
import { registerDelete } from './commands/delete.js';
import { registerGet } from './commands/get.js';
import { registerKey } from './commands/key.js';
import { registerLedger } from './commands/ledger.js';
import { registerList } from './commands/list.js';
import { registerNotify } from './commands/notify.js';
import { registerPlan } from './commands/plan.js';
import { registerPrune } from './commands/prune.js';
import { registerRestore } from './commands/restore.js';
import { registerStatus } from './commands/status.js';
import { registerVerify } from './commands/verify.js';

export function buildProgram(options: { json?: boolean } = {}): Command {
  const program = new Command('tenant-backup');
  // Under --json, usage errors are reported once, as a JSON object, by main.ts: commander's own
  // text must not precede it. Set before the subcommands are added: they copy it.
  if (options.json) program.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  program
    .description('Back up and restore the tenants of multi-tenant applications (database per tenant, or organizations in a shared database).')
    .version(TOOL_VERSION, '-V, --version', 'print the version')
    .option('-c, --config <path>', 'configuration file (default: $TENANT_BACKUP_CONFIG, else .backuprc in this folder or a parent)')
    .option('--json', 'print results as JSON on stdout (errors as JSON on stderr)', false)
    .option('-q, --quiet', 'print nothing but errors (and --json results)', false)
    .option('--debug', 'show stack traces of unexpected errors', false)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', examples(['tenant-backup backup acme', 'tenant-backup backup --org 42', 'tenant-backup list --org 42 --json']))
    .exitOverride();

  for (const register of [
    registerBackup,
    registerRestore,
    registerPlan,
    registerList,
    registerDelete,
    registerAuto,
    registerStatus,
    registerPrune,
    registerNotify,
    registerVerify,
    registerGet,
    registerKey,
    registerLedger,
  ])
    register(program);
  return program;
}
