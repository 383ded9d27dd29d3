# A throwaway PostgreSQL (and pgbouncer's config) for the proxy benchmarks, sourced by
# bench/proxy-soak.sh, bench/proxy-vs-pgbouncer.sh and bench/proxy-instructions.sh.
# `start_throwaway_pg MAX_CONNECTIONS` creates $work (a temp dir), a self-signed certificate
# ($work/tls.crt, $work/tls.key: the server's and the proxies'), starts the server with TLS
# on at $pg_port and sets $as_pg (the command prefix that runs a program as `postgres` when
# this shell is root). `stop_throwaway_pg` kills
# every pid in $throwaway_pids, stops the server and removes $work.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    for _ in $(seq 100); do
        psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2
    exit 2
}

throwaway_pids=()

start_throwaway_pg() {
    local max_connections="$1"
    # PostgreSQL refuses to run as root: run the server as `postgres` then.
    as_pg=()
    [ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)
    work="$(mktemp -d /tmp/qc-proxy-bench.XXXXXX)"
    chmod 755 "$work"
    [ "$(id -u)" -eq 0 ] && chown postgres "$work"
    pg_port="$(free_port)"
    echo "== PostgreSQL on $pg_port"
    "${as_pg[@]}" initdb -D "$work/data" -A trust -U postgres >/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=localhost -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1
    chmod 600 "$work/tls.key"
    [ "$(id -u)" -eq 0 ] && chown postgres "$work/tls.key" "$work/tls.crt"
    cat >>"$work/data/postgresql.conf" <<CONF
port = $pg_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
max_connections = $max_connections
ssl = on
ssl_cert_file = '$work/tls.crt'
ssl_key_file = '$work/tls.key'
shared_buffers = 256MB
fsync = off
synchronous_commit = off
CONF
    "${as_pg[@]}" pg_ctl -D "$work/data" -l "$work/pg.log" -w start >/dev/null
}

stop_throwaway_pg() {
    for pid in "${throwaway_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    "${as_pg[@]}" pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}

# write_pgbouncer_ini DIR PG_PORT LISTEN_PORT [SETTING...]: DIR/pgbouncer.ini for pgbouncer in
# session mode in front of the throwaway server (trust, logs and pid file in DIR), with any
# extra `key = value` SETTINGs, and DIR/userlist.txt; owned by `postgres` when run as root
# (pgbouncer switches to it with -u).
write_pgbouncer_ini() {
    local dir="$1" pg_port="$2" listen_port="$3"
    shift 3
    {
        printf '%s\n' "[databases]" "postgres = host=127.0.0.1 port=$pg_port dbname=postgres" \
            "[pgbouncer]" "listen_addr = 127.0.0.1" "listen_port = $listen_port" \
            "unix_socket_dir =" "auth_type = trust" "auth_file = $dir/userlist.txt" \
            "pool_mode = session" "logfile = $dir/pgbouncer.log" "pidfile = $dir/pgbouncer.pid"
        [ $# -gt 0 ] && printf '%s\n' "$@"
    } >"$dir/pgbouncer.ini"
    echo '"postgres" ""' >"$dir/userlist.txt"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$dir/pgbouncer.ini" "$dir/userlist.txt"
    fi
}
