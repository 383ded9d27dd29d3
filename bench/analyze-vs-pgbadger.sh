#!/usr/bin/env bash
# `querycomb analyze` throughput and peak memory against pgBadger 12 (-j 1) on one
# generated PostgreSQL 15 stderr log (log_statement=all + log_min_duration_statement=0).
#
#   bench/analyze-vs-pgbadger.sh                  # 500 MB log, pgBadger on all of it (~8 min)
#   PGBADGER_MB=50 bench/analyze-vs-pgbadger.sh   # quick: pgBadger on the first 50 MB only
#   LOG_MB=1000 bench/analyze-vs-pgbadger.sh      # bigger log
#
# Logs are generated once into bench/out/ (git-ignored) and reused while gen-pg-log.py is
# unchanged. querycomb also runs on a log half the size, to show its memory stays flat.
# Both tools run with their report written to a file in bench/out/, timed by
# /usr/bin/time -v (wall time, CPU time, peak RSS).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$here/out"
log_mb="${LOG_MB:-500}"
pgbadger_mb="${PGBADGER_MB:-}"
prefix='%m [%p] %q%u@%d '
mkdir -p "$out"

"$here/setup.sh"

echo "== building querycomb (release)"
(cd "$root" && cargo build --release --quiet -p querycomb)
querycomb="$root/target/release/querycomb"

# generate LOG [MB]: (re)generates when missing or older than the generator
generate() {
    local file="$1" mb="$2"
    if [ ! -s "$file" ] || [ "$here/gen-pg-log.py" -nt "$file" ]; then
        echo "== generating $file ($mb MB)"
        python3 "$here/gen-pg-log.py" --size-mb "$mb" -o "$file.tmp"
        mv "$file.tmp" "$file"
    fi
}

full="$out/pg15-stderr-${log_mb}mb.log"
half_mb=$((log_mb / 2))
half="$out/pg15-stderr-${half_mb}mb.log"
generate "$full" "$log_mb"
generate "$half" "$half_mb"

# the first N MB of the full log, cut at a line boundary (for a quick pgBadger run)
pgbadger_input="$full"
if [ -n "$pgbadger_mb" ]; then
    pgbadger_input="$out/pg15-stderr-${log_mb}mb.first-${pgbadger_mb}mb.log"
    if [ ! -s "$pgbadger_input" ] || [ "$full" -nt "$pgbadger_input" ]; then
        head -c "$((pgbadger_mb * 1000000))" "$full" | sed '$d' >"$pgbadger_input"
    fi
fi

# timed NAME CMD...: runs CMD under /usr/bin/time -v, leaves its report in $out/NAME.time
timed() {
    local name="$1"
    shift
    if ! /usr/bin/time -v -o "$out/$name.time" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr"; then
        echo "!! $name failed (exit status in $out/$name.time); stderr:" >&2
        tail -20 "$out/$name.stderr" >&2
        exit 1
    fi
}

# field NAME LABEL: one value from a /usr/bin/time -v report
field() {
    grep -F "$2" "$out/$1.time" | head -1 | sed 's/.*: //'
}

# wall-clock seconds from time's h:mm:ss or m:ss.ss
wall_seconds() {
    field "$1" "Elapsed (wall clock) time" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'
}

cpu_seconds() {
    echo "$(field "$1" "User time (seconds)") $(field "$1" "System time (seconds)")" | awk '{ print $1 + $2 }'
}

rss_mb() {
    echo "$(field "$1" "Maximum resident set size (kbytes)")" | awk '{ printf "%.1f", $1 / 1024 }'
}

size_mb() {
    stat -c %s "$1" | awk '{ printf "%.1f", $1 / 1e6 }'
}

echo "== source: commit $(git -C "$here" rev-parse --short HEAD)$(git -C "$here" status --porcelain -- ../crates | grep -q . && echo ' + uncommitted changes in crates/')"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $("$querycomb" --version), $(pgbadger --version | head -1)"

analyze=("$querycomb" analyze --quiet --log-format pg-stderr --log-line-prefix "$prefix"
    --format json --fail-on never)
echo "== querycomb analyze on $(size_mb "$full") MB"
timed querycomb-full "${analyze[@]}" -o "$out/querycomb-full.json" "$full"
echo "== querycomb analyze on $(size_mb "$half") MB"
timed querycomb-half "${analyze[@]}" -o "$out/querycomb-half.json" "$half"

echo "== pgbadger -j 1 on $(size_mb "$pgbadger_input") MB (this is the slow part)"
timed pgbadger pgbadger -j 1 -f stderr --prefix "$prefix" --no-progressbar --quiet \
    -o "$out/pgbadger-report.html" "$pgbadger_input"

report() {
    local name="$1" file="$2" wall cpu mb
    wall="$(wall_seconds "$name")"
    cpu="$(cpu_seconds "$name")"
    mb="$(size_mb "$file")"
    awk -v n="$name" -v mb="$mb" -v w="$wall" -v c="$cpu" -v r="$(rss_mb "$name")" 'BEGIN {
        printf "  %-16s %8.1f MB %9.2f s wall %9.2f s CPU %9.1f MB/s wall %9.1f MB/s CPU %8.1f MB peak RSS\n",
            n, mb, w, c, mb / w, mb / (c > 0 ? c : 0.001), r }'
}

rate() { # MB/s by wall time
    awk -v mb="$(size_mb "$2")" -v w="$(wall_seconds "$1")" 'BEGIN { print mb / w }'
}

cpu_rate() { # MB/s by CPU time
    awk -v mb="$(size_mb "$2")" -v c="$(cpu_seconds "$1")" 'BEGIN { print mb / (c > 0 ? c : 0.001) }'
}

echo
echo "Results"
report querycomb-full "$full"
report querycomb-half "$half"
report pgbadger "$pgbadger_input"
if [ -n "$pgbadger_mb" ]; then
    echo "  NOTE: pgBadger ran on the first ${pgbadger_mb} MB only (PGBADGER_MB); its MB/s is taken from that prefix."
fi
awk -v q="$(rate querycomb-full "$full")" -v p="$(rate pgbadger "$pgbadger_input")" \
    -v qc="$(cpu_rate querycomb-full "$full")" -v pc="$(cpu_rate pgbadger "$pgbadger_input")" 'BEGIN {
    printf "  ratio querycomb ÷ pgBadger: %.0f× by wall time, %.0f× by CPU time (target: 300×)\n", q / p, qc / pc }'
awk -v a="$(rss_mb querycomb-half)" -v b="$(rss_mb querycomb-full)" 'BEGIN {
    printf "  querycomb peak RSS: %.1f MB on the half log, %.1f MB on the full log (%.2f×)\n", a, b, b / a }'
if command -v python3 >/dev/null; then
    python3 - "$out/querycomb-full.json" <<'EOF' || true
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception as e:  # a report we cannot read is worth saying, not failing on
    print(f"  (could not read {sys.argv[1]}: {e})")
    sys.exit(0)
findings = doc.get("findings", []) if isinstance(doc, dict) else []
kinds = {}
for f in findings:
    kinds[f.get("kind", "?")] = kinds.get(f.get("kind", "?"), 0) + 1
print(f"  querycomb findings on the full log: {len(findings)} {dict(sorted(kinds.items()))}")
EOF
fi
echo "  reports: $out/querycomb-full.json, $out/pgbadger-report.html; timings: $out/*.time"
