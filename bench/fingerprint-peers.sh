#!/usr/bin/env bash
# Fingerprinting speed of querycomb against pg_query and Datadog's obfuscator, and the
# agreement of querycomb's grouping with pg_query's, on bench/corpus/orm-queries.jsonl.
#
#   bench/fingerprint-peers.sh             # setup if needed, build, bench, agreement
#   SECONDS_PER_ENGINE=4 bench/fingerprint-peers.sh
#
# The peers crate is its own workspace with its own target dir: the first build compiles
# libpg_query from C (minutes on a small machine); later runs are incremental.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"

corpus="$here/corpus/orm-queries.jsonl"
python3 "$here/corpus/make_corpus.py" -o "$corpus"

cd "$here/fingerprint-peers"
cargo build --release --quiet
bin="$here/fingerprint-peers/target/release/fingerprint-peers"

echo "== source: commit $(git -C "$here" rev-parse --short HEAD)$(git -C "$here" status --porcelain -- ../crates | grep -q . && echo ' + uncommitted changes in crates/')"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== rustc: $(rustc --version)"
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" --corpus "$corpus" --seconds "${SECONDS_PER_ENGINE:-2}"
"$bin" --corpus "$corpus" --agreement
