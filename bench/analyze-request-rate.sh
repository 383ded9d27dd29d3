#!/usr/bin/env bash
# How `querycomb analyze` scales with the request rate of untagged pooled traffic, beside
# pgBadger 12 (-j 1) on the same logs. Each log holds the same number of statements
# (bench/gen-pool-log.py: single-statement reads, N+1 loops, concurrent fan-outs over a
# pool of 32, batched twins), spread over less time as the rate grows. A tool whose cost
# per statement does not depend on the rate reads every log in about the same time; one
# that compares each request with every other one waiting for fan-out siblings slows
# down as the rate grows.
#
#   bench/analyze-request-rate.sh                          # rates 500, 5000, 20000 req/s
#   RATES="1000 10000" STATEMENTS=400000 bench/analyze-request-rate.sh
#   QUERYCOMB=/path/to/querycomb bench/analyze-request-rate.sh   # another build
#   BEFORE=/path/to/older/querycomb bench/analyze-request-rate.sh  # and an older one beside it
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$here/out"
rates="${RATES:-500 5000 20000}"
statements="${STATEMENTS:-200000}"
prefix='%m [%p] %q%u@%d '
mkdir -p "$out"

"$here/setup.sh"

if [ -z "${QUERYCOMB:-}" ]; then
    echo "== building querycomb (release)"
    (cd "$root" && cargo build --release --quiet -p querycomb)
fi
querycomb="${QUERYCOMB:-$root/target/release/querycomb}"
before="${BEFORE:-}"

echo "== machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $("$querycomb" --version), $(pgbadger --version | head -1)"

# seconds NAME CMD...: wall-clock seconds of CMD (its output discarded), or exits
seconds() {
    local name="$1" start end
    shift
    start="$(date +%s.%N)"
    if ! "$@" >"$out/$name.stdout" 2>"$out/$name.stderr"; then
        echo "!! $name failed; stderr:" >&2
        tail -20 "$out/$name.stderr" >&2
        exit 1
    fi
    end="$(date +%s.%N)"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

analyze() {
    "$1" analyze --quiet --log-format pg-stderr --log-line-prefix "$prefix" \
        --format json --fail-on never "$2"
}

printf "\n%-8s %12s %12s" "req/s" "querycomb s" "pgBadger s"
[ -n "$before" ] && printf " %12s" "before s"
printf " %16s %18s\n" "qc ÷ pgBadger" "qc vs first rate"
first=""
for rate in $rates; do
    log="$out/pool-${rate}rps-${statements}.log"
    if [ ! -s "$log" ] || [ "$here/gen-pool-log.py" -nt "$log" ]; then
        python3 "$here/gen-pool-log.py" --rate "$rate" --statements "$statements" -o "$log.tmp"
        mv "$log.tmp" "$log"
    fi
    qc="$(seconds "rate-$rate-querycomb" analyze "$querycomb" "$log")"
    pgb="$(seconds "rate-$rate-pgbadger" pgbadger -j 1 -f stderr --prefix "$prefix" \
        --no-progressbar --quiet -o "$out/rate-$rate-pgbadger.html" "$log")"
    first="${first:-$qc}"
    printf "%-8s %12s %12s" "$rate" "$qc" "$pgb"
    if [ -n "$before" ]; then
        printf " %12s" "$(seconds "rate-$rate-before" analyze "$before" "$log")"
    fi
    awk -v q="$qc" -v p="$pgb" -v f="$first" 'BEGIN {
        printf " %15.3f× %17.2f×\n", q / p, q / f }'
done
