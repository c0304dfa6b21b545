#!/usr/bin/env bash
# The full test suite, as CI runs it: formatting, lints, unit tests and the integration tests
# against real servers. Installs what it needs and caches it (~/.cache/provision).
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if ! need apt-get; then echo "missing $*: install them and re-run" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

need python3 || apt_install python3 python3-venv
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
# Real SSH servers for the exec tests (tests/support/sshd.py), and the client openssh drives.
{ [ -x /usr/sbin/sshd ] && need ssh && need ssh-keygen && need sudo; } || apt_install openssh-server openssh-client sudo
# PostgreSQL for the SQL admin tests (tests/support/postgres.py); pg_config and libpq to
# build psycopg2 for Synapse-on-PostgreSQL.
{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && need psql && need pg_config; } \
  || apt_install postgresql postgresql-client libpq-dev
# openssl makes the certificates of the TLS tests (the PostgreSQL CA and server certificate,
# the self-signed HTTPS server).
need openssl || apt_install openssl
# The Docker tests need a running engine; this machine kind has one.
need docker || { echo "docker CLI missing: the Docker tests need a Docker Engine" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "the Docker Engine does not answer (docker info)" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

echo "== format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
bash scripts/check-layers.sh

echo "== Synapse and ansible-core for the integration tests (cached after the first run)"
python3 tests/support/synapse.py venv
python3 tests/support/ansible.py venv

echo "== tests"
status=0
cargo test --workspace || status=$?

# Whatever the outcome, no server started by the fixtures may outlive the tests.
echo "== no test server left running"
bash scripts/check-leftovers.sh
[ "$status" -eq 0 ] || exit "$status"

# The benchmark harness is not run here (it takes about ten minutes), but it must build. In the
# dev profile: `cargo bench` builds with the release profile's LTO and one codegen unit, which
# is for the shipped binary and the benchmark runs, and would cost minutes here.
echo "== benchmark harness builds"
cargo build --benches --quiet
