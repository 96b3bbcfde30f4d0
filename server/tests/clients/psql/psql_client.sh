#!/usr/bin/env bash
# psql as an analyst uses it: schema.sql with -f, then the describe commands, whose
# catalog queries are what a PostgreSQL-compatible server must answer. Each command's
# output is checked for the object it should list.
#
# Usage: psql_client.sh postgresql://USER@HOST:PORT/DBNAME
# Exits 1 with a message on the first command that fails or lists the wrong thing.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 postgresql://USER@HOST:PORT/DBNAME" >&2
    exit 2
fi
url="$1"
dbname="${url##*/}"
schema="$(dirname "$0")/../schema.sql"

run() { psql "$url" -X -q -v ON_ERROR_STOP=1 "$@"; }

# `expect COMMAND REGEX`: COMMAND's output must have a line matching REGEX.
expect() {
    local out
    if ! out="$(run -c "$1" 2>&1)"; then
        echo "FAIL psql: $1: $out" >&2
        exit 1
    fi
    if ! grep -Eq "$2" <<<"$out"; then
        echo "FAIL psql: $1: no line matches /$2/ in:" >&2
        echo "$out" >&2
        exit 1
    fi
}

if ! out="$(run -f "$schema" 2>&1)"; then
    echo "FAIL psql: -f schema.sql: $out" >&2
    exit 1
fi
expect '\dt' '^ public +\| t +\| table '
expect '\dv' '^ public +\| t_big +\| view '
expect '\dm' '^ public +\| mv +\| materialized view '
expect '\d t' '^ ts +\| timestamp with time zone '
expect '\d+ t_big' '^View definition:'
expect '\d+ mv' '^ total +\| bigint '
expect '\dn' '^ public '
expect '\l' "^ $dbname "
echo "ok psql"
