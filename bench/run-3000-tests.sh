#!/usr/bin/env bash
# `querycomb run` on a suite of about 3,000 tests: the Django project of tests/e2e/django
# with 60 generated test files of 50 tests each (each loads a page, counts, or saves; one
# test per file goes through the N+1 books view; every tenth file has a fixture saving
# authors one by one), run with pytest-xdist (`-n 2`) directly and under `querycomb run`,
# untagged. Prints the wall time of each run, the overhead ratio, the findings by
# severity and the lines of the terminal report and of the stderr summary.
#
#   bench/run-3000-tests.sh                 # the debug build
#   QC=target/release/querycomb bench/run-3000-tests.sh
#
# Needs PostgreSQL's server binaries and the Django venv of scripts/setup-test-deps.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
qc="${QC:-$root/target/debug/querycomb}"
venv="$root/target/e2e/django-venv/bin"
bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
work="$(mktemp -d /tmp/qc-3000.XXXXXX)"
port=$((20000 + RANDOM % 20000))
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$work"; as_pg=(runuser -u postgres --); fi
cleanup() { "${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"${as_pg[@]}" "$bin/initdb" -D "$work/data" -U qc --auth=trust -E UTF8 --locale=C >/dev/null
printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nmax_connections = 50\n" \
  "$port" "$work" >> "$work/data/postgresql.conf"
"${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" start -w >/dev/null
"$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U qc -d postgres -c "CREATE DATABASE shop"

project="$work/project"
mkdir -p "$project"
cp -r "$root/tests/e2e/django/." "$project/"
rm -f "$project/tests/test_books.py"
"$venv/python" - "$project/tests" <<'PY'
import sys
tests = sys.argv[1]
for f in range(60):
    lines = [
        "import pytest",
        "from shop.models import Author, Book",
        "",
        "@pytest.fixture",
        "def shelf(db):",
        "    authors = Author.objects.bulk_create(Author(name=f'author {i}') for i in range(1, 9))",
        "    Book.objects.bulk_create(Book(title=f'book {i}', author=a) for i, a in enumerate(authors, 1))",
        "",
    ]
    if f % 10 == 0:
        lines += [
            "@pytest.fixture",
            "def one_by_one(db):",
            "    return [Author.objects.create(name=f'a{i}') for i in range(8)]",
            "",
            f"def test_fixture_loop_{f}(one_by_one):",
            "    assert Author.objects.count() == 8",
            "",
        ]
    lines += [
        f"def test_page_n_plus_one_{f}(client, shelf):",
        "    assert client.get('/books/').status_code == 200",
        "",
    ]
    for t in range(48 if f % 10 == 0 else 49):
        kind = t % 3
        if kind == 0:
            lines += [f"def test_page_{f}_{t}(client, shelf):", "    assert client.get('/books-clean/').status_code == 200", ""]
        elif kind == 1:
            lines += [f"def test_count_{f}_{t}(shelf):", "    assert Book.objects.count() == 8", ""]
        else:
            lines += [f"def test_save_{f}_{t}(db):", f"    Author.objects.create(name='x{t}')", "    assert Author.objects.count() == 1", ""]
    open(f"{tests}/test_gen_{f:03}.py", "w").write("\n".join(lines))
PY

export DATABASE_URL="postgres://qc@127.0.0.1:$port/shop"
cd "$project"
pytest=("$venv/pytest" -q -p no:randomly -n 2 --noconftest)
start=$(date +%s.%N)
"${pytest[@]}" > "$work/direct.txt" 2>&1 || true
direct=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
NO_COLOR=1 COLUMNS=100 "$qc" run --fail-on never --format terminal --output "$work/terminal.txt" \
  -- "${pytest[@]}" > "$work/wrapped.txt" 2> "$work/summary.txt" || true
wrapped=$(echo "$(date +%s.%N) - $start" | bc)
NO_COLOR=1 "$qc" run --fail-on never --format json --output "$work/report.json" -- "${pytest[@]}" \
  > /dev/null 2>&1 || true

echo "tests:            $(tail -n 1 "$work/direct.txt")"
echo "under querycomb:  $(tail -n 1 "$work/wrapped.txt")"
printf 'wall time:        direct %.1f s, under querycomb run %.1f s, ratio %.2f\n' \
  "$direct" "$wrapped" "$(echo "$wrapped / $direct" | bc -l)"
"$venv/python" - "$work/report.json" <<'PY'
import collections, json, sys
doc = json.load(open(sys.argv[1]))
findings = doc["findings"]
by = collections.Counter(f["severity"] for f in findings)
routes = [f["request"].get("route") for f in findings]
print(f"findings:         {len(findings)} ({', '.join(f'{n} {s}' for s, n in sorted(by.items()))}); "
      f"named by a test: {sum(1 for r in routes if r)} of {len(findings)}")
PY
echo "terminal report:  $(wc -l < "$work/terminal.txt") lines (--format terminal, to a file)"
echo "stderr summary:   $(wc -l < "$work/summary.txt") lines (with --output)"
sed 's/^/  | /' "$work/summary.txt"
