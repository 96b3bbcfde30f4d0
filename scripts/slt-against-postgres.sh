#!/usr/bin/env bash
# Runs the sqllogictest files (server/tests/slt/*.slt) against a real PostgreSQL,
# so the expected results stay PostgreSQL's and not whatever Vigil happens to print.
#
# Usage (from anywhere in the repository):
#   scripts/slt-against-postgres.sh              check every file
#   scripts/slt-against-postgres.sh mv_joins     check the files whose name contains mv_joins
#   scripts/slt-against-postgres.sh --complete   rewrite the expected rows of every query
#                                                with PostgreSQL's answers (review the diff)
#
# It starts a throwaway cluster in a temporary directory (C collation, TimeZone UTC,
# DateStyle ISO: what Vigil serves), runs the Rust harness with SLT_POSTGRES pointing
# at it, and removes the cluster on exit. The harness gives each file a fresh
# database, turns CREATE MATERIALIZED VIEW into CREATE VIEW (so PostgreSQL recomputes
# what Vigil maintains), and skips Vigil-only records: SHOW TABLES/VIEWS/
# MATERIALIZED VIEWS/COLUMNS, SHOW CREATE, EXPLAIN, `onlyif vigil`, and records
# under a comment containing `vigil-only`. See server/tests/sqllogictest.rs.
#
# Needs the PostgreSQL server binaries (scripts/install-test-deps.sh installs them).
# Environment: PG_BIN (default: the newest /usr/lib/postgresql/*/bin), SLT_PG_PORT
# (default 54329), CARGO_TARGET_DIR (passed through to cargo).
set -euo pipefail

complete=0
filter=""
for arg in "$@"; do
    case "$arg" in
        --complete) complete=1 ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        -*) echo "unknown option $arg" >&2; exit 2 ;;
        *) filter="$arg" ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
port="${SLT_PG_PORT:-54329}"
pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "slt-against-postgres: PostgreSQL server binaries not found; run scripts/install-test-deps.sh" >&2
    exit 1
fi

# initdb refuses to run as root, so root runs the cluster as the postgres user.
if [ "$(id -u)" -eq 0 ]; then
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

work="$(mktemp -d /tmp/slt-postgres.XXXXXX)"
chmod 755 "$work"
[ "$(id -u)" -eq 0 ] && chown postgres "$work"
cleanup() {
    as_pg "$pg_bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

as_pg "$pg_bin/initdb" -D "$work/data" -U postgres -A trust --locale=C -E UTF8 >"$work/initdb.log"
as_pg "$pg_bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w start -o \
    "-p $port -k $work -c listen_addresses=127.0.0.1 -c TimeZone=UTC -c DateStyle=ISO,MDY -c fsync=off" \
    >/dev/null
echo "slt-against-postgres: $("$pg_bin/postgres" --version) on 127.0.0.1:$port"

export SLT_POSTGRES="host=127.0.0.1 port=$port user=postgres"
export SLT_FILTER="$filter"
if [ "$complete" -eq 1 ]; then
    export SLT_COMPLETE=1
fi
cd "$repo"
cargo test -p vigil-server --test sqllogictest
