#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, when it is missing:
# PostgreSQL server binaries (initdb, pg_ctl, pgbench), MariaDB server and client, Chromium
# (for the HTML report's browser test). Idempotent and quiet when everything is present.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if ! have initdb && { [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; }; then
  missing+=(postgresql postgresql-contrib)
fi
have psql || missing+=(postgresql-client)
have pgbench || [ -x "$pg_bin/pgbench" ] || missing+=(postgresql-contrib)
have mariadbd || have /usr/sbin/mariadbd || missing+=(mariadb-server)
have mariadb || missing+=(mariadb-client)
have chromium || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-test-deps: missing ${missing[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
  echo "setup-test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged servers; the tests start their own, so stop these.
  (service mariadb stop || service postgresql stop) >/dev/null 2>&1 || true
fi
