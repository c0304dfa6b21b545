#!/usr/bin/env bash
# Builds the Ansible collection provision.matrix (ansible/collection/) with the provision binary
# as its module plugins/modules/user, and writes the tarball into OUT_DIR.
#
#   bash scripts/ansible-collection.sh OUT_DIR [--debug]
#
# The binary is built with cargo (release, or the debug profile with --debug), or taken from
# PROVISION_BIN when that is set (the tests hand over the one they built). The collection is
# copied into a staging folder first, so no binary is ever left in the repository.
# ansible-galaxy comes from PATH, or from ANSIBLE_BIN (a folder holding it).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 OUT_DIR [--debug]" >&2; exit 2; }
[ $# -ge 1 ] || usage
out=$1
profile=release
case "${2:-}" in
  --debug) profile=debug ;;
  "") ;;
  *) usage ;;
esac

galaxy=ansible-galaxy
[ -n "${ANSIBLE_BIN:-}" ] && galaxy="$ANSIBLE_BIN/ansible-galaxy"

# galaxy.yml's version is the crate's: one version for the binary and the collection.
crate_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
collection_version=$(sed -n 's/^version: *//p' ansible/collection/galaxy.yml)
if [ "$crate_version" != "$collection_version" ]; then
  echo "ansible/collection/galaxy.yml says version $collection_version, Cargo.toml $crate_version" >&2
  exit 1
fi

bin=${PROVISION_BIN:-}
if [ -z "$bin" ]; then
  if [ "$profile" = release ]; then cargo build --release --bin provision; else cargo build --bin provision; fi
  target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  bin="$target/$profile/provision"
fi
[ -x "$bin" ] || { echo "no provision binary at $bin" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# ansible-galaxy wants the collection's folder; the binary goes in as the module, named as its
# documentation (user.yml), with no extension: Ansible runs a file that is not a script as a
# binary module (ansible-core lib/ansible/executor/module_common.py, _is_binary).
cp -R ansible/collection "$stage/matrix"
install -m 0755 "$bin" "$stage/matrix/plugins/modules/user"
mkdir -p "$out"
"$galaxy" collection build "$stage/matrix" --output-path "$out" --force
