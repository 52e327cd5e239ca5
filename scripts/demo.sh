#!/usr/bin/env bash
# The demo: installs the tool from the lockfile and makes a real organization backup of the shipped
# SQLite demo database (fixtures/demo/demo.sqlite; no server needed), then lists it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

printf '\n==> npm ci (builds dist/ too)\n'
npm ci

cd fixtures/demo
cli() { node ../../bin/tenant-backup.js "$@"; }

printf '\n==> tenant-backup backup --org 1   (organization ACME of fixtures/demo/demo.sqlite)\n'
cli backup --org 1 --user demo
printf '\n==> tenant-backup backup --org 2\n'
cli backup --org 2 --user demo
printf '\n==> tenant-backup list\n'
cli list
printf '\n==> tenant-backup restore --org 1 <backup> --dry-run\n'
cli restore --org 1 "$(cli list --org 1 --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8"))[0].backup_filename)')" --dry-run
printf '\nArchives are in fixtures/demo/backups/organizations/ (ledger: fixtures/demo/backups/ledger.json).\n'
