#!/usr/bin/env bash
# What the MySQL/MariaDB plan check adds per finding: real findings from a throwaway MariaDB's
# general log (books: 100,000 rows; 24 loops of 20 children sent by the mariadb client, 17
# distinct findings: the eight authors loops differ only in a literal, so they are one shape),
# timed through `querycomb explain` with and without a mysql:// DSN, and with
# `--explain-analyze` (MariaDB's ANALYZE FORMAT=JSON). Like bench/explain-cost.sh.
#
#   bench/explain-cost-mariadb.sh                 # 5 rounds, the debug build
#   ROUNDS=10 QC=target/release/querycomb bench/explain-cost-mariadb.sh
#
# Needs Debian's mariadb-server and mariadb-client.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
qc="${QC:-$root/target/debug/querycomb}"
rounds="${ROUNDS:-5}"
work="$(mktemp -d /tmp/qc-explain-maria.XXXXXX)"
port=$((20000 + RANDOM % 20000))
user=root
if [ "$(id -u)" -eq 0 ]; then user=mysql; chown mysql "$work"; fi
cat > "$work/my.cnf" <<CONF
[mariadbd]
datadir = $work/data
socket = $work/sock
port = $port
bind-address = 127.0.0.1
general_log = 1
general_log_file = $work/general.log
skip-log-bin
CONF
mariadb-install-db --defaults-file="$work/my.cnf" --user="$user" \
    --auth-root-authentication-method=normal --skip-test-db >/dev/null
mariadbd --defaults-file="$work/my.cnf" --user="$user" >"$work/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sql=(mariadb --no-defaults --batch --skip-column-names --protocol=socket -uroot --socket="$work/sock")
until "${sql[@]}" -e 'SELECT 1' >/dev/null 2>&1; do sleep 0.2; done

"${sql[@]}" >/dev/null <<'SQL'
CREATE DATABASE shop;
USE shop;
CREATE TABLE authors (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL);
CREATE TABLE categories (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL);
CREATE TABLE books (id INT PRIMARY KEY, author_id INT NOT NULL, category_id INT NOT NULL,
                    title VARCHAR(100) NOT NULL, body VARCHAR(200) NOT NULL,
                    KEY books_author_id_idx (author_id), KEY books_category_id_idx (category_id));
INSERT INTO authors SELECT seq, CONCAT('author ', seq) FROM seq_1_to_1000;
INSERT INTO categories SELECT seq, CONCAT('category ', seq) FROM seq_1_to_50;
INSERT INTO books SELECT seq, 1 + seq % 1000, 1 + (seq * 7919) % 50, CONCAT('title ', seq),
                         REPEAT('x', 100) FROM seq_1_to_100000;
ANALYZE TABLE authors, categories, books \G
CREATE USER 'qc'@'%' IDENTIFIED BY 'qc-bench';
GRANT SELECT ON shop.* TO 'qc'@'%';
SQL

# 24 loops of 20 children each, each a distinct shape: 8 select lists × 3 lookups (by primary
# key, by an indexed foreign key, by an unindexed column), each loop in its own transaction.
lists=("id" "id, title" "id, body" "id, author_id" "title" "title, body" "id, category_id" "*")
{
  for cols in "${lists[@]}"; do
    echo "BEGIN; SELECT author_id FROM books WHERE id % 997 = 0 ORDER BY id LIMIT 20;"
    for i in $(seq 1 20); do echo "SELECT id, name FROM authors WHERE id = $((i * 37)) AND name <> '$cols';"; done
    echo "COMMIT; BEGIN; SELECT id FROM authors ORDER BY id LIMIT 20;"
    for i in $(seq 1 20); do echo "SELECT $cols FROM books WHERE author_id = $i;"; done
    echo "COMMIT; BEGIN; SELECT CONCAT('title ', id) FROM books WHERE id <= 20 ORDER BY id;"
    for i in $(seq 1 20); do echo "SELECT $cols FROM books WHERE title = 'title $i';"; done
    echo "COMMIT;"
  done
  echo "SELECT 'bench-done';"
} | "${sql[@]}" shop >/dev/null
until grep -q bench-done "$work/general.log"; do sleep 0.1; done
cp "$work/general.log" "$work/workload.log"

"$qc" analyze --format json --keep-keys -q -o "$work/findings.json" "$work/workload.log" 2>/dev/null || true
dsn="mysql://qc:qc-bench@127.0.0.1:$port/shop"
server_version="MariaDB $("${sql[@]}" -e 'SELECT VERSION()')"
# shellcheck source=lib/explain-timing.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/explain-timing.sh"
