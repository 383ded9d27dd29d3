#!/usr/bin/env bash
# Runs every fuzz target in turn from the committed seeds (fuzz/seeds/<target>, made from
# real logs and wire captures by fuzz/make-seeds.py) plus what earlier runs found
# (fuzz/corpus/<target>, not committed), and prints one line per target with its execution
# count. Stops at the first crash (libFuzzer saves it under fuzz/artifacts/<target>/).
#
#   fuzz/run-all.sh SECONDS            each target for SECONDS
#   fuzz/run-all.sh SECONDS RUNS       ... or until RUNS executions, whichever comes first
#   TARGETS="sql_lexer pg_frames" fuzz/run-all.sh 600
#   SANITIZER=none fuzz/run-all.sh ...   without AddressSanitizer (the default is address):
#                                        the workspace forbids unsafe code, so a panic is
#                                        what a run can find, and runs go about 3× faster
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain runs it with
# RUSTC_BOOTSTRAP=1. Input caps keep each target on the sizes its parser meets per record.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:?usage: fuzz/run-all.sh SECONDS [RUNS]}
runs=${2:-0}
targets=${TARGETS:-"sql_lexer pg_frames pg_stderr pg_csv pg_json mysql_general mysql_slow mysql_table log_readers"}

max_len() {
  case "$1" in
    sql_lexer) echo 4096 ;;
    pg_frames) echo 16384 ;;
    *) echo 1024 ;;
  esac
}

export RUSTC_BOOTSTRAP=1
results=()
for target in $targets; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log=$(mktemp)
  args=(-max_total_time="$seconds" -max_len="$(max_len "$target")" -print_final_stats=1
        -artifact_prefix="artifacts/$target/")
  [ "$runs" -gt 0 ] && args+=(-runs="$runs")
  echo "== $target (${seconds}s${runs:+, at most $runs runs})" >&2
  if ! cargo fuzz run -O --sanitizer "${SANITIZER:-address}" "$target" "corpus/$target" "seeds/$target" -- "${args[@]}" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz/run-all.sh: $target failed; the input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  executed=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
  took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -n 1 || true)
  results+=("$target: ${executed:-?} executions, no crash ($took)")
  echo "${results[-1]}" >&2
  rm -f "$log"
done
printf '%s\n' "${results[@]}"
