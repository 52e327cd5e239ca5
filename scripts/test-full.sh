#!/usr/bin/env bash
# The one command that runs the whole test suite on a fresh Debian 12 machine (as root):
# installs the database servers/clients the integration tests need if they are missing,
# installs npm dependencies exactly from the lockfile, then runs `npm test`.
# Integration tests start their own throwaway PostgreSQL 15 and MariaDB servers (test/global-setup.ts);
# any cluster the Debian package may try to start is neither needed nor used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n==> %s\n' "$*"; }

PG_BIN=/usr/lib/postgresql/15/bin
# age: the interoperability tests of encrypted archives run the real `age` / `age-keygen`;
# unzip and ssh-keygen (openssh-client) are used by archive and key tests; faketime and unshare
# (util-linux) simulate a second host with a skewed clock in the ledger's host tests.
APT_PACKAGES=(postgresql-15 postgresql-client-15 mariadb-server mariadb-client age unzip openssh-client faketime util-linux)

section "Checking database binaries and tools"
missing=()
for f in initdb pg_ctl postgres; do [[ -x "$PG_BIN/$f" ]] || missing+=("$PG_BIN/$f"); done
for c in pg_dump psql mariadbd mariadb-install-db mysqldump mysql age age-keygen unzip ssh-keygen faketime unshare; do
  command -v "$c" >/dev/null 2>&1 || [[ -x "/usr/sbin/$c" ]] || missing+=("$c")
done
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: not root, cannot install them. Install the Debian packages: ${APT_PACKAGES[*]}" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}" >&2
    exit 1
  fi
  section "Installing ${APT_PACKAGES[*]}"
  apt-get update
  # The packages may try to start a default cluster/server via invoke-rc.d (denied without systemd,
  # or started by a SysV script): either way the tests never use it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
else
  echo "all present"
fi

section "npm ci"
npm ci

section "npm test"
npm test
