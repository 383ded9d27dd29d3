#!/usr/bin/env bash
# Installs what the benchmarks need on a fresh Debian/Ubuntu machine:
#   libclang-dev, clang  - pg_query's build script runs bindgen over libpg_query
#   pgbadger             - the peer of `querycomb analyze` in analyze-vs-pgbadger.sh
#   pgbouncer            - the peer of `querycomb proxy` in proxy-vs-pgbouncer.sh and
#                          proxy-instructions.sh
#   python3, time        - the corpus/log generators and peak-memory measurement
# Does nothing when everything is present.
set -euo pipefail

missing=()
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v pgbadger >/dev/null 2>&1 || missing+=(pgbadger)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ -x /usr/bin/time ] || missing+=(time)

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: libclang-dev, clang, pgbadger, pgbouncer, python3 and /usr/bin/time are present"
    exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
