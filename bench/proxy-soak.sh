#!/usr/bin/env bash
# Soak of `querycomb proxy` (detection on): rate-limited pgbench at 32 clients and a real
# application's test suite (tests/e2e/node: Sequelize over node-postgres) in a loop, both
# through the proxy, for DURATION seconds (default one hour). Every SAMPLE seconds it
# records the proxy's resident memory, findings and dropped events; pgbench logs every
# transaction. At the end it prints the series per sample and whether memory and latency
# stayed flat.
#
#   bench/proxy-soak.sh                              # 1 hour, 32 clients, 200 tx/s
#   DURATION=600 bench/proxy-soak.sh                 # 10 minutes
#   QUERYCOMB=/path/to/querycomb bench/proxy-soak.sh # a given build (else: release build)
#
# Settings: DURATION (s, 3600), CLIENTS (32), RATE (pgbench -R, total tx/s, 200), MODE
# (pgbench -M, extended), SAMPLE (s, 60), APP_PAUSE (s between app suite runs, 5),
# WARMUP (s left out of the flatness verdict, 300).
# The rate limit keeps the run from taking a shared machine's cores: the soak is about
# memory and latency over time, not throughput.
#
# Needs: PostgreSQL (initdb, pg_ctl), pgbench, psql, python3, node and the Node e2e
# project's packages (`scripts/setup-test-deps.sh node`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
duration="${DURATION:-3600}"
clients="${CLIENTS:-32}"
rate="${RATE:-200}"
mode="${MODE:-extended}"
sample="${SAMPLE:-60}"
app_pause="${APP_PAUSE:-5}"
warmup="${WARMUP:-300}"
out="${OUT:-$here/out/soak}"
rm -rf "$out" && mkdir -p "$out"

for tool in initdb pg_ctl pgbench psql python3 node; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
node_modules="$root/target/e2e/node/node_modules"
[ -d "$node_modules/sequelize" ] || {
    echo "missing $node_modules: run scripts/setup-test-deps.sh node" >&2
    exit 2
}

echo "== commit $(git -C "$root" rev-parse --short HEAD), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck source=bench/lib/release-querycomb.sh
. "$here/lib/release-querycomb.sh"
querycomb="$(release_querycomb "$root")"
echo "== querycomb: $querycomb ($("$querycomb" --version))"

# shellcheck source=bench/lib/throwaway-pg.sh
. "$here/lib/throwaway-pg.sh"
start_throwaway_pg 200
trap stop_throwaway_pg EXIT
pgbench -h 127.0.0.1 -p "$pg_port" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc 'CREATE DATABASE app' >/dev/null

qc_port="$(free_port)"
metrics_port="$(free_port)"
"$querycomb" proxy --listen "127.0.0.1:$qc_port" --upstream "127.0.0.1:$pg_port" \
    --metrics "127.0.0.1:$metrics_port" --findings-out "$out/findings.jsonl" \
    >"$out/querycomb.stdout" 2>"$out/querycomb.stderr" &
qc_pid=$!
throwaway_pids+=("$qc_pid")
wait_port "$qc_port"

# The application: the Node e2e suite (schema sync, fixtures, an N+1 loop and a join per
# run) through the proxy, over and over, with a pause between runs.
app_loop() {
    local end=$(($(date +%s) + duration)) runs=0 failed=0
    while [ "$(date +%s)" -lt "$end" ]; do
        if DATABASE_URL="postgres://postgres@127.0.0.1:$qc_port/app" NODE_PATH="$node_modules" \
            node --test "$root/tests/e2e/node/test/books.test.js" >"$out/app-last.out" 2>&1; then
            runs=$((runs + 1))
        else
            failed=$((failed + 1))
            cp "$out/app-last.out" "$out/app-failed-$failed.out"
        fi
        echo "$runs $failed" >"$out/app-runs"
        sleep "$app_pause"
    done
}
app_loop &
app_pid=$!
throwaway_pids+=("$app_pid")

echo "== pgbench -M $mode -c $clients -R $rate for ${duration}s, the Node suite every ${app_pause}s, a sample every ${sample}s"
(cd "$out" && exec pgbench -h 127.0.0.1 -p "$qc_port" -U postgres -n -M "$mode" -c "$clients" -j 2 \
    -R "$rate" -T "$duration" -b tpcb-like@1 -b select-only@4 -l --log-prefix=txn postgres \
    >"$out/pgbench.out" 2>&1) &
pgbench_pid=$!
throwaway_pids+=("$pgbench_pid")

metric() { # sum of a Prometheus metric's samples (0 when absent)
    curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null |
        awk -v name="$1" '$1 == name || index($1, name "{") == 1 {s += $NF} END {print s + 0}'
}
entries() { # the proxy's table_entries gauge of one table (0 when absent)
    curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null |
        awk -v table="table=\"$1\"" 'index($1, "querycomb_proxy_table_entries{") == 1 && index($1, table) {s += $NF} END {print s + 0}'
}
started=$(date +%s)
echo "elapsed_s rss_kb findings events_dropped statements load1 open_units open_statements event_backlog anon_min_kb anon_max_kb file_kb" >"$out/samples"
status_kb() { awk -v key="$1:" '$1 == key {print $2}' "/proc/$qc_pid/status"; }
# Resident memory swings within seconds (bursts of work, and the allocator returning freed
# pages a few seconds later): between two samples, anonymous memory is read every second
# and its lowest and highest readings are kept with the sample.
anon_min=0 anon_max=0
while kill -0 "$pgbench_pid" 2>/dev/null; do
    rss="$(status_kb VmRSS)"
    echo "$(($(date +%s) - started)) $rss $(metric querycomb_proxy_findings_total)" \
        "$(metric querycomb_proxy_events_dropped_total) $(metric querycomb_proxy_statements_total)" \
        "$(cut -d' ' -f1 /proc/loadavg) $(entries detection_open_units)" \
        "$(entries detection_open_statements) $(entries event_backlog)" \
        "$anon_min $anon_max $(status_kb RssFile)" >>"$out/samples"
    anon_min=0 anon_max=0
    for _ in $(seq "$sample"); do
        kill -0 "$pgbench_pid" 2>/dev/null || break
        anon="$(status_kb RssAnon)"
        if [ "$anon_min" -eq 0 ] || [ "$anon" -lt "$anon_min" ]; then anon_min="$anon"; fi
        if [ "$anon" -gt "$anon_max" ]; then anon_max="$anon"; fi
        sleep 1
    done
done
wait "$pgbench_pid" || { echo "!! pgbench failed" >&2; cat "$out/pgbench.out" >&2; exit 1; }
wait "$app_pid" 2>/dev/null || true
kill -0 "$qc_pid" || { echo "!! the proxy died" >&2; cat "$out/querycomb.stderr" >&2; exit 1; }
read -r app_runs app_failed <"$out/app-runs"

echo "== pgbench"
grep -E '^(number of (transactions|failed)|latency|tps)' "$out/pgbench.out"
echo "== Node suite: $app_runs runs passed, $app_failed failed"
python3 "$here/lib/soak-report.py" "$out" "$sample" "$warmup"
echo "== load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
