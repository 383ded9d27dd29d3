#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, when it is missing:
# PostgreSQL server binaries (initdb, pg_ctl, pgbench), MariaDB server and client, Chromium
# (for the HTML report's browser test), Python with venv and Node with npm (for the
# `querycomb run` end-to-end projects under tests/e2e/). Then sets up those projects'
# third-party packages, cached under target/e2e/ (rebuilt only when their pinned
# requirements change): a Python venv (Django, pytest-django, psycopg from PyPI), npm
# packages (Sequelize, pg) and the Rust sqlx project's build; the accuracy corpus's venv
# (Django, psycopg, asyncpg, PyMySQL, SQLAlchemy) and npm packages (pg, graphql, dataloader) from tests/accuracy/.
# Idempotent and quiet when everything is present. Any part that cannot be set up fails the
# script (and so the test command) with the reason: the tests never install anything, and a
# test whose dependency is missing fails rather than passes unrun.
#
#   scripts/setup-test-deps.sh                  everything (the test command, CI)
#   scripts/setup-test-deps.sh PART...          some parts only (see PARTS below)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
e2e="$root/target/e2e"
# One target dir for every Rust project under tests/e2e and examples/ (their tests use it too).
rust_target="$e2e/rust"

# The Debian packages the requested parts miss: each part's `debian_<part>` adds to it, and
# they are installed in one apt-get run (one index update, one dpkg pass) before any other work.
wanted=()
want() { wanted+=("$@"); }

# Installs the wanted packages (nothing when none are); as root only, else says what to install.
install_wanted() {
  [ ${#wanted[@]} -eq 0 ] && return 0
  local packages
  packages=$(printf '%s\n' "${wanted[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" != 0 ]; then
    echo "setup-test-deps: missing $packages and not root: install them with apt-get" >&2
    return 1
  fi
  echo "setup-test-deps: installing $packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null || return 1
  # Debian starts the packaged servers; the tests start their own, so stop these.
  (service mariadb stop; service postgresql stop) >/dev/null 2>&1 || true
}

debian_system() {
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if ! have initdb && { [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; }; then
  want postgresql postgresql-contrib
fi
have psql || want postgresql-client
have pgbench || [ -x "$pg_bin/pgbench" ] || want postgresql-contrib
have mariadbd || have /usr/sbin/mariadbd || want mariadb-server
have mariadb || want mariadb-client
have chromium || want chromium
have npm || want npm
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || want python3 python3-venv
# Rails ActiveRecord from Debian (crates/cli/tests/advice_orms.rs, tests/e2e/rails).
ruby -e 'require "active_record"; require "pg"' >/dev/null 2>&1 || want ruby ruby-activerecord ruby-pg
return 0
}

# target/e2e/VENV: a Python venv with the pinned REQUIREMENTS (a path from the repository
# root), made again only when that file changes.
setup_venv() {
  local venv="$e2e/$1" req="$root/$2"
  if [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/.requirements"; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || { echo "setup-test-deps: python3 not found" >&2; return 1; }
  rm -rf "$venv"
  python3 -m venv "$venv" || return 1
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >/dev/null || return 1
  cp "$req" "$venv/.requirements"
}

# target/e2e/DEST/node_modules: the packages locked by SRC/package-lock.json (SRC a path
# from the repository root), installed again only when the lock file changes.
setup_npm() {
  local src="$root/$1" dest="$e2e/$2"
  if [ -d "$dest/node_modules" ] && cmp -s "$src/package-lock.json" "$dest/.package-lock"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { echo "setup-test-deps: npm not found" >&2; return 1; }
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  (cd "$dest" && npm ci --silent --no-audit --no-fund >/dev/null) || return 1
  cp "$src/package-lock.json" "$dest/.package-lock"
}

# target/e2e/django-venv: a venv with tests/e2e/django/requirements.txt.
setup_python() {
  setup_venv "django-venv" "tests/e2e/django/requirements.txt"
}

# The accuracy corpus (crates/cli/tests/accuracy.rs): its Python venv and its npm packages.
setup_accuracy() {
  setup_accuracy_python && setup_accuracy_node
}

# The accuracy corpus's Ruby, Java and Go stacks (tests/accuracy/ruby/corpus.rb,
# tests/accuracy/java/Corpus.java, tests/accuracy/go): ActiveRecord, Hibernate 3.6 on
# pgjdbc, and GORM v1 on lib/pq, from Debian.
debian_accuracy() {
  ruby -e 'require "active_record"; require "pg"' >/dev/null 2>&1 || want ruby ruby-activerecord ruby-pg
  debian_hibernate
  debian_gorm
}

# target/e2e/accuracy-venv: the accuracy corpus's Python stacks (tests/accuracy/requirements.txt).
setup_accuracy_python() {
  setup_venv "accuracy-venv" "tests/accuracy/requirements.txt"
}

# target/e2e/asyncpg-venv: asyncpg for the proxy's statement-count tests
# (crates/proxy/tests/requirements-asyncpg.txt, pinned).
setup_asyncpg() {
  setup_venv "asyncpg-venv" "crates/proxy/tests/requirements-asyncpg.txt"
}

# target/e2e/accuracy-node/node_modules: the accuracy corpus's Node stacks (locked).
setup_accuracy_node() {
  setup_npm "tests/accuracy/node" "accuracy-node"
}

# target/e2e/node/node_modules: tests/e2e/node's locked packages (the tests set NODE_PATH).
setup_node() {
  setup_npm "tests/e2e/node" "node"
}

# target/e2e/node-runners/node_modules: Jest, Vitest, Mocha and pg, locked by
# tests/e2e/node-runners (crates/cli/tests/run_node_runners.rs: the runners' hooks).
setup_node_runners() {
  setup_npm "tests/e2e/node-runners" "node-runners"
}

# target/e2e/treebeard/src: django-treebeard's sdist, unpacked (its test suite is in tests/),
# pinned with its hash by tests/e2e/treebeard/requirements.txt; run with the django venv
# (crates/cli/tests/run_treebeard.rs: a third-party suite under `querycomb run`).
setup_treebeard() {
  setup_python || return 1
  local dest="$e2e/treebeard" req="$root/tests/e2e/treebeard/requirements.txt"
  if [ -f "$dest/src/tests/conftest.py" ] && cmp -s "$req" "$dest/.requirements"; then
    return 0
  fi
  rm -rf "$dest" && mkdir -p "$dest/download" "$dest/src"
  "$e2e/django-venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: --require-hashes -r "$req" -d "$dest/download" >/dev/null || return 1
  tar xzf "$dest"/download/django_treebeard-*.tar.gz -C "$dest/src" --strip-components=1 || return 1
  cp "$req" "$dest/.requirements"
}

# target/e2e/pg-cursor/node_modules: pg-cursor with its own Mocha suite (in its npm tarball,
# node_modules/pg-cursor/test), Mocha and pg, locked by tests/e2e/pg-cursor
# (crates/cli/tests/run_pg_cursor.rs: a third-party suite under `querycomb run`).
setup_pg_cursor() {
  setup_npm "tests/e2e/pg-cursor" "pg-cursor"
}

# Ruby with RSpec, minitest (bundled with Ruby) and the pg gem, from Debian's packages
# (crates/cli/tests/run_ruby.rs: the RSpec and minitest hooks).
debian_ruby() {
  command -v ruby >/dev/null 2>&1 || want ruby
  command -v rspec >/dev/null 2>&1 || want ruby-rspec
  ruby -e 'require "pg"' >/dev/null 2>&1 || want ruby-pg
  ruby -e 'require "minitest"' >/dev/null 2>&1 || want ruby-minitest
  return 0
}

# JUnit 5 (the console launcher and the Jupiter engine) and PostgreSQL's JDBC driver, from
# Debian's packages, with a JDK (crates/cli/tests/run_junit.rs: the JUnit Platform listener).
debian_junit() {
  command -v javac >/dev/null 2>&1 || want default-jdk-headless
  ls /usr/share/java/junit-platform-console-standalone*.jar >/dev/null 2>&1 || want junit5
  [ -e /usr/share/java/postgresql.jar ] || want libpostgresql-jdbc-java
  return 0
}

# Go and the lib/pq driver, from Debian's packages (crates/cli/tests/run_go.rs: `go test
# -json` read by querycomb; the test project builds in GOPATH mode against /usr/share/gocode).
debian_go() {
  command -v go >/dev/null 2>&1 || want golang-go
  [ -d /usr/share/gocode/src/github.com/lib/pq ] || want golang-github-lib-pq-dev
  return 0
}

# target/e2e/typeorm/node_modules: tests/e2e/typeorm's locked TypeORM (crates/cli/tests/advice_orms.rs).
setup_typeorm() {
  setup_npm "tests/e2e/typeorm" "typeorm"
}

# target/e2e/otel-node/node_modules: tests/e2e/otel-node's locked OpenTelemetry packages (a
# node-postgres app traced by @opentelemetry/instrumentation-pg, and its graphql-js API traced
# by @opentelemetry/instrumentation-graphql, with dataloader; crates/cli/tests/traces_*.rs).
setup_otel_node() {
  setup_npm "tests/e2e/otel-node" "otel-node"
}

# target/e2e/otel-python: a venv with tests/e2e/otel-python/requirements.txt (psycopg traced by
# opentelemetry-instrumentation-psycopg; crates/cli/tests/traces_python.rs).
setup_otel_python() {
  setup_venv "otel-python" "tests/e2e/otel-python/requirements.txt"
}

# target/e2e/rust-sqlx.built: the sqlx project's test build (its own workspace).
setup_rust() {
  setup_cargo_tests "tests/e2e/rust-sqlx" "rust-sqlx"
}

# target/e2e/rust-untagged.built: the untagged sqlx project's test build (its own workspace;
# crates/cli/tests/run_cargo.rs: tests named from cargo-nextest's processes and `cargo test`'s
# output).
setup_rust_untagged() {
  setup_cargo_tests "tests/e2e/rust-untagged" "rust-untagged"
}

# target/e2e/rust-guard.built: querycomb-guard's example application (examples/rust-axum-graphql:
# axum, async-graphql, sqlx; its own workspace, so that they stay out of the main workspace's
# build): its test suite and its `workload` binary.
setup_guard() {
  local manifest="$root/examples/rust-axum-graphql/Cargo.toml" log="$e2e/rust-guard.log"
  rm -f "$e2e/rust-guard.built"
  { CARGO_TARGET_DIR="$rust_target" cargo test --quiet --no-run --locked --manifest-path "$manifest" \
      && CARGO_TARGET_DIR="$rust_target" cargo build --quiet --locked --bins --manifest-path "$manifest"; } \
    >/dev/null 2>"$log" || { cat "$log" >&2; return 1; }
  touch "$e2e/rust-guard.built"
}

# target/e2e/otel-dialects: PyMySQL and sqlite3 traced by their OpenTelemetry instrumentations
# (tests/e2e/otel-dialects; crates/cli/tests/traces_dialects.rs).
setup_otel_dialects() {
  setup_venv "otel-dialects" "tests/e2e/otel-dialects/requirements.txt"
}

# target/e2e/rust-diesel.built: querycomb-guard's Diesel hook on Diesel's PostgreSQL connection
# (tests/e2e/rust-diesel, its own workspace; crates/guard/tests/diesel.rs). Diesel's pg
# backend links libpq: Debian's libpq-dev.
debian_diesel() {
  dpkg -s libpq-dev >/dev/null 2>&1 || want libpq-dev
  return 0
}
setup_diesel() {
  setup_cargo_tests "tests/e2e/rust-diesel" "rust-diesel"
}

# target/e2e/rust-seaorm.built: querycomb-guard's layer under SeaORM (tests/e2e/rust-seaorm, its own
# workspace; crates/guard/tests/seaorm.rs).
setup_seaorm() {
  setup_cargo_tests "tests/e2e/rust-seaorm" "rust-seaorm"
}

# The test build of the cargo workspace SRC (a path from the repository root, with its own lock
# file) into the target dir that every such workspace shares ($rust_target: tokio, sqlx and
# the querycomb crates they have in common build once); target/e2e/DEST.built says it
# succeeded.
setup_cargo_tests() {
  local manifest="$root/$1/Cargo.toml" log="$e2e/$2.log"
  rm -f "$e2e/$2.built"
  CARGO_TARGET_DIR="$rust_target" cargo test --quiet --no-run --locked --manifest-path "$manifest" \
    >/dev/null 2>"$log" || { cat "$log" >&2; return 1; }
  touch "$e2e/$2.built"
}

# target/e2e/sqlalchemy-venv: a venv with tests/e2e/sqlalchemy/requirements.txt.
setup_sqlalchemy() {
  setup_venv "sqlalchemy-venv" "tests/e2e/sqlalchemy/requirements.txt"
}

# GORM v1 (Debian's golang-github-jinzhu-gorm-dev, 1.9.6) on lib/pq, built in GOPATH mode
# by crates/cli/tests/advice_orms.rs (tests/e2e/gorm).
debian_gorm() {
  command -v go >/dev/null 2>&1 || want golang-go
  [ -d /usr/share/gocode/src/github.com/jinzhu/gorm ] || want golang-github-jinzhu-gorm-dev
  return 0
}

# target/e2e/sqlcommenter-venv: google-cloud-sqlcommenter with SQLAlchemy and Django
# (tests/e2e/sqlcommenter/requirements.txt).
setup_sqlcommenter() {
  setup_venv "sqlcommenter-venv" "tests/e2e/sqlcommenter/requirements.txt"
}

# pgjdbc for the proxy's Java client test (crates/proxy/tests/pgjdbc.rs): Debian's
# libpostgresql-jdbc-java (/usr/share/java/postgresql.jar) and a JDK to compile the test's
# small program against it (the test compiles it with javac into a temp dir).
debian_pgjdbc() {
  [ -f /usr/share/java/postgresql.jar ] || want libpostgresql-jdbc-java
  command -v javac >/dev/null 2>&1 || want default-jdk-headless
  return 0
}

# Hibernate 3.6 (Debian's libhibernate3-java, bookworm: 3.6.10.Final) with javassist for its
# lazy proxies (a Recommends, which install_wanted leaves out) and pgjdbc, on the machine's JDK
# (crates/cli/tests/advice_hibernate.rs compiles tests/e2e/hibernate with javac against them).
debian_hibernate() {
  command -v javac >/dev/null 2>&1 || want default-jdk-headless
  [ -f /usr/share/java/hibernate3.jar ] || want libhibernate3-java
  [ -f /usr/share/java/javassist.jar ] || want libjavassist-java
  [ -f /usr/share/java/postgresql.jar ] || want libpostgresql-jdbc-java
  return 0
}

mkdir -p "$e2e"
# Two test commands may run at once (worktrees sharing target/e2e): one set-up at a time.
exec 9>"$e2e/.setup.lock"
flock 9

# Every part, in order: `debian_<part>` says which Debian packages it needs, `setup_<part>`
# does the rest (a part has either or both).
PARTS=(system python treebeard node node-runners pg-cursor ruby junit go otel-node otel-python rust rust-untagged accuracy asyncpg sqlalchemy sqlcommenter gorm guard diesel seaorm pgjdbc otel-dialects typeorm hibernate)
# Parts that only compile Rust: they run beside the others, which mostly wait on the network
# (PyPI, npm), so that the two cores are busy while downloads are in flight.
CARGO_PARTS=" rust rust-untagged guard diesel seaorm "
if [ $# -eq 0 ]; then
  set -- "${PARTS[@]}"
fi
for part in "$@"; do
  if ! declare -F "setup_${part//-/_}" >/dev/null && ! declare -F "debian_${part//-/_}" >/dev/null; then
    echo "setup-test-deps: unknown part $part (${PARTS[*]})" >&2
    exit 2
  fi
done

# Runs PART's set-up and prints its time when it did work, so CI logs show where set-up
# time goes.
run_part() {
  local part=$1 started=$SECONDS
  if declare -F "setup_${part//-/_}" >/dev/null; then
    "setup_${part//-/_}" || { echo "setup-test-deps: the $part part could not be set up (see above)" >&2; return 1; }
  fi
  local took=$((SECONDS - started))
  if [ "$took" -gt 0 ]; then
    echo "setup-test-deps: $part took ${took}s" >&2
  fi
}

started=$SECONDS
for part in "$@"; do
  if declare -F "debian_${part//-/_}" >/dev/null; then
    "debian_${part//-/_}"
  fi
done
install_wanted || { echo "setup-test-deps: Debian packages could not be installed (see above)" >&2; exit 1; }
if [ $((SECONDS - started)) -gt 0 ]; then
  echo "setup-test-deps: Debian packages took $((SECONDS - started))s" >&2
fi

cargo_parts=() other_parts=()
for part in "$@"; do
  if [[ $CARGO_PARTS == *" $part "* ]]; then cargo_parts+=("$part"); else other_parts+=("$part"); fi
done
cargo_lane=""
if [ ${#cargo_parts[@]} -gt 0 ]; then
  ( for part in "${cargo_parts[@]}"; do run_part "$part" || exit 1; done ) &
  cargo_lane=$!
fi
failed=0
for part in "${other_parts[@]}"; do
  run_part "$part" || { failed=1; break; }
done
if [ -n "$cargo_lane" ]; then
  wait "$cargo_lane" || failed=1
fi
exit "$failed"
