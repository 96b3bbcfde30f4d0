#!/usr/bin/env bash
# Runs real PostgreSQL client programs (server/tests/clients/) against a fresh Vigil,
# prints a PASS/FAIL table, and exits non-zero if any failed.
#
# Usage (from anywhere in the repository):
#   scripts/client-tests.sh                       every client against Vigil, then every
#                                                 capture replayed (client_replay.rs)
#   scripts/client-tests.sh --against-postgres    the same against a throwaway PostgreSQL,
#                                                 to prove the programs and captures right
#   scripts/client-tests.sh --against-postgres --capture server/tests/clients/captured
#                                                 also write each client's statements,
#                                                 as logged by PostgreSQL, to DIR/<client>.sql
#   scripts/client-tests.sh --only psql,asyncpg   a subset
#   scripts/client-tests.sh --no-replay           skip the replay of the captures
#
# Clients: psql (describe commands), psycopg (psycopg 3), sqlalchemy (SQLAlchemy 2
# reflection over psycopg), asyncpg, pgjdbc (a javac-compiled program on Debian's
# pgjdbc jar), node-postgres. Each gets its own server (Vigil) or database
# (PostgreSQL) and creates server/tests/clients/schema.sql itself.
#
# Installs what it needs, idempotently: Debian packages (postgresql-client and
# server, libpostgresql-jdbc-java, a JDK, nodejs/npm, python3-venv) when missing, a
# venv at $CARGO_TARGET_DIR/client-venv with the pinned Python drivers, and `npm ci`
# in server/tests/clients/node. No interactive step; everything it starts is stopped
# and its temporary directory removed on exit.
#
# Environment: CARGO_TARGET_DIR (default: target), PG_BIN (default: the newest
# /usr/lib/postgresql/*/bin), CLIENT_TIMEOUT seconds per client (default 300).
set -euo pipefail

ALL_CLIENTS=(psql psycopg sqlalchemy asyncpg pgjdbc node-postgres)

against=vigil
capture_dir=""
only=""
replay=1
while [ $# -gt 0 ]; do
    case "$1" in
        --against-postgres) against=postgres ;;
        --capture) capture_dir="${2:?--capture needs a directory}"; shift ;;
        --only) only="${2:?--only needs a comma-separated list of clients}"; shift ;;
        --no-replay) replay=0 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "client-tests: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$capture_dir" ] && [ "$against" != postgres ]; then
    echo "client-tests: --capture records what PostgreSQL logs; it needs --against-postgres" >&2
    exit 2
fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
clients_dir="$repo/server/tests/clients"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
venv="$target/client-venv"
java_classes="$target/client-java"
jdbc_jar=/usr/share/java/postgresql.jar
timeout_secs="${CLIENT_TIMEOUT:-300}"
[ -n "$capture_dir" ] && capture_dir="$(mkdir -p "$capture_dir" && cd "$capture_dir" && pwd)"

clients=("${ALL_CLIENTS[@]}")
if [ -n "$only" ]; then
    IFS=, read -r -a clients <<<"$only"
    for c in "${clients[@]}"; do
        [[ " ${ALL_CLIENTS[*]} " == *" $c "* ]] || { echo "client-tests: unknown client $c" >&2; exit 2; }
    done
fi

log() { echo "client-tests: $*"; }

# ---------------------------------------------------------------- installation

if [ "$(id -u)" -eq 0 ]; then
    apt_get() { DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
else
    apt_get() { sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
fi
apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        apt_get update -q >/dev/null
        apt_updated=1
    fi
    log "installing $*"
    apt_get install -y -q --no-install-recommends "$@" >/dev/null
}

install_deps() {
    if ! command -v psql >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        "$repo/scripts/install-test-deps.sh"
    fi
    command -v javac >/dev/null || apt_install default-jdk-headless
    [ -f "$jdbc_jar" ] || apt_install libpostgresql-jdbc-java
    command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv

    local requirements="$clients_dir/python/requirements.txt"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    if ! cmp -s "$requirements" "$venv/.installed-requirements"; then
        log "installing the Python drivers into $venv"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$venv/.installed-requirements"
    fi

    local node_dir="$clients_dir/node"
    if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.installed-package-lock.json"; then
        log "npm ci in $node_dir"
        (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        cp "$node_dir/package-lock.json" "$node_dir/node_modules/.installed-package-lock.json"
    fi

    local source="$clients_dir/java/JdbcClient.java"
    if [ ! "$java_classes/JdbcClient.class" -nt "$source" ]; then
        log "compiling $source"
        mkdir -p "$java_classes"
        javac -d "$java_classes" -cp "$jdbc_jar" "$source"
    fi
}

# Sets `command` to what runs CLIENT; the connection URL is appended.
set_command() {
    case "$1" in
        psql) command=(bash "$clients_dir/psql/psql_client.sh") ;;
        psycopg) command=("$venv/bin/python" -B "$clients_dir/python/psycopg_client.py") ;;
        sqlalchemy) command=("$venv/bin/python" -B "$clients_dir/python/sqlalchemy_client.py") ;;
        asyncpg) command=("$venv/bin/python" -B "$clients_dir/python/asyncpg_client.py") ;;
        pgjdbc) command=(java -cp "$jdbc_jar:$java_classes" -Dvigil.schema="$clients_dir/schema.sql" JdbcClient) ;;
        node-postgres) command=(node "$clients_dir/node/client.js") ;;
    esac
}

# The client and version a capture names in its header.
client_version() {
    case "$1" in
        psql) psql --version ;;
        psycopg) echo "psycopg $("$venv/bin/python" -c 'import psycopg; print(psycopg.__version__)')" ;;
        sqlalchemy) "$venv/bin/python" -c 'import sqlalchemy, psycopg; print(f"SQLAlchemy {sqlalchemy.__version__} with psycopg {psycopg.__version__}")' ;;
        asyncpg) echo "asyncpg $("$venv/bin/python" -c 'import asyncpg; print(asyncpg.__version__)')" ;;
        pgjdbc) echo "pgjdbc $(python3 -c 'import re, sys, zipfile; print(re.search(r"Implementation-Version: (\S+)", zipfile.ZipFile(sys.argv[1]).read("META-INF/MANIFEST.MF").decode())[1])' "$jdbc_jar") (Debian's libpostgresql-jdbc-java)" ;;
        node-postgres) echo "node-postgres (pg) $(node -p "require('$clients_dir/node/node_modules/pg/package.json').version")" ;;
    esac
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # PORT PID: until something accepts on PORT, while PID lives
    local deadline=$((SECONDS + 60))
    until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || return 1
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# ---------------------------------------------------------------- servers

work="$(mktemp -d /tmp/vigil-client-tests.XXXXXX)"
chmod 755 "$work"
vigil_pid=""
pg_bin=""
as_pg() { "$@"; }

cleanup() {
    if [ -n "$vigil_pid" ]; then
        kill "$vigil_pid" 2>/dev/null || true
        wait "$vigil_pid" 2>/dev/null || true
    fi
    if [ -n "$pg_bin" ] && [ -f "$work/pg/postmaster.pid" ]; then
        as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres() {
    pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
    if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
        echo "client-tests: PostgreSQL server binaries not found; run scripts/install-test-deps.sh" >&2
        exit 1
    fi
    # initdb refuses to run as root, so root runs the cluster as the postgres user.
    if [ "$(id -u)" -eq 0 ]; then
        as_pg() { runuser -u postgres -- "$@"; }
        chown postgres "$work"
    fi
    pg_port="$(free_port)"
    as_pg "$pg_bin/initdb" -D "$work/pg" -U postgres -A trust --locale=C -E UTF8 >"$work/initdb.log"
    # The prefix names database and application, so capture_log.py can tell the
    # clients apart and skip this script's own queries.
    cat >>"$work/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
log_line_prefix = '@%d@%a@ '
lc_messages = 'C'
TimeZone = 'UTC'
fsync = off
EOF
    as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/postgres.log" -w start \
        -o "-p $pg_port -k $work -c log_statement=all" >/dev/null
    log "$("$pg_bin/postgres" --version) on 127.0.0.1:$pg_port, log in $work/postgres.log"
}

pg_admin() { # SQL: run as the bookkeeping application, which captures skip
    PGAPPNAME=vigil-capture psql -X -q -At -h 127.0.0.1 -p "$pg_port" -U postgres -d "${2:-postgres}" -c "$1"
}

# Gives CLIENT a fresh server (Vigil) or database (PostgreSQL); sets `url` to it.
start_target() {
    local db="client_${1//-/_}"
    if [ "$against" = postgres ]; then
        pg_admin "CREATE DATABASE $db" >/dev/null
        url="postgresql://postgres@127.0.0.1:$pg_port/$db"
        return
    fi
    local port
    port="$(free_port)"
    "$target/debug/vigil" serve --listen "127.0.0.1:$port" --data-dir "$work/$db" --workers 1 --no-builtin-views \
        >"$work/$db.log" 2>&1 </dev/null &
    vigil_pid=$!
    if ! wait_for_port "$port" "$vigil_pid"; then
        echo "client-tests: vigil serve did not start; its output:" >&2
        cat "$work/$db.log" >&2
        return 1
    fi
    url="postgresql://vigil@127.0.0.1:$port/vigil"
}

stop_target() {
    if [ -n "$vigil_pid" ]; then
        kill "$vigil_pid" 2>/dev/null || true
        wait "$vigil_pid" 2>/dev/null || true
        vigil_pid=""
    fi
}

# Writes CLIENT's statements from the PostgreSQL log to $capture_dir/CLIENT.sql.
capture() {
    local client="$1" db="client_${1//-/_}"
    local oid_args=()
    while IFS='|' read -r name oid; do
        oid_args+=(--oid "$name=$oid")
    done < <(pg_admin "SELECT c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'" "$db")
    local header
    header="$client: the statements $(client_version "$client") sent to $("$pg_bin/postgres" --version),
in order, as its log_statement=all log recorded them (client program in server/tests/clients/).
Written by scripts/client-tests.sh --against-postgres --capture; replayed by
server/tests/client_replay.rs. Regenerate rather than edit by hand."
    python3 "$clients_dir/capture_log.py" --log "$work/postgres.log" --database "$db" \
        --header "$header" "${oid_args[@]}" >"$capture_dir/$client.sql"
    log "captured $(grep -c '^-- replay:' "$capture_dir/$client.sql") statements in $capture_dir/$client.sql"
}

# ---------------------------------------------------------------- run

install_deps
if [ "$against" = postgres ]; then
    start_postgres
else
    log "building vigil"
    (cd "$repo" && cargo build --quiet --bin vigil)
fi

declare -A result
failed=0
for client in "${clients[@]}"; do
    if ! start_target "$client"; then
        result[$client]="FAIL: the server did not start"
        failed=1
        stop_target
        continue
    fi
    set_command "$client"
    log "$client: $url"
    if output="$(timeout "$timeout_secs" "${command[@]}" "$url" 2>&1)"; then
        result[$client]=PASS
        [ -n "$capture_dir" ] && capture "$client"
    else
        result[$client]="FAIL: $( (grep -m1 '^FAIL ' <<<"$output" || tail -n 1 <<<"$output") | sed 's/^FAIL //' | cut -c1-300)"
        failed=1
        echo "$output" | sed 's/^/    /'
    fi
    stop_target
done

if [ "$replay" -eq 1 ]; then
    # Every capture, the hand-written metabase.sql and grafana.sql included, replayed
    # by client_replay.rs on a fresh server (Vigil) or database (PostgreSQL) each.
    log "replaying server/tests/clients/captured/*.sql (cargo test -p vigil-server --test client_replay)"
    replay_env=()
    [ "$against" = postgres ] && replay_env=(CLIENT_REPLAY_POSTGRES="host=127.0.0.1 port=$pg_port user=postgres")
    (cd "$repo" && env "${replay_env[@]}" cargo test -p vigil-server --test client_replay -- --test-threads=2) \
        >"$work/replay.log" 2>&1 || true
    while read -r test outcome; do
        name="${test//_/-}"
        # One row per capture; the harness's own tests only when they fail.
        [ -f "$clients_dir/captured/$name.sql" ] || [ "$outcome" = FAILED ] || continue
        clients+=("replay:$name")
        if [ "$outcome" = ok ]; then
            result["replay:$name"]=PASS
        else
            # The test's message: "client: statement N of M (...) failed: SQLSTATE ..."
            result["replay:$name"]="FAIL: $(grep -m1 -o "$name: statement [0-9]* of [0-9]* .*" "$work/replay.log" | cut -c1-300 || true)"
            failed=1
        fi
    done < <(sed -n 's/^test \([a-z_]*\) \.\.\. \(ok\|FAILED\)$/\1 \2/p' "$work/replay.log")
    if ! grep -q '^test result:' "$work/replay.log"; then
        clients+=(replay)
        result[replay]="FAIL: cargo test did not run; see the output above"
        failed=1
        sed 's/^/    /' "$work/replay.log"
    fi
fi

echo
printf '%-22s %s\n' "client" "against $against"
printf '%-22s %s\n' "------" "----------------"
for client in "${clients[@]}"; do
    printf '%-22s %s\n' "$client" "${result[$client]}"
done
passed=0
for client in "${clients[@]}"; do
    [ "${result[$client]}" = PASS ] && passed=$((passed + 1))
done
echo "client-tests: $passed passed, $(( ${#clients[@]} - passed )) failed"
exit "$failed"
