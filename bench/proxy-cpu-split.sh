#!/usr/bin/env bash
# Where a proxy's CPU time per transaction goes: user and system time of `querycomb proxy`
# (detection on) and of pgbouncer (session mode), each in turn in front of one throwaway
# PostgreSQL, under `pgbench -S` after a warm-up, from /proc/<pid>/stat; for querycomb also
# per thread (connection threads, detection) from /proc/<pid>/task/*/stat. Clock ticks are
# 10 ms: run long enough for a few hundred of them.
#
#   bench/proxy-cpu-split.sh                               # prepared, 32 clients, 10 s, twice
#   MODE=extended CLIENTS=128 RUNS=3 bench/proxy-cpu-split.sh
#   QUERYCOMB=/path/to/querycomb bench/proxy-cpu-split.sh  # a given build
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
mode="${MODE:-prepared}"
clients="${CLIENTS:-32}"
secs="${SECONDS_PER_RUN:-10}"
runs="${RUNS:-2}"

for tool in initdb pg_ctl pgbench psql python3 openssl; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
pgbouncer_bin="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
[ -x "$pgbouncer_bin" ] || { echo "missing pgbouncer (apt-get install pgbouncer)" >&2; exit 2; }

# shellcheck source=bench/lib/release-querycomb.sh
. "$here/lib/release-querycomb.sh"
querycomb="$(release_querycomb "$root")"
# shellcheck source=bench/lib/throwaway-pg.sh
. "$here/lib/throwaway-pg.sh"
start_throwaway_pg $((clients + 50))
trap stop_throwaway_pg EXIT
pgbench -h 127.0.0.1 -p "$pg_port" -U postgres -i -s 10 -q postgres >/dev/null 2>&1

qc_port="$(free_port)"
"$querycomb" proxy --listen "127.0.0.1:$qc_port" --upstream "127.0.0.1:$pg_port" \
    >"$work/querycomb.out" 2>&1 &
qc_pid=$!
throwaway_pids+=("$qc_pid")
pb_port="$(free_port)"
write_pgbouncer_ini "$work" "$pg_port" "$pb_port" \
    "max_client_conn = $((clients + 20))" "default_pool_size = $((clients + 10))"
"${as_pg[@]}" "$pgbouncer_bin" "$work/pgbouncer.ini" >"$work/pgbouncer.out" 2>&1 &
throwaway_pids+=("$!")
wait_port "$qc_port"
wait_port "$pb_port"
pb_pid="$(cat "$work/pgbouncer.pid")"

# user and system clock ticks of a process or thread so far
ticks() { awk '{print $14, $15}' "$1/stat"; }
clk_tck="$(getconf CLK_TCK)"
# TICKS as microseconds per transaction of the last run ($txns transactions)
per_tx() { awk -v t="$1" -v n="$txns" -v hz="$clk_tck" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}'; }

echo "== pgbench -S -M $mode -c $clients -T $secs, $runs runs per proxy, commit $(git -C "$root" rev-parse --short HEAD)"
printf '%-10s %4s %8s %12s %14s\n' proxy run tps "user_us/tx" "system_us/tx"
for run in $(seq "$runs"); do
    for target in pgbouncer querycomb; do
        case "$target" in
            querycomb) port="$qc_port" pid="$qc_pid" ;;
            pgbouncer) port="$pb_port" pid="$pb_pid" ;;
        esac
        pgbench -h 127.0.0.1 -p "$port" -U postgres -S -n -M "$mode" -c "$clients" -j 2 -T 3 \
            postgres >/dev/null 2>&1
        read -r user0 sys0 < <(ticks "/proc/$pid")
        declare -A thread0=()
        for task in /proc/"$pid"/task/*; do thread0[$task]="$(ticks "$task")"; done
        pgbench -h 127.0.0.1 -p "$port" -U postgres -S -n -M "$mode" -c "$clients" -j 2 \
            -T "$secs" postgres >"$work/pgbench.out" 2>&1
        read -r user1 sys1 < <(ticks "/proc/$pid")
        txns="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.out")"
        tps="$(sed -n 's/^tps = \([0-9]*\).*/\1/p' "$work/pgbench.out")"
        printf '%-10s %4s %8s %12s %14s\n' "$target" "$run" "$tps" \
            "$(per_tx $((user1 - user0)))" "$(per_tx $((sys1 - sys0)))"
        if [ "$target" = querycomb ]; then
            for task in /proc/"$pid"/task/*; do
                [ -n "${thread0[$task]:-}" ] || continue
                read -r tu0 ts0 <<<"${thread0[$task]}"
                read -r tu1 ts1 < <(ticks "$task")
                [ $((tu1 - tu0 + ts1 - ts0)) -gt 0 ] || continue
                printf '    thread %-18s user %s, system %s us/tx\n' "$(cat "$task/comm")" \
                    "$(per_tx $((tu1 - tu0)))" "$(per_tx $((ts1 - ts0)))"
            done
        fi
        unset thread0
    done
done
