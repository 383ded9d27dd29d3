#!/usr/bin/env bash
# django-treebeard's whole test suite (about 3,000 tests, unchanged) under `querycomb run`, as
# crates/cli/tests/run_treebeard.rs runs a selection of it: the report behind BENCHMARKS.md's
# treebeard figures (findings, causes, error causes; serial and under pytest-xdist).
#
#   bench/treebeard-suite.sh OUT.json                 the whole suite, serial
#   XDIST=2 bench/treebeard-suite.sh OUT.json         under pytest-xdist -n 2
#   TESTS=tests/test_treebeard.py::TestDelete bench/treebeard-suite.sh OUT.json
#   QUERYCOMB=/path/to/querycomb bench/treebeard-suite.sh OUT.json
#
# Writes OUT.json (the report) and OUT.junit.xml (pytest's outcomes); `run`'s short summary
# (counts, top causes) goes to stderr. Needs the set-up parts `python` and `treebeard`
# (scripts/setup-test-deps.sh) and PostgreSQL's binaries.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
[ $# -eq 1 ] || { echo "usage: $0 OUT.json" >&2; exit 2; }
out="$(realpath -m "$1")"
suite="$root/target/e2e/treebeard/src"
pytest="$root/target/e2e/django-venv/bin/pytest"
for need in "$suite/tests/conftest.py" "$pytest"; do
    [ -e "$need" ] || { echo "missing $need: run scripts/setup-test-deps.sh python treebeard" >&2; exit 2; }
done

# shellcheck source=bench/lib/release-querycomb.sh
. "$here/lib/release-querycomb.sh"
querycomb="$(release_querycomb "$root")"
# shellcheck source=bench/lib/throwaway-pg.sh
. "$here/lib/throwaway-pg.sh"
start_throwaway_pg 100
trap stop_throwaway_pg EXIT
psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc 'CREATE DATABASE shop' >/dev/null

xdist=()
[ -n "${XDIST:-}" ] && xdist=(-n "$XDIST")
# The suite's settings read the server from DATABASE_HOST/DATABASE_PORT_POSTGRES; `run`
# points PGHOST/PGPORT at its proxy, so a small `sh -c` hands them over (docs/ci.md).
cd "$suite"
export PYTHONPATH=. DJANGO_SETTINGS_MODULE=tests.settings DATABASE_ENGINE=psql \
    DATABASE_USER_POSTGRES=postgres DATABASE_PASSWORD= NO_COLOR=1 \
    DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/shop"
unset PYTEST_ADDOPTS PYTEST_PLUGINS PGHOST PGPORT
started=$SECONDS
"$querycomb" run --fail-on never --format json --output "$out" -- sh -c \
    "DATABASE_HOST=\$PGHOST DATABASE_PORT_POSTGRES=\$PGPORT exec '$pytest' -q -p no:cacheprovider \
     --junitxml='$out.junit.xml' ${xdist[*]} ${TESTS:-tests}" | tail -n 1
echo "== $((SECONDS - started)) s; the whole report: querycomb merge --format terminal $out"
