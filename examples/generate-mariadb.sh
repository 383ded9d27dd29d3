#!/usr/bin/env bash
# Regenerates the sample MariaDB logs in this folder from a real MariaDB run:
#   mariadb-general.log  (general query log)
#   mariadb-slow.log     (slow query log, long_query_time=0: every statement, with timings)
# A throwaway server in a temp dir on a free port (TZ=UTC) gets mariadb-schema.sql as root,
# then mariadb-workload.sql from user `app` over TCP, plus a second connection doing a
# repeated identical lookup; then it is stopped and deleted. Needs mariadbd,
# mariadb-install-db and the mariadb client (Debian: mariadb-server, mariadb-client).
# As root, the server runs as the `mysql` user.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d /tmp/qc-maria-examples.XXXXXX)"
server_user="$(id -un)"
if [ "$(id -u)" = 0 ]; then
    server_user=mysql
    id mysql >/dev/null 2>&1 || server_user=root
fi
mariadbd="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
pid=""

cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port="$(free_port)"
mkdir "$tmp/data"
cat >"$tmp/my.cnf" <<CNF
[mariadbd]
datadir = $tmp/data
port = $port
bind-address = 127.0.0.1
socket = $tmp/mariadbd.sock
pid-file = $tmp/mariadbd.pid
log-error = $tmp/error.log
general_log = 1
general_log_file = $tmp/general.log
slow_query_log = 1
slow_query_log_file = $tmp/slow.log
long_query_time = 0
innodb_buffer_pool_size = 32M
skip-log-bin
CNF
[ "$(id -u)" = 0 ] && chown -R "$server_user": "$tmp"
mariadb-install-db --defaults-file="$tmp/my.cnf" --user="$server_user" \
    --auth-root-authentication-method=normal --skip-test-db >/dev/null
TZ=UTC "$mariadbd" --defaults-file="$tmp/my.cnf" --user="$server_user" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do
    grep -q "ready for connections" "$tmp/error.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "ready for connections" "$tmp/error.log"

# --comments keeps the sqlcommenter tags; the files' own `--` comment lines are dropped
# first, or the client would send each of them as a statement.
client() { mariadb --no-defaults --batch --skip-column-names --comments "$@" >/dev/null; }
sql() { grep -v -e '^--' -e '^ *$' "$1"; }
sql "$here/mariadb-schema.sql" | client --protocol=socket --socket="$tmp/mariadbd.sock" -uroot
export MYSQL_PWD=app-secret
tcp=(--protocol=tcp -h 127.0.0.1 --port="$port" -uapp shop)
sql "$here/mariadb-workload.sql" | client "${tcp[@]}"
# A second connection: the same row looked up over and over (a missing cache).
for _ in 1 2 3 4 5 6; do echo "SELECT id, name, email FROM customers WHERE id = 7;"; done |
    client "${tcp[@]}"

kill -TERM "$pid"
wait "$pid" || true
pid=""
cp "$tmp/general.log" "$here/mariadb-general.log"
cp "$tmp/slow.log" "$here/mariadb-slow.log"
chmod 644 "$here/mariadb-general.log" "$here/mariadb-slow.log"
ls -l "$here/mariadb-general.log" "$here/mariadb-slow.log"
