#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, when it is missing:
# PostgreSQL server binaries (initdb, pg_ctl, pgbench), MariaDB server and client, Chromium
# (for the HTML report's browser test), Python with venv and Node with npm (for the
# `querycomb run` end-to-end projects under tests/e2e/). Then sets up those projects'
# third-party packages, cached under target/e2e/ (rebuilt only when their pinned
# requirements change): a Python venv (Django, pytest-django, psycopg from PyPI), npm
# packages (Sequelize, pg) and the Rust sqlx project's build.
# Idempotent and quiet when everything is present. Any part that cannot be set up fails the
# script (and so the test command) with the reason: the tests never install anything, and a
# test whose dependency is missing fails rather than passes unrun.
#
#   scripts/setup-test-deps.sh                  everything (the test command, CI)
#   scripts/setup-test-deps.sh system|python|node|rust   one part only
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
e2e="$root/target/e2e"

setup_system() {

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
have npm || missing+=(npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3 python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-test-deps: missing ${missing[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
  echo "setup-test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || return 1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
  # Debian starts the packaged servers; the tests start their own, so stop these.
  (service mariadb stop || service postgresql stop) >/dev/null 2>&1 || true
fi
}

# target/e2e/django-venv: a venv with tests/e2e/django/requirements.txt.
setup_python() {
  local venv="$e2e/django-venv" req="$root/tests/e2e/django/requirements.txt"
  if [ -x "$venv/bin/pytest" ] && cmp -s "$req" "$venv/.requirements"; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || { echo "setup-test-deps: python3 not found" >&2; return 1; }
  rm -rf "$venv"
  python3 -m venv "$venv" || return 1
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >/dev/null || return 1
  cp "$req" "$venv/.requirements"
}

# target/e2e/sqlalchemy-venv: a venv with tests/e2e/sqlalchemy/requirements.txt.
setup_sqlalchemy() {
  local venv="$e2e/sqlalchemy-venv" req="$root/tests/e2e/sqlalchemy/requirements.txt"
  if [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/.requirements"; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || { echo "setup-test-deps: python3 not found" >&2; return 1; }
  rm -rf "$venv"
  python3 -m venv "$venv" || return 1
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >/dev/null || return 1
  cp "$req" "$venv/.requirements"
}

# target/e2e/node/node_modules: tests/e2e/node's locked packages (the tests set NODE_PATH).
setup_node() {
  local src="$root/tests/e2e/node" dest="$e2e/node"
  if [ -d "$dest/node_modules" ] && cmp -s "$src/package-lock.json" "$dest/.package-lock"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { echo "setup-test-deps: npm not found" >&2; return 1; }
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  (cd "$dest" && npm ci --silent --no-audit --no-fund >/dev/null) || return 1
  cp "$src/package-lock.json" "$dest/.package-lock"
}

# target/e2e/rust-sqlx: the sqlx project's test build (its own workspace and target dir).
setup_rust() {
  CARGO_TARGET_DIR="$e2e/rust-sqlx" cargo test --quiet --no-run --locked \
    --manifest-path "$root/tests/e2e/rust-sqlx/Cargo.toml" >/dev/null 2>"$e2e/rust-sqlx.log" \
    || { cat "$e2e/rust-sqlx.log" >&2; return 1; }
}

mkdir -p "$e2e"
# Two test commands may run at once (worktrees sharing target/e2e): one set-up at a time.
exec 9>"$e2e/.setup.lock"
flock 9

if [ $# -eq 0 ]; then
  set -- system python sqlalchemy node rust
fi
for part in "$@"; do
  case "$part" in
    system|python|sqlalchemy|node|rust)
      "setup_$part" || { echo "setup-test-deps: the $part part could not be set up (see above)" >&2; exit 1; } ;;
    *) echo "setup-test-deps: unknown part $part (system, python, sqlalchemy, node, rust)" >&2; exit 2 ;;
  esac
done
