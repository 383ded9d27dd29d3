#!/usr/bin/env bash
# User-space instructions per transaction of `querycomb proxy` (detection on) and of
# pgbouncer (session mode), each run under valgrind's callgrind in turn: a count that does
# not depend on the machine's load, unlike TPS. For each pgbench query mode, both proxies
# serve TRANSACTIONS select-only transactions of one client (after a warm-up that is not
# counted); the count covers every thread of the proxy (connection threads and detection).
# The kernel's share (system calls, wakeups) is not in it: bench/proxy-vs-pgbouncer.sh
# counts context switches and system calls per transaction with perf.
#
#   bench/proxy-instructions.sh
#   TRANSACTIONS=5000 MODES=simple bench/proxy-instructions.sh
#   QUERYCOMB=/path/to/querycomb bench/proxy-instructions.sh     # a given build
#   SCRIPT=bench/pgbench-lookups.sql MODES=simple bench/proxy-instructions.sh   # a pgbench script instead of -S
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$here/out/instructions"
txns="${TRANSACTIONS:-2000}"
read -r -a modes <<<"${MODES:-simple extended prepared}"
workload=(-S)
[ -n "${SCRIPT:-}" ] && workload=(-f "$(realpath "$SCRIPT")")
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

for tool in initdb pg_ctl pgbench psql python3 openssl valgrind callgrind_control; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
pgbouncer_bin="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
[ -x "$pgbouncer_bin" ] || { echo "missing pgbouncer (apt-get install pgbouncer)" >&2; exit 2; }

echo "== commit $(git -C "$root" rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck source=bench/lib/release-querycomb.sh
. "$here/lib/release-querycomb.sh"
querycomb="$(release_querycomb "$root")"

# shellcheck source=bench/lib/throwaway-pg.sh
. "$here/lib/throwaway-pg.sh"
start_throwaway_pg 100
trap stop_throwaway_pg EXIT
pgbench -h 127.0.0.1 -p "$pg_port" -U postgres -i -s 1 -q postgres >/dev/null 2>&1

# run_under_callgrind NAME PORT COMMAND...: starts COMMAND under callgrind, and for each
# mode warms up, zeroes the counters, runs the transactions and dumps the counters.
# Prints "NAME MODE instructions_per_transaction". As root, everything runs as `postgres`
# (pgbouncer refuses to run as root, and valgrind's control pipe belongs to its user).
as_user=()
[ "$(id -u)" -eq 0 ] && as_user=(runuser -u postgres --)
run_under_callgrind() {
    local name="$1" port="$2"
    shift 2
    "${as_user[@]}" valgrind --tool=callgrind --callgrind-out-file="$out/$name.%p" "$@" \
        >"$out/$name.stdout" 2>"$out/$name.valgrind" &
    local pid=$!
    throwaway_pids+=("$pid")
    for _ in $(seq 600); do
        psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    # valgrind's own pid (runuser forks it).
    local vg_pid
    vg_pid="$(pgrep -f -n "callgrind-out-file=$out/$name" | head -1)"
    for mode in "${modes[@]}"; do
        pgbench -h 127.0.0.1 -p "$port" -U postgres "${workload[@]}" -n -M "$mode" -c 1 -t 200 postgres \
            >/dev/null 2>&1
        sleep 1
        "${as_user[@]}" callgrind_control --zero "$vg_pid" >/dev/null
        pgbench -h 127.0.0.1 -p "$port" -U postgres "${workload[@]}" -n -M "$mode" -c 1 -t "$txns" postgres \
            >"$out/$name-$mode.pgbench" 2>&1
        # Detection works in batches: let it finish this run's statements.
        sleep 1
        "${as_user[@]}" callgrind_control --dump="$name-$mode" "$vg_pid" >/dev/null
        local dump ir
        dump="$(grep -l "^desc: Trigger: dump $name-$mode\$" "$out/$name".* | head -1)"
        ir="$(awk '/^summary:/ {print $2; exit}' "$dump")"
        echo "$name $mode $((ir / txns))"
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

qc_port="$(free_port)"
querycomb_rows="$(run_under_callgrind querycomb "$qc_port" "$querycomb" proxy \
    --listen "127.0.0.1:$qc_port" --upstream "127.0.0.1:$pg_port")"

pb_port="$(free_port)"
write_pgbouncer_ini "$work" "$pg_port" "$pb_port"
pgbouncer_rows="$(run_under_callgrind pgbouncer "$pb_port" "$pgbouncer_bin" "$work/pgbouncer.ini")"

echo "== user-space instructions per transaction, pgbench ${workload[*]} -c 1 -t $txns (callgrind)"
printf '%-10s %14s %14s %8s\n' mode querycomb pgbouncer ratio
for mode in "${modes[@]}"; do
    q="$(awk -v m="$mode" '$2 == m {print $3}' <<<"$querycomb_rows")"
    b="$(awk -v m="$mode" '$2 == m {print $3}' <<<"$pgbouncer_rows")"
    printf '%-10s %14s %14s %8s\n' "$mode" "$q" "$b" "$(python3 -c "print(f'{$q/$b:.2f}')")"
done
