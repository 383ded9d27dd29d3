#!/usr/bin/env bash
# What `querycomb explain` adds per finding: the plan check of real findings against a
# throwaway PostgreSQL (books: 100,000 rows), timed with and without `--dsn`, and with
# `--explain-analyze`. The difference divided by the findings checked is the cost per finding.
#
#   bench/explain-cost.sh                 # 5 rounds, the debug build
#   ROUNDS=10 QC=target/release/querycomb bench/explain-cost.sh
#
# Needs PostgreSQL's server binaries (Debian: postgresql) and the Django venv of
# scripts/setup-test-deps.sh (for psycopg).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
qc="${QC:-$root/target/debug/querycomb}"
rounds="${ROUNDS:-5}"
python="$root/target/e2e/django-venv/bin/python"
bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
work="$(mktemp -d /tmp/qc-explain-bench.XXXXXX)"
port=$((20000 + RANDOM % 20000))
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$work"; as_pg=(runuser -u postgres --); fi
cleanup() { "${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"${as_pg[@]}" "$bin/initdb" -D "$work/data" -U qc --auth=trust -E UTF8 --locale=C >/dev/null
cat >> "$work/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
logging_collector = on
log_directory = '$work/log'
log_filename = 'postgresql.log'
log_min_duration_statement = 0
log_line_prefix = '%m [%p] %q%u@%d '
CONF
"${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" start -w >/dev/null
psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U qc)
"${psql[@]}" -d postgres -c "CREATE DATABASE shop"
"${psql[@]}" -d shop <<'SQL'
CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id),
                    category_id int NOT NULL REFERENCES categories (id),
                    title text NOT NULL, body text NOT NULL);
INSERT INTO authors SELECT g, 'author ' || g FROM generate_series(1, 1000) g;
INSERT INTO categories SELECT g, 'category ' || g FROM generate_series(1, 50) g;
INSERT INTO books SELECT g, 1 + g % 1000, 1 + (g * 7919) % 50, 'title ' || g, repeat('x', 100)
  FROM generate_series(1, 100000) g;
CREATE INDEX books_author_id_idx ON books (author_id);
CREATE INDEX books_category_id_idx ON books (category_id);
ANALYZE;
SQL

# 24 loops of 20 children each, each a distinct shape: 8 select lists × 3 lookups
# (by primary key on a small table, by an indexed foreign key, by an unindexed column).
"$python" - "$port" <<'PY'
import sys, psycopg
port = sys.argv[1]
lists = ["id", "id, title", "id, body", "id, author_id", "title", "title, body", "id, category_id", "*"]
lookups = [
    ("SELECT author_id FROM books WHERE id % 997 = 0 ORDER BY id LIMIT 20", "SELECT {} FROM authors WHERE id = %s"),
    ("SELECT id FROM authors ORDER BY id LIMIT 20", "SELECT {} FROM books WHERE author_id = %s"),
    ("SELECT 'title ' || id FROM books WHERE id <= 20 ORDER BY id", "SELECT {} FROM books WHERE title = %s"),
]
for cols in lists:
    for parent, child in lookups:
        if "authors" in child and cols not in ("id", "*"):
            child = child.replace("{}", "id, name") + " AND name <> '" + cols + "'"
        with psycopg.connect(f"host=127.0.0.1 port={port} user=qc dbname=shop") as conn:
            for (key,) in conn.execute(parent).fetchall():
                conn.execute(child.format(cols), (key,)).fetchall()
PY
"${psql[@]}" -d shop -c "SELECT 'bench-done'" >/dev/null
until grep -q bench-done "$work/log/postgresql.log"; do sleep 0.1; done

"$qc" analyze --format json --keep-keys -q -o "$work/findings.json" "$work/log/postgresql.log" || true
dsn="postgres://qc@127.0.0.1:$port/shop"
server_version="PostgreSQL $("${psql[@]}" -d shop -Atc 'SHOW server_version')"
# shellcheck source=lib/explain-timing.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/explain-timing.sh"
