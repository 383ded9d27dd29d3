#!/usr/bin/env bash
# Regenerates the sample PostgreSQL logs in this folder from a real PostgreSQL 15 run:
#   postgresql-stderr.log  (log_line_prefix '%m [%p] %q%u@%d ', log_statement=all and
#                           log_min_duration_statement=0 both on)
#   postgresql.csv         (csvlog) and postgresql.json (jsonlog) of the same run.
# One throwaway cluster logs to all three destinations at once, in a temp dir on a free
# port; it runs workload.sql through psql (simple protocol) and a little extended-protocol
# traffic through pgbench (unnamed and named prepared statements), then stops and is deleted.
# Needs initdb/pg_ctl/psql/pgbench (Debian: postgresql-15). As root, the server runs as
# the `postgres` user.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pgbin="${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}"
tmp="$(mktemp -d /tmp/querycomb-examples.XXXXXX)"
chmod 755 "$tmp"

as_server_user() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cleanup() {
    as_server_user "$pgbin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] && chown postgres: "$tmp"
port="$(free_port)"
as_server_user "$pgbin/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$tmp/data/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp'
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = on
log_directory = '$tmp/log'
log_filename = 'postgresql.log'
log_destination = 'stderr,csvlog,jsonlog'
log_line_prefix = '%m [%p] %q%u@%d '
log_statement = 'all'
log_min_duration_statement = 0
log_connections = on
log_disconnections = on
EOF
as_server_user "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/server.out" -w start >/dev/null

export PGHOST=127.0.0.1 PGPORT="$port"
psql -X -q -U postgres -d postgres -c "CREATE ROLE app LOGIN" -c "CREATE DATABASE shop OWNER app"
# Errors in the workload are intended (one failing statement): no ON_ERROR_STOP.
PGAPPNAME=shop-web psql -X -q -U app -d shop -f "$here/workload.sql" >/dev/null 2>&1

cat >"$tmp/lookup.sql" <<'EOF'
\set cid random(1, 40)
SELECT id, total FROM orders WHERE customer_id = :cid ORDER BY id;
EOF
for mode in extended prepared; do
    PGAPPNAME="shop-worker-$mode" "$pgbin/pgbench" -n -U app -c 1 -t 6 -M "$mode" \
        -f "$tmp/lookup.sql" shop >/dev/null 2>&1
done

as_server_user "$pgbin/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null
cp "$tmp/log/postgresql.log" "$here/postgresql-stderr.log"
cp "$tmp/log/postgresql.csv" "$here/postgresql.csv"
cp "$tmp/log/postgresql.json" "$here/postgresql.json"
chmod 644 "$here"/postgresql-stderr.log "$here"/postgresql.csv "$here"/postgresql.json
ls -l "$here"/postgresql-stderr.log "$here"/postgresql.csv "$here"/postgresql.json
