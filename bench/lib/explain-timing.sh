# The timing and the table of bench/explain-cost.sh and bench/explain-cost-mariadb.sh, sourced
# by both once they have a findings file with captured keys. Needs: $qc (the binary),
# $rounds, $work/findings.json, $dsn (the server's DSN), $server_version (one line).

findings=$(grep -o "\"captured_keys\"" "$work/findings.json" | wc -l)

time_ms() { # median wall time of $rounds runs, in ms
    local times=()
    for _ in $(seq "$rounds"); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        times+=($(((end - start) / 1000000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

base=$(time_ms "$qc" explain --format json "$work/findings.json")
plan=$(time_ms env QUERYCOMB_DSN="$dsn" "$qc" explain --format json "$work/findings.json")
analyze=$(time_ms env QUERYCOMB_DSN="$dsn" "$qc" explain --format json --explain-analyze "$work/findings.json")
verdicts=$(QUERYCOMB_DSN="$dsn" "$qc" explain --format terminal "$work/findings.json" 2>&1 | grep 'plan check:' || true)

echo "querycomb:  $qc ($("$qc" --version))"
echo "server:     $server_version"
echo "findings:   $findings with captured keys (20 keys each); $verdicts"
echo "rounds:     $rounds (median wall time)"
printf '%-40s %8s %14s\n' "run" "ms" "ms per finding"
printf '%-40s %8d %14s\n' "explain without --dsn (advice, impact)" "$base" "-"
printf '%-40s %8d %14.1f\n' "explain --dsn (plan check)" "$plan" "$(echo "($plan - $base) / $findings" | bc -l)"
printf '%-40s %8d %14.1f\n' "explain --dsn --explain-analyze" "$analyze" "$(echo "($analyze - $base) / $findings" | bc -l)"
