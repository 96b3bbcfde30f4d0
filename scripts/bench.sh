#!/usr/bin/env bash
# Runs every benchmark of benches/ and prints one summary table (issue 8).
#
# Each scenario runs in its own process, so its peak RSS is its own, and writes its
# figures to benches/results/*.json; bench-summary then reads them all, prints one
# markdown table (Vigil next to PostgreSQL REFRESH and DataFusion recompute) and
# writes benches/results/summary.csv and summary.json. A scenario that fails is
# reported and the others still run; the script exits non-zero if any failed.
#
# Usage: scripts/bench.sh [--quick]
#   --quick   small sizes that finish in a few minutes (figures are not comparable
#             with a full run); default: the full sizes of benches/README.md
#
# Needs: the Rust toolchain; PostgreSQL server binaries for the baselines (installed
# through scripts/install-test-deps.sh when missing). Respects CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument $arg (--quick)" >&2
      exit 2
      ;;
  esac
done

# The baselines need PostgreSQL; without it they are skipped, the rest still runs.
have_postgres=1
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "== installing the PostgreSQL server binaries (for the baselines)"
  if ! ./scripts/install-test-deps.sh; then
    echo "bench.sh: could not install PostgreSQL; the baselines will be skipped" >&2
    have_postgres=0
  fi
fi

echo "== cargo build --release -p vigil-benches --bins"
cargo build --release -p vigil-benches --bins
target_dir=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release"

if [ "$quick" -eq 1 ]; then
  ingest_args=(--events 100000 --probes 50)
  serving_args=(--orders 100000 --duration 10)
  update_args=(100000 50)
  alert_args=(100)
  crdc_args=(--students 20000 --probes 50)
  eng_args=(--scale 0.05 --probes 50)
  baseline_args=(--orders 100000 --students 20000 --scale 0.05 --refreshes 3)
else
  ingest_args=()
  serving_args=()
  update_args=()
  alert_args=()
  crdc_args=()
  eng_args=()
  baseline_args=()
fi

failed=()
# run NAME BINARY ARGS...: one scenario in its own process, timed.
run() {
  local name=$1
  shift
  echo
  echo "== $name: $(basename "$1") ${*:2}"
  local started=$SECONDS
  if "$@"; then
    echo "-- $name: done in $((SECONDS - started)) s"
  else
    echo "-- $name: FAILED (exit $?) after $((SECONDS - started)) s" >&2
    failed+=("$name")
  fi
}

run "ingest, 1 worker" "$bin/source-ingest" --workers 1 "${ingest_args[@]}"
run "ingest, 2 workers" "$bin/source-ingest" --workers 2 "${ingest_args[@]}"
run "serving" "$bin/serving" "${serving_args[@]}"
run "update-latency" "$bin/update-latency" "${update_args[@]}"
run "alert-latency" "$bin/alert-latency" "${alert_args[@]}"
run "crdc-district" "$bin/crdc-district" "${crdc_args[@]}"
run "eng-org" "$bin/eng-org" "${eng_args[@]}"
if [ ! -f benches/src/bin/baselines.rs ] || [ ! -x "$bin/baselines" ]; then
  echo
  echo "== baselines: skipped (no baselines binary in benches/src/bin yet)"
elif [ "$have_postgres" -eq 0 ]; then
  echo
  echo "== baselines: skipped (PostgreSQL is not installed)"
else
  run "baselines" "$bin/baselines" "${baseline_args[@]}"
fi

echo
echo "== summary"
"$bin/bench-summary"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "bench.sh: failed: ${failed[*]}" >&2
  exit 1
fi
