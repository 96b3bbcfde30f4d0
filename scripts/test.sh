#!/usr/bin/env bash
# Runs Vigil's whole test suite: unit tests, property tests, sqllogictest files against a
# real server, and real clients (psql, tokio-postgres). Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Reuse a warm build directory when this machine has one; never required.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d /work/target ]; then
  export CARGO_TARGET_DIR=/work/target
fi

./scripts/install-test-deps.sh

echo "== cargo test --workspace"
cargo test --workspace --no-fail-fast "$@"
