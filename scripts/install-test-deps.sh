#!/usr/bin/env bash
# Installs what Vigil's end-to-end tests need beyond the Rust toolchain:
#   - postgresql-client: the real psql, driven by server/tests/psql.rs;
#   - postgresql: server binaries for scripts/slt-against-postgres.sh, which checks
#     the expected results of server/tests/slt/*.slt against PostgreSQL.
# Idempotent: does nothing when both are present. Debian/Ubuntu (apt-get); runs
# apt-get through sudo when not root.
#
# Usage: scripts/install-test-deps.sh
set -euo pipefail

have_psql() { command -v psql >/dev/null 2>&1; }
have_server() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

if have_psql && have_server; then
    echo "install-test-deps: psql and the PostgreSQL server binaries are already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    apt_get() { apt-get "$@"; }
else
    apt_get() { sudo apt-get "$@"; }
fi

export DEBIAN_FRONTEND=noninteractive
apt_get update -q
apt_get install -y -q --no-install-recommends postgresql-client postgresql

have_psql && have_server
echo "install-test-deps: installed $(psql --version)"
