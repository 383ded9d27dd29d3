# Sourced by the proxy benchmarks: `release_querycomb ROOT` prints the querycomb binary to
# measure, `$QUERYCOMB` when set, else a release build of the checkout at ROOT (built first;
# the build's progress goes to stderr).
release_querycomb() {
    if [ -n "${QUERYCOMB:-}" ]; then
        echo "$QUERYCOMB"
        return
    fi
    echo "== building querycomb (release)" >&2
    (cd "$1" && cargo build --release --quiet -p querycomb) >&2
    echo "$1/target/release/querycomb"
}
