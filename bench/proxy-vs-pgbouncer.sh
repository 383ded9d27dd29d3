#!/usr/bin/env bash
# `querycomb proxy` (detection on) against pgbouncer (session pooling, from Debian) and a
# direct connection, in one run on one throwaway PostgreSQL:
#   - pgbench -S (select-only) TPS, average and median latency, and per transaction the
#     proxy's CPU time, context switches and system calls (perf stat -p, when perf may
#     count them; else CPU time from /proc), for each query mode (simple, extended,
#     prepared), client count (1, 32, 128) and TLS setting (plaintext; TLS from pgbench to
#     the target and from the proxy to the server), each target in turn, with ratios;
#   - resident memory of each proxy holding 1,000 idle client connections, plaintext and
#     TLS (IDLE_CONNECTIONS, IDLE_TLS=off).
#
#   bench/proxy-vs-pgbouncer.sh              # 3 rounds of 10 s per target and client count
#   SECONDS_PER_RUN=30 ROUNDS=5 bench/proxy-vs-pgbouncer.sh
#   ROUNDS=0 bench/proxy-vs-pgbouncer.sh      # only the idle-connection memory test
#   MODES=simple CLIENTS="1 32" TLS_PASSES=off bench/proxy-vs-pgbouncer.sh   # a subset
#   QUERYCOMB=/path/to/querycomb bench/proxy-vs-pgbouncer.sh                  # a given build
#
# Context switches and system calls per transaction hold on a loaded machine, where TPS and
# latency do not; bench/proxy-instructions.sh counts user-space instructions.
#
# Each round runs the three targets one after the other; the table shows the median over
# the rounds (TPS, average latency, median transaction latency from pgbench's log).
#
# On a small shared VM the three targets compete for the same cores with PostgreSQL and
# pgbench: compare within one run, not across runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$here/out/proxy"
secs="${SECONDS_PER_RUN:-10}"
rounds="${ROUNDS:-3}"
read -r -a modes <<<"${MODES:-simple extended prepared}"
read -r -a client_counts <<<"${CLIENTS:-1 32 128}"
read -r -a tls_passes <<<"${TLS_PASSES:-off on}"
idle_conns="${IDLE_CONNECTIONS:-1000}"
mkdir -p "$out"

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
    echo "== installing pgbouncer"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq pgbouncer
fi
pgbouncer_bin="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
for tool in initdb pg_ctl pgbench psql python3 openssl; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

echo "== commit $(git -C "$root" rev-parse --short HEAD), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck source=bench/lib/release-querycomb.sh
. "$here/lib/release-querycomb.sh"
querycomb="$(release_querycomb "$root")"

# shellcheck source=bench/lib/throwaway-pg.sh
. "$here/lib/throwaway-pg.sh"
start_throwaway_pg $((idle_conns + 400))
trap stop_throwaway_pg EXIT
ulimit -n 20000 2>/dev/null || true
pgbench -h 127.0.0.1 -p "$pg_port" -U postgres -i -s 10 -q postgres >/dev/null 2>&1

qc_port="$(free_port)"
"$querycomb" proxy --listen "127.0.0.1:$qc_port" --upstream "127.0.0.1:$pg_port" \
    >"$out/querycomb.stdout" 2>"$out/querycomb.stderr" &
qc_pid=$!
throwaway_pids+=("$qc_pid")
qct_port="$(free_port)"
"$querycomb" proxy --listen "127.0.0.1:$qct_port" --upstream "127.0.0.1:$pg_port" \
    --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" --tls-mode require --upstream-tls require \
    >"$out/querycomb-tls.stdout" 2>"$out/querycomb-tls.stderr" &
qct_pid=$!
throwaway_pids+=("$qct_pid")

pb_port="$(free_port)"
write_pgbouncer_ini "$work" "$pg_port" "$pb_port" \
    "max_client_conn = $((idle_conns + 200))" "default_pool_size = $((idle_conns + 150))" \
    "admin_users = postgres"
pbt_port="$(free_port)"
sed -e "s/^listen_port = .*/listen_port = $pbt_port/" -e "s|pgbouncer.pid|pgbouncer-tls.pid|" \
    -e "s|pgbouncer.log|pgbouncer-tls.log|" "$work/pgbouncer.ini" >"$work/pgbouncer-tls.ini"
printf '%s\n' "client_tls_sslmode = require" "client_tls_cert_file = $work/tls.crt" \
    "client_tls_key_file = $work/tls.key" "server_tls_sslmode = require" >>"$work/pgbouncer-tls.ini"
[ "$(id -u)" -eq 0 ] && chown postgres "$work/pgbouncer-tls.ini"
# As root, pgbouncer switches to `postgres` itself (-u), keeping this shell's open-file
# limit; runuser would reset it to 1024, too few for the idle-connection test.
pb_user=()
[ "$(id -u)" -eq 0 ] && pb_user=(-u postgres)
"$pgbouncer_bin" "${pb_user[@]}" "$work/pgbouncer.ini" >"$out/pgbouncer.stdout" 2>&1 &
throwaway_pids+=("$!")
"$pgbouncer_bin" "${pb_user[@]}" "$work/pgbouncer-tls.ini" >"$out/pgbouncer-tls.stdout" 2>&1 &
throwaway_pids+=("$!")

wait_port "$qc_port"
wait_port "$pb_port"
wait_port "$qct_port"
wait_port "$pbt_port"
pb_pid="$(cat "$work/pgbouncer.pid")"
pbt_pid="$(cat "$work/pgbouncer-tls.pid")"

# CPU time (user+sys, clock ticks) of a process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
clk_tck="$(getconf CLK_TCK)"
# With perf (and permission to count a process's syscalls), the proxy's CPU time, context
# switches and system calls come from `perf stat -p` over the run: counts per transaction
# that hold on a loaded machine, where wall-clock TPS does not.
use_perf=""
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
    use_perf=1
fi

# bench NAME PORT CLIENTS ROUND PID MODE SSLMODE ->
#   "tps avg_ms p50_us cpu_us_per_txn context_switches_per_txn syscalls_per_txn"
bench() {
    local name="$1" port="$2" clients="$3" round="$4" pid="$5" mode="$6" sslmode="$7" jobs=1
    [ "$clients" -gt 1 ] && jobs=2
    local dir="$out/$name-$mode-$sslmode-c$clients-r$round"
    rm -rf "$dir" && mkdir -p "$dir"
    local cpu_before=0 perf_pid=""
    [ -n "$pid" ] && cpu_before="$(cpu_ticks "$pid")"
    if [ -n "$pid" ] && [ -n "$use_perf" ]; then
        perf stat -x, -o "$dir/perf.csv" -e task-clock,context-switches,raw_syscalls:sys_enter \
            -p "$pid" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.2
    fi
    (cd "$dir" && PGSSLMODE="$sslmode" pgbench -h 127.0.0.1 -p "$port" -U postgres -S -n \
        -M "$mode" -c "$clients" -j "$jobs" -T "$secs" -l --log-prefix=txn postgres \
        >"$dir/pgbench.out" 2>&1)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    local cpu_after=0 txns cpu_per_txn="-" cs_per_txn="-" sys_per_txn="-"
    [ -n "$pid" ] && cpu_after="$(cpu_ticks "$pid")"
    txns="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/pgbench.out")"
    if [ -n "$pid" ] && [ "${txns:-0}" -gt 0 ]; then
        cpu_per_txn=$(((cpu_after - cpu_before) * 1000000 / clk_tck / txns))
        if [ -s "$dir/perf.csv" ]; then
            read -r cpu_per_txn cs_per_txn sys_per_txn < <(awk -F, -v n="$txns" '
                $3 == "task-clock" {cpu = $1 * 1000 / n}
                $3 == "context-switches" {cs = $1 / n}
                $3 == "raw_syscalls:sys_enter" {sys = $1 / n}
                END {printf "%.1f %.2f %.2f\n", cpu, cs, sys}' "$dir/perf.csv")
        fi
    fi
    local tps avg p50
    tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/pgbench.out")"
    avg="$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$dir/pgbench.out")"
    p50="$(cat "$dir"/txn.* | awk '{print $3}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')"
    local failed
    failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/pgbench.out")"
    if [ "${failed:-0}" != "0" ] || [ -z "$tps" ]; then
        echo "!! $name with $clients clients: failures; see $dir/pgbench.out" >&2
        cat "$dir/pgbench.out" >&2
        exit 1
    fi
    rm -f "$dir"/txn.*
    echo "$tps $avg $p50 $cpu_per_txn $cs_per_txn $sys_per_txn"
}

ratio() { python3 -c "import sys; a,b=map(float,sys.argv[1:]); print(f'{a/b:.2f}' if b else '-')" "$1" "$2"; }

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

targets=(direct querycomb pgbouncer)
[ "$rounds" -eq 0 ] && client_counts=()
for tls in "${tls_passes[@]}"; do
for mode in "${modes[@]}"; do
echo "== pgbench -S -M $mode, TLS $tls, median of $rounds rounds of ${secs}s, load average $(cut -d" " -f1-3 /proc/loadavg)"
printf '%-10s %7s %10s %9s %8s %10s %12s %8s %8s %10s\n' target clients tps avg_ms p50_us vs_direct vs_pgbouncer cpu_us/tx cs/tx syscalls/tx
sslmode=disable
[ "$tls" = on ] && sslmode=require
for clients in "${client_counts[@]}"; do
    declare -A tps=() avg=() p50=() cpu=() cs=() sys=() runs_tps=() runs_avg=() runs_p50=() runs_cpu=() runs_cs=() runs_sys=()
    for round in $(seq "$rounds"); do
        for target in "${targets[@]}"; do
            case "$target-$tls" in
                direct-*) port="$pg_port" pid="" ;;
                querycomb-off) port="$qc_port" pid="$qc_pid" ;;
                pgbouncer-off) port="$pb_port" pid="$pb_pid" ;;
                querycomb-on) port="$qct_port" pid="$qct_pid" ;;
                pgbouncer-on) port="$pbt_port" pid="$pbt_pid" ;;
            esac
            result="$(bench "$target" "$port" "$clients" "$round" "$pid" "$mode" "$sslmode")"
            read -r t a p c w y <<<"$result"
            [ -n "$t" ] || { echo "!! no result for $target" >&2; exit 1; }
            runs_tps[$target]+="$t "
            runs_avg[$target]+="$a "
            runs_p50[$target]+="$p "
            runs_cpu[$target]+="$c "
            runs_cs[$target]+="$w "
            runs_sys[$target]+="$y "
        done
    done
    for target in "${targets[@]}"; do
        # shellcheck disable=SC2086
        tps[$target]="$(median ${runs_tps[$target]})"
        # shellcheck disable=SC2086
        avg[$target]="$(median ${runs_avg[$target]})"
        # shellcheck disable=SC2086
        p50[$target]="$(median ${runs_p50[$target]})"
        # shellcheck disable=SC2086
        cpu[$target]="$(median ${runs_cpu[$target]})"
        # shellcheck disable=SC2086
        cs[$target]="$(median ${runs_cs[$target]})"
        # shellcheck disable=SC2086
        sys[$target]="$(median ${runs_sys[$target]})"
    done
    for target in "${targets[@]}"; do
        printf '%-10s %7s %10.0f %9s %8s %10s %12s %8s %8s %10s\n' "$target" "$clients" "${tps[$target]}" \
            "${avg[$target]}" "${p50[$target]}" "$(ratio "${tps[$target]}" "${tps[direct]}")" \
            "$(ratio "${tps[$target]}" "${tps[pgbouncer]}")" "${cpu[$target]}" "${cs[$target]}" "${sys[$target]}"
    done
    echo "   all runs (tps): direct ${runs_tps[direct]}| querycomb ${runs_tps[querycomb]}| pgbouncer ${runs_tps[pgbouncer]}"
    echo "   added median latency over direct: querycomb $((p50[querycomb] - p50[direct])) us, pgbouncer $((p50[pgbouncer] - p50[direct])) us; load average $(cut -d" " -f1 /proc/loadavg)"
done
done
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# hold PORT N TLS: opens N connections (TLS first when TLS is "on"; startup, trust auth,
# wait for ReadyForQuery), prints "ready" once all are idle, and keeps them open until
# killed.
hold() {
    exec python3 - "$1" "$2" "$3" <<'PY'
import socket, ssl, struct, sys
port, n, tls = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "on"
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
def startup():
    body = struct.pack("!I", 196608) + b"user\0postgres\0database\0postgres\0\0"
    return struct.pack("!I", len(body) + 4) + body
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if tls:
        s.sendall(struct.pack("!II", 8, 80877103))
        if s.recv(1) != b"S":
            sys.exit("TLS refused")
        s = context.wrap_socket(s)
    s.sendall(startup())
    buf = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("closed during login")
        buf += chunk
        # stop at ReadyForQuery: 'Z' + length 5 + status
        if len(buf) >= 6 and buf[-6:-1] == b"Z\0\0\0\x05":
            break
    conns.append(s)
print("ready", flush=True)
import time
time.sleep(3600)
PY
}

echo "== resident memory with $idle_conns idle connections"
# pgbouncer keeps the throughput runs' server connections pooled (up to 128 per instance):
# close them first, or the wait below for the server to settle between targets sees them
# and runs out its five minutes after every target.
for port in "$pb_port" "$pbt_port"; do
    psql -h 127.0.0.1 -p "$port" -U postgres -d pgbouncer -qc RECONNECT >/dev/null 2>&1 || true
done
# IDLE_TLS=off skips the TLS pair (TLS on both legs, as in the throughput runs).
idle_targets=(querycomb pgbouncer)
[ "${IDLE_TLS:-on}" = on ] && idle_targets+=(querycomb-tls pgbouncer-tls)
for target in "${idle_targets[@]}"; do
    tls=off
    case "$target" in
        querycomb) port="$qc_port" pid="$qc_pid" ;;
        pgbouncer) port="$pb_port" pid="$pb_pid" ;;
        querycomb-tls) port="$qct_port" pid="$qct_pid" tls=on ;;
        pgbouncer-tls) port="$pbt_port" pid="$pbt_pid" tls=on ;;
    esac
    before="$(rss_kb "$pid")"
    hold "$port" "$idle_conns" "$tls" >"$out/hold-$target.out" 2>&1 &
    holder=$!
    for _ in $(seq 1200); do
        grep -q ready "$out/hold-$target.out" && break
        kill -0 "$holder" 2>/dev/null || { cat "$out/hold-$target.out" >&2; exit 1; }
        sleep 0.1
    done
    sleep 1
    during="$(rss_kb "$pid")"
    # jemalloc gives pages freed during the logins back after a few seconds (decay): the
    # reading once that has happened is what idle connections hold.
    sleep 15
    settled="$(rss_kb "$pid")"
    kill "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    sleep 1
    echo "$target: RSS ${before} kB before, ${during} kB with $idle_conns idle connections ($(((during - before) * 1024 / idle_conns)) bytes per connection), ${settled} kB 15 s later ($(((settled - before) * 1024 / idle_conns)) bytes per connection)"
    # pgbouncer keeps its server connections pooled after the clients leave: close them, and
    # wait for the server to be back to a handful of backends before the next target.
    case "$target" in
        pgbouncer*) psql -h 127.0.0.1 -p "$port" -U postgres -d pgbouncer -qc RECONNECT >/dev/null 2>&1 || true ;;
    esac
    for _ in $(seq 600); do
        backends="$(psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atc \
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")"
        [ "$backends" -lt 50 ] && break
        sleep 0.5
    done
done
echo "== load average at the end $(cut -d" " -f1-3 /proc/loadavg)"
